/*
 * Local delivery: alias expansion, then one of the mailbox back ends
 * (deliver_mbox.c, deliver_maildir.c, deliver_mda.c) behind struct deliverer.
 */
#ifndef MTAD_DELIVER_H
#define MTAD_DELIVER_H

#include <sys/types.h>

#include "config.h"
#include "queue.h"

enum dstatus { DELIVER_OK, DELIVER_DEFER, DELIVER_BOUNCE };

struct dresult {
	enum dstatus	 status;
	char		 text[512];	/* "550 5.1.1 no such user" style */
};

/* What a back end is given: one user, the message, who it is from. */
struct delivery {
	const struct mtad_config *cf;
	const struct qmsg	*msg;
	int			 datafd;	/* the .msg, positioned anywhere */
	const char		*user;		/* local user name */
	uid_t			 uid;
	gid_t			 gid;
	const char		*home;
	const char		*rcpt;		/* as accepted, for $RECIPIENT;
						   may be NULL */
};

struct deliverer {
	const char	*name;		/* mailer= in the log: "local" */
	void		(*deliver)(const struct delivery *d, struct dresult *r);
};

extern const struct deliverer deliver_mbox;
extern const struct deliverer deliver_maildir;
extern const struct deliverer deliver_mda;

/*
 * The pieces the back ends share, also used for /file and |command alias
 * targets.  The message is read from d->datafd with pread, so the file
 * offset is never moved.
 */
/* Append mbox-style to path: From_ line, >From quoting, fcntl lock and
 * dotlock, fsync; on any error the file is cut back to its old size. */
void	mbox_append(const char *path, const struct delivery *d,
	    struct dresult *r);
/* Run cmd with /bin/sh -c, the message on stdin: exit 0 delivered,
 * 75 (EX_TEMPFAIL) or a signal deferred, anything else bounced. */
void	pipe_deliver(const char *cmd, const struct delivery *d,
	    struct dresult *r);
#define PIPE_TIMEOUT	600	/* seconds a command may take */
/* mda "CMD": %u and %s become the user and sender as single shell-quoted
 * words, %% a %.  0, or -1 if the result does not fit. */
int	mda_expand(const char *tmpl, const char *user, const char *sender,
	    char *out, size_t outlen);
/* maildir PATH: ~ and %u expanded.  0, or -1 if it does not fit. */
int	maildir_path(const char *tmpl, const char *user, const char *home,
	    char *out, size_t outlen);

/* Is name (a local part) deliverable here: an alias or a user?  For RCPT. */
int	local_rcpt_known(const struct mtad_config *cf, const char *local);

/*
 * Deliver every pending local recipient of message id: expand aliases,
 * deliver (as the recipient's uid when running as root, in a child that does
 * nothing else), settle each recipient in the queue, log a to= line for each,
 * and queue a DSN for failures.  privfd: the privileged parent that forks
 * the deliveries (privsep.h), or -1 to fork them here.  Returns 0, or -1
 * when the message could not be read (it stays queued).
 */
int	local_deliver_message(const struct mtad_config *cf, struct queue *q,
	    const char *id, int privfd);

/*
 * The lock one delivery process holds on message id while it works on it
 * (a byte of deliver.lock in the spool): an fd to close, or -1 with errno
 * EAGAIN (held elsewhere) or ENOENT (the message is gone).
 */
int	local_lock_message(struct queue *q, const char *id);

/*
 * Bounce every pending recipient of message id, which came through hops
 * Received: fields (more than max): one DSN, "554 5.4.6 Too many hops".
 * 1 with newid (and *local) set as bounce_queue, 0 when nothing was
 * pending, -1 when the DSN could not be queued (nothing changed).
 */
int	local_bounce_loop(const struct mtad_config *cf, struct queue *q,
	    const char *id, unsigned hops, unsigned max, char newid[QID_SIZE],
	    int *local);

#endif
