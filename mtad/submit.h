/*
 * Local submission (mtad-sendmail): read an RFC 5322 message from a stream,
 * fix up its header as sendmail does and write it into the maildrop.
 *
 *   - a leading mbox "From " line is dropped, CRLF becomes LF;
 *   - unless ignore_dots, a line of just "." ends the input;
 *   - with extract (-t) recipients come from To:, Cc:, Bcc: (or from the
 *     Resent- variants when the message has any), added to those given;
 *   - Bcc: and Resent-Bcc: are always removed;
 *   - Received: is prepended; From:, Date: and Message-ID: are added when
 *     missing;
 *   - with aliases set, a local recipient that is neither an alias nor a
 *     user (nor postmaster) refuses the message (EX_NOUSER).
 */
#ifndef MTAD_SUBMIT_H
#define MTAD_SUBMIT_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "queue.h"

#define SUBMIT_PICKUP_SOCK	"mtad.sock"	/* datagram "pickup\n" */
#define SUBMIT_MAX_RCPTS	10000
#define SUBMIT_MAX_HEADER	(1024 * 1024)

struct alias_table;

struct submit_rcpt {
	char	*addr;
	int	 local;
};

struct submit_hdr {
	char	*text;		/* "Name: value\n\tfolded\n", LF line ends */
	size_t	 len;
	size_t	 namelen;
};

struct submit {
	const struct mtad_config *cf;
	int		 extract;
	int		 ignore_dots;
	char		*user;		/* login name of the caller */
	char		*sender;	/* envelope sender, "" for <> */
	char		*from;		/* address for a missing From: */
	char		*fullname;	/* display name for it, or NULL */
	struct submit_rcpt *rcpts;
	size_t		 nrcpts, rcap;
	struct submit_hdr *hdrs;
	size_t		 nhdrs, hcap, hbytes;
	char		*msgid;
	int		 body8bit;
	struct alias_table *aliases;	/* set: refuse unknown local users */
	char		 err[256];	/* first address error in a header */
};

/*
 * Who is sending: sender is -f (NULL: the caller at hostname; "" or "<>":
 * the null sender), fullname -F (NULL: from the password file).
 * 0, or -1 with err set.
 */
int	submit_init(struct submit *s, const struct mtad_config *cf,
	    const char *sender, const char *fullname, char *err, size_t errlen);
/* Recipients from the command line; an argument may hold a comma-separated
 * list.  0, or -1 with err naming the bad address. */
int	submit_add_rcpts(struct submit *s, char **argv, int argc, char *err,
	    size_t errlen);
/*
 * Read the message from fp and commit it to q's maildrop.  Returns EX_OK
 * (id set, the message durable) or a sysexits.h code with err set, and
 * then nothing is left in the spool.
 */
int	submit_run(struct submit *s, struct queue *q, FILE *fp,
	    char id[QID_SIZE], char *err, size_t errlen);
void	submit_free(struct submit *s);

#endif
