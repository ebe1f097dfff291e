/*
 * The RFC 5321 server side of one SMTP connection, as a state machine over
 * two buffers.  The owner (mtad's event loop, or smtp_session_stdio() for
 * `mtad-sendmail -bs`) reads bytes into in[], calls smtp_session_feed(),
 * writes out[] to the peer, and does the group commit for every session
 * that stops in SS_COMMIT.  The session never blocks and never touches a
 * socket, so TLS and the event loop stay outside it.
 */
#ifndef MTAD_SMTP_SESSION_H
#define MTAD_SMTP_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"
#include "config.h"
#include "queue.h"

#define SMTP_CMD_MAX	512		/* RFC 5321 4.5.3.1.4, CRLF included */
#define SMTP_TEXT_MAX	1000		/* RFC 5321 4.5.3.1.6, CRLF included */
#define SMTP_RCPT_MAX	100
#define SMTP_MAX_HOPS	30	/* Received: fields before it is a loop */
#define SMTP_IN_SIZE	(32 * 1024)
#define SMTP_DBUF_SIZE	(64 * 1024)
#define SMTP_OUT_HIGH	(16 * 1024)	/* stop reading commands above this */

enum smtp_state {
	SS_INIT,	/* greeted, waiting for HELO/EHLO */
	SS_HELO,	/* no transaction */
	SS_MAIL,	/* MAIL accepted */
	SS_RCPT,	/* at least one RCPT accepted */
	SS_DATA,	/* reading the message */
	SS_COMMIT,	/* message written, waiting for the owner's commit */
};

struct smtp_session {
	const struct mtad_config *cf;
	struct queue	*q;
	enum qdest	 dest;
	enum smtp_state	 state;

	char		 ip[64];		/* "192.0.2.1" or "" */
	char		 client[320];		/* "localhost [127.0.0.1]" */
	int		 relay_ok;		/* may send anywhere */
	int		 tls_offer;		/* STARTTLS may be advertised */
	int		 tls_active;
	int		 want_tls;		/* owner: handshake once out[] drains */
	int		 closing;		/* owner: close once out[] drains */
	int		 draining;		/* shutting down: no new MAIL */
	int		 esmtp;
	char		 helo[256];

	/* The transaction. */
	struct qmsg	 msg;
	struct qwriter	 w;
	int		 w_open;
	int		 has_local;		/* a local recipient was accepted */

	/* DATA reading. */
	uint64_t	 data_octets;		/* as received, dot-stuffed */
	int		 in_headers;
	unsigned	 hops;			/* Received: fields seen */
	int		 midline;		/* inside an over-long line */
	int		 prev_crlf;		/* last line ended in CRLF */
	int		 bad_eol;		/* bare CR or LF seen */
	int		 too_long;
	int		 too_big;
	char		*dbuf;			/* SMTP_DBUF_SIZE, in DATA only:
						   an idle session stays small */
	size_t		 dlen;

	int		 discard_cmd;		/* inside an over-long command */
	char		 in[SMTP_IN_SIZE];
	size_t		 inlen;
	char		*out;
	size_t		 outlen;
	size_t		 outcap;

	time_t		 last_active;
	unsigned	 nqueued;		/* messages acknowledged */
};

/* Set up a session and queue the 220 greeting.  -1 on no memory. */
int	smtp_session_init(struct smtp_session *s, const struct mtad_config *cf,
	    struct queue *q, enum qdest dest, const char *ip,
	    const char *client, int relay_ok, int tls_offer);
void	smtp_session_free(struct smtp_session *s);

/* Process what is in in[]: replies go to out[].  Stops in SS_COMMIT, when
 * closing or want_tls, or when out[] is above SMTP_OUT_HIGH. */
void	smtp_session_feed(struct smtp_session *s);
/* Does the session want more input now? */
int	smtp_session_wants_input(const struct smtp_session *s);
/* The peer went away: a transaction in hand is dropped. */
void	smtp_session_eof(struct smtp_session *s);

/*
 * The owner made s->w durable (res 0) or not (an errno): reply, log the
 * from= line, leave SS_COMMIT.  Returns 1 when the queued message has a
 * local recipient (id copied out), else 0.
 */
int	smtp_session_committed(struct smtp_session *s, int res,
	    char id[QID_SIZE]);

void	smtp_session_timeout(struct smtp_session *s);
/* SIGTERM: close an idle session now, let one in a transaction finish. */
void	smtp_session_shutdown(struct smtp_session *s);
/* The TLS handshake that STARTTLS asked for is done. */
void	smtp_session_tls_started(struct smtp_session *s);
/* out[] bytes written to the peer. */
void	smtp_session_consumed(struct smtp_session *s, size_t n);

/*
 * An SMTP session on stdin/stdout for `mtad-sendmail -bs`: messages go to
 * the maildrop, each committed before its 250.  Returns the number of
 * messages queued (the caller pokes the daemon when > 0), or -1 on an I/O
 * error.
 */
int	smtp_session_stdio(const struct mtad_config *cf, struct queue *q);

#endif
