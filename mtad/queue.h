/*
 * The queue on disk, under the spool directory:
 *
 *   queue/ID.msg	the message as received (Received: prepended), LF line
 *			ends, never modified after commit
 *   queue/ID.env	the envelope and per-recipient state; the commit point:
 *			a .msg without its .env was never acknowledged
 *   tmp/		files being written; emptied at start-up
 *   maildrop/		messages from mtad-sendmail (same two files), picked up
 *			by mtad and renamed into queue/
 *
 * IDs sort by arrival: 13 hex digits of microseconds since the epoch, then
 * 6 of the writer's pid, so mtad and mtad-sendmail never collide.
 *
 * Durability: a writer's data and envelope are fsync'd (or covered by a
 * group commit's sync), renamed, and the directory fsync'd before the
 * caller may acknowledge.  Envelope updates are read-modify-write under an
 * flock on the .msg file, so local delivery and the smart-host runner can
 * settle different recipients of one message concurrently.
 */
#ifndef MTAD_QUEUE_H
#define MTAD_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define QID_LEN		19
#define QID_SIZE	(QID_LEN + 1)

enum qrcpt_state { QR_PENDING, QR_SENT, QR_BOUNCED };

struct qrcpt {
	char		*addr;		/* local@domain, as accepted */
	int		 local;		/* 1: delivered here, 0: smart host */
	enum qrcpt_state state;
	unsigned	 tries;
	time_t		 next_try;
	char		*last_error;	/* "450 4.2.0 mailbox busy" or NULL */
};

struct qmsg {
	char		 id[QID_SIZE];
	time_t		 arrival;
	char		*sender;	/* "" for <> */
	char		*helo;
	char		*client;	/* "host [ip]" or "localhost" */
	char		*proto;		/* ESMTP, SMTP, ESMTPS, local */
	char		*msgid;		/* Message-ID or NULL */
	uint64_t	 size;		/* octets of the .msg file */
	int		 body8bit;
	struct qrcpt	*rcpts;
	size_t		 nrcpts;
};

struct queue {
	char	*spool;
	int	 dirfd;		/* queue/ */
	int	 tmpfd;		/* tmp/ */
	int	 dropfd;	/* maildrop/ */
	int	 defer_sync;	/* see queue_sync() */
	unsigned unsynced;	/* renames/unlinks in queue/ not yet synced */
};

enum qdest { QDEST_QUEUE, QDEST_MAILDROP };

/* A message being written. */
struct qwriter {
	struct queue	*q;
	enum qdest	 dest;
	char		 id[QID_SIZE];
	int		 fd;		/* tmp/ID.msg */
	int		 envfd;		/* tmp/ID.env after qwriter_finish */
	uint64_t	 size;
	int		 failed;	/* errno of the first write error */
};

/* Create the spool layout if missing and open it; remove leftovers in tmp/.
 * 0 or -1 with err set. */
int	queue_open(struct queue *q, const char *spool, char *err, size_t errlen);
void	queue_close(struct queue *q);
/*
 * For mtad-sendmail and mailq: open an existing spool without recovery
 * (mtad may be running); creates what is missing where permitted.  Only
 * maildrop/ is required: q->dirfd and q->tmpfd are -1 when this user may
 * not open them.  0 or -1 with err set.
 */
int	queue_attach(struct queue *q, const char *spool, char *err,
	    size_t errlen);
/* id is 19 upper-case hex digits (safe to use as a file name). */
int	queue_valid_id(const char *id);

/* A new unique ID, sortable by arrival. */
void	queue_new_id(char id[QID_SIZE]);

int	qwriter_open(struct queue *q, enum qdest dest, struct qwriter *w);
/* Append message data; errors are remembered in w->failed and reported by
 * qwriter_finish, so a session can keep reading DATA to its end. */
void	qwriter_write(struct qwriter *w, const void *buf, size_t len);
/* Write the envelope (m->id and m->size are filled in) to its temp file.
 * Nothing is synced yet.  0 or -1 (errno; the writer is aborted). */
int	qwriter_finish(struct qwriter *w, struct qmsg *m);
void	qwriter_abort(struct qwriter *w);
/*
 * Group commit: make n finished writers durable with as few syncs as the
 * file system allows, rename each into place and sync the directory once.
 * res[i] is 0 or an errno; a failed writer leaves nothing behind.
 */
void	queue_commit(struct queue *q, struct qwriter **w, size_t n, int *res);
/* The same without logging, for the commit thread (commit.h): returns 0,
 * or the errno of a syncfs() that failed, after which each file was synced
 * alone (res[] tells whose). */
int	queue_commit_io(struct queue *q, struct qwriter **w, size_t n,
	    int *res);

/* Read an envelope.  0, or -1 (errno: ENOENT when gone). */
int	queue_load(struct queue *q, const char *id, struct qmsg *m);
void	qmsg_free(struct qmsg *m);
/* Open the .msg for reading (O_RDONLY|O_CLOEXEC). */
int	queue_open_data(struct queue *q, const char *id);

/*
 * Settle recipient idx: state, error text (may be NULL), next try.  Locks,
 * rereads, updates and atomically rewrites the .env; when every recipient
 * is settled the message is removed.  m is refreshed from disk.
 */
int	queue_set_rcpt(struct queue *q, struct qmsg *m, size_t idx,
	    enum qrcpt_state state, const char *error, time_t next_try);

/*
 * The same for several recipients at once: one rewrite (two syncs) or one
 * removal however many recipients a flush settled.  All or nothing: -1
 * (EINVAL for a bad index) leaves the envelope as it was.
 */
struct qrcpt_update {
	size_t		 idx;
	enum qrcpt_state state;
	const char	*error;
	time_t		 next_try;
};
int	queue_update(struct queue *q, struct qmsg *m,
	    const struct qrcpt_update *u, size_t n);

/* Remove both files of a message. */
int	queue_remove(struct queue *q, const char *id);

/*
 * Group settlement (a flush settling hundreds of messages): while
 * q->defer_sync is set, queue_update and queue_remove rename and unlink at
 * once -- the kernel has the change, so a crash of the process cannot undo
 * it -- but leave the directory fsync, which only a crash of the machine
 * needs, to queue_sync(): one sync for the group instead of one per
 * message.  q->unsynced counts what waits for it.  0, or -1 (errno) when
 * the changes may not survive a power failure.
 */
int	queue_sync(struct queue *q);

/* Call cb for every committed message in queue/, in ID order. */
int	queue_scan(struct queue *q, int (*cb)(const char *id, void *arg),
	    void *arg);
/* The same for committed maildrop entries not picked up yet (mailq). */
int	queue_scan_maildrop(struct queue *q,
	    int (*cb)(const char *id, void *arg), void *arg);
int	queue_load_maildrop(struct queue *q, const char *id, struct qmsg *m);
/* Move committed maildrop entries into queue/; cb for each moved ID. */
int	queue_pickup(struct queue *q, int (*cb)(const char *id, void *arg),
	    void *arg);

#endif
