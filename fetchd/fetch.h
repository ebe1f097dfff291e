/*
 * The fetcher interface: one table of function pointers per mailbox
 * protocol (fetch_pop3.c, fetch_imap.c), as fdm's fetch-*.c, so the poll
 * loop in fetchd.c never knows which protocol it drives.
 *
 * The contract, in the order the poll loop calls it:
 *
 *   fc->ops = &fetch_pop3;  (or fetch_imap)
 *   open(fc, srv)        connect (net_connect to fetch_port()), TLS as
 *                        fetch_tls_mode() says, authenticate, select the
 *                        folder (IMAP; with SEARCHRES the SELECT goes in
 *                        one write with list's commands, and a folder
 *                        that cannot be selected fails list).  Never
 *                        sends a password unless the
 *                        stream is TLS or srv says plaintext is allowed
 *                        (FETCH_TLS_NONE).  Returns a PS_* code:
 *                        PS_SOCKET (connect, I/O, TLS handshake/verify,
 *                        required STARTTLS missing, PREAUTH with TLS
 *                        required), PS_AUTHFAIL, PS_PROTOCOL, PS_LOCKBUSY.
 *   list(fc, &ml)        the messages the loop may want, in server order,
 *                        with num, uid (required: UIDL / UIDVALIDITY+UID),
 *                        size and server_seen; ml.total the mailbox's
 *                        count.  POP3: every message.  IMAP: those UID
 *                        SEARCH UNSEEN finds (all with fetchall, or with
 *                        flush and no keep), and those of ml.known still
 *                        there whatever their flags, so that the loop's
 *                        journal and keep stay exact.  The fetcher
 *                        allocates ml.v; fetch_list_free() frees it.
 *                        Bounds: at most FETCH_MAX_MSGS messages, uids as
 *                        below; anything out of bounds or malformed is
 *                        PS_PROTOCOL.
 *   fetch(fc, v, n, sink)
 *                        retrieve v[0..n-1] (a batch, ideally in one write:
 *                        pipelined RETRs, one UID FETCH) and hand each
 *                        message to the sink, in order: begin, data... (the
 *                        RFC 5322 octets as sent, POP3 dot-unstuffed; line
 *                        ends as received, CRLF), end(complete).  complete=0
 *                        when the server refused that one message (then the
 *                        batch goes on) or the connection failed (then the
 *                        call returns an error and the later messages get
 *                        no callbacks).  Streams: never holds a whole
 *                        message in memory.  Returns PS_SUCCESS, PS_SOCKET,
 *                        PS_PROTOCOL.
 *   delete(fc, v, n)     mark v[0..n-1] for deletion (pipelined DELEs, one
 *                        UID STORE +FLAGS.SILENT (\Deleted)); sets
 *                        m->deleted for each one the server acknowledged.
 *                        Nothing is gone before commit.  PS_*.
 *   mark_seen(fc, v, n)  keep mode: IMAP sets \Seen; NULL for POP3.
 *   commit(fc)           make deletions final and log out (POP3 QUIT,
 *                        IMAP EXPUNGE + LOGOUT).  PS_SUCCESS only when the
 *                        server confirmed; then the deleted messages are
 *                        gone.  Any error: assume nothing was deleted.
 *   idle(fc, secs)       optional (NULL): wait for new mail (IMAP IDLE) up
 *                        to secs; 1 new mail (or srv->wake set), 0 timeout
 *                        or cancel, -1 error.  Called
 *                        after list/fetch/delete, before commit.
 *   close(fc)            drop the connection (no QUIT if not committed:
 *                        POP3 then deletes nothing) and free fc->priv.
 *                        Always called, once, after open (even a failed
 *                        open).
 *
 * Errors: every failing call leaves one readable line in fc->err (the
 * server's reply or the stream's reason), which the loop logs.  The trace
 * ("POP3> ", "IMAP< " ...) goes through log_trace, which masks PASS/LOGIN/
 * AUTHENTICATE payloads; a fetcher sends SASL payloads with TRACE_SECRET.
 *
 * Exactly once is the loop's business, not the fetcher's: the loop journals
 * a uid (uidstore.c, fsync'd) before it passes the message to delete().
 */
#ifndef FETCHD_FETCH_H
#define FETCHD_FETCH_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "rcfile.h"
#include "status.h"

#define FETCH_UID_MAX	128		/* POP3 UIDL is <= 70 (RFC 1939) */
#define FETCH_MAX_MSGS	1000000		/* messages in one mailbox */
#define FETCH_ERR_MAX	512

struct fetch_msg {
	unsigned long	 num;		/* POP3 message number, IMAP seqno */
	uint64_t	 key;		/* the fetcher's own (IMAP: the UID) */
	char		 uid[FETCH_UID_MAX + 1]; /* printable, no blanks:
					 * POP3 the UIDL, IMAP "VALIDITY/UID" */
	uint64_t	 size;		/* as the server announced it */
	int		 server_seen;	/* IMAP \Seen (0 for POP3) */
	int		 server_deleted; /* IMAP \Deleted already set */
	int		 deleted;	/* delete() acknowledged */
	void		*arg;		/* the poll loop's */
};

struct fetch_list {
	struct fetch_msg *v;
	size_t		  n;
	size_t		  total;	/* messages in the mailbox (>= n) */
	unsigned long	  validity;	/* IMAP: the folder's UIDVALIDITY */
	/* in: the uids the loop remembers for this mailbox (IMAP) */
	const char *const *known;
	size_t		  nknown;
};

/* What the sink gets; data()/begin() return 0, or -1 to refuse the rest of
 * that message (the fetcher still reads it off the wire). */
struct fetch_sink {
	int	(*begin)(void *arg, struct fetch_msg *m);
	int	(*data)(void *arg, struct fetch_msg *m, const char *buf,
		    size_t len);
	void	(*end)(void *arg, struct fetch_msg *m, int complete);
	void	*arg;
};

enum fetch_tls {
	FETCH_TLS_IMPLICIT,	/* ssl: TLS from the first octet */
	FETCH_TLS_STARTTLS,	/* STLS/STARTTLS, required (the default) */
	FETCH_TLS_NONE,		/* sslproto '': plaintext, password too */
};

/* Everything a fetcher needs to open one mailbox. */
struct fetch_server {
	const struct rc_poll	*poll;
	const struct rc_user	*user;
	const char		*host;		/* rc_poll_host(poll) */
	const char		*port;		/* fetch_port() */
	const char		*folder;	/* IMAP: NULL = INBOX */
	enum fetch_tls		 tls;
	SSL_CTX			*ssl_ctx;	/* NULL with FETCH_TLS_NONE */
	int			 timeout_ms;
	int			 daemon;	/* IDLE allowed */
	volatile sig_atomic_t	*cancel;	/* stream_set_cancel */
	volatile sig_atomic_t	*wake;		/* set: IDLE ends (1) */
};

struct fetch_conn {
	const struct fetcher	*ops;
	void			*priv;		/* the fetcher's state */
	const struct fetch_server *srv;
	char			 err[FETCH_ERR_MAX];
	unsigned long		 turns;		/* writes that waited for a
						 * reply (benchmarks) */
};

struct fetcher {
	const char	*name;			/* "POP3", "IMAP" */
	const char	*received_with;		/* "POP3", "IMAP" */
	int	(*open)(struct fetch_conn *fc, const struct fetch_server *srv);
	int	(*list)(struct fetch_conn *fc, struct fetch_list *ml);
	int	(*fetch)(struct fetch_conn *fc, struct fetch_msg **v, size_t n,
		    const struct fetch_sink *sink);
	int	(*delete)(struct fetch_conn *fc, struct fetch_msg **v,
		    size_t n);
	int	(*mark_seen)(struct fetch_conn *fc, struct fetch_msg **v,
		    size_t n);
	int	(*commit)(struct fetch_conn *fc);
	int	(*idle)(struct fetch_conn *fc, int secs);
	void	(*close)(struct fetch_conn *fc);
};

extern const struct fetcher fetch_pop3;
extern const struct fetcher fetch_imap;

/* The fetcher for a protocol (RC_PROTO_AUTO: IMAP), NULL if none. */
const struct fetcher *fetch_select(enum rc_proto proto);

/* --- helpers shared by the fetchers (fetch.c) ----------------------------- */

/* TLS mode for a user: ssl, else sslproto '' = none, else STARTTLS. */
enum fetch_tls	 fetch_tls_mode(const struct rc_user *u);
/*
 * Client context for the user: sslcertfile (else the system store),
 * verification unless "no sslcertck" (logged as a warning).  NULL + err.
 */
SSL_CTX		*fetch_tls_ctx(const struct rc_user *u, char *err,
		    size_t errlen);
/* Port string: poll->service/port, else 110/995 (POP3), 143/993 (IMAP). */
void		 fetch_port(const struct rc_poll *p, enum rc_proto proto,
		    enum fetch_tls tls, char *buf, size_t len);
/* printf into fc->err; returns code (for "return fetch_fail(...)"). */
int		 fetch_fail(struct fetch_conn *fc, int code, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
/* A uid fits the bounds and is printable without blanks: 0 or -1. */
int		 fetch_uid_ok(const char *s, size_t len);
void		 fetch_list_free(struct fetch_list *ml);

/* --- OAuth2 (auth xoauth2 | oauthbearer) ---------------------------------- */

#define FETCH_SASL_MAX	16384		/* octets of a SASL response (JWTs) */

/* The signals that set stop, wake and cancel (run.c handles them). */
void		 fetch_signals(sigset_t *set);

/* The poll asks for XOAUTH2 or OAUTHBEARER. */
int		 fetch_oauth(const struct fetch_server *srv);
/*
 * The user's access token in *token (owned by the account, valid until the
 * next call), the account file loaded on first use.  force: a new token
 * even if the cached one looks fresh (the server refused it).  PS_SUCCESS,
 * or PS_AUTHFAIL (account file unusable, refresh token refused) or PS_ERROR
 * (token endpoint unreachable: try later) with fc->err; never a secret in
 * fc->err.
 */
int		 fetch_oauth_token(struct fetch_conn *fc,
		    const struct fetch_server *srv, int force,
		    const char **token);
/*
 * The base64 initial response of srv's mechanism (RFC 7628 for
 * OAUTHBEARER, Google's XOAUTH2) in a fresh buffer that the caller wipes
 * (explicit_bzero) and frees.  NULL with fc->err on a user name or token
 * that would break the framing.
 */
char		*fetch_oauth_response(struct fetch_conn *fc,
		    const struct fetch_server *srv, const char *token);
/* The mechanism's name ("XOAUTH2", "OAUTHBEARER") and its answer to the
 * server's error challenge (RFC 7628 3.2.3: %x01, base64; XOAUTH2: empty). */
const char	*fetch_oauth_mech(const struct fetch_server *srv);
const char	*fetch_oauth_abort(const struct fetch_server *srv);
/* The server's base64 error challenge as printable text into out. */
void		 fetch_oauth_challenge(const char *b64, char *out,
		    size_t outsz);

#endif
