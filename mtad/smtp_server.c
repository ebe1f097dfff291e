/*
 * mtad's SMTP side of the event loop: listeners, one struct smtp_conn per
 * client (socket, optional TLS, the session state machine), and the group
 * commit that turns every DATA finished while the previous group went to
 * disk into one queue_commit() before any of their 250s go out.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "log.h"
#include "mtad.h"
#include "net.h"
#include "smtp_session.h"
#include "tls.h"

struct smtp_conn {
	struct handler		 h;
	struct smtp_conn	*next;
	struct smtp_conn	*prev;
	SSL			*ssl;
	int			 handshake;	/* SSL_accept in progress */
	uint32_t		 ssl_want;	/* events SSL asked for */
	int			 committing;
	int			 dead;		/* close after the commit */
	struct smtp_session	 s;
};

static void	conn_io(struct mtad *, struct handler *, uint32_t);
static void	conn_run(struct mtad *, struct smtp_conn *);

/* --- connections ---------------------------------------------------------- */

static void
conn_free(struct mtad *d, struct smtp_conn *c)
{
	if (c->committing) {
		/* The writer belongs to the pending commit: finish that. */
		c->dead = 1;
		return;
	}
	mtad_unwatch(d, &c->h);
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->h.fd);
	smtp_session_free(&c->s);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	d->nconns--;
	free(c);
}

static int
is_loopback(const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin = (const void *)sa;
	const struct sockaddr_in6	*sin6 = (const void *)sa;

	if (sa->sa_family == AF_INET)
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
	return 0;
}

static int
relay_allowed(const struct mtad_config *cf, const struct sockaddr *sa)
{
	size_t	i;

	for (i = 0; i < cf->relay_from.n; i++)
		if (net_cidr_match(cf->relay_from.v[i], sa) == 1)
			return 1;
	return 0;
}

static void
conn_new(struct mtad *d, int fd, const struct sockaddr *sa)
{
	struct smtp_conn	*c;
	char			 ip[64], client[128];

	if (net_ntop(sa, ip, sizeof(ip)) == -1)
		snprintf(ip, sizeof(ip), "unknown");
	/* No DNS on the accept path: a slow resolver must not stall every
	 * other session.  Loopback is named, everything else is its IP. */
	if (is_loopback(sa))
		snprintf(client, sizeof(client), "localhost [%s]", ip);
	else
		snprintf(client, sizeof(client), "[%s]", ip);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("connection from %s", client);
		close(fd);
		return;
	}
	c->h.fd = fd;
	c->h.fn = conn_io;
	c->h.arg = c;
	if (smtp_session_init(&c->s, &d->cf, &d->q, QDEST_QUEUE, ip, client,
	    relay_allowed(&d->cf, sa), d->tls != NULL) == -1 ||
	    mtad_watch(d, &c->h, EPOLLOUT) == -1) {
		log_warn("connection from %s", client);
		smtp_session_free(&c->s);
		close(fd);
		free(c);
		return;
	}
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	d->nconns++;
	log_debug("connect from %s", client);
	conn_run(d, c);
}

static void
listener_accept(struct mtad *d, struct handler *h, uint32_t events)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, i;
	static const char	 busy[] = "421 4.3.2 Too many connections, "
	    "try again later\r\n";

	for (i = 0; i < 64; i++) {
		len = sizeof(ss);
		fd = accept4(h->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept");
			return;
		}
		if (d->nconns >= d->cf.max_clients || d->terminating) {
			/* Best effort: the socket buffer takes one line. */
			if (write(fd, busy, sizeof(busy) - 1) < 0)
				log_debug("421 to a client: %s",
				    strerror(errno));
			log_info("rejected a connection: %u clients",
			    d->nconns);
			close(fd);
			continue;
		}
		conn_new(d, fd, (struct sockaddr *)&ss);
	}
}

/* >0 bytes read, 0 end of input, -1 nothing now. */
static ssize_t
conn_read(struct smtp_conn *c)
{
	struct smtp_session	*s = &c->s;
	size_t			 space = sizeof(s->in) - s->inlen;
	ssize_t			 n;
	int			 e;

	if (c->ssl == NULL) {
		n = read(c->h.fd, s->in + s->inlen, space);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? -1 : 0;
		return n;
	}
	n = SSL_read(c->ssl, s->in + s->inlen, space);
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ) {
		c->ssl_want |= EPOLLIN;
		return -1;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want |= EPOLLOUT;
		return -1;
	}
	return 0;
}

/* 0 written (some or all) or nothing to do now, -1 the peer is gone. */
static int
conn_write(struct smtp_conn *c)
{
	struct smtp_session	*s = &c->s;
	ssize_t			 n;
	int			 e;

	if (c->ssl == NULL) {
		n = write(c->h.fd, s->out, s->outlen);
		if (n == -1)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		smtp_session_consumed(s, n);
		return 0;
	}
	n = SSL_write(c->ssl, s->out, s->outlen);
	if (n > 0) {
		smtp_session_consumed(s, n);
		return 0;
	}
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ)
		c->ssl_want |= EPOLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		c->ssl_want |= EPOLLOUT;
	else
		return -1;
	return 0;
}

/* 1 done, 0 in progress, -1 failed. */
static int
conn_handshake(struct mtad *d, struct smtp_conn *c)
{
	char	err[256];
	int	r, e;

	if (c->ssl == NULL) {
		if ((c->ssl = SSL_new(d->tls)) == NULL ||
		    SSL_set_fd(c->ssl, c->h.fd) != 1) {
			log_warnx("TLS setup for %s failed", c->s.client);
			return -1;
		}
		SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		c->handshake = 1;
	}
	if ((r = SSL_accept(c->ssl)) == 1) {
		c->handshake = 0;
		smtp_session_tls_started(&c->s);
		log_debug("STARTTLS with %s: %s %s", c->s.client,
		    SSL_get_version(c->ssl), SSL_get_cipher(c->ssl));
		return 1;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->ssl_want |= EPOLLIN;
		return 0;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		c->ssl_want |= EPOLLOUT;
		return 0;
	}
	tls_error(c->ssl, r, err, sizeof(err));
	log_info("TLS handshake with %s failed: %s", c->s.client, err);
	SSL_free(c->ssl);
	c->ssl = NULL;
	return -1;
}

/*
 * Move bytes both ways until nothing moves, a bounded number of rounds so
 * one fast client cannot starve the others.
 */
static void
conn_run(struct mtad *d, struct smtp_conn *c)
{
	struct smtp_session	*s = &c->s;
	uint32_t		 ev;
	ssize_t			 n;
	int			 round, progress;

	c->ssl_want = 0;
	for (round = 0; round < 16; round++) {
		progress = 0;
		if (c->handshake || (s->want_tls && s->outlen == 0)) {
			if ((n = conn_handshake(d, c)) == -1) {
				conn_free(d, c);
				return;
			}
			if (n == 0)
				break;
			progress = 1;
		}
		if (s->outlen > 0) {
			size_t before = s->outlen;

			if (conn_write(c) == -1) {
				smtp_session_eof(s);
				conn_free(d, c);
				return;
			}
			progress |= s->outlen != before;
		}
		if (s->closing && s->outlen == 0) {
			conn_free(d, c);
			return;
		}
		if (!s->closing && !s->want_tls && s->inlen > 0 &&
		    s->state != SS_COMMIT && s->outlen < SMTP_OUT_HIGH) {
			size_t inb = s->inlen, outb = s->outlen;

			/* Input left over from before a commit or a full
			 * output buffer. */
			smtp_session_feed(s);
			progress |= s->inlen != inb || s->outlen != outb;
		}
		if (!s->closing && smtp_session_wants_input(s)) {
			if ((n = conn_read(c)) > 0) {
				s->inlen += n;
				smtp_session_feed(s);
				progress = 1;
			} else if (n == 0) {
				smtp_session_eof(s);
				if (s->state != SS_COMMIT) {
					conn_free(d, c);
					return;
				}
			}
		}
		if (s->state == SS_COMMIT && !c->committing) {
			struct smtp_conn **n2;

			if (d->ncommitting == d->commitcap) {
				size_t cap = d->commitcap ? d->commitcap * 2 : 16;

				n2 = reallocarray(d->committing, cap,
				    sizeof(*n2));
				if (n2 == NULL)
					fatal("commit list");
				d->committing = n2;
				d->commitcap = cap;
			}
			d->committing[d->ncommitting++] = c;
			c->committing = 1;
		}
		if (!progress)
			break;
	}
	ev = c->ssl_want;
	if (!c->handshake) {
		if (smtp_session_wants_input(s) && !s->closing)
			ev |= EPOLLIN;
		if (s->outlen > 0)
			ev |= EPOLLOUT;
	}
	if (round == 16 && ev == 0)
		ev = EPOLLOUT;	/* come back for the rest */
	if (ev != c->h.events && mtad_rewatch(d, &c->h, ev) == -1) {
		log_warn("epoll");
		conn_free(d, c);
	}
}

static void
conn_io(struct mtad *d, struct handler *h, uint32_t events)
{
	struct smtp_conn	*c = h->arg;

	if (c->dead)
		return;
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN) &&
	    !c->committing) {
		smtp_session_eof(&c->s);
		conn_free(d, c);
		return;
	}
	conn_run(d, c);
}

/* --- group commit --------------------------------------------------------- */

/* The 250s (or 452s) of a group that is on disk, and what it queued. */
static void
commit_done(struct mtad *d, struct smtp_conn **batch, size_t n,
    const int *res)
{
	size_t	i;
	char	id[QID_SIZE];

	for (i = 0; i < n; i++) {
		struct smtp_conn *c = batch[i];
		size_t		  r;
		unsigned	  hops = c->s.hops;
		char		  qid[QID_SIZE];
		int		  local;

		if (res[i] == 0)
			for (r = 0; r < c->s.msg.nrcpts; r++)
				if (!c->s.msg.rcpts[r].local)
					d->remote_new = 1;
		c->committing = 0;
		memcpy(qid, c->s.msg.id, QID_SIZE);
		local = smtp_session_committed(&c->s, res[i], id);
		if (res[i] == 0 && hops > SMTP_MAX_HOPS)
			local_spawn_loop(d, qid, hops);
		else if (local)
			local_spawn_add(d, id);
		if (c->dead)
			conn_free(d, c);
		else
			conn_run(d, c);
	}
	local_spawn_run(d);
	mtad_runner_notify(d);
}

static void
inflight_free(struct mtad *d)
{
	free(d->inflight);
	free(d->inflight_ws);
	free(d->inflight_res);
	d->inflight = NULL;
	d->inflight_ws = NULL;
	d->inflight_res = NULL;
	d->ninflight = 0;
}

static void
commit_io(struct mtad *d, struct handler *h, uint32_t events)
{
	int	serr;

	(void)h;
	(void)events;
	if (!commit_collect(&d->commit, &serr))
		return;
	if (serr != 0)
		log_warnx("queue: syncfs: %s; synced each file instead",
		    strerror(serr));
	commit_done(d, d->inflight, d->ninflight, d->inflight_res);
	inflight_free(d);
	smtp_server_commit(d);		/* what gathered meanwhile */
}

int
smtp_server_commit_init(struct mtad *d)
{
	if (commit_init(&d->commit, &d->q) == -1)
		return -1;
	d->commit_h.fd = d->commit.efd;
	d->commit_h.fn = commit_io;
	d->commit_h.arg = NULL;
	if (mtad_watch(d, &d->commit_h, EPOLLIN) == -1) {
		commit_fini(&d->commit);
		return -1;
	}
	return 0;
}

void
smtp_server_commit_fini(struct mtad *d)
{
	if (!d->commit.running)
		return;
	mtad_unwatch(d, &d->commit_h);
	commit_fini(&d->commit);
	if (d->ninflight > 0)
		commit_done(d, d->inflight, d->ninflight, d->inflight_res);
	inflight_free(d);
}

/*
 * Every DATA finished since the last group goes to disk as one group: to
 * the commit thread when it is free (it comes back through commit_io), in
 * the loop when there is no thread.  While a group is out, the next one
 * gathers.
 */
void
smtp_server_commit(struct mtad *d)
{
	size_t	n = d->ncommitting, i;

	if (n == 0 || d->commit.busy)
		return;
	d->inflight = d->committing;
	d->ninflight = n;
	d->committing = NULL;
	d->ncommitting = d->commitcap = 0;
	d->inflight_ws = calloc(n, sizeof(*d->inflight_ws));
	d->inflight_res = calloc(n, sizeof(*d->inflight_res));
	if (d->inflight_ws == NULL || d->inflight_res == NULL)
		fatal("group commit");
	for (i = 0; i < n; i++)
		d->inflight_ws[i] = &d->inflight[i]->s.w;
	if (d->commit.running) {
		commit_submit(&d->commit, d->inflight_ws, n, d->inflight_res);
		return;
	}
	queue_commit(&d->q, d->inflight_ws, n, d->inflight_res);
	commit_done(d, d->inflight, n, d->inflight_res);
	inflight_free(d);
}

/* --- listeners, timers, shutdown ------------------------------------------ */

int
smtp_server_listen(struct mtad *d, char *err, size_t errlen)
{
	const struct strlist	*l = &d->cf.listen;
	char			 e[256];
	size_t			 i;
	int			 fd;

	if ((d->listeners = calloc(l->n, sizeof(*d->listeners))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	for (i = 0; i < l->n; i++) {
		if ((fd = net_listen(l->v[i], 128, e, sizeof(e))) == -1) {
			snprintf(err, errlen, "listen %s: %s", l->v[i], e);
			return -1;
		}
		d->listeners[i].h.fd = fd;
		d->listeners[i].h.fn = listener_accept;
		d->listeners[i].h.arg = &d->listeners[i];
		if ((d->listeners[i].addr = strdup(l->v[i])) == NULL ||
		    mtad_watch(d, &d->listeners[i].h, EPOLLIN) == -1) {
			snprintf(err, errlen, "listen %s: %s", l->v[i],
			    strerror(errno));
			close(fd);
			return -1;
		}
		d->nlisteners++;
	}
	return 0;
}

int
smtp_server_tls(struct mtad *d, char *err, size_t errlen)
{
	SSL_CTX	*ctx = NULL;

	if (d->cf.tls_cert != NULL &&
	    (ctx = tls_server_ctx(d->cf.tls_cert, d->cf.tls_key, err,
	    errlen)) == NULL)
		return -1;
	if (d->tls != NULL)
		SSL_CTX_free(d->tls);	/* live sessions hold a reference */
	d->tls = ctx;
	return 0;
}

void
smtp_server_close_listeners(struct mtad *d)
{
	size_t	i;

	for (i = 0; i < d->nlisteners; i++) {
		mtad_unwatch(d, &d->listeners[i].h);
		close(d->listeners[i].h.fd);
		free(d->listeners[i].addr);
	}
	free(d->listeners);
	d->listeners = NULL;
	d->nlisteners = 0;
}

void
smtp_server_tick(struct mtad *d, time_t now)
{
	struct smtp_conn	*c, *next;

	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (c->committing || now - c->s.last_active < d->cf.idle_timeout)
			continue;
		if (c->s.closing || c->handshake) {
			/* Told already and still not gone: drop it. */
			conn_free(d, c);
			continue;
		}
		log_info("timeout waiting for input from %s", c->s.client);
		smtp_session_timeout(&c->s);
		c->s.last_active = now;
		conn_run(d, c);
	}
}

void
smtp_server_shutdown(struct mtad *d)
{
	struct smtp_conn	*c, *next;

	smtp_server_close_listeners(d);
	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		smtp_session_shutdown(&c->s);
		if (!c->committing)
			conn_run(d, c);
	}
}

void
smtp_server_closefrom_child(struct mtad *d)
{
	struct smtp_conn	*c;
	size_t			 i;

	for (i = 0; i < d->nlisteners; i++)
		close(d->listeners[i].h.fd);
	for (c = d->conns; c != NULL; c = c->next)
		close(c->h.fd);
	close(d->epfd);
	close(d->sig.fd);
	if (d->commit.running)
		close(d->commit.efd);
	if (d->pickup.fd > 0)
		close(d->pickup.fd);
}
