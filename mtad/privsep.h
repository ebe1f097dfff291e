/*
 * Privilege separation (as OpenSMTPD): started as root, mtad binds its
 * listeners and opens the spool, then splits.  A small parent stays root
 * and does one thing: on request from the worker it forks a child that
 * becomes one local user (all of its ids) and makes one delivery.  The
 * worker runs everything else (SMTP sessions, the queue, the runner, the
 * control socket) as the unprivileged `user`, with no way back to root.
 *
 * A request carries the message's open descriptor (the user cannot open
 * the spool) and the write end of a pipe the struct dresult comes back
 * on; no result (the child died, the parent could not fork) is a deferral.
 */
#ifndef MTAD_PRIVSEP_H
#define MTAD_PRIVSEP_H

#include <limits.h>
#include <sys/types.h>

#include "deliver.h"

enum privsep_kind {
	PS_USER, PS_FILE, PS_PIPE,
	PS_RELOAD	/* no descriptors: reread the configuration file */
};

struct privsep_req {
	int	kind;			/* enum privsep_kind */
	uid_t	uid;			/* PS_FILE, PS_PIPE: run as */
	gid_t	gid;
	char	user[64];		/* PS_USER: looked up by the parent */
	char	what[PATH_MAX * 2];	/* the file, or the command */
	char	sender[1024];
	char	rcpt[1024];
};

struct mtad;

/*
 * Fork the worker, which returns with d->privfd set and every id (real,
 * effective, saved, fs; groups) now uid/gid for good; the parent never
 * returns.  mtad calls it only when started as root with a user not root.
 */
void	privsep_split(struct mtad *d, uid_t uid, gid_t gid);

/* Worker side: the configuration was reloaded; the parent rereads the file
 * itself (it never takes settings from the worker). */
void	privsep_reload(int privfd);

/* Worker side: have the parent make this delivery; r is always set. */
void	privsep_deliver(int privfd, const struct privsep_req *req, int datafd,
	    struct dresult *r);

/* deliver.c, in the parent's child: become the user and deliver. */
void	local_deliver_as(const struct mtad_config *cf,
	    const struct privsep_req *req, int datafd, struct dresult *r);

#endif
