/*
 * One poll of one user's mailbox: open, list, deliver in batches, delete,
 * commit.  The exactly-once rules live here (see uidstore.h): a message is
 * journaled as soon as the SMTP server settled it and only then passed to
 * the fetcher's delete(); journaled messages still on the server are
 * deleted without delivery.
 */
#ifndef FETCHD_POLL_H
#define FETCHD_POLL_H

#include <signal.h>

#include "rcfile.h"
#include "uidstore.h"

#define POLL_BATCH	64		/* messages per RETR/DELE batch */

struct poll_run {
	const struct rc_config	*cfg;
	struct uidstore		*us;
	const char		*hostname;	/* ours, for Received: */
	int			 check;		/* -c: count only */
	int			 daemon;
	volatile sig_atomic_t	*stop;		/* finish the batch, then stop */
	volatile sig_atomic_t	*cancel;	/* abort waits at once */
	volatile sig_atomic_t	*wake;		/* poll now (ends an IDLE) */
	int			 idled;		/* an IDLE waited the interval */
	unsigned long		 turns;		/* toward the mailbox servers */
};

/* PS_SUCCESS (mail delivered), PS_NOMAIL, PS_MAXFETCH, or an error. */
int	poll_user(struct poll_run *run, const struct rc_poll *p,
	    const struct rc_user *u);

#endif
