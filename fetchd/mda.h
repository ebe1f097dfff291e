/*
 * mda "CMD": deliver a fetched message by running CMD through /bin/sh -c,
 * the message on its standard input, as fetchmail does.  %T becomes the
 * recipient (local name), %F the envelope sender, both quoted for the
 * shell; %% is a '%'.  One run per recipient, so that each gets its own
 * verdict: exit 0 delivered, 75 (EX_TEMPFAIL) deferred (the message stays
 * on the server), anything else refused (a bounce, as for an SMTP 5xx).
 */
#ifndef FETCHD_MDA_H
#define FETCHD_MDA_H

#include <stddef.h>
#include <sys/types.h>

#include "smtp_client.h"

/*
 * Run cmd for rcpt with prefix then the message in fd (from off) on
 * its stdin, CR LF made LF when stripcr.  The verdict goes into r as a
 * made-up SMTP reply: 250, 450 (exit 75, killed, or cannot run) or 554.
 */
void	fmda_deliver(const char *cmd, int stripcr, const char *sender,
	    const char *rcpt, const char *prefix, size_t prefixlen, int fd,
	    off_t off, struct smtp_reply *r);
/* The command line for one run (for logs and tests); NULL if no memory. */
char	*fmda_expand(const char *cmd, const char *sender, const char *rcpt);

#endif
