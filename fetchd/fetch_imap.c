/*
 * The IMAP fetcher (fetch.h) through libetpan's mailimap over our own
 * OpenSSL stream (common/stream.h).
 *
 * One session: greeting (PREAUTH refused while TLS is still owed:
 * CVE-2021-39272), CAPABILITY, STARTTLS (required unless sslproto ''),
 * LOGIN, COMPRESS=DEFLATE when offered, SELECT, then "UID SEARCH UNSEEN"
 * and one "UID FETCH set (UID FLAGS RFC822.SIZE)" of what it found and
 * what the loop remembers (fetchall: "UID FETCH 1:*") for the list, and
 * "UID FETCH set (UID BODY.PEEK[])" per batch, batches cut by the sizes the
 * list announced so that memory stays bounded (libetpan holds a whole
 * response).  Deletion is "UID STORE set +FLAGS.SILENT (\Deleted)", made
 * final at commit by UID EXPUNGE of exactly those UIDs where UIDPLUS is
 * offered (never someone else's \Deleted messages), else EXPUNGE.
 *
 * Uids are "UIDVALIDITY/UID" (prefixed by the folder for folders other
 * than INBOX), so a UIDVALIDITY change makes every remembered uid stale at
 * once: nothing seen under the old validity matches a new message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "fetch.h"
#include "imap_deflate.h"
#include "imap_guard.h"
#include "log.h"
#include "net.h"
#include "stream.h"

/*
 * libetpan reads a whole response before it hands it over, and copies each
 * literal: a batch of B octets costs about 3B of memory at its peak.  So
 * batches are cut at IMAP_BATCH_BYTES of announced size, and a message
 * larger than that comes in partial fetches (BODY.PEEK[]<off.len>) of
 * IMAP_CHUNK octets: what the messages add to the RSS stays under 1 MB.
 */
#define IMAP_BATCH_BYTES	(256 * 1024)	/* body octets per UID FETCH */
#define IMAP_CHUNK		(256 * 1024)	/* partial fetch of a big one */
#define IMAP_BATCH_MSGS		256		/* UIDs per command */
#define IMAP_TRACE_LINE		1024		/* traced octets per line */

struct imap_trace {
	char		 buf[IMAP_TRACE_LINE];
	size_t		 len;
	int		 cut;		/* line longer than buf */
	uint64_t	 skip;		/* literal octets not traced */
};

struct imap_priv {
	struct stream	*st;		/* owned until imap takes it */
	mailimap	*imap;
	int		 owns_stream;	/* imap_connect done: imap closes it */
	uint32_t	 validity;
	uint32_t	 exists;
	int		 uidplus;
	struct imap_deflate *deflate;	/* COMPRESS=DEFLATE is on */
	uint32_t	*deleted;	/* UIDs to delete this session; */
	size_t		 ndeleted, maxdeleted;
	size_t		 nstored;	/* the first nstored are \Deleted */
	int		 pnext;		/* tag of the next pipelined answer */
	int		 select_owed;	/* SELECT goes with the listing */
	char		 prefix[FETCH_UID_MAX / 2];	/* folder part of uids */
	struct imap_trace tx, rx;
	int		 sasl;		/* AUTHENTICATE under way: mask */
	const char	*token;		/* OAuth2: the account's, not ours */
};

static int	imap_queue(struct fetch_conn *, const char *, size_t);
static int	imap_queue_uids(struct fetch_conn *, const char *, uint32_t *,
		    size_t, const char *, int *);
static int	imap_send(struct fetch_conn *);
static int	imap_answer(struct fetch_conn *, const char *, clist **);

/* --- trace ---------------------------------------------------------------- */

static void
trace_flush(struct imap_trace *t, char dir, int private)
{
	char	 line[IMAP_TRACE_LINE + 16];
	size_t	 n = t->len;

	while (n > 0 && (t->buf[n - 1] == '\r' || t->buf[n - 1] == '\n'))
		n--;
	memcpy(line, t->buf, n);
	if (t->cut) {
		memcpy(line + n, "...", 3);
		n += 3;
	}
	log_trace("IMAP", dir, private ? TRACE_SECRET : 0, line, n);
	t->len = 0;
	t->cut = 0;
}

/* A line ending in "{N}" announces N octets of literal: message text,
 * which the trace leaves out as fetchmail -v does. */
static uint64_t
trace_literal(const struct imap_trace *t)
{
	size_t		 n = t->len;
	uint64_t	 v = 0, mul = 1;

	while (n > 0 && (t->buf[n - 1] == '\r' || t->buf[n - 1] == '\n'))
		n--;
	if (t->cut || n < 3 || t->buf[n - 1] != '}')
		return 0;
	n--;
	while (n > 0 && t->buf[n - 1] >= '0' && t->buf[n - 1] <= '9') {
		if (mul > 1000000000000ULL)
			return 0;
		v += (uint64_t)(t->buf[n - 1] - '0') * mul;
		mul *= 10;
		n--;
	}
	if (n == 0 || mul == 1)
		return 0;
	if (t->buf[n - 1] == '+')	/* LITERAL+ */
		n--;
	return n > 0 && t->buf[n - 1] == '{' ? v : 0;
}

static void
trace_feed(struct imap_trace *t, char dir, const char *p, size_t len,
    int private)
{
	size_t	 i, take;

	for (i = 0; i < len; ) {
		if (t->skip > 0) {
			take = len - i < t->skip ? len - i : (size_t)t->skip;
			t->skip -= take;
			i += take;
			continue;
		}
		if (private) {
			/* A password goes out as one write: show its place. */
			static const char mask[] = "****";

			if (t->len + sizeof(mask) - 1 < sizeof(t->buf)) {
				memcpy(t->buf + t->len, mask, sizeof(mask) - 1);
				t->len += sizeof(mask) - 1;
			}
			while (i < len && p[i] != '\n')
				i++;
			if (i == len)
				return;
		}
		if (p[i] == '\n') {
			uint64_t lit = trace_literal(t);

			trace_flush(t, dir, 0);
			t->skip = lit;
			i++;
			continue;
		}
		if (t->len < sizeof(t->buf))
			t->buf[t->len++] = p[i];
		else
			t->cut = 1;
		i++;
	}
}

static void
imap_logger(mailimap *imap, int type, const char *str, size_t size, void *arg)
{
	struct imap_priv *ip = arg;

	(void)imap;
	if (!log_verbose() || str == NULL)
		return;
	switch (type) {
	case MAILSTREAM_LOG_TYPE_DATA_RECEIVED:
		trace_feed(&ip->rx, '<', str, size, 0);
		break;
	case MAILSTREAM_LOG_TYPE_DATA_SENT:
		/* SASL: every client line but the command is a credential. */
		trace_feed(&ip->tx, '>', str, size, ip->sasl &&
		    memmem(str, size, "AUTHENTICATE", 12) == NULL &&
		    !(size <= 2 && (str[0] == '\r' || str[0] == '\n')));
		break;
	case MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE:
		trace_feed(&ip->tx, '>', str, size, 1);
		break;
	default:
		break;
	}
}

/* --- helpers -------------------------------------------------------------- */

/*
 * fc->err for the loop; returns code.  Ours, not fetch.c's fetch_fail(), so
 * that this file links on its own (the unit-level test driver).
 */
static int __attribute__((format(printf, 3, 4)))
imap_err(struct fetch_conn *fc, int code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(fc->err, sizeof(fc->err), fmt, ap);
	va_end(ap);
	return code;
}

static void
imap_list_clear(struct fetch_list *ml)
{
	free(ml->v);
	ml->v = NULL;
	ml->n = 0;
}

static const char *
imap_reply(struct imap_priv *ip)
{
	const char	*r = ip->imap != NULL ? ip->imap->imap_response : NULL;

	return r != NULL && r[0] != '\0' ? r : "no reply text";
}

/* The PS_ code and fc->err for a failed libetpan call. */
static int
imap_fail(struct fetch_conn *fc, int r, const char *what)
{
	struct imap_priv *ip = fc->priv;
	char		  clean[256];
	size_t		  i;

	/*
	 * libetpan reports a line cut by EOF as a parse error in places:
	 * whatever it says, a stream that failed is a connection error.
	 */
	if (r == MAILIMAP_ERROR_STREAM || (ip->st != NULL &&
	    strcmp(stream_error(ip->st), "unknown error") != 0))
		return imap_err(fc, PS_SOCKET, "%s: %s", what,
		    stream_error(ip->st));
	switch (r) {
	case MAILIMAP_ERROR_PARSE:
		return imap_err(fc, PS_PROTOCOL, "%s: malformed server "
		    "response", what);
	case MAILIMAP_ERROR_MEMORY:
		return imap_err(fc, PS_UNDEFINED, "%s: out of memory", what);
	default:
		break;
	}
	snprintf(clean, sizeof(clean), "%s", imap_reply(ip));
	for (i = 0; clean[i] != '\0'; i++)
		if ((unsigned char)clean[i] < 0x20 || clean[i] == 0x7f)
			clean[i] = '?';
	return imap_err(fc, r == MAILIMAP_ERROR_LOGIN ||
	    r == MAILIMAP_ERROR_SASL ? PS_AUTHFAIL : PS_PROTOCOL,
	    "%s failed: %s", what, clean);
}

static int
imap_caps(struct imap_priv *ip)
{
	struct mailimap_connection_info	*ci = ip->imap->imap_connection_info;

	/* libetpan's mailimap_has_*() follow a NULL list (a server that
	 * sent none, or "[CAPABILITY ]"): found by t/fuzz/fuzz_imap. */
	return ci != NULL && ci->imap_capability != NULL &&
	    ci->imap_capability->cap_list != NULL;
}

static int
imap_has(struct imap_priv *ip, const char *cap)
{
	return imap_caps(ip) && mailimap_has_extension(ip->imap, cap);
}

/* Capabilities anew (after STARTTLS or login: the old list is void). */
static int
imap_capability(struct fetch_conn *fc)
{
	struct imap_priv		*ip = fc->priv;
	struct mailimap_connection_info	*ci = ip->imap->imap_connection_info;
	int				 r;

	/*
	 * Not mailimap_capability(): libetpan 1.9.4 follows a NULL pointer
	 * when a server says OK without an untagged CAPABILITY (found by
	 * t/fuzz/fuzz_imap).  The parser files the untagged response in the
	 * connection info all the same; the old list goes first, so nothing
	 * stale (from before STARTTLS or login) survives.
	 */
	if (ci != NULL && ci->imap_capability != NULL) {
		mailimap_capability_data_free(ci->imap_capability);
		ci->imap_capability = NULL;
	}
	fc->turns++;
	if ((r = mailimap_custom_command(ip->imap, "CAPABILITY")) !=
	    MAILIMAP_NO_ERROR)
		return imap_fail(fc, r, "CAPABILITY");
	return PS_SUCCESS;
}

static struct mailimap_set *
imap_uid_set(struct fetch_msg **v, size_t n)
{
	struct mailimap_set	*set;
	size_t			 i;

	if ((set = mailimap_set_new_empty()) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (mailimap_set_add_single(set, (uint32_t)v[i]->key) !=
		    MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			return NULL;
		}
	return set;
}

/* --- open ----------------------------------------------------------------- */

static int
imap_tls(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct imap_priv *ip = fc->priv;
	char		  err[FETCH_ERR_MAX];

	if (stream_starttls(ip->st, srv->ssl_ctx, srv->host, NULL, err,
	    sizeof(err)) == -1)
		return imap_err(fc, PS_SOCKET, "TLS with %s: %s", srv->host,
		    err);
	return PS_SUCCESS;
}

static int
imap_starttls(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct imap_priv *ip = fc->priv;
	int		  r;

	if (!imap_has(ip, "STARTTLS"))
		return imap_err(fc, PS_SOCKET, "%s offers no STARTTLS; "
		    "refusing to send the password in clear (sslproto '' "
		    "allows it)", srv->host);
	fc->turns++;
	if ((r = mailimap_starttls(ip->imap)) != MAILIMAP_NO_ERROR)
		return imap_fail(fc, r, "STARTTLS");
	if ((r = imap_tls(fc, srv)) != PS_SUCCESS)
		return r;
	return imap_capability(fc);
}

/*
 * AUTHENTICATE XOAUTH2 / OAUTHBEARER (RFC 7628) on libetpan's stream:
 * mailimap_authenticate() goes through Cyrus SASL, which has neither
 * mechanism.  The response goes with the command when the server offers
 * SASL-IR, else after its empty challenge; a challenge after the response
 * is the server's error document, answered as the mechanism wants so that
 * the tagged NO follows.  Every response is written private, so the trace
 * shows "****" in its place.  PS_SUCCESS, PS_AUTHFAIL (a tagged NO, with
 * the reply and the error document in fc->err), PS_SOCKET, PS_PROTOCOL.
 */
#define IMAP_SASL_LINES	64	/* untagged lines tolerated meanwhile */

static int
imap_sasl_send(struct fetch_conn *fc, const char *s, int secret)
{
	struct imap_priv *ip = fc->priv;
	mailstream	 *ms = ip->imap->imap_stream;
	size_t		  len = strlen(s);
	int		  bad;

	if (secret)
		mailstream_set_privacy(ms, 0);
	bad = (len > 0 && mailstream_write(ms, s, len) != (ssize_t)len) ||
	    mailstream_write(ms, "\r\n", 2) != 2 || mailstream_flush(ms) == -1;
	if (secret)
		mailstream_set_privacy(ms, 1);
	if (bad)
		return imap_fail(fc, MAILIMAP_ERROR_STREAM, "AUTHENTICATE");
	return PS_SUCCESS;
}

static int
imap_sasl_oauth(struct fetch_conn *fc, const struct fetch_server *srv,
    const char *token)
{
	struct imap_priv *ip = fc->priv;
	const char	 *mech = fetch_oauth_mech(srv);
	char		 *resp, *line, cmd[64], chal[256], reply[256];
	int		  ir = imap_has(ip, "SASL-IR"), sent = 0, answered = 0;
	int		  i, r = PS_PROTOCOL;
	size_t		  n;

	if ((resp = fetch_oauth_response(fc, srv, token)) == NULL)
		return PS_AUTHFAIL;
	chal[0] = '\0';
	fc->turns++;
	snprintf(cmd, sizeof(cmd), "AUTHENTICATE %s%s", mech, ir ? " " : "");
	if (mailimap_send_current_tag(ip->imap) != MAILIMAP_NO_ERROR ||
	    mailstream_write(ip->imap->imap_stream, cmd, strlen(cmd)) !=
	    (ssize_t)strlen(cmd) ||
	    /* on its own, so that the trace shows it before the "****" */
	    (ir && mailstream_flush(ip->imap->imap_stream) == -1)) {
		r = imap_fail(fc, MAILIMAP_ERROR_STREAM, "AUTHENTICATE");
		goto out;
	}
	if ((r = imap_sasl_send(fc, ir ? resp : "", ir)) != PS_SUCCESS)
		goto out;
	sent = ir;
	for (i = 0; i < IMAP_SASL_LINES; i++) {
		if ((line = mailimap_read_line(ip->imap)) == NULL) {
			r = imap_fail(fc, MAILIMAP_ERROR_STREAM,
			    "AUTHENTICATE");
			goto out;
		}
		if (line[0] == '*')
			continue;
		if (line[0] == '+') {
			line += line[1] == ' ' ? 2 : 1;
			if (!sent) {
				/* the empty challenge: now the response */
				fc->turns++;
				if ((r = imap_sasl_send(fc, resp, 1)) !=
				    PS_SUCCESS)
					goto out;
				sent = 1;
				continue;
			}
			if (answered) {
				/* a second error challenge: cancel */
				r = imap_sasl_send(fc, "*", 0);
				if (r != PS_SUCCESS)
					goto out;
				continue;
			}
			fetch_oauth_challenge(line, chal, sizeof(chal));
			fc->turns++;
			if ((r = imap_sasl_send(fc, fetch_oauth_abort(srv),
			    1)) != PS_SUCCESS)
				goto out;
			answered = 1;
			continue;
		}
		/* The tagged reply: "tag OK|NO|BAD text". */
		line += strcspn(line, " ");
		line += strspn(line, " ");
		n = strcspn(line, "\r\n");
		snprintf(reply, sizeof(reply), "%.*s", (int)n, line);
		for (n = 0; reply[n] != '\0'; n++)
			if ((unsigned char)reply[n] < 0x20 || reply[n] == 0x7f)
				reply[n] = '?';
		if (strncasecmp(reply, "OK", 2) == 0 && sent) {
			ip->imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
			r = PS_SUCCESS;
		} else
			r = imap_err(fc, strncasecmp(reply, "NO", 2) == 0 ?
			    PS_AUTHFAIL : PS_PROTOCOL, "AUTHENTICATE %s as %s "
			    "at %s failed: %s%s%s%s", mech,
			    srv->user->remotename, srv->host, reply,
			    chal[0] != '\0' ? " (server said " : "", chal,
			    chal[0] != '\0' ? ")" : "");
		goto out;
	}
	r = imap_err(fc, PS_PROTOCOL, "AUTHENTICATE %s: no tagged reply from "
	    "%s", mech, srv->host);
out:
	explicit_bzero(resp, strlen(resp));
	free(resp);
	return r;
}

/*
 * OAuth2 login: the token fetched before connecting; when the server
 * refuses it (expired or revoked early), one new token and one more try
 * in the same session, then the refusal is the poll's error.
 */
static int
imap_oauth_login(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct imap_priv *ip = fc->priv;
	const char	 *mech = fetch_oauth_mech(srv);
	int		  r;

	if (!imap_caps(ip) || !mailimap_has_authentication(ip->imap, mech))
		return imap_err(fc, PS_AUTHFAIL, "%s offers no AUTH=%s (auth "
		    "%s)", srv->host, mech, rc_auth_name(srv->poll->auth));
	if ((r = imap_sasl_oauth(fc, srv, ip->token)) != PS_AUTHFAIL)
		return r;
	log_warnx("%s", fc->err);
	log_info("getting a new OAuth2 access token for %s at %s",
	    srv->user->remotename, srv->host);
	if ((r = fetch_oauth_token(fc, srv, 1, &ip->token)) != PS_SUCCESS)
		return r;
	return imap_sasl_oauth(fc, srv, ip->token);
}

static int
imap_login(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct imap_priv	*ip = fc->priv;
	const struct rc_user	*u = srv->user;
	int			 r;

	if (fetch_oauth(srv))
		return imap_oauth_login(fc, srv);
	if (u->password == NULL)
		return imap_err(fc, PS_AUTHFAIL, "no password for %s at %s",
		    u->remotename, srv->host);
	if (srv->poll != NULL && srv->poll->auth == RC_AUTH_APOP)
		return imap_err(fc, PS_AUTHFAIL, "auth %s is not available "
		    "for IMAP", rc_auth_name(srv->poll->auth));
	fc->turns++;
	if (imap_has(ip, "LOGINDISABLED")) {
		/* RFC 3501 6.2.3: LOGIN is out; SASL PLAIN may still be in. */
		if (!imap_caps(ip) ||
		    !mailimap_has_authentication(ip->imap, "PLAIN"))
			return imap_err(fc, PS_AUTHFAIL, "%s refuses LOGIN "
			    "(LOGINDISABLED) and offers no AUTH=PLAIN",
			    srv->host);
		ip->sasl = 1;
		r = mailimap_authenticate(ip->imap, "PLAIN", srv->host, NULL,
		    NULL, u->remotename, u->remotename, u->password, NULL);
		ip->sasl = 0;
		if (r != MAILIMAP_NO_ERROR)
			return imap_fail(fc, r, "AUTHENTICATE PLAIN");
		return PS_SUCCESS;
	}
	r = mailimap_login(ip->imap, u->remotename, u->password);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(fc, r, "LOGIN");
	return PS_SUCCESS;
}

/* The folder as a uid prefix: printable, no blanks, '/' ends it. */
static void
imap_prefix(struct imap_priv *ip, const char *folder)
{
	size_t	 i, n = 0;

	ip->prefix[0] = '\0';
	if (folder == NULL || strcasecmp(folder, "INBOX") == 0)
		return;
	for (i = 0; folder[i] != '\0' && n + 4 < sizeof(ip->prefix); i++) {
		unsigned char c = (unsigned char)folder[i];

		if (c <= 0x20 || c >= 0x7f || c == '%' || c == '/')
			n += (size_t)snprintf(ip->prefix + n,
			    sizeof(ip->prefix) - n, "%%%02X", c);
		else
			ip->prefix[n++] = (char)c;
	}
	ip->prefix[n++] = '/';
	ip->prefix[n] = '\0';
}

static int	imap_selected(struct fetch_conn *, const struct fetch_server *);

/* A folder name that goes as a quoted string (RFC 3501 quoted). */
static int
imap_quotable(const char *folder)
{
	if (folder == NULL)
		return 1;
	if (strlen(folder) > 200)
		return 0;
	for (; *folder != '\0'; folder++)
		if ((unsigned char)*folder < 0x20 ||
		    (unsigned char)*folder >= 0x7f)
			return 0;
	return 1;
}

static int
imap_select(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct imap_priv	*ip = fc->priv;
	const char		*folder = srv->folder ? srv->folder : "INBOX";
	int			 r;

	fc->turns++;
	if ((r = mailimap_select(ip->imap, folder)) != MAILIMAP_NO_ERROR)
		return imap_fail(fc, r, "SELECT");
	return imap_selected(fc, srv);
}

/* The mailbox SELECT opened: its UIDVALIDITY and size, checked. */
static int
imap_selected(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct imap_priv	*ip = fc->priv;
	const char		*folder = srv->folder ? srv->folder : "INBOX";
	struct mailimap_selection_info *si;

	si = ip->imap->imap_selection_info;
	if (si == NULL || si->sel_uidvalidity == 0)
		return imap_err(fc, PS_PROTOCOL, "SELECT %s: no UIDVALIDITY "
		    "from %s", folder, srv->host);
	ip->validity = si->sel_uidvalidity;
	ip->exists = si->sel_exists;
	if (ip->exists > FETCH_MAX_MSGS)
		return imap_err(fc, PS_PROTOCOL, "SELECT %s: %" PRIu32
		    " messages is more than fetchd handles", folder,
		    ip->exists);
	imap_prefix(ip, srv->folder);
	return PS_SUCCESS;
}

/*
 * Not mailimap_compress(): Debian's libetpan has no zlib and would leave
 * the server compressing to a client that does not.  A server that says
 * NO simply goes on uncompressed.
 */
static int
imap_compress(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct imap_priv *ip = fc->priv;
	char		  err[FETCH_ERR_MAX];
	int		  r;

	fc->turns++;
	r = mailimap_custom_command(ip->imap, "COMPRESS DEFLATE");
	if (r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_PARSE ||
	    r == MAILIMAP_ERROR_MEMORY)
		return imap_fail(fc, r, "COMPRESS DEFLATE");
	if (r != MAILIMAP_NO_ERROR) {
		log_debug("%s refused COMPRESS DEFLATE: %s", srv->host,
		    imap_reply(ip));
		return PS_SUCCESS;
	}
	if ((ip->deflate = imap_deflate_start(ip->imap->imap_stream, err,
	    sizeof(err))) == NULL)
		return imap_err(fc, PS_PROTOCOL, "COMPRESS DEFLATE: %s", err);
	log_debug("IMAP compression (DEFLATE) enabled with %s", srv->host);
	return PS_SUCCESS;
}

static int
imap_open(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct imap_priv *ip;
	char		  err[FETCH_ERR_MAX];
	int		  fd, r;

	fc->srv = srv;
	if ((ip = calloc(1, sizeof(*ip))) == NULL)
		return imap_err(fc, PS_UNDEFINED, "out of memory");
	fc->priv = ip;
	/* OAuth2: the token first, so a refused one costs no connection. */
	if (fetch_oauth(srv) &&
	    (r = fetch_oauth_token(fc, srv, 0, &ip->token)) != PS_SUCCESS)
		return r;
	if ((fd = net_connect(srv->host, srv->port, NULL, srv->timeout_ms,
	    NULL, 0, err, sizeof(err))) == -1)
		return imap_err(fc, PS_SOCKET, "%s", err);
	if ((ip->st = stream_socket(fd, srv->timeout_ms, err,
	    sizeof(err))) == NULL) {
		close(fd);
		return imap_err(fc, PS_SOCKET, "%s", err);
	}
	stream_set_cancel(ip->st, srv->cancel);
	if (srv->tls == FETCH_TLS_IMPLICIT &&
	    (r = imap_tls(fc, srv)) != PS_SUCCESS)
		return r;
	if (imap_guard_start(stream_mailstream(ip->st)) == -1 ||
	    (ip->imap = mailimap_new(0, NULL)) == NULL)
		return imap_err(fc, PS_UNDEFINED, "out of memory");
	mailimap_set_logger(ip->imap, imap_logger, ip);
	r = mailimap_connect(ip->imap, stream_mailstream(ip->st));
	if (ip->imap->imap_stream != NULL)
		ip->owns_stream = 1;
	if (r == MAILIMAP_NO_ERROR_AUTHENTICATED &&
	    srv->tls == FETCH_TLS_STARTTLS)
		/* CVE-2021-39272: a PREAUTH session can never be upgraded. */
		return imap_err(fc, PS_SOCKET, "%s greets with PREAUTH on a "
		    "connection that must first switch to TLS: aborted",
		    srv->host);
	if (r != MAILIMAP_NO_ERROR_AUTHENTICATED &&
	    r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED)
		return imap_fail(fc, r, "greeting");
	if (ip->imap->imap_connection_info == NULL ||
	    ip->imap->imap_connection_info->imap_capability == NULL)
		if ((r = imap_capability(fc)) != PS_SUCCESS)
			return r;
	if (srv->tls == FETCH_TLS_STARTTLS &&
	    (r = imap_starttls(fc, srv)) != PS_SUCCESS)
		return r;
	if (ip->imap->imap_state != MAILIMAP_STATE_AUTHENTICATED) {
		void	*before = ip->imap->imap_connection_info != NULL ?
		    ip->imap->imap_connection_info->imap_capability : NULL;

		if ((r = imap_login(fc, srv)) != PS_SUCCESS)
			return r;
		/*
		 * Capabilities change with login (COMPRESS is one).  Most
		 * servers send the new list with the OK, which libetpan
		 * files as a new object: ask only when none came.
		 */
		if ((ip->imap->imap_connection_info == NULL ||
		    ip->imap->imap_connection_info->imap_capability ==
		    before) && (r = imap_capability(fc)) != PS_SUCCESS)
			return r;
	}
	ip->uidplus = imap_has(ip, "UIDPLUS");
	if (imap_has(ip, "COMPRESS=DEFLATE") &&
	    (r = imap_compress(fc, srv)) != PS_SUCCESS)
		return r;
	/*
	 * With SEARCHRES the SELECT goes out with the search and the
	 * listing, in one write (imap_list): one round trip fewer.  A folder
	 * name that needs more than a quoted string is selected here.
	 */
	if (imap_has(ip, "SEARCHRES") && imap_quotable(srv->folder)) {
		ip->select_owed = 1;
		imap_prefix(ip, srv->folder);
		return PS_SUCCESS;
	}
	return imap_select(fc, srv);
}

/* --- list ----------------------------------------------------------------- */

/* One FETCH response of the list: UID, size, flags.  1 when it describes a
 * message, 0 when it is an unsolicited flag update, -1 when malformed. */
static int
imap_list_att(struct imap_priv *ip, struct mailimap_msg_att *att,
    struct fetch_msg *m)
{
	clistiter	*it, *fit;
	int		 have_uid = 0, have_size = 0;

	memset(m, 0, sizeof(*m));
	m->num = att->att_number;
	for (it = clist_begin(att->att_list); it != NULL; it = it->next) {
		struct mailimap_msg_att_item *item = it->data;

		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
		    item->att_data.att_static != NULL) {
			struct mailimap_msg_att_static *s =
			    item->att_data.att_static;

			if (s->att_type == MAILIMAP_MSG_ATT_UID) {
				m->key = s->att_data.att_uid;
				have_uid = 1;
			} else if (s->att_type ==
			    MAILIMAP_MSG_ATT_RFC822_SIZE) {
				m->size = s->att_data.att_rfc822_size;
				have_size = 1;
			}
		} else if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC &&
		    item->att_data.att_dyn != NULL &&
		    item->att_data.att_dyn->att_list != NULL) {
			for (fit = clist_begin(item->att_data.att_dyn->att_list);
			    fit != NULL; fit = fit->next) {
				struct mailimap_flag_fetch *ff = fit->data;

				if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER ||
				    ff->fl_flag == NULL)
					continue;
				if (ff->fl_flag->fl_type == MAILIMAP_FLAG_SEEN)
					m->server_seen = 1;
				else if (ff->fl_flag->fl_type ==
				    MAILIMAP_FLAG_DELETED)
					m->server_deleted = 1;
			}
		}
	}
	if (!have_uid)
		return 0;
	if (m->key == 0 || !have_size || m->num == 0 ||
	    m->num > FETCH_MAX_MSGS)
		return -1;
	if (snprintf(m->uid, sizeof(m->uid), "%s%" PRIu32 "/%" PRIu64,
	    ip->prefix, ip->validity, m->key) >= (int)sizeof(m->uid))
		return -1;
	return 1;
}

static int
msg_cmp_num(const void *a, const void *b)
{
	const struct fetch_msg *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The end of the run of consecutive (or repeated) UIDs in sorted v that
 * starts at i. */
static size_t
uid_run_end(const uint32_t *v, size_t n, size_t i)
{
	for (i++; i < n && v[i] <= v[i - 1] + 1; i++)
		;
	return i;
}

/* The UID of a uid of ours in this folder under this UIDVALIDITY, else 0. */
static uint32_t
known_uid(struct imap_priv *ip, const char *uid)
{
	size_t		 pl = strlen(ip->prefix);
	char		 v[16], *end;
	unsigned long	 n;

	if (strncmp(uid, ip->prefix, pl) != 0)
		return 0;
	uid += pl;
	if (ip->validity == 0) {
		/* Not selected yet: a UID under a changed UIDVALIDITY only
		 * lists some other message, which the loop then judges. */
		if ((uid = strchr(uid, '/')) == NULL)
			return 0;
		uid++;
	} else {
		snprintf(v, sizeof(v), "%" PRIu32 "/", ip->validity);
		if (strncmp(uid, v, strlen(v)) != 0)
			return 0;
		uid += strlen(v);
	}
	if (*uid < '1' || *uid > '9')
		return 0;
	errno = 0;
	n = strtoul(uid, &end, 10);
	if (errno != 0 || *end != '\0' || n > UINT32_MAX)
		return 0;
	return (uint32_t)n;
}

/* The answer to a pipelined SELECT: the mailbox is open, checked. */
static int
imap_answer_select(struct fetch_conn *fc)
{
	int	 r;

	if ((r = imap_answer(fc, "SELECT", NULL)) != PS_SUCCESS)
		return r;
	((struct imap_priv *)fc->priv)->imap->imap_state =
	    MAILIMAP_STATE_SELECTED;
	return imap_selected(fc, fc->srv);
}

/* fetchall, or flush without keep (whose seen messages the loop deletes):
 * every message is listed. */
static int
imap_list_all(struct fetch_conn *fc)
{
	const struct rc_user	*u = fc->srv->user;

	return u != NULL && (u->fetchall == RC_YES || (u->flush == RC_YES &&
	    u->keep != RC_YES));
}

#define IMAP_LIST_ATTS	"(UID FLAGS RFC822.SIZE)"

/*
 * With SEARCHRES (RFC 5182) the search and the listing of what it found
 * go in one write: "UID SEARCH RETURN (SAVE) UNSEEN", "UID FETCH $ ...",
 * and the known UIDs in a FETCH of their own.  Their FETCH data in *res.
 */
static int
imap_list_pipelined(struct fetch_conn *fc, struct fetch_list *ml,
    clist **res)
{
	struct imap_priv *ip = fc->priv;
	const char	 *folder = fc->srv->folder ? fc->srv->folder : "INBOX";
	static const char search[] = "UID SEARCH RETURN (SAVE) UNSEEN";
	static const char saved[] = "UID FETCH $ " IMAP_LIST_ATTS;
	static const char all[] = "UID FETCH 1:* " IMAP_LIST_ATTS;
	char		  sel[512];
	uint32_t	 *v = NULL;
	size_t		  i, n = 0, len;
	int		  r, nknown = 0, select = ip->select_owed;
	int		  every = imap_list_all(fc);

	*res = NULL;
	ip->select_owed = 0;
	if (select) {
		len = (size_t)snprintf(sel, sizeof(sel), "SELECT \"");
		for (; *folder != '\0' && len < sizeof(sel) - 4; folder++) {
			if (*folder == '"' || *folder == '\\')
				sel[len++] = '\\';
			sel[len++] = *folder;
		}
		sel[len++] = '"';
		if (ip->imap->imap_selection_info != NULL)
			mailimap_selection_info_free(
			    ip->imap->imap_selection_info);
		if ((ip->imap->imap_selection_info =
		    mailimap_selection_info_new()) == NULL)
			return imap_err(fc, PS_UNDEFINED, "out of memory");
		if ((r = imap_queue(fc, sel, len)) != PS_SUCCESS)
			return r;
	}
	if (every) {
		if ((r = imap_queue(fc, all, sizeof(all) - 1)) != PS_SUCCESS)
			return r;
		ip->pnext = ip->imap->imap_tag - select;
		if ((r = imap_send(fc)) != PS_SUCCESS ||
		    (select && (r = imap_answer_select(fc)) != PS_SUCCESS))
			return r;
		if ((r = imap_answer(fc, "UID FETCH 1:*", res)) != PS_SUCCESS &&
		    *res != NULL) {
			mailimap_fetch_list_free(*res);
			*res = NULL;
		}
		return r;
	}
	if (ml->nknown > 0 && (v = calloc(ml->nknown, sizeof(*v))) == NULL)
		return imap_err(fc, PS_UNDEFINED, "out of memory");
	for (i = 0; i < ml->nknown; i++)
		if ((v[n] = known_uid(ip, ml->known[i])) != 0)
			n++;
	if ((r = imap_queue(fc, search, sizeof(search) - 1)) != PS_SUCCESS ||
	    (r = imap_queue(fc, saved, sizeof(saved) - 1)) != PS_SUCCESS ||
	    (n > 0 && (r = imap_queue_uids(fc, "UID FETCH", v, n,
	    " " IMAP_LIST_ATTS, &nknown)) != PS_SUCCESS))
		goto done;
	ip->pnext = ip->imap->imap_tag - nknown - 1 - select;
	if ((r = imap_send(fc)) != PS_SUCCESS ||
	    (select && (r = imap_answer_select(fc)) != PS_SUCCESS) ||
	    (r = imap_answer(fc, "UID SEARCH UNSEEN", NULL)) != PS_SUCCESS ||
	    (r = imap_answer(fc, "UID FETCH $", res)) != PS_SUCCESS)
		goto done;
	while (nknown-- > 0)
		if ((r = imap_answer(fc, "UID FETCH (known)", res)) !=
		    PS_SUCCESS)
			goto done;
done:
	free(v);
	if (r != PS_SUCCESS && *res != NULL) {
		mailimap_fetch_list_free(*res);
		*res = NULL;
	}
	return r;
}

/*
 * What to list: the UIDs UID SEARCH UNSEEN finds and the known ones, as a
 * set of ranges; NULL set (and PS_SUCCESS) when there are none.  With
 * fetchall (or flush without keep, whose seen messages the loop deletes)
 * every message: 1:*, no search.
 */
static int
imap_list_set(struct fetch_conn *fc, struct fetch_list *ml,
    struct mailimap_set **setp)
{
	struct imap_priv		*ip = fc->priv;
	struct mailimap_search_key	*key;
	struct mailimap_set		*set = NULL;
	clist				*res = NULL;
	clistiter			*it;
	uint32_t			*v = NULL;
	size_t				 n = 0, cap, i, j;
	int				 r;

	*setp = NULL;
	if (imap_list_all(fc)) {
		if ((*setp = mailimap_set_new_interval(1, 0)) == NULL)
			return imap_err(fc, PS_UNDEFINED, "out of memory");
		return PS_SUCCESS;
	}
	if ((key = mailimap_search_key_new(MAILIMAP_SEARCH_KEY_UNSEEN, NULL,
	    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	    NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL,
	    NULL)) == NULL)
		return imap_err(fc, PS_UNDEFINED, "out of memory");
	fc->turns++;
	r = mailimap_uid_search(ip->imap, NULL, key, &res);
	mailimap_search_key_free(key);
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(fc, r, "UID SEARCH UNSEEN");
	cap = (size_t)clist_count(res) + ml->nknown;
	if (cap > FETCH_MAX_MSGS + ml->nknown) {
		r = imap_err(fc, PS_PROTOCOL, "UID SEARCH: %d UIDs for %"
		    PRIu32 " messages", clist_count(res), ip->exists);
		goto done;
	}
	if (cap > 0 && (v = calloc(cap, sizeof(*v))) == NULL) {
		r = imap_err(fc, PS_UNDEFINED, "out of memory");
		goto done;
	}
	for (it = clist_begin(res); it != NULL; it = it->next)
		if (it->data != NULL && *(uint32_t *)it->data != 0)
			v[n++] = *(uint32_t *)it->data;
	for (i = 0; i < ml->nknown; i++)
		if ((v[n] = known_uid(ip, ml->known[i])) != 0)
			n++;
	r = PS_SUCCESS;
	if (n == 0)
		goto done;
	qsort(v, n, sizeof(*v), cmp_u32);
	if ((set = mailimap_set_new_empty()) == NULL) {
		r = imap_err(fc, PS_UNDEFINED, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i = j) {
		j = uid_run_end(v, n, i);
		if (mailimap_set_add_interval(set, v[i], v[j - 1]) !=
		    MAILIMAP_NO_ERROR) {
			r = imap_err(fc, PS_UNDEFINED, "out of memory");
			goto done;
		}
	}
	*setp = set;
	set = NULL;
done:
	if (set != NULL)
		mailimap_set_free(set);
	if (res != NULL)
		mailimap_search_result_free(res);
	free(v);
	return r;
}

static int
imap_list(struct fetch_conn *fc, struct fetch_list *ml)
{
	struct imap_priv	 *ip = fc->priv;
	struct mailimap_set	 *set = NULL;
	struct mailimap_fetch_type *ft = NULL;
	clist			 *res = NULL;
	clistiter		 *it;
	size_t			  n = 0, cap, i;
	int			  r;

	ml->v = NULL;
	ml->n = 0;
	if (ip->select_owed) {
		r = imap_list_pipelined(fc, ml, &res);
		ml->validity = ip->validity;
		ml->total = ip->exists;
		if (r != PS_SUCCESS)
			return r;
		goto listed;
	}
	ml->validity = ip->validity;
	ml->total = ip->exists;
	if (ip->exists == 0)
		return PS_SUCCESS;
	if (!imap_list_all(fc) && imap_has(ip, "SEARCHRES")) {
		if ((r = imap_list_pipelined(fc, ml, &res)) != PS_SUCCESS)
			return r;
		goto listed;
	}
	if ((r = imap_list_set(fc, ml, &set)) != PS_SUCCESS || set == NULL)
		return r;
	if ((ft = mailimap_fetch_type_new_fetch_att_list_empty()) == NULL ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_flags()) != MAILIMAP_NO_ERROR ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_rfc822_size()) != MAILIMAP_NO_ERROR) {
		r = imap_err(fc, PS_UNDEFINED, "out of memory");
		goto done;
	}
	fc->turns++;
	if ((r = mailimap_uid_fetch(ip->imap, set, ft, &res)) !=
	    MAILIMAP_NO_ERROR) {
		res = NULL;
		r = imap_fail(fc, r, "UID FETCH (list)");
		goto done;
	}
listed:
	/* New mail may have arrived since SELECT: size by the answer. */
	if ((cap = (size_t)clist_count(res)) > FETCH_MAX_MSGS) {
		r = imap_err(fc, PS_PROTOCOL, "%zu messages listed: more "
		    "than fetchd handles", cap);
		goto done;
	}
	if (cap > 0 && (ml->v = calloc(cap, sizeof(*ml->v))) == NULL) {
		r = imap_err(fc, PS_UNDEFINED, "out of memory");
		goto done;
	}
	r = PS_SUCCESS;
	for (it = clist_begin(res); it != NULL; it = it->next) {
		struct fetch_msg m;
		int		 k = imap_list_att(ip, it->data, &m);

		if (k == 0)
			continue;
		if (k < 0 || n == cap) {
			r = imap_err(fc, PS_PROTOCOL, "malformed or "
			    "unexpected FETCH response listing the mailbox");
			goto done;
		}
		ml->v[n++] = m;
	}
	if (n > 1)	/* ml->v is NULL for an empty listing */
		qsort(ml->v, n, sizeof(*ml->v), msg_cmp_num);
	/* A known message still unseen is in both answers: once here. */
	for (i = 1; i < n; i++)
		if (ml->v[i].num == ml->v[i - 1].num &&
		    ml->v[i].key == ml->v[i - 1].key) {
			memmove(&ml->v[i], &ml->v[i + 1], (n - i - 1) *
			    sizeof(*ml->v));
			n--;
			i--;
		}
	/* RFC 3501 2.3.1.1: UIDs ascend with the sequence numbers, so this
	 * also finds a UID listed twice anywhere. */
	for (i = 1; i < n; i++)
		if (ml->v[i].num == ml->v[i - 1].num ||
		    ml->v[i].key <= ml->v[i - 1].key) {
			r = imap_err(fc, PS_PROTOCOL, "duplicate or "
			    "disordered message in the server's listing");
			goto done;
		}
	ml->n = n;
	if (n > 0 && ml->v[n - 1].num > ml->total)
		ml->total = ml->v[n - 1].num;
done:
	if (res != NULL)
		mailimap_fetch_list_free(res);
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	if (set != NULL)
		mailimap_set_free(set);
	if (r != PS_SUCCESS)
		imap_list_clear(ml);
	return r;
}

/* --- fetch ---------------------------------------------------------------- */

/* The UID and body of one FETCH response: 0 with *uid set (*body NULL when
 * no body came with it), -1 when it names no UID (a flag update). */
static int
att_body(struct mailimap_msg_att *att, uint64_t *uid, const char **body,
    size_t *len)
{
	clistiter	*it;
	int		 have_uid = 0;

	*body = NULL;
	*len = 0;
	for (it = clist_begin(att->att_list); it != NULL; it = it->next) {
		struct mailimap_msg_att_item	*item = it->data;
		struct mailimap_msg_att_static	*s;

		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC ||
		    (s = item->att_data.att_static) == NULL)
			continue;
		if (s->att_type == MAILIMAP_MSG_ATT_UID) {
			*uid = s->att_data.att_uid;
			have_uid = 1;
		} else if (s->att_type == MAILIMAP_MSG_ATT_BODY_SECTION &&
		    s->att_data.att_body_section != NULL &&
		    s->att_data.att_body_section->sec_body_part != NULL) {
			*body = s->att_data.att_body_section->sec_body_part;
			*len = s->att_data.att_body_section->sec_length;
		}
	}
	return have_uid ? 0 : -1;
}

/* The body the server returned for uid in res: 0, or -1 when none. */
static int
find_body(clist *res, uint64_t key, const char **body, size_t *len)
{
	clistiter	*it;
	uint64_t	 uid;

	/* Responses come in any order; batches are small. */
	for (it = clist_begin(res); it != NULL; it = it->next) {
		uid = 0;
		if (att_body(it->data, &uid, body, len) == 0 && uid == key &&
		    *body != NULL)
			return 0;
	}
	*body = NULL;
	*len = 0;
	return -1;
}

/* Hand octets to the sink in pieces the size of a stream buffer, as a
 * socket would give them; -1 once the sink refused the message. */
static int
sink_data(const struct fetch_sink *sink, struct fetch_msg *m,
    const char *body, size_t len)
{
	size_t	 off, take;

	for (off = 0; off < len; off += take) {
		take = len - off < STREAM_BUFSIZE ? len - off : STREAM_BUFSIZE;
		if (sink->data(sink->arg, m, body + off, take) == -1)
			return -1;
	}
	return 0;
}

/* One UID FETCH of (UID BODY.PEEK[]<partial>) for v[0..n-1]. */
static int
imap_uid_fetch_body(struct fetch_conn *fc, struct fetch_msg **v, size_t n,
    uint32_t off, uint32_t len, clist **res)
{
	struct imap_priv	 *ip = fc->priv;
	struct mailimap_set	 *set;
	struct mailimap_fetch_type *ft = NULL;
	struct mailimap_section	 *sec = NULL;
	struct mailimap_fetch_att *fa = NULL;
	int			  r;

	*res = NULL;
	if ((set = imap_uid_set(v, n)) == NULL ||
	    (ft = mailimap_fetch_type_new_fetch_att_list_empty()) == NULL ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft,
	    mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR ||
	    (sec = mailimap_section_new(NULL)) == NULL ||
	    (fa = len > 0 ?
	    mailimap_fetch_att_new_body_peek_section_partial(sec, off, len) :
	    mailimap_fetch_att_new_body_peek_section(sec)) == NULL) {
		if (sec != NULL)
			mailimap_section_free(sec);
		r = imap_err(fc, PS_UNDEFINED, "out of memory");
		goto done;
	}
	if (mailimap_fetch_type_new_fetch_att_list_add(ft, fa) !=
	    MAILIMAP_NO_ERROR) {
		mailimap_fetch_att_free(fa);
		r = imap_err(fc, PS_UNDEFINED, "out of memory");
		goto done;
	}
	fc->turns++;
	if ((r = mailimap_uid_fetch(ip->imap, set, ft, res)) !=
	    MAILIMAP_NO_ERROR) {
		*res = NULL;
		r = imap_fail(fc, r, "UID FETCH");
		goto done;
	}
	r = PS_SUCCESS;
done:
	if (ft != NULL)
		mailimap_fetch_type_free(ft);
	if (set != NULL)
		mailimap_set_free(set);
	return r;
}

/* Several small messages in one UID FETCH; every one gets begin..end. */
static int
imap_fetch_batch(struct fetch_conn *fc, struct fetch_msg **v, size_t n,
    const struct fetch_sink *sink)
{
	clist		*res;
	const char	*body;
	size_t		 i, len;
	int		 r, ok;

	if ((r = imap_uid_fetch_body(fc, v, n, 0, 0, &res)) != PS_SUCCESS)
		return r;
	for (i = 0; i < n; i++) {
		ok = find_body(res, v[i]->key, &body, &len) == 0;
		if (!ok)
			log_warnx("message %s not returned by the server "
			    "(expunged meanwhile?)", v[i]->uid);
		if (sink->begin(sink->arg, v[i]) == 0 && ok)
			(void)sink_data(sink, v[i], body, len);
		sink->end(sink->arg, v[i], ok);
	}
	mailimap_fetch_list_free(res);
	return PS_SUCCESS;
}

/*
 * A message bigger than a batch, in partial fetches of IMAP_CHUNK octets
 * until one comes back short.  The announced size only bounds the loop: a
 * server that keeps sending is a protocol error, not an endless message.
 */
static int
imap_fetch_big(struct fetch_conn *fc, struct fetch_msg *m,
    const struct fetch_sink *sink)
{
	clist		*res;
	const char	*body;
	uint64_t	 off = 0, limit;
	size_t		 len;
	int		 r, refused;

	limit = m->size + m->size / 2 + IMAP_CHUNK;
	refused = sink->begin(sink->arg, m) == -1;
	for (;;) {
		if (off > limit || off > UINT32_MAX - IMAP_CHUNK) {
			sink->end(sink->arg, m, 0);
			return imap_err(fc, PS_PROTOCOL, "message %s: more "
			    "than the %" PRIu64 " octets announced", m->uid,
			    m->size);
		}
		if ((r = imap_uid_fetch_body(fc, &m, 1, (uint32_t)off,
		    IMAP_CHUNK, &res)) != PS_SUCCESS) {
			sink->end(sink->arg, m, 0);
			return r;
		}
		if (find_body(res, m->key, &body, &len) == -1) {
			mailimap_fetch_list_free(res);
			log_warnx("message %s not returned by the server "
			    "(expunged meanwhile?)", m->uid);
			sink->end(sink->arg, m, 0);
			return PS_SUCCESS;
		}
		if (!refused && sink_data(sink, m, body, len) == -1)
			refused = 1;
		mailimap_fetch_list_free(res);
		off += len;
		/* Short (or a server that ignored <partial>): the end. */
		if (len != IMAP_CHUNK)
			break;
	}
	sink->end(sink->arg, m, 1);
	return PS_SUCCESS;
}

static int
imap_fetch(struct fetch_conn *fc, struct fetch_msg **v, size_t n,
    const struct fetch_sink *sink)
{
	size_t		 i, k;
	uint64_t	 bytes;
	int		 r;

	for (i = 0; i < n; i += k) {
		k = 1;
		if (v[i]->size > IMAP_BATCH_BYTES) {
			if ((r = imap_fetch_big(fc, v[i], sink)) != PS_SUCCESS)
				return r;
			continue;
		}
		bytes = v[i]->size;
		while (i + k < n && k < IMAP_BATCH_MSGS &&
		    bytes + v[i + k]->size <= IMAP_BATCH_BYTES)
			bytes += v[i + k++]->size;
		if ((r = imap_fetch_batch(fc, v + i, k, sink)) != PS_SUCCESS)
			return r;
	}
	return PS_SUCCESS;
}

/* --- flags, commit -------------------------------------------------------- */

static int
imap_store(struct fetch_conn *fc, struct fetch_msg **v, size_t n,
    struct mailimap_flag *(*flag)(void), const char *what)
{
	struct imap_priv		*ip = fc->priv;
	struct mailimap_set		*set = NULL;
	struct mailimap_flag_list	*fl = NULL;
	struct mailimap_store_att_flags	*sa = NULL;
	size_t				 i, k;
	int				 r = PS_SUCCESS;

	for (i = 0; i < n && r == PS_SUCCESS; i += k) {
		k = n - i < IMAP_BATCH_MSGS ? n - i : IMAP_BATCH_MSGS;
		if ((set = imap_uid_set(v + i, k)) == NULL ||
		    (fl = mailimap_flag_list_new_empty()) == NULL ||
		    mailimap_flag_list_add(fl, flag()) != MAILIMAP_NO_ERROR ||
		    (sa = mailimap_store_att_flags_new_add_flags_silent(fl))
		    == NULL) {
			r = imap_err(fc, PS_UNDEFINED, "out of memory");
		} else {
			fl = NULL;	/* sa owns it */
			fc->turns++;
			if ((r = mailimap_uid_store(ip->imap, set, sa)) !=
			    MAILIMAP_NO_ERROR)
				r = imap_fail(fc, r, what);
			else
				r = PS_SUCCESS;
		}
		if (sa != NULL)
			mailimap_store_att_flags_free(sa);
		if (fl != NULL)
			mailimap_flag_list_free(fl);
		if (set != NULL)
			mailimap_set_free(set);
		sa = NULL;
		fl = NULL;
		set = NULL;
	}
	return r;
}

/*
 * delete() only notes the UIDs: their UID STORE +FLAGS.SILENT (\Deleted)
 * goes out with the EXPUNGE and the LOGOUT in one write at commit (or
 * before an IDLE), one round trip instead of three.  Nothing is lost by
 * the wait: the loop journaled them first, and a session that ends
 * without its commit deletes nothing, as before.
 */
static int
imap_delete(struct fetch_conn *fc, struct fetch_msg **v, size_t n)
{
	struct imap_priv *ip = fc->priv;
	size_t		  i;

	if (n == 0)
		return PS_SUCCESS;
	if (ip->ndeleted + n > ip->maxdeleted) {
		size_t	 want = ip->ndeleted + n + 64;
		uint32_t *d = reallocarray(ip->deleted, want, sizeof(*d));

		if (d == NULL)
			return imap_err(fc, PS_UNDEFINED, "out of memory");
		ip->deleted = d;
		ip->maxdeleted = want;
	}
	for (i = 0; i < n; i++) {
		v[i]->deleted = 1;
		ip->deleted[ip->ndeleted++] = (uint32_t)v[i]->key;
	}
	return PS_SUCCESS;
}

static int
imap_mark_seen(struct fetch_conn *fc, struct fetch_msg **v, size_t n)
{
	if (n == 0)
		return PS_SUCCESS;
	return imap_store(fc, v, n, mailimap_flag_new_seen,
	    "UID STORE \\Seen");
}

/* --- pipelined commands --------------------------------------------------- */

/*
 * libetpan sends a command and waits for its answer.  Where the next
 * command does not depend on that answer, fetchd writes several at once
 * and reads the answers in order with libetpan's own parser.
 */
static int
imap_queue(struct fetch_conn *fc, const char *cmd, size_t len)
{
	struct imap_priv *ip = fc->priv;
	char		  tag[24];
	int		  n;

	/* libetpan's tags: its counter goes on after ours. */
	n = snprintf(tag, sizeof(tag), "%d ", ++ip->imap->imap_tag);
	if (mailstream_write(ip->imap->imap_stream, tag, (size_t)n) != n ||
	    mailstream_write(ip->imap->imap_stream, cmd, len) !=
	    (ssize_t)len ||
	    mailstream_write(ip->imap->imap_stream, "\r\n", 2) != 2)
		return imap_fail(fc, MAILIMAP_ERROR_STREAM, "IMAP write");
	return PS_SUCCESS;
}

static int
imap_send(struct fetch_conn *fc)
{
	struct imap_priv *ip = fc->priv;

	fc->turns++;
	if (mailstream_flush(ip->imap->imap_stream) == -1)
		return imap_fail(fc, MAILIMAP_ERROR_STREAM, "IMAP write");
	return PS_SUCCESS;
}

/* The answer to the next queued command: PS_SUCCESS when OK; its FETCH
 * data appended to *fetched when fetched is not NULL. */
static int
imap_answer(struct fetch_conn *fc, const char *what, clist **fetched)
{
	struct imap_priv		*ip = fc->priv;
	struct mailimap_response	*resp;
	int				 r, ok, saved;

	if (mailimap_read_line(ip->imap) == NULL)
		return imap_fail(fc, MAILIMAP_ERROR_STREAM, what);
	/* libetpan checks the tag against its counter: the answer's. */
	saved = ip->imap->imap_tag;
	ip->imap->imap_tag = ip->pnext++;
	r = mailimap_parse_response(ip->imap, &resp);
	ip->imap->imap_tag = saved;
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(fc, r, what);
	/* Our own expunges shrink the mailbox: IDLE counts from there. */
	if (ip->imap->imap_response_info != NULL &&
	    ip->imap->imap_response_info->rsp_expunged != NULL) {
		uint32_t gone = (uint32_t)clist_count(
		    ip->imap->imap_response_info->rsp_expunged);

		ip->exists = gone < ip->exists ? ip->exists - gone : 0;
	}
	if (fetched != NULL && ip->imap->imap_response_info != NULL &&
	    ip->imap->imap_response_info->rsp_fetch_list != NULL) {
		if (*fetched == NULL)
			*fetched = ip->imap->imap_response_info->rsp_fetch_list;
		else {
			clist_concat(*fetched,
			    ip->imap->imap_response_info->rsp_fetch_list);
			clist_free(ip->imap->imap_response_info->rsp_fetch_list);
		}
		ip->imap->imap_response_info->rsp_fetch_list = NULL;
	}
	ok = resp->rsp_resp_done != NULL && resp->rsp_resp_done->rsp_type ==
	    MAILIMAP_RESP_DONE_TYPE_TAGGED &&
	    resp->rsp_resp_done->rsp_data.rsp_tagged != NULL &&
	    resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state != NULL &&
	    resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type
	    == MAILIMAP_RESP_COND_STATE_OK;
	mailimap_response_free(resp);
	return ok ? PS_SUCCESS : imap_fail(fc, MAILIMAP_ERROR_UID_STORE, what);
}

/*
 * "PRE SET POST" for the UIDs v[0..n-1] (sorted here), as ranges, in as
 * many commands as keep each line short; *ncmd counts them.
 */
static int
imap_queue_uids(struct fetch_conn *fc, const char *pre, uint32_t *v,
    size_t n, const char *post, int *ncmd)
{
	char	 line[1024];
	size_t	 i, j, len;
	int	 k, r;

	qsort(v, n, sizeof(*v), cmp_u32);
	for (i = 0; i < n; ) {
		len = (size_t)snprintf(line, sizeof(line), "%s ", pre);
		for (k = 0; i < n && len < sizeof(line) - 64; k++, i = j) {
			j = uid_run_end(v, n, i);
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    j - i > 1 ? "%s%" PRIu32 ":%" PRIu32 : "%s%" PRIu32,
			    k > 0 ? "," : "", v[i], v[j - 1]);
		}
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s",
		    post);
		if ((r = imap_queue(fc, line, len)) != PS_SUCCESS)
			return r;
		(*ncmd)++;
	}
	return PS_SUCCESS;
}

/*
 * The \Deleted flags not stored yet and the expunge of every deleted UID
 * (UID EXPUNGE of exactly those where UIDPLUS is offered, never someone
 * else's \Deleted messages; else EXPUNGE) in one write; with logout, a
 * LOGOUT once they are answered, its own answer not awaited.
 */
static int
imap_expunge(struct fetch_conn *fc, int logout)
{
	struct imap_priv *ip = fc->priv;
	int		  r, nstore = 0, nexp = 0, i;

	if (ip->nstored < ip->ndeleted && (r = imap_queue_uids(fc,
	    "UID STORE", ip->deleted + ip->nstored, ip->ndeleted -
	    ip->nstored, " +FLAGS.SILENT (\\Deleted)", &nstore)) !=
	    PS_SUCCESS)
		return r;
	if (ip->ndeleted > 0) {
		if (ip->uidplus)
			r = imap_queue_uids(fc, "UID EXPUNGE", ip->deleted,
			    ip->ndeleted, "", &nexp);
		else if ((r = imap_queue(fc, "EXPUNGE", 7)) == PS_SUCCESS)
			nexp = 1;
		if (r != PS_SUCCESS)
			return r;
	}
	ip->pnext = ip->imap->imap_tag - nstore - nexp + 1;
	if (nstore + nexp > 0 && (r = imap_send(fc)) != PS_SUCCESS)
		return r;
	for (i = 0; i < nstore; i++)
		if ((r = imap_answer(fc, "UID STORE \\Deleted", NULL)) !=
		    PS_SUCCESS)
			return r;
	ip->nstored = ip->ndeleted;
	for (i = 0; i < nexp; i++)
		if ((r = imap_answer(fc, ip->uidplus ? "UID EXPUNGE" :
		    "EXPUNGE", NULL)) != PS_SUCCESS)
			return r;
	ip->ndeleted = ip->nstored = 0;
	/* After the answers: a server closing at LOGOUT loses none. */
	if (logout && (imap_queue(fc, "LOGOUT", 6) != PS_SUCCESS ||
	    mailstream_flush(ip->imap->imap_stream) == -1))
		log_debug("IMAP LOGOUT: %s", fc->err);
	return PS_SUCCESS;
}

static int
imap_commit(struct fetch_conn *fc)
{
	/* The expunge is what counts; a lost LOGOUT reply deletes nothing
	 * more and nothing less, so it is not waited for. */
	return imap_expunge(fc, 1);
}

/* --- idle ----------------------------------------------------------------- */

/*
 * Wait up to secs for the server, a wake-up or --quit.  Untagged data may
 * already sit in a buffer.  The signals behind the flags are blocked while
 * the flags are tested, and ppoll() unblocks them atomically: a signal
 * that comes just before the wait ends it instead of being noticed only
 * half an hour later.
 */
static int
idle_wait(struct fetch_conn *fc, int secs)
{
	struct imap_priv *ip = fc->priv;
	const struct fetch_server *srv = fc->srv;
	struct pollfd	  pfd = { .fd = stream_fd(ip->st), .events = POLLIN };
	struct timespec	  ts = { .tv_sec = secs, .tv_nsec = 0 };
	sigset_t	  block, old;
	int		  r = 0, saved;

	fetch_signals(&block);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (stream_pending(ip->st) == 0 && (ip->deflate == NULL ||
	    imap_deflate_pending(ip->deflate) == 0) &&
	    !(srv->wake != NULL && *srv->wake) &&
	    !(srv->cancel != NULL && *srv->cancel))
		r = ppoll(&pfd, 1, &ts, &old);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (r == -1 && saved != EINTR)
		return imap_err(fc, -1, "poll: %s", strerror(saved));
	return 0;
}

static int
imap_idle(struct fetch_conn *fc, int secs)
{
	struct imap_priv *ip = fc->priv;
	time_t		  deadline = time(NULL) + (secs > 0 ? secs : 0);
	uint32_t	  before;
	int		  r, left;

	if (!imap_caps(ip) || !mailimap_has_idle(ip->imap))
		return imap_err(fc, -1, "%s does not offer IDLE",
		    fc->srv->host);
	/* What was delivered leaves the mailbox now, not after the wait. */
	if (ip->ndeleted > 0 && imap_expunge(fc, 0) != PS_SUCCESS)
		return -1;
	before = ip->exists;
	for (;;) {
		if ((left = (int)(deadline - time(NULL))) <= 0)
			return 0;
		/* Only an EXISTS during this IDLE says the size changed. */
		if (ip->imap->imap_selection_info != NULL)
			ip->imap->imap_selection_info->sel_has_exists = 0;
		fc->turns++;
		if ((r = mailimap_idle(ip->imap)) != MAILIMAP_NO_ERROR) {
			imap_fail(fc, r, "IDLE");
			return -1;
		}
		/* Servers drop an IDLE after 30 min (RFC 2177). */
		if (idle_wait(fc, left > 29 * 60 ? 29 * 60 : left) == -1)
			return -1;
		if ((r = mailimap_idle_done(ip->imap)) != MAILIMAP_NO_ERROR) {
			imap_fail(fc, r, "IDLE DONE");
			return -1;
		}
		if (ip->imap->imap_selection_info != NULL) {
			struct mailimap_selection_info *si =
			    ip->imap->imap_selection_info;

			if (si->sel_uidvalidity != 0 &&
			    si->sel_uidvalidity != ip->validity) {
				imap_err(fc, -1, "UIDVALIDITY changed "
				    "while idle");
				return -1;
			}
			if (si->sel_has_exists)
				ip->exists = si->sel_exists;
		}
		if (ip->exists > FETCH_MAX_MSGS) {
			imap_err(fc, -1, "too many messages announced");
			return -1;
		}
		if (ip->exists > before)
			return 1;
		before = ip->exists;
		if (fc->srv->wake != NULL && *fc->srv->wake)
			return 1;
		if (fc->srv->cancel != NULL && *fc->srv->cancel)
			return 0;
	}
}

/* --- close ---------------------------------------------------------------- */

static void
imap_close(struct fetch_conn *fc)
{
	struct imap_priv *ip = fc->priv;

	if (ip == NULL)
		return;
	if (ip->imap != NULL) {
		/*
		 * Drop the line ourselves: mailimap_free() would say LOGOUT,
		 * and nothing at all may go to a server we abandoned (a
		 * PREAUTH greeting with TLS owed, an unverified peer).
		 */
		if (ip->imap->imap_stream != NULL) {
			mailstream_close(ip->imap->imap_stream);
			ip->imap->imap_stream = NULL;
		} else if (!ip->owns_stream)
			stream_close(ip->st);
		mailimap_free(ip->imap);
	} else if (ip->st != NULL)
		stream_close(ip->st);
	if (log_verbose()) {
		if (ip->tx.len > 0)
			trace_flush(&ip->tx, '>', 0);
		if (ip->rx.len > 0)
			trace_flush(&ip->rx, '<', 0);
	}
	free(ip->deleted);
	free(ip);
	fc->priv = NULL;
}

const struct fetcher fetch_imap = {
	.name = "IMAP",
	.received_with = "IMAP",
	.open = imap_open,
	.list = imap_list,
	.fetch = imap_fetch,
	.delete = imap_delete,
	.mark_seen = imap_mark_seen,
	.commit = imap_commit,
	.idle = imap_idle,
	.close = imap_close,
};
