/*
 * A libetpan mailstream over our own mailstream_low driver: a connected
 * socket, or a pair of fds (SMTP over a child's stdio for smarthost-command),
 * switched in place to OpenSSL for STARTTLS/STLS or implicit TLS.
 *
 * Every wait (read, write, TLS handshake) is bounded by the stream's
 * timeout; a timeout, EOF or TLS failure is an error whose reason
 * stream_error() returns as one readable line.
 *
 * Ownership: the stream owns its fds and its SSL.  stream_close() (or
 * mailstream_close() on stream_mailstream(), which is what mailpop3_free and
 * mailimap_free do) closes and frees everything, the struct stream included:
 * close it exactly one of those ways.
 */
#ifndef MAILHUB_STREAM_H
#define MAILHUB_STREAM_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>
#include <libetpan/mailstream.h>

struct stream;

#define STREAM_BUFSIZE		16384
#define STREAM_TIMEOUT_MS	300000	/* RFC 5321 4.5.3.2 asks for 5 min */

/* Stream over a connected socket.  NULL (and err) on allocation failure. */
struct stream	*stream_socket(int fd, int timeout_ms, char *err,
		    size_t errlen);
/* Stream reading rfd and writing wfd (a child's stdout and stdin). */
struct stream	*stream_fds(int rfd, int wfd, int timeout_ms, char *err,
		    size_t errlen);

/*
 * Start TLS on the stream (after a positive STARTTLS/STLS reply, or at once
 * for implicit TLS).  Pending output is flushed first; any input already
 * received and not yet consumed is discarded (a man in the middle may have
 * injected it before the handshake) and counted in *discarded if not NULL.
 * The handshake, certificate and host-name checks (tls_client_ssl) must
 * finish within the timeout.  0, or -1 with err set; on -1 the stream is
 * unusable.  With libetpan, call it once mailpop3_stls()/mailimap_starttls()
 * succeed; those already fail (MAILPOP3_ERROR_SSL/MAILIMAP_ERROR_SSL) when
 * bytes follow the server's reply in the buffer (CVE-2020-15953): abort then.
 */
int		 stream_starttls(struct stream *st, SSL_CTX *ctx,
		    const char *host, size_t *discarded, char *err,
		    size_t errlen);

/* For libetpan's mailpop3_connect/mailimap_connect and friends. */
mailstream	*stream_mailstream(struct stream *st);

/* Buffered writes; stream_flush sends them.  0 or -1. */
int		 stream_write(struct stream *st, const void *buf, size_t len);
int		 stream_printf(struct stream *st, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
int		 stream_flush(struct stream *st);

/*
 * Read one line into buf (at most size - 1 octets, NUL-terminated, CR LF
 * stripped).  Returns its length, or STREAM_EOF (peer closed),
 * STREAM_ERROR (timeout, I/O, TLS), STREAM_TOOLONG (no LF within size - 1
 * octets: the rest of the line is left unread).
 */
#define STREAM_ERROR	-1
#define STREAM_EOF	-2
#define STREAM_TOOLONG	-3
ssize_t		 stream_getline(struct stream *st, char *buf, size_t size);
/* Up to len raw octets (blocking until at least one): >0, 0 at EOF, -1. */
ssize_t		 stream_read(struct stream *st, void *buf, size_t len);

/* Octets received and buffered but not yet consumed (so a caller about to
 * poll the fd, for IMAP IDLE say, knows input is already there). */
size_t		 stream_pending(struct stream *st);
int		 stream_fd(struct stream *st);	/* the read side */
int		 stream_is_tls(struct stream *st);
SSL		*stream_ssl(struct stream *st);
void		 stream_set_timeout(struct stream *st, int timeout_ms);
/*
 * A flag the owner's signal handler sets (link down, SIGTERM): a wait
 * interrupted by a signal fails with "cancelled" once *flag is non-zero.
 */
void		 stream_set_cancel(struct stream *st,
		    volatile sig_atomic_t *flag);
/*
 * fn(arg) runs when a read has waited ms without input; the wait then goes
 * on.  Work that must not slow a busy pipeline but should not wait for
 * long either (mtad syncs its queue directory there).  ms 0: never.
 */
void		 stream_set_idle(struct stream *st, int ms,
		    void (*fn)(void *), void *arg);
/* Why the last operation failed ("timeout after 300 s reading", ...). */
const char	*stream_error(struct stream *st);

void		 stream_close(struct stream *st);

#endif
