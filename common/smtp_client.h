/*
 * Our SMTP client, shared by mtad's smart-host delivery and fetchd's
 * reinjection.  It runs on a struct stream (socket, TLS or a command's stdio)
 * and sends any number of messages over one connection:
 *
 *	st = stream_socket(net_connect(...), timeout, ...);
 *	c = smtp_client_new(st, &params);	 (c now owns st)
 *	if (smtp_hello(c) == -1)		 greeting, EHLO, STARTTLS, AUTH
 *		... smtp_error(c), smtp_error_reply(c) ...
 *	smtp_send_batch(c, &batch);		 or smtp_send(c, &msg)
 *	smtp_quit(c);
 *	smtp_client_free(c);
 *
 * With PIPELINING, MAIL, every RCPT and DATA go out in one write, and the
 * next message's group follows the previous end-of-data (RFC 2920 3.1), so a
 * flush costs about one round trip per message; with CHUNKING the data goes
 * as BDAT and nothing waits for a 354.  Every reply is matched to its
 * command, and each recipient gets its own final result.
 *
 * Security rules the client enforces itself: TLS required means required (no
 * STARTTLS or a failed handshake is an error before anything else is sent);
 * credentials never go over plaintext unless params.plain_auth_ok and the
 * peer is loopback or a command's stdio; a failed AUTH is an error, never a
 * fall-through to unauthenticated sending; AUTH payloads never reach a trace.
 */
#ifndef MAILHUB_SMTP_CLIENT_H
#define MAILHUB_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "stream.h"

/* --- replies (server replies are untrusted input) -------------------------- */

#define SMTP_REPLY_LINE_MAX	2048	/* one reply line, CR LF excluded */
#define SMTP_REPLY_LINES_MAX	64	/* lines in one multi-line reply */
#define SMTP_REPLY_TEXT_MAX	1024	/* text kept, lines joined by " " */

struct smtp_reply {
	int	 code;		/* 250; 0 = no reply (see text for why) */
	char	 enhanced[16];	/* "5.1.1" or "" */
	char	 text[SMTP_REPLY_TEXT_MAX];	/* enhanced codes removed */
	int	 nlines;
	int	 local;		/* made up by this client, not the server */
};

#define SMTP_PARSE_DONE	0	/* last line of the reply */
#define SMTP_PARSE_MORE	1	/* a continuation line ("250-..."): go on */
#define SMTP_PARSE_BAD	-1	/* malformed; err says why */

void	smtp_reply_init(struct smtp_reply *r);
/* Feed one reply line (CR LF stripped or not) into r. */
int	smtp_reply_parse(struct smtp_reply *r, const char *line, size_t len,
	    char *err, size_t errlen);
/* "550 5.1.1 text" (or the text alone when code is 0). */
void	smtp_reply_format(const struct smtp_reply *r, char *buf, size_t len);

/* --- capabilities ---------------------------------------------------------- */

#define SMTP_CAP_PIPELINING	0x0001
#define SMTP_CAP_SIZE		0x0002
#define SMTP_CAP_8BITMIME	0x0004
#define SMTP_CAP_STARTTLS	0x0008
#define SMTP_CAP_AUTH		0x0010
#define SMTP_CAP_CHUNKING	0x0020
#define SMTP_CAP_ENHANCED	0x0040	/* ENHANCEDSTATUSCODES */
#define SMTP_CAP_SMTPUTF8	0x0080
#define SMTP_CAP_DSN		0x0100

#define SMTP_AUTH_PLAIN		0x01
#define SMTP_AUTH_LOGIN		0x02
#define SMTP_AUTH_CRAM_MD5	0x04
#define SMTP_AUTH_XOAUTH2	0x08
#define SMTP_AUTH_OAUTHBEARER	0x10

struct smtp_caps {
	unsigned	 flags;		/* SMTP_CAP_* */
	unsigned	 auth;		/* SMTP_AUTH_* offered */
	uint64_t	 size_max;	/* SIZE n; 0 = no limit announced */
};

/* One EHLO reply line's text after the first ("SIZE 10240000"). */
void	smtp_caps_parse_line(struct smtp_caps *caps, const char *text);

/* --- message data ---------------------------------------------------------- */

/*
 * Streaming canonicalisation: CR LF, bare LF and bare CR all become CR LF,
 * and (dotstuff) a line starting with '.' gets another.  out must hold
 * 2 * len + 4 octets; smtp_canon_end's out at least 4.  Both return the
 * number of octets written.
 */
struct smtp_canon {
	int	 line_start;
	int	 pending_cr;
	int	 dotstuff;
};
void	smtp_canon_init(struct smtp_canon *cs, int dotstuff);
size_t	smtp_canon_feed(struct smtp_canon *cs, const char *in, size_t len,
	    char *out);
/* Ends the data with CR LF if the last line had none. */
size_t	smtp_canon_end(struct smtp_canon *cs, char *out);

/* --- the client ------------------------------------------------------------ */

enum smtp_tls {
	SMTP_TLS_NONE,		/* plaintext (loopback, command stdio) */
	SMTP_TLS_STARTTLS,	/* STARTTLS, required */
	SMTP_TLS_IMPLICIT,	/* smtps: TLS from the first octet */
};

struct smtp_creds {
	const char	*user;
	const char	*password;	/* PLAIN, LOGIN, CRAM-MD5 */
	const char	*token;		/* OAuth2 access token: XOAUTH2, OAUTHBEARER */
	const char	*mech;		/* force "PLAIN", "LOGIN", ...; NULL = choose */
};

typedef void	(*smtp_trace_fn)(void *arg, char dir, const char *line);

struct smtp_params {
	const char		*helo;		/* our name in EHLO/HELO */
	const char		*host;		/* server name: SNI, cert check, messages */
	enum smtp_tls		 tls;
	SSL_CTX			*ssl_ctx;	/* tls_client_ctx(); unused with NONE */
	const struct smtp_creds	*creds;		/* NULL = no AUTH */
	int			 plain_auth_ok;	/* tests: AUTH without TLS on loopback */
	int			 timeout_ms;	/* per wait; 0 = STREAM_TIMEOUT_MS */
	/* Trace lines ("MAIL FROM:<a>"), already masked; NULL = log_trace("SMTP"). */
	smtp_trace_fn		 trace;
	void			*trace_arg;
};

/* What went wrong, for callers that map errors (fetchd's exit codes). */
enum smtp_err {
	SMTP_ERR_NONE,
	SMTP_ERR_NET,		/* connect, I/O, timeout, connection lost */
	SMTP_ERR_TLS,		/* required STARTTLS missing, handshake, verify */
	SMTP_ERR_AUTH,		/* AUTH refused or impossible */
	SMTP_ERR_REPLY,		/* greeting/EHLO refused: see smtp_error_reply */
	SMTP_ERR_PROTO,		/* malformed or oversize reply */
	SMTP_ERR_LOCAL,		/* bad parameters, unreadable message file */
};

struct smtp_client;

struct smtp_client	*smtp_client_new(struct stream *st,
			    const struct smtp_params *p);
/* Greeting, EHLO (HELO fallback), STARTTLS + re-EHLO, AUTH.  0 or -1. */
int			 smtp_hello(struct smtp_client *c);
const struct smtp_caps	*smtp_caps(struct smtp_client *c);
/* Mechanism AUTH used ("PLAIN"), or NULL. */
const char		*smtp_auth_mech(struct smtp_client *c);
const char		*smtp_error(struct smtp_client *c);
enum smtp_err		 smtp_error_kind(struct smtp_client *c);
/* The server reply behind the last error (code 0 if there was none). */
const struct smtp_reply	*smtp_error_reply(struct smtp_client *c);
/* QUIT and wait briefly for its reply; errors ignored. */
void			 smtp_quit(struct smtp_client *c);
/* Closes the stream too. */
void			 smtp_client_free(struct smtp_client *c);

/*
 * A message to send.  The caller fills the first part; the client fills
 * the results.  The data is prefix (e.g. rewritten headers or a Received:
 * line) followed by fd from offset to EOF (read with pread: the fd's own
 * offset is untouched), any line endings: it is canonicalised, and
 * dot-stuffed for DATA, as it streams.
 */
struct smtp_rcpt {
	const char		*addr;		/* "user@dom", no angle brackets */
	struct smtp_reply	 reply;		/* final result for this recipient */
	int			 accepted;	/* (client's) RCPT got 2xx */
};

struct smtp_msg {
	const char		*sender;	/* "" = <> */
	struct smtp_rcpt	*rcpts;
	size_t			 nrcpts;
	const char		*prefix;
	size_t			 prefixlen;
	int			 fd;		/* -1 = prefix only */
	off_t			 offset;
	int			 eightbit;	/* BODY=8BITMIME when offered */
	void			*arg;		/* the caller's */

	/* results */
	struct smtp_reply	 mail_reply;
	struct smtp_reply	 data_reply;	/* DATA/BDAT/end-of-data verdict */
	int			 nsent;		/* recipients with a 2xx result */

	/* the client's own */
	int			 st_sent;
	int			 st_datafail;
	int			 st_pending;
	int			 st_naccepted;
	int			 st_verdict;
	off_t			 st_size;
};

/*
 * Send messages one after another over the connection.  next() hands out
 * the next message (NULL when there are no more); done() gets each message
 * back, in order, once every recipient has its final reply (2xx sent, 4xx
 * defer, 5xx bounce, code 0: no verdict, so defer), at the latest before
 * the client next waits for a reply, and after what it wrote meanwhile
 * (the next message's data) has gone out.  At most eight
 * messages are in flight (two without CHUNKING), so next() may open files
 * that done() closes.  Returns 0,
 * or -1 when the connection failed: then every message handed out has been
 * given back through done() with its unsettled recipients at code 0, and
 * the client can only be freed.
 */
struct smtp_batch {
	struct smtp_msg	*(*next)(void *arg);
	void		 (*done)(void *arg, struct smtp_msg *m);
	void		*arg;
};
int	smtp_send_batch(struct smtp_client *c, const struct smtp_batch *b);
/* One message; results in m.  0, or -1 as for smtp_send_batch. */
int	smtp_send(struct smtp_client *c, struct smtp_msg *m);

/* Round trips the client waited for since smtp_client_new (benchmarks). */
unsigned long	smtp_turns(struct smtp_client *c);

#endif
