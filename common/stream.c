/*
 * Our mailstream_low driver: plain fds or OpenSSL, every wait bounded by
 * poll().  Debian's libetpan does TLS through GnuTLS without CA files or
 * host-name checks, so POP3, IMAP and SMTP all come through here instead.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <libetpan/mailstream_low.h>

#include "log.h"
#include "net.h"
#include "stream.h"
#include "tls.h"

struct stream {
	int			 rfd;
	int			 wfd;
	int			 is_socket;
	SSL			*ssl;
	int			 timeout_ms;
	int			 dead;		/* TLS start failed */
	int			 eof;		/* the peer closed */
	volatile sig_atomic_t	*cancel;
	int			 idle_ms;
	void			(*idle_fn)(void *);
	void			*idle_arg;
	mailstream		*ms;
	char			 err[256];
};

static void __attribute__((format(printf, 2, 3)))
st_err(struct stream *st, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(st->err, sizeof(st->err), fmt, ap);
	va_end(ap);
}

/*
 * Wait until fd is ready for events or the deadline passes.  0 when ready
 * (or in error: the next read/write reports it), -1 on timeout or cancel.
 */
static int
wait_fd(struct stream *st, int fd, short events, long long deadline,
    const char *what)
{
	struct pollfd	 pfd;
	long long	 left;
	int		 r, idle = events == POLLIN && st->idle_fn != NULL &&
			    st->idle_ms > 0;

	for (;;) {
		if (st->cancel != NULL && *st->cancel) {
			st_err(st, "cancelled while %s", what);
			return -1;
		}
		left = deadline - net_now_ms();
		if (left <= 0) {
			st_err(st, "timeout after %d s %s",
			    (st->timeout_ms + 999) / 1000, what);
			return -1;
		}
		if (idle && left > st->idle_ms)
			left = st->idle_ms;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (r > 0)
			return 0;
		if (r == 0 && idle) {
			idle = 0;
			st->idle_fn(st->idle_arg);
			continue;
		}
		if (r == -1 && errno != EINTR) {
			st_err(st, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

static long long
deadline_of(struct stream *st)
{
	return net_now_ms() + (st->timeout_ms > 0 ? st->timeout_ms : INT_MAX);
}

/*
 * A peer that goes away turns our next write into SIGPIPE, which would kill
 * a daemon that did not ignore it.  Block it around writes and swallow the
 * one a failed write raised.
 */
static void
nopipe_begin(sigset_t *old)
{
	sigset_t	 s;

	sigemptyset(&s);
	sigaddset(&s, SIGPIPE);
	sigprocmask(SIG_BLOCK, &s, old);
}

static void
nopipe_end(const sigset_t *old)
{
	static const struct timespec	 zero = { 0, 0 };
	sigset_t			 s, pending;

	if (!sigismember(old, SIGPIPE) && sigpending(&pending) == 0 &&
	    sigismember(&pending, SIGPIPE)) {
		sigemptyset(&s);
		sigaddset(&s, SIGPIPE);
		sigtimedwait(&s, NULL, &zero);
	}
	sigprocmask(SIG_SETMASK, old, NULL);
}

/* SSL_read/SSL_write/SSL_connect step: 1 to retry after waiting, -1 fail. */
static int
ssl_retry(struct stream *st, int ret, long long deadline, const char *what)
{
	switch (SSL_get_error(st->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return wait_fd(st, st->rfd, POLLIN, deadline, what) == 0 ?
		    1 : -1;
	case SSL_ERROR_WANT_WRITE:
		return wait_fd(st, st->wfd, POLLOUT, deadline, what) == 0 ?
		    1 : -1;
	default:
		tls_error(st->ssl, ret, st->err, sizeof(st->err));
		return -1;
	}
}

static ssize_t
drv_read(mailstream_low *low, void *buf, size_t count)
{
	struct stream	*st = low->data;
	long long	 deadline = deadline_of(st);
	ssize_t		 n;
	int		 r;

	/* Once the peer has closed, reading on is an error: libetpan reads
	 * on after 0 inside a response and would spin (t/fuzz/fuzz_imap). */
	if (st->dead || st->eof)
		return -1;
	if (count > INT_MAX)
		count = INT_MAX;
	for (;;) {
		if (st->ssl != NULL) {
			ERR_clear_error();
			if ((r = SSL_read(st->ssl, buf, (int)count)) > 0)
				return r;
			r = SSL_get_error(st->ssl, r) == SSL_ERROR_ZERO_RETURN ||
			    (SSL_get_error(st->ssl, r) == SSL_ERROR_SYSCALL &&
			    ERR_peek_error() == 0 && r == 0) ? 0 :
			    ssl_retry(st, r, deadline, "reading");
			if (r == 0) {
				st_err(st, "connection closed by peer");
				st->eof = 1;
				return 0;
			}
			if (r == -1)
				return -1;
			continue;
		}
		if ((n = read(st->rfd, buf, count)) > 0)
			return n;
		if (n == 0) {
			st_err(st, "connection closed by peer");
			st->eof = 1;
			return 0;
		}
		if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(st, st->rfd, POLLIN, deadline,
			    "reading") == -1)
				return -1;
			continue;
		}
		st_err(st, "read: %s", strerror(errno));
		return -1;
	}
}

static ssize_t
drv_write(mailstream_low *low, const void *buf, size_t count)
{
	struct stream	*st = low->data;
	long long	 deadline = deadline_of(st);
	sigset_t	 old;
	ssize_t		 n;
	int		 r;

	if (st->dead)
		return -1;
	if (count > INT_MAX)
		count = INT_MAX;
	for (;;) {
		nopipe_begin(&old);
		if (st->ssl != NULL) {
			ERR_clear_error();
			r = SSL_write(st->ssl, buf, (int)count);
			nopipe_end(&old);
			if (r > 0)
				return r;
			if (ssl_retry(st, r, deadline, "writing") == -1)
				return -1;
			continue;
		}
		if (st->is_socket)
			n = send(st->wfd, buf, count, MSG_NOSIGNAL);
		else
			n = write(st->wfd, buf, count);
		nopipe_end(&old);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(st, st->wfd, POLLOUT, deadline,
			    "writing") == -1)
				return -1;
			continue;
		}
		st_err(st, "write: %s", errno == EPIPE ?
		    "connection closed by peer" : strerror(errno));
		return -1;
	}
}

static int
drv_close(mailstream_low *low)
{
	struct stream	*st = low->data;
	sigset_t	 old;

	if (st->ssl != NULL) {
		/* close_notify, best effort: never wait for the peer's. */
		nopipe_begin(&old);
		SSL_shutdown(st->ssl);
		nopipe_end(&old);
		SSL_free(st->ssl);
		st->ssl = NULL;
		ERR_clear_error();
	}
	if (st->rfd != -1)
		close(st->rfd);
	if (st->wfd != -1 && st->wfd != st->rfd)
		close(st->wfd);
	st->rfd = st->wfd = -1;
	return 0;
}

static int
drv_get_fd(mailstream_low *low)
{
	return ((struct stream *)low->data)->rfd;
}

static void
drv_free(mailstream_low *low)
{
	struct stream	*st = low->data;

	if (st != NULL) {
		drv_close(low);
		free(st);
	}
	low->data = NULL;
	free(low);
}

static struct mailstream_cancel *
drv_get_cancel(mailstream_low *low)
{
	return NULL;
}

static carray *
drv_get_certificate_chain(mailstream_low *low)
{
	return NULL;
}

/* libetpan's IDLE helpers need its private cancel objects; callers poll
 * stream_fd() (after checking stream_pending()) instead. */
static int
drv_no_idle(mailstream_low *low)
{
	return -1;
}

static mailstream_low_driver stream_driver = {
	.mailstream_read = drv_read,
	.mailstream_write = drv_write,
	.mailstream_close = drv_close,
	.mailstream_get_fd = drv_get_fd,
	.mailstream_free = drv_free,
	.mailstream_cancel = NULL,
	.mailstream_get_cancel = drv_get_cancel,
	.mailstream_get_certificate_chain = drv_get_certificate_chain,
	.mailstream_setup_idle = drv_no_idle,
	.mailstream_unsetup_idle = drv_no_idle,
	.mailstream_interrupt_idle = drv_no_idle,
};

static struct stream *
stream_new(int rfd, int wfd, int timeout_ms, char *err, size_t errlen)
{
	struct stream	*st;
	mailstream_low	*low;
	struct stat	 sb;
	int		 one = 1;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		goto fail;
	st->rfd = rfd;
	st->wfd = wfd;
	st->timeout_ms = timeout_ms;
	st->is_socket = fstat(wfd, &sb) == 0 && S_ISSOCK(sb.st_mode);
	/*
	 * mailstream already gathers what we write into large writes; Nagle
	 * would hold the tail of a pipelined group back until the peer's
	 * delayed ACK, 40 ms per wait.  (Fails harmlessly on AF_UNIX.)
	 */
	if (st->is_socket)
		setsockopt(wfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (net_set_nonblock(rfd, 1) == -1 || net_set_nonblock(wfd, 1) == -1)
		goto fail;
	if ((low = mailstream_low_new(st, &stream_driver)) == NULL)
		goto fail;
	if ((st->ms = mailstream_new(low, STREAM_BUFSIZE)) == NULL) {
		low->data = NULL;
		free(low);
		goto fail;
	}
	return st;
fail:
	snprintf(err, errlen, "stream: %s", strerror(errno ? errno : ENOMEM));
	free(st);
	return NULL;
}

struct stream *
stream_socket(int fd, int timeout_ms, char *err, size_t errlen)
{
	return stream_new(fd, fd, timeout_ms, err, errlen);
}

struct stream *
stream_fds(int rfd, int wfd, int timeout_ms, char *err, size_t errlen)
{
	return stream_new(rfd, wfd, timeout_ms, err, errlen);
}

int
stream_starttls(struct stream *st, SSL_CTX *ctx, const char *host,
    size_t *discarded, char *err, size_t errlen)
{
	long long	 deadline;
	size_t		 junk;
	sigset_t	 old;
	SSL		*ssl;
	int		 r;

	if (discarded != NULL)
		*discarded = 0;
	if (st->ssl != NULL) {
		snprintf(err, errlen, "TLS already active");
		return -1;
	}
	if (stream_flush(st) == -1) {
		snprintf(err, errlen, "%s", st->err);
		return -1;
	}
	/* Whatever arrived before the handshake is not protected by it. */
	junk = st->ms->read_buffer_len;
	st->ms->read_buffer_len = 0;
	if (discarded != NULL)
		*discarded = junk;
	if (junk > 0)
		log_warnx("discarded %zu octets received before the TLS "
		    "handshake", junk);
	/* From here on a failure leaves the stream dead, never plaintext. */
	st->dead = 1;
	if ((ssl = tls_client_ssl(ctx, st->rfd, host, err, errlen)) == NULL)
		goto fail;
	if (st->wfd != st->rfd && SSL_set_wfd(ssl, st->wfd) != 1) {
		tls_error(NULL, 0, err, errlen);
		SSL_free(ssl);
		goto fail;
	}
	st->dead = 0;
	st->ssl = ssl;
	deadline = deadline_of(st);
	for (;;) {
		ERR_clear_error();
		nopipe_begin(&old);
		r = SSL_do_handshake(ssl);
		nopipe_end(&old);
		if (r == 1)
			return 0;
		if (ssl_retry(st, r, deadline, "in the TLS handshake") == -1)
			break;
	}
	snprintf(err, errlen, "%s", st->err);
	SSL_free(ssl);
	st->ssl = NULL;
	st->dead = 1;
fail:
	snprintf(st->err, sizeof(st->err), "%s", err);
	if (st->rfd != -1)
		shutdown(st->rfd, SHUT_RDWR);
	return -1;
}

mailstream *
stream_mailstream(struct stream *st)
{
	return st->ms;
}

int
stream_write(struct stream *st, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (mailstream_write(st->ms, buf, len) != (ssize_t)len)
		return -1;
	return 0;
}

int
stream_printf(struct stream *st, const char *fmt, ...)
{
	char	 buf[2048];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		st_err(st, "line too long to send");
		return -1;
	}
	return stream_write(st, buf, (size_t)n);
}

int
stream_flush(struct stream *st)
{
	return mailstream_flush(st->ms) == 0 ? 0 : -1;
}

static void
consume(mailstream *ms, size_t n)
{
	ms->read_buffer_len -= n;
	if (ms->read_buffer_len > 0)
		memmove(ms->read_buffer, ms->read_buffer + n,
		    ms->read_buffer_len);
}

/* Refill the read buffer when it is empty: >0 octets buffered, 0, -1. */
static ssize_t
fill(struct stream *st)
{
	ssize_t	 r;

	if (st->ms->read_buffer_len > 0)
		return (ssize_t)st->ms->read_buffer_len;
	if ((r = mailstream_feed_read_buffer(st->ms)) < 0)
		return -1;
	return r;
}

ssize_t
stream_getline(struct stream *st, char *buf, size_t size)
{
	mailstream	*ms = st->ms;
	char		*nl;
	size_t		 n = 0, take;
	ssize_t		 r;

	if (size < 2)
		return STREAM_TOOLONG;
	for (;;) {
		if ((r = fill(st)) < 0)
			return STREAM_ERROR;
		if (r == 0)
			return STREAM_EOF;
		nl = memchr(ms->read_buffer, '\n', ms->read_buffer_len);
		take = nl != NULL ? (size_t)(nl - ms->read_buffer) + 1 :
		    ms->read_buffer_len;
		if (take > size - 1 - n) {
			take = size - 1 - n;
			memcpy(buf + n, ms->read_buffer, take);
			consume(ms, take);
			buf[size - 1] = '\0';
			st_err(st, "line longer than %zu octets", size - 1);
			return STREAM_TOOLONG;
		}
		memcpy(buf + n, ms->read_buffer, take);
		consume(ms, take);
		n += take;
		if (nl != NULL)
			break;
	}
	n--;			/* the LF */
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (ssize_t)n;
}

ssize_t
stream_read(struct stream *st, void *buf, size_t len)
{
	ssize_t	 r;
	size_t	 take;

	if ((r = fill(st)) <= 0)
		return r;
	take = len < (size_t)r ? len : (size_t)r;
	memcpy(buf, st->ms->read_buffer, take);
	consume(st->ms, take);
	return (ssize_t)take;
}

size_t
stream_pending(struct stream *st)
{
	return st->ms->read_buffer_len +
	    (st->ssl != NULL ? (size_t)SSL_pending(st->ssl) : 0);
}

int
stream_fd(struct stream *st)
{
	return st->rfd;
}

int
stream_is_tls(struct stream *st)
{
	return st->ssl != NULL;
}

SSL *
stream_ssl(struct stream *st)
{
	return st->ssl;
}

void
stream_set_timeout(struct stream *st, int timeout_ms)
{
	st->timeout_ms = timeout_ms;
}

void
stream_set_idle(struct stream *st, int ms, void (*fn)(void *), void *arg)
{
	st->idle_ms = ms;
	st->idle_fn = fn;
	st->idle_arg = arg;
}

void
stream_set_cancel(struct stream *st, volatile sig_atomic_t *flag)
{
	st->cancel = flag;
}

const char *
stream_error(struct stream *st)
{
	return st->err[0] != '\0' ? st->err : "unknown error";
}

void
stream_close(struct stream *st)
{
	if (st != NULL)
		mailstream_close(st->ms);
}
