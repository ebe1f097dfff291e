/*
 * The runner process: link state, when to flush, and the daemon's side of
 * the control socket.  See runner.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "control.h"
#include "mailq.h"
#include "relay.h"
#include "runner.h"

#define RUNNER_CLIENTS	16
#define RESCAN_SECS	30	/* look at the queue at least this often */
#define RUNNER_LATE	32	/* deliveries waiting to be recorded */

struct client {
	int	 fd;
	char	 in[CONTROL_LINE_MAX + 1];
	size_t	 inlen;
	int	 waiting;	/* WAIT_* */
};

#define WAIT_NONE	0
#define WAIT_FLUSH	1	/* for the flush in progress */
#define WAIT_NEXT	2	/* for the one after it (that one is stopping) */

struct flush_count {
	unsigned	sent;
	unsigned	deferred;
	unsigned	bounced;
	int		connfail;
	char		reason[256];
};

struct runner {
	struct mtad_config	 cf;
	char			*confpath;
	struct queue		*q;
	pid_t			 parent;
	enum link_mode		 link;
	int			 ctlfd;
	int			 sigfd;
	struct client		 clients[RUNNER_CLIENTS];

	pid_t			 child;
	int			 childfd;
	int			 child_forced;
	char			 cbuf[RELAY_REPORT_MAX];	/* oauth2 lines */
	size_t			 clen;
	struct flush_count	 cur;
	int			 cancelled;	/* we stopped the flush */

	time_t			 next_due;	/* 0: look now */
	time_t			 next_expire;	/* 0: look now */
	char			 late[RUNNER_LATE][512];	/* "unrecorded ..." */
	size_t			 nlate;
	time_t			 last_flush;
	struct flush_count	 last;
	int			 stopping;
	struct oauth2_account	 token;	/* the last flush's access token */
};

static volatile sig_atomic_t relay_cancel;

/* --- link state ---------------------------------------------------------- */

static int
link_read(const char *spool, enum link_mode *mode)
{
	char	path[4096], buf[16];
	int	fd;
	ssize_t	n;

	snprintf(path, sizeof(path), "%s/%s", spool, RUNNER_LINK_FILE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if (strncmp(buf, "up", 2) == 0)
		*mode = LINK_UP;
	else if (strncmp(buf, "down", 4) == 0)
		*mode = LINK_DOWN;
	else
		return -1;
	return 0;
}

enum link_mode
runner_link_state(const struct mtad_config *cf)
{
	enum link_mode	mode;

	if (cf->link == LINK_ALWAYS)
		return LINK_ALWAYS;
	if (link_read(cf->spool, &mode) == 0)
		return mode;
	return cf->link;
}

/* Durably, so the state survives a crash right after `mtactl link`. */
static int
link_write(const char *spool, enum link_mode mode)
{
	char		 path[4096], tmp[4096];
	const char	*text = mode == LINK_UP ? "up\n" : "down\n";
	int		 fd, dfd;

	snprintf(path, sizeof(path), "%s/%s", spool, RUNNER_LINK_FILE);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", spool, RUNNER_LINK_FILE);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0640)) == -1)
		return -1;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) ||
	    fsync(fd) == -1) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	if ((dfd = open(spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

static const char *
link_name(enum link_mode mode)
{
	return mode == LINK_ALWAYS ? "always" : mode == LINK_UP ? "up" :
	    "down";
}

/* --- replies ------------------------------------------------------------- */

static void
client_close(struct client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->inlen = 0;
	c->waiting = 0;
}

static void
client_printf(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
client_printf(struct client *c, const char *fmt, ...)
{
	char	buf[2048];
	va_list	ap;
	int	n;

	if (c->fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	/* The socket blocks with a send timeout: a stuck client is dropped. */
	if (send(c->fd, buf, n, MSG_NOSIGNAL) != n)
		client_close(c);
}

static void
client_end(struct client *c, int status)
{
	client_printf(c, "exit %d\n", status);
	client_close(c);
}

static void
format_age(time_t secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(buf, len, "%lldd%02lldh", (long long)secs / 86400,
		    (long long)secs % 86400 / 3600);
	else if (secs >= 3600)
		snprintf(buf, len, "%lldh%02lldm", (long long)secs / 3600,
		    (long long)secs % 3600 / 60);
	else if (secs >= 60)
		snprintf(buf, len, "%lldm%02llds", (long long)secs / 60,
		    (long long)secs % 60);
	else
		snprintf(buf, len, "%llds", (long long)secs);
}

static void
format_result(const struct flush_count *fc, char *buf, size_t len)
{
	snprintf(buf, len, "%u sent, %u deferred, %u bounced%s%s",
	    fc->sent, fc->deferred, fc->bounced,
	    fc->connfail ? " (" : "", fc->connfail ? fc->reason : "");
	if (fc->connfail && strlen(buf) + 2 <= len)
		strcat(buf, ")");
}

/* --- the queue, as status and mailq see it -------------------------------- */

struct qstat {
	struct runner	*r;
	unsigned	 n;
	time_t		 oldest;
};

static int
remote_pending(const struct qmsg *m)
{
	size_t	i;

	for (i = 0; i < m->nrcpts; i++)
		if (!m->rcpts[i].local && m->rcpts[i].state == QR_PENDING)
			return 1;
	return 0;
}

static int
qstat_one(const char *id, void *arg)
{
	struct qstat	*st = arg;
	struct qmsg	 m;

	if (queue_load(st->r->q, id, &m) == -1)
		return 0;	/* settled meanwhile */
	if (remote_pending(&m)) {
		st->n++;
		if (st->oldest == 0 || m.arrival < st->oldest)
			st->oldest = m.arrival;
	}
	qmsg_free(&m);
	return 0;
}

static void
cmd_status(struct runner *r, struct client *c)
{
	struct qstat	 st = { r, 0, 0 };
	char		 age[32], when[64], res[512];
	struct tm	 tm;

	queue_scan(r->q, qstat_one, &st);
	client_printf(c, "link: %s\n", link_name(r->link));
	client_printf(c, "queue: %u messages\n", st.n);
	if (st.n > 0) {
		format_age(time(NULL) - st.oldest, age, sizeof(age));
		client_printf(c, "oldest: %s\n", age);
	} else
		client_printf(c, "oldest: -\n");
	if (r->last_flush == 0)
		client_printf(c, "last flush: never\n");
	else {
		localtime_r(&r->last_flush, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		format_result(&r->last, res, sizeof(res));
		client_printf(c, "last flush: %s %s\n", when, res);
	}
	client_printf(c, "flush: %s\n", r->child > 0 ? "running" : "idle");
	client_end(c, 0);
}

/* The same listing as mailq(1), from the daemon's side. */
static void
cmd_mailq(struct runner *r, struct client *c)
{
	char	*buf = NULL;
	size_t	 len = 0, off;
	ssize_t	 n;
	FILE	*f;
	int	 rv;

	if ((f = open_memstream(&buf, &len)) == NULL) {
		client_printf(c, "error: %s\n", strerror(errno));
		client_end(c, 1);
		return;
	}
	rv = mailq_print(r->q, f);
	fclose(f);
	for (off = 0; off < len && c->fd != -1; off += n)
		if ((n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL)) <= 0)
			client_close(c);
	free(buf);
	if (rv == -1) {
		client_printf(c, "error: cannot read the queue\n");
		client_end(c, 1);
	} else
		client_end(c, 0);
}

/* --- flushes ------------------------------------------------------------- */

static int
link_active(const struct runner *r)
{
	return r->link == LINK_UP || r->link == LINK_ALWAYS;
}

static void
flush_start(struct runner *r, int forced)
{
	int	p[2];
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("runner: pipe");
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("runner: fork");
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		struct sigaction	sa;
		sigset_t		none;
		int			i, status;

		close(p[0]);
		close(r->ctlfd);
		close(r->sigfd);
		for (i = 0; i < RUNNER_CLIENTS; i++)
			if (r->clients[i].fd != -1)
				close(r->clients[i].fd);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGCHLD, &sa, NULL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		status = relay_flush(&r->cf, r->q, forced, p[1], &relay_cancel,
		    &r->token);
		_exit(status);
	}
	close(p[1]);
	r->child = pid;
	r->childfd = p[0];
	r->child_forced = forced;
	r->clen = 0;
	r->cancelled = 0;
	memset(&r->cur, 0, sizeof(r->cur));
}

static void
child_line(struct runner *r, char *line)
{
	if (strncmp(line, "sent ", 5) == 0)
		r->cur.sent++;
	else if (strncmp(line, "deferred ", 9) == 0)
		r->cur.deferred++;
	else if (strncmp(line, "bounced ", 8) == 0)
		r->cur.bounced++;
	else if (strncmp(line, "unrecorded ", 11) == 0) {
		if (r->nlate < RUNNER_LATE)
			snprintf(r->late[r->nlate++], sizeof(r->late[0]), "%s",
			    line);
	} else if (strncmp(line, "oauth2 ", 7) == 0) {
		if (relay_token_line(line, &r->token) == -1)
			log_warnx("runner: malformed token report from the "
			    "flush");
		explicit_bzero(line, strlen(line));
	} else if (strncmp(line, "connfail ", 9) == 0) {
		r->cur.connfail = 1;
		snprintf(r->cur.reason, sizeof(r->cur.reason), "%s", line + 9);
	}
}

static void
child_input(struct runner *r)
{
	ssize_t	 n;
	char	*nl;

	n = read(r->childfd, r->cbuf + r->clen, sizeof(r->cbuf) - 1 - r->clen);
	if (n <= 0) {
		if (n == -1 && errno == EINTR)
			return;
		close(r->childfd);
		r->childfd = -1;
		return;
	}
	r->clen += n;
	r->cbuf[r->clen] = '\0';
	while ((nl = strchr(r->cbuf, '\n')) != NULL) {
		*nl = '\0';
		child_line(r, r->cbuf);
		r->clen -= nl + 1 - r->cbuf;
		memmove(r->cbuf, nl + 1, r->clen + 1);
	}
	if (r->clen == sizeof(r->cbuf) - 1)
		r->clen = 0;	/* never from our own child */
}

static void
flush_done(struct runner *r, int status)
{
	char	res[512];
	int	i;

	while (r->childfd != -1)
		child_input(r);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!r->cur.connfail && !r->cancelled) {
			r->cur.connfail = 1;
			snprintf(r->cur.reason, sizeof(r->cur.reason),
			    "flush process failed (status %d)", status);
		}
	}
	r->child = 0;
	r->last = r->cur;
	r->last_flush = time(NULL);
	format_result(&r->cur, res, sizeof(res));
	if (r->cur.sent + r->cur.deferred + r->cur.bounced > 0 ||
	    r->cur.connfail)
		log_info("flush: %s", res);
	for (i = 0; i < RUNNER_CLIENTS; i++) {
		struct client *c = &r->clients[i];

		if (c->fd == -1 || c->waiting != WAIT_FLUSH)
			continue;
		client_printf(c, "flush: %u sent, %u deferred, %u bounced\n",
		    r->cur.sent, r->cur.deferred, r->cur.bounced);
		if (r->cur.connfail)
			client_printf(c, "error: %s\n", r->cur.reason);
		client_end(c, r->cur.connfail ? 1 : 0);
	}
	r->next_due = 0;	/* look again: mail may have come meanwhile */
	r->next_expire = 0;	/* the flush may have settled the earliest */

	/* Asked for while a stopped flush finished its messages in hand. */
	for (i = 0; i < RUNNER_CLIENTS; i++)
		if (r->clients[i].fd != -1 &&
		    r->clients[i].waiting == WAIT_NEXT)
			break;
	if (i == RUNNER_CLIENTS || r->stopping)
		return;
	if (link_active(r))
		flush_start(r, 1);
	for (i = 0; i < RUNNER_CLIENTS; i++) {
		struct client *c = &r->clients[i];

		if (c->fd == -1 || c->waiting != WAIT_NEXT)
			continue;
		c->waiting = WAIT_FLUSH;
		if (r->child <= 0) {
			client_printf(c, "error: %s\n", link_active(r) ?
			    "cannot start a flush (see the log)" :
			    "the link went down");
			client_end(c, 1);
		}
	}
}

static size_t	record_late(struct runner *);

/* A flush is wanted by a client: join the running one or start one. */
static void
flush_request(struct runner *r, struct client *c)
{
	if (r->child > 0) {
		/* Join it, unless it is only finishing its messages in hand
		 * (link down, then up again): then the next one. */
		c->waiting = r->cancelled ? WAIT_NEXT : WAIT_FLUSH;
		return;
	}
	c->waiting = WAIT_FLUSH;
	/* Asked for: it goes even if some cannot be recorded yet (those
	 * are sent once more, as the log said). */
	record_late(r);
	flush_start(r, 1);
	if (r->child <= 0) {
		client_printf(c, "error: cannot start a flush (see the log)\n");
		client_end(c, 1);
	}
}

/*
 * Record the deliveries a flush could not (a full disk, an I/O error).
 * Returns how many still wait: while any do, no flush starts by itself,
 * so a message the smart host took is not sent again and again.
 */
static size_t
record_late(struct runner *r)
{
	size_t	i = 0;

	while (i < r->nlate) {
		if (relay_record_late(r->q, r->late[i]) == 0) {
			i++;
			continue;
		}
		memmove(r->late[i], r->late[i + 1],
		    (r->nlate - i - 1) * sizeof(r->late[0]));
		r->nlate--;
	}
	return r->nlate;
}

static void
schedule(struct runner *r, time_t now)
{
	time_t	next = 0;
	long	due;

	if (r->child > 0 || !link_active(r) || r->stopping)
		return;
	if (r->next_due != 0 && now < r->next_due)
		return;
	if (record_late(r) > 0) {
		log_warnx("runner: %zu deliveries still cannot be recorded in "
		    "the queue; no flush before they are", r->nlate);
		r->next_due = now + RESCAN_SECS;
		return;
	}
	due = relay_due(r->q, now, 0, &next);
	if (due > 0) {
		flush_start(r, 0);
		return;
	}
	r->next_due = now + RESCAN_SECS;
	if (next != 0 && next < r->next_due)
		r->next_due = next > now ? next : now + 1;
}

/* queue-lifetime runs out while the link is down too. */
static void
expire(struct runner *r, time_t now)
{
	time_t	next = 0;
	long	n;

	if (r->child > 0 || r->stopping || r->cf.queue_lifetime <= 0)
		return;
	if (r->next_expire != 0 && now < r->next_expire)
		return;
	if ((n = relay_expire(&r->cf, r->q, now, &next)) == -1)
		log_warn("runner: cannot scan the queue for expired mail");
	else if (n > 0) {
		log_info("runner: %ld message%s past queue-lifetime bounced", n,
		    n == 1 ? "" : "s");
		r->next_due = 0;	/* a DSN may wait for the smart host */
	}
	r->next_expire = now + RESCAN_SECS;
	if (next != 0 && next < r->next_expire)
		r->next_expire = next > now ? next : now + 1;
}

/* --- control commands ---------------------------------------------------- */

static void
cmd_link(struct runner *r, struct client *c, int up)
{
	if (r->link == LINK_ALWAYS) {
		if (up) {
			flush_request(r, c);
			return;
		}
		client_printf(c, "error: link always is set in %s\n",
		    r->confpath);
		client_end(c, 1);
		return;
	}
	if (link_write(r->cf.spool, up ? LINK_UP : LINK_DOWN) == -1)
		log_warn("runner: cannot save the link state in %s",
		    r->cf.spool);
	r->link = up ? LINK_UP : LINK_DOWN;
	log_info("link %s", up ? "up" : "down");
	if (up) {
		flush_request(r, c);
		return;
	}
	if (r->child > 0 && !r->cancelled) {
		/* It starts nothing new; the messages in hand finish (within
		 * a bound) so that no 250 is lost. */
		kill(r->child, SIGTERM);
		r->cancelled = 1;
	}
	client_printf(c, "link: down\n");
	client_end(c, 0);
}

static void reload(struct runner *r);

static void
command(struct runner *r, struct client *c, const char *cmd)
{
	if (strcmp(cmd, "link up") == 0)
		cmd_link(r, c, 1);
	else if (strcmp(cmd, "link down") == 0)
		cmd_link(r, c, 0);
	else if (strcmp(cmd, "flush") == 0) {
		if (!link_active(r)) {
			client_printf(c, "error: the link is down (mtactl "
			    "link up first)\n");
			client_end(c, 1);
		} else
			flush_request(r, c);
	} else if (strcmp(cmd, "status") == 0)
		cmd_status(r, c);
	else if (strcmp(cmd, "mailq") == 0)
		cmd_mailq(r, c);
	else if (strcmp(cmd, "reload") == 0) {
		kill(r->parent, SIGHUP);
		reload(r);
		client_printf(c, "reloading\n");
		client_end(c, 0);
	} else if (strcmp(cmd, "stop") == 0) {
		client_printf(c, "stopping\n");
		client_end(c, 0);
		kill(r->parent, SIGTERM);
	} else if (strcmp(cmd, "poke") == 0) {
		r->next_due = 0;
		client_end(c, 0);
	} else {
		client_printf(c, "error: unknown command\n");
		client_end(c, 1);
	}
}

static void
client_input(struct runner *r, struct client *c)
{
	ssize_t	 n;
	char	*nl;

	n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen,
	    MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* A waiting client that gives up just stops waiting. */
		client_close(c);
		return;
	}
	c->inlen += n;
	c->in[c->inlen] = '\0';
	if ((nl = strchr(c->in, '\n')) == NULL) {
		if (c->inlen == sizeof(c->in) - 1) {
			client_printf(c, "error: request too long\n");
			client_end(c, 1);
		}
		return;
	}
	*nl = '\0';
	if (nl > c->in && nl[-1] == '\r')
		nl[-1] = '\0';
	command(r, c, c->in);
}

static void
accept_client(struct runner *r)
{
	struct timeval	tv = { 5, 0 };
	int		fd, i;

	fd = accept4(r->ctlfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd == -1)
		return;
	for (i = 0; i < RUNNER_CLIENTS; i++)
		if (r->clients[i].fd == -1)
			break;
	if (i == RUNNER_CLIENTS) {
		static const char busy[] = "error: too many clients\nexit 1\n";

		send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	r->clients[i].fd = fd;
	r->clients[i].inlen = 0;
	r->clients[i].waiting = 0;
}

/* --- the process --------------------------------------------------------- */

static void
reload(struct runner *r)
{
	struct mtad_config	cf;
	char			err[1024];

	if (config_load(r->confpath, &cf, err, sizeof(err)) == -1 ||
	    relay_check_config(&cf, err, sizeof(err)) == -1) {
		log_warnx("runner: reload: %s; keeping the old configuration",
		    err);
		config_free(&cf);
		return;
	}
	if (strcmp(cf.spool, r->cf.spool) != 0)
		log_warnx("runner: reload: spool changed; restart mtad for "
		    "that");
	free(cf.spool);
	cf.spool = r->cf.spool;
	r->cf.spool = NULL;
	config_free(&r->cf);
	r->cf = cf;
	/* The auth or account files may have changed: fetch afresh. */
	oauth2_free(&r->token);
	r->link = runner_link_state(&r->cf);
	r->next_due = 0;
	r->next_expire = 0;	/* queue-lifetime may have changed */
}

static void
signal_input(struct runner *r)
{
	struct signalfd_siginfo	si;
	int			status;
	pid_t			pid;

	if (read(r->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	switch (si.ssi_signo) {
	case SIGTERM:
	case SIGINT:
		r->stopping = 1;
		break;
	case SIGHUP:
		reload(r);
		break;
	case SIGUSR1:
		r->next_due = 0;
		/* The new message expires no sooner than this. */
		if (r->cf.queue_lifetime > 0 && (r->next_expire == 0 ||
		    time(NULL) + r->cf.queue_lifetime < r->next_expire))
			r->next_expire = time(NULL) + r->cf.queue_lifetime;
		break;
	case SIGCHLD:
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
			if (pid == r->child)
				flush_done(r, status);
		break;
	}
}

static void
stop(struct runner *r)
{
	int	status, i;
	char	path[4096];

	r->stopping = 1;	/* flush_done starts nothing new */
	if (r->child > 0) {
		/* Once: a second SIGTERM would abandon the messages in hand. */
		if (!r->cancelled)
			kill(r->child, SIGTERM);
		r->cancelled = 1;
		if (waitpid(r->child, &status, 0) == r->child)
			flush_done(r, status);
	}
	for (i = 0; i < RUNNER_CLIENTS; i++)
		if (r->clients[i].fd != -1) {
			client_printf(&r->clients[i], "error: mtad is "
			    "stopping\n");
			client_end(&r->clients[i], 1);
		}
	snprintf(path, sizeof(path), "%s/%s", r->cf.spool, CONTROL_SOCKET);
	unlink(path);
	close(r->ctlfd);
}

static void
run(struct runner *r)
{
	struct pollfd	pfd[RUNNER_CLIENTS + 3];
	struct client	*who[RUNNER_CLIENTS + 3];
	nfds_t		n, i;
	time_t		now;
	int		timeout, rv, k;

	while (!r->stopping) {
		if (getppid() != r->parent)
			break;
		now = time(NULL);
		expire(r, now);
		schedule(r, now);
		timeout = 1000 * RESCAN_SECS;
		if (r->child == 0 && link_active(r) && r->next_due != 0)
			timeout = r->next_due > now ?
			    (int)(r->next_due - now) * 1000 : 0;
		if (r->child == 0 && r->next_expire != 0 &&
		    (r->next_expire - now) * 1000 < timeout)
			timeout = r->next_expire > now ?
			    (int)(r->next_expire - now) * 1000 : 0;
		if (timeout > 5000)
			timeout = 5000;	/* also notices a dead parent */

		n = 0;
		pfd[n].fd = r->sigfd;
		pfd[n].events = POLLIN;
		who[n++] = NULL;
		pfd[n].fd = r->ctlfd;
		pfd[n].events = POLLIN;
		who[n++] = NULL;
		if (r->childfd != -1) {
			pfd[n].fd = r->childfd;
			pfd[n].events = POLLIN;
			who[n++] = NULL;
		}
		for (k = 0; k < RUNNER_CLIENTS; k++) {
			if (r->clients[k].fd == -1)
				continue;
			pfd[n].fd = r->clients[k].fd;
			pfd[n].events = POLLIN;
			who[n++] = &r->clients[k];
		}
		rv = poll(pfd, n, timeout);
		if (rv == -1 && errno != EINTR)
			fatal("runner: poll");
		if (rv <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == r->sigfd)
				signal_input(r);
			else if (pfd[i].fd == r->ctlfd)
				accept_client(r);
			else if (who[i] == NULL) {
				if (r->childfd != -1)
					child_input(r);
			} else if (who[i]->fd == pfd[i].fd)
				client_input(r, who[i]);
		}
	}
	stop(r);
}

pid_t
runner_start(const char *confpath, const struct mtad_config *cf,
    struct queue *q, void (*child_init)(void *), void *arg, char *err,
    size_t errlen)
{
	struct runner	*r;
	sigset_t	 set, old;
	pid_t		 parent = getpid(), pid;
	char		 lerr[1024];
	int		 ctlfd, i;

	if ((ctlfd = control_listen(cf->spool, err, errlen)) == -1)
		return -1;
	/* Blocked across the fork: mtad notifies (SIGUSR1) the new runner
	 * at once, before the child has set up its signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(ctlfd);
		return -1;
	}
	if (pid > 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(ctlfd);
		return pid;
	}

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	prctl(PR_SET_NAME, "mtad-runner");
	if (child_init != NULL)
		child_init(arg);
	/* mtad keeps root as its saved IDs for local delivery; the runner
	 * talks to the network and needs none of it. */
	if (getuid() != 0 && (setresgid(getgid(), getgid(), getgid()) == -1 ||
	    setresuid(getuid(), getuid(), getuid()) == -1))
		fatal("runner: dropping saved IDs");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("runner");
	r->parent = parent;
	r->q = q;
	r->ctlfd = ctlfd;
	r->childfd = -1;
	for (i = 0; i < RUNNER_CLIENTS; i++)
		r->clients[i].fd = -1;
	if ((r->confpath = strdup(confpath)) == NULL)
		fatal("runner");
	if (config_load(confpath, &r->cf, lerr, sizeof(lerr)) == -1)
		fatalx("runner: %s", lerr);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGCHLD);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_SETMASK, &set, NULL) == -1 ||
	    (r->sigfd = signalfd(-1, &set, SFD_CLOEXEC)) == -1)
		fatal("runner: signalfd");
	{
		/* The flush child cancels its wait on SIGTERM. */
		struct sigaction	sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(SIGCHLD, &sa, NULL);
	}
	if (getppid() != parent)
		_exit(0);
	r->link = runner_link_state(&r->cf);
	log_debug("runner: link %s", link_name(r->link));
	run(r);
	oauth2_free(&r->token);
	config_free(&r->cf);
	free(r->confpath);
	free(r);
	_exit(0);
}

void
runner_notify(pid_t runner)
{
	if (runner > 0)
		kill(runner, SIGUSR1);
}
