/*
 * Multi-drop delivery: which local users a message from a shared mailbox is
 * for, decided from its headers as fetchmail does (transact.c:
 * find_server_names, map_name, parse_received), without DNS.
 *
 * 1. The envelope header, unless "no envelope":
 *    - "Received" (the default): the Received: headers in order, skipping the
 *      first envskip of them; the first whose "by HOST" names this server
 *      (the poll name, via, an aka or a localdomains entry) and which has a
 *      "for <addr>" clause gives the one recipient;
 *    - any other name: the (envskip+1)-th header of that name, an address
 *      list.
 * 2. Without an envelope recipient: Resent-To/Resent-Cc/Resent-Bcc when the
 *    message has any, else To/Cc/Bcc; plus Delivered-To.
 * 3. Each address, after removing the qvirtual prefix:
 *    - the whole address listed on the left of the user's is/to map: mapped;
 *    - a domain under a localdomains entry: passed through whole
 *      ("bob@lan.example"), not mapped (fetchmail's rule);
 *    - a domain that is the server (poll name, via) or under an aka, or no
 *      domain at all: the local part is mapped through the is/to list
 *      (case-insensitive); unlisted names pass through as themselves when the
 *      list has '*', and are dropped otherwise;
 *    - any other domain: dropped.
 * 4. Each local user once (case-insensitive); none at all: the postmaster.
 */
#ifndef FETCHD_MULTIDROP_H
#define FETCHD_MULTIDROP_H

#include <stddef.h>

#include "rcfile.h"

#define MD_MAX_RCPTS	256		/* local recipients of one message */
#define MD_MAX_FIELDS	2000		/* header fields looked at */
#define MD_MAX_FIELD	(64 * 1024)	/* one unfolded field */

struct md_rcpts {
	char		**v;		/* local names, or full addresses */
	size_t		  n;
	int		  postmaster;	/* nobody matched: v[0] is it */
	int		  from_envelope; /* the envelope header decided */
};

/*
 * hdr: the message (or its header section), LF or CRLF line ends; parsing
 * stops at the first empty line.  poll and user come from rc_finish(),
 * postmaster from cfg->run.  Returns 0 (out->n >= 1) or -1 (out of memory).
 */
int	multidrop_rcpts(const char *hdr, size_t len, const struct rc_poll *poll,
	    const struct rc_user *user, const char *postmaster,
	    struct md_rcpts *out);
void	md_rcpts_free(struct md_rcpts *r);

#endif
