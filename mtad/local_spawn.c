/*
 * Local delivery runs in children so the loop never waits on a mailbox lock
 * or an MDA.  Messages with local recipients wait in a list; up to
 * MTAD_DELIVER_CHILDREN children each take a batch of them.  A message a
 * child did not finish stays in the queue and is retried at the next start.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"
#include "mtad.h"
#include "smtp_session.h"

#define BATCH		64
#define HOPS_SCAN	(64 * 1024)	/* header octets searched */

int
local_spawn_add(struct mtad *d, const char *id)
{
	char	(*n)[QID_SIZE];
	size_t	  cap;

	if (d->ndq == d->dqcap) {
		cap = d->dqcap ? d->dqcap * 2 : 64;
		if ((n = reallocarray(d->dq, cap, sizeof(*n))) == NULL) {
			log_warn("%s: local delivery postponed", id);
			return -1;
		}
		d->dq = n;
		d->dqcap = cap;
	}
	memcpy(d->dq[d->ndq++], id, QID_SIZE);
	return 0;
}

static void
child_main(struct mtad *d, size_t n)
{
	sigset_t	 all;
	size_t		 i;

	smtp_server_closefrom_child(d);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	signal(SIGPIPE, SIG_DFL);
	for (i = 0; i < n; i++)
		if (local_deliver_message(&d->cf, &d->q, d->dq[i],
		    d->privfd) == -1)
			log_warnx("%s: local delivery left queued", d->dq[i]);
	_exit(0);
}

void
local_spawn_run(struct mtad *d)
{
	size_t	slot, n;
	pid_t	pid;

	for (slot = 0; slot < MTAD_DELIVER_CHILDREN && d->ndq > 0; slot++) {
		if (d->children[slot] != 0)
			continue;
		n = d->ndq < BATCH ? d->ndq : BATCH;
		if ((pid = fork()) == -1) {
			log_warn("fork for local delivery");
			return;
		}
		if (pid == 0)
			child_main(d, n);
		d->children[slot] = pid;
		memmove(d->dq, d->dq + n, (d->ndq - n) * sizeof(*d->dq));
		d->ndq -= n;
	}
}

void
local_spawn_reap(struct mtad *d)
{
	pid_t	pid;
	size_t	slot;
	int	st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == d->runner) {
			d->runner = 0;
			if (d->terminating)
				continue;
			if (WIFSIGNALED(st))
				log_warnx("runner process %d killed by signal %d;"
				    " restarting it", (int)pid, WTERMSIG(st));
			else
				log_warnx("runner process %d exited with status "
				    "%d; restarting it", (int)pid,
				    WEXITSTATUS(st));
			continue;
		}
		for (slot = 0; slot < MTAD_DELIVER_CHILDREN; slot++)
			if (d->children[slot] == pid)
				d->children[slot] = 0;
		if (WIFSIGNALED(st))
			log_warnx("local delivery process %d killed by "
			    "signal %d", (int)pid, WTERMSIG(st));
		else if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
			log_warnx("local delivery process %d exited %d",
			    (int)pid, WEXITSTATUS(st));
	}
	local_spawn_run(d);
}

static int
want_local(const char *id, void *arg)
{
	struct mtad	*d = arg;
	struct qmsg	 m;
	size_t		 i;
	int		 pending = 0;

	if (queue_load(&d->q, id, &m) == -1) {
		if (errno != ENOENT)
			log_warn("%s: cannot read envelope", id);
		return 0;
	}
	for (i = 0; i < m.nrcpts; i++) {
		if (m.rcpts[i].state != QR_PENDING)
			continue;
		if (m.rcpts[i].local)
			pending = 1;
		else
			d->remote_new = 1;
	}
	qmsg_free(&m);
	if (pending)
		local_spawn_add(d, id);
	return 0;
}

/* A message with a local recipient whose retry time has come. */
static int
due_local(const char *id, void *arg)
{
	struct mtad	*d = arg;
	struct qmsg	 m;
	time_t		 now = time(NULL);
	size_t		 i;
	int		 due = 0;

	if (queue_load(&d->q, id, &m) == -1)
		return 0;
	for (i = 0; i < m.nrcpts; i++)
		if (m.rcpts[i].local && m.rcpts[i].state == QR_PENDING &&
		    m.rcpts[i].next_try <= now)
			due = 1;
	qmsg_free(&m);
	if (due)
		local_spawn_add(d, id);
	return 0;
}

/*
 * Deferred local recipients come due again.  A message still waiting in
 * the list or in a child's hands may be added twice: local delivery takes
 * a lock per message and settles each recipient once, so the second run
 * finds nothing to do.
 */
void
local_spawn_retry(struct mtad *d)
{
	if (queue_scan(&d->q, due_local, d) == -1)
		log_warn("queue scan");
	local_spawn_run(d);
}

void
local_spawn_scan(struct mtad *d)
{
	if (queue_scan(&d->q, want_local, d) == -1)
		log_warn("queue scan");
	local_spawn_run(d);
}

/* Received: fields in the header section of a queued message (the first
 * 64 KB of it; a longer header is counted that far). */
static unsigned
count_hops(struct queue *q, const char *id)
{
	char		*buf, *p, *end, *nl;
	ssize_t		 n;
	unsigned	 hops = 0;
	int		 fd;

	if ((fd = queue_open_data(q, id)) == -1)
		return 0;
	if ((buf = malloc(HOPS_SCAN)) == NULL) {
		close(fd);
		return 0;
	}
	n = pread(fd, buf, HOPS_SCAN, 0);
	close(fd);
	for (p = buf, end = buf + (n > 0 ? n : 0); p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL || nl == p ||
		    (nl == p + 1 && *p == '\r'))
			break;		/* the end of the header section */
		if (nl - p >= 9 && strncasecmp(p, "Received:", 9) == 0)
			hops++;
	}
	free(buf);
	return hops;
}

/*
 * A message from the maildrop: mtad-sendmail added one Received: field of
 * its own (as the SMTP server does), so more than SMTP_MAX_HOPS others
 * is a loop, e.g. between two aliases piping into mtad-sendmail.
 */
static int
picked_up(const char *id, void *arg)
{
	struct mtad	*d = arg;
	unsigned	 hops = count_hops(&d->q, id);

	if (hops > SMTP_MAX_HOPS + 1) {
		local_spawn_loop(d, id, hops - 1);
		return 0;
	}
	return want_local(id, arg);
}

void
local_spawn_pickup(struct mtad *d)
{
	if (queue_pickup(&d->q, picked_up, d) == -1)
		log_warn("maildrop pickup");
	local_spawn_run(d);
	mtad_runner_notify(d);
}

/*
 * A mail loop (more Received: fields than SMTP_MAX_HOPS): acknowledged
 * like any message, then every recipient is bounced with one DSN instead
 * of going round again (sendmail's MaxHopCount, Postfix's hopcount_limit).
 * If the DSN cannot be queued the message is delivered normally.
 */
void
local_spawn_loop(struct mtad *d, const char *id, unsigned hops)
{
	char	newid[QID_SIZE];
	int	local = 0;

	switch (local_bounce_loop(&d->cf, &d->q, id, hops, SMTP_MAX_HOPS,
	    newid, &local)) {
	case 1:
		if (local)
			local_spawn_add(d, newid);
		else
			d->remote_new = 1;
		break;
	case 0:
		break;
	default:
		log_warnx("%s: mail loop not bounced; delivering it", id);
		local_spawn_add(d, id);
		d->remote_new = 1;
		break;
	}
}
