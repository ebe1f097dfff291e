/*
 * POP3 (RFC 1939, 2449 CAPA, 2595 STLS) behind the fetcher interface.
 *
 * libetpan's mailpop3 does the session's opening over our stream: the
 * greeting (and its APOP timestamp), CAPA, STLS, USER/PASS and APOP.  The
 * transaction state (UIDL, LIST, RETR, DELE, QUIT) is a thin command layer
 * of our own on the same stream, because mailpop3 sends one command and
 * waits for its whole reply before the next (and reads a RETR into one
 * memory buffer): with CAPA PIPELINING we write a batch of RETRs, then a
 * batch of DELEs, in one write each (RFC 2449 section 6.6), which turns a
 * round trip per message into a round trip per batch, and every message
 * streams to the sink line by line.  Both layers read through the same
 * mailstream buffer, so nothing is lost between them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "fetch.h"
#include "log.h"
#include "net.h"
#include "stream.h"

#define POP3_LINE_MAX	8192	/* our read unit; longer lines stream on */
#define POP3_UIDL_MAX	70	/* RFC 1939 section 7 */
#define POP3_TRACE_MAX	1024

struct pop3 {
	struct stream	*st;
	mailpop3	*mp;		/* owns st once connected */
	int		 pipelining;
	int		 stls;
	int		 listed;	/* LIST and UIDL already sent */
	int		 capa;		/* CAPA answered */
	int		 sasl_xoauth2, sasl_oauthbearer; /* CAPA SASL lists */
	const char	*token;		/* OAuth2: the account's, not ours */
	int		 committed;
	char		 line[POP3_LINE_MAX + 2];
	char		 trace[POP3_TRACE_MAX];
	size_t		 tracelen;
};

/* libetpan's logger, for the opening: split its chunks into lines. */
static void
etpan_trace(mailpop3 *mp, int type, const char *s, size_t len, void *arg)
{
	struct pop3	*p = arg;
	size_t		 i;

	(void)mp;
	if (!log_verbose())
		return;
	switch (type) {
	case MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE:
		/* libetpan calls USER private too; PASS and APOP stay hidden */
		if (len < 5 || strncasecmp(s, "USER ", 5) != 0) {
			log_trace("POP3", '>', TRACE_SECRET, s, len);
			return;
		}
		/* FALLTHROUGH */
	case MAILSTREAM_LOG_TYPE_DATA_SENT:
		while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
			len--;
		log_trace("POP3", '>', 0, s, len);
		return;
	case MAILSTREAM_LOG_TYPE_DATA_RECEIVED:
		for (i = 0; i < len; i++) {
			if (s[i] == '\n') {
				if (p->tracelen > 0 &&
				    p->trace[p->tracelen - 1] == '\r')
					p->tracelen--;
				log_trace("POP3", '<', 0, p->trace,
				    p->tracelen);
				p->tracelen = 0;
			} else if (p->tracelen < sizeof(p->trace))
				p->trace[p->tracelen++] = s[i];
		}
		return;
	default:
		return;
	}
}

static int
stream_fail(struct fetch_conn *fc, struct pop3 *p, const char *what)
{
	return fetch_fail(fc, PS_SOCKET, "POP3 %s: %s", what,
	    stream_error(p->st));
}

/* Send what is buffered: one write, one turn toward the server. */
static int
send_batch(struct fetch_conn *fc, struct pop3 *p, const char *what)
{
	if (stream_flush(p->st) == -1)
		return stream_fail(fc, p, what);
	fc->turns++;
	return 0;
}

/*
 * Read one status line: 1 for +OK, 0 for -ERR (text in fc->err), or a
 * negative PS_ code negated.
 */
static int
read_status(struct fetch_conn *fc, struct pop3 *p, const char *what)
{
	ssize_t	 n;

	n = stream_getline(p->st, p->line, sizeof(p->line));
	if (n == STREAM_TOOLONG)
		return -fetch_fail(fc, PS_PROTOCOL, "POP3 %s: reply line too "
		    "long", what);
	if (n < 0)
		return -stream_fail(fc, p, what);
	log_trace("POP3", '<', 0, p->line, (size_t)n);
	if (strncmp(p->line, "+OK", 3) == 0)
		return 1;
	if (strncmp(p->line, "-ERR", 4) == 0) {
		fetch_fail(fc, PS_ERROR, "POP3 %s: %.400s", what, p->line);
		return 0;
	}
	return -fetch_fail(fc, PS_PROTOCOL, "POP3 %s: bad reply '%.200s'",
	    what, p->line);
}

/* One line of a multi-line reply: its length, -1 at the final ".", or a
 * negated PS_ code. */
static ssize_t
read_list_line(struct fetch_conn *fc, struct pop3 *p, const char *what)
{
	ssize_t	 n;

	n = stream_getline(p->st, p->line, sizeof(p->line));
	if (n == STREAM_TOOLONG)
		return -fetch_fail(fc, PS_PROTOCOL, "POP3 %s: line too long",
		    what);
	if (n < 0)
		return -stream_fail(fc, p, what);
	if (n == 1 && p->line[0] == '.')
		return -1;
	return n;
}

static int
parse_ulong(const char *s, char **end, unsigned long max, unsigned long *out)
{
	unsigned long	 v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, end, 10);
	if (errno != 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* ---- opening: libetpan -------------------------------------------------- */

static void
read_sasl(struct pop3 *p, clist *mechs)
{
	clistiter	*it;
	const char	*m;

	for (it = mechs != NULL ? clist_begin(mechs) : NULL; it != NULL;
	    it = clist_next(it)) {
		if ((m = clist_content(it)) == NULL)
			continue;
		if (strcasecmp(m, "XOAUTH2") == 0)
			p->sasl_xoauth2 = 1;
		else if (strcasecmp(m, "OAUTHBEARER") == 0)
			p->sasl_oauthbearer = 1;
	}
}

static void
read_capa(struct pop3 *p)
{
	clist		*caps = NULL;
	clistiter	*it;
	struct mailpop3_capa *c;

	p->pipelining = p->stls = p->capa = 0;
	p->sasl_xoauth2 = p->sasl_oauthbearer = 0;
	if (mailpop3_capa(p->mp, &caps) != MAILPOP3_NO_ERROR)
		return;		/* RFC 1939 server: no extensions */
	p->capa = 1;
	for (it = clist_begin(caps); it != NULL; it = clist_next(it)) {
		c = clist_content(it);
		if (strcasecmp(c->cap_name, "PIPELINING") == 0)
			p->pipelining = 1;
		else if (strcasecmp(c->cap_name, "STLS") == 0)
			p->stls = 1;
		else if (strcasecmp(c->cap_name, "SASL") == 0)
			read_sasl(p, c->cap_param);
	}
	mailpop3_capa_resp_free(caps);
}

static int
etpan_fail(struct fetch_conn *fc, struct pop3 *p, int r, int code,
    const char *what)
{
	const char	*resp = p->mp->pop3_response;

	if (r == MAILPOP3_ERROR_STREAM)
		return fetch_fail(fc, PS_SOCKET, "POP3 %s: %s", what,
		    stream_error(p->st));
	if (resp != NULL && strstr(resp, "[IN-USE]") != NULL)
		code = PS_LOCKBUSY;
	return fetch_fail(fc, code, "POP3 %s failed: %.400s", what,
	    resp != NULL && *resp != '\0' ? resp : "(no reply text)");
}

/*
 * AUTH XOAUTH2 / OAUTHBEARER (RFC 5034, RFC 7628) on our own layer:
 * libetpan's mailpop3_auth() goes through Cyrus SASL, which has neither.
 * The initial response goes with the command when the line stays within
 * RFC 5034's 255 octets, else after the server's empty challenge.  A
 * challenge after the response is the server's error document, answered
 * as the mechanism wants so that the -ERR follows.  PS_SUCCESS,
 * PS_AUTHFAIL (-ERR, in fc->err with the error document), PS_LOCKBUSY,
 * PS_SOCKET, PS_PROTOCOL.
 */
#define POP3_AUTH_LINE	255	/* RFC 5034 section 4 */

static int
pop3_sasl_oauth(struct fetch_conn *fc, struct pop3 *p,
    const struct fetch_server *srv, const char *token)
{
	const char	*mech = fetch_oauth_mech(srv), *l;
	char		*resp, chal[256], cmd[64];
	int		 sent, answered = 0, i, r = PS_PROTOCOL;
	ssize_t		 n;

	if ((resp = fetch_oauth_response(fc, srv, token)) == NULL)
		return PS_AUTHFAIL;
	chal[0] = '\0';
	snprintf(cmd, sizeof(cmd), "AUTH %s", mech);
	sent = strlen(cmd) + 1 + strlen(resp) + 2 <= POP3_AUTH_LINE;
	if (sent) {
		char	 shown[sizeof(cmd) + 2];

		/* the payload's place, which the trace shows as "****" */
		snprintf(shown, sizeof(shown), "%s x", cmd);
		log_trace("POP3", '>', 0, shown, strlen(shown));
		if (stream_printf(p->st, "%s %s\r\n", cmd, resp) == -1) {
			r = stream_fail(fc, p, "AUTH");
			goto out;
		}
	} else {
		log_trace("POP3", '>', 0, cmd, strlen(cmd));
		if (stream_printf(p->st, "%s\r\n", cmd) == -1) {
			r = stream_fail(fc, p, "AUTH");
			goto out;
		}
	}
	if (send_batch(fc, p, "AUTH") != 0) {
		r = PS_SOCKET;
		goto out;
	}
	for (i = 0; i < 4; i++) {
		n = stream_getline(p->st, p->line, sizeof(p->line));
		if (n == STREAM_TOOLONG) {
			r = fetch_fail(fc, PS_PROTOCOL, "POP3 AUTH: reply line "
			    "too long");
			goto out;
		}
		if (n < 0) {
			r = stream_fail(fc, p, "AUTH");
			goto out;
		}
		log_trace("POP3", '<', 0, p->line, (size_t)n);
		if (strncmp(p->line, "+OK", 3) == 0 && sent) {
			r = PS_SUCCESS;
			goto out;
		}
		if (strncmp(p->line, "-ERR", 4) == 0) {
			r = fetch_fail(fc, strstr(p->line, "[IN-USE]") != NULL ?
			    PS_LOCKBUSY : PS_AUTHFAIL, "POP3 AUTH %s as %s at "
			    "%s failed: %.300s%s%s%s", mech,
			    srv->user->remotename, srv->host, p->line,
			    chal[0] != '\0' ? " (server said " : "", chal,
			    chal[0] != '\0' ? ")" : "");
			goto out;
		}
		if (p->line[0] != '+' || (p->line[1] != ' ' &&
		    p->line[1] != '\0'))
			break;
		l = p->line[1] == ' ' ? p->line + 2 : p->line + 1;
		if (!sent) {
			/* the empty challenge: now the response */
			log_trace("POP3", '>', TRACE_SECRET, "", 0);
			r = stream_printf(p->st, "%s\r\n", resp);
			sent = 1;
		} else if (!answered) {
			fetch_oauth_challenge(l, chal, sizeof(chal));
			log_trace("POP3", '>', TRACE_SECRET, "", 0);
			r = stream_printf(p->st, "%s\r\n",
			    fetch_oauth_abort(srv));
			answered = 1;
		} else {
			log_trace("POP3", '>', 0, "*", 1);
			r = stream_printf(p->st, "*\r\n");	/* cancel */
		}
		if (r == -1 || send_batch(fc, p, "AUTH") != 0) {
			r = stream_fail(fc, p, "AUTH");
			goto out;
		}
	}
	r = fetch_fail(fc, PS_PROTOCOL, "POP3 AUTH %s: bad reply '%.200s'",
	    mech, p->line);
out:
	explicit_bzero(resp, strlen(resp));
	free(resp);
	return r;
}

/*
 * OAuth2 login: the token fetched before connecting; when the server
 * refuses it, one new token and one more AUTH in the same session, then
 * the refusal is the poll's error.
 */
static int
pop3_oauth_login(struct fetch_conn *fc, struct pop3 *p,
    const struct fetch_server *srv)
{
	const char	*mech = fetch_oauth_mech(srv);
	int		 r;

	if (p->capa && !(srv->poll->auth == RC_AUTH_XOAUTH2 ?
	    p->sasl_xoauth2 : p->sasl_oauthbearer))
		return fetch_fail(fc, PS_AUTHFAIL, "%s offers no SASL %s "
		    "(auth %s)", srv->host, mech,
		    rc_auth_name(srv->poll->auth));
	mailpop3_set_logger(p->mp, NULL, NULL);
	if ((r = pop3_sasl_oauth(fc, p, srv, p->token)) != PS_AUTHFAIL)
		return r;
	log_warnx("%s", fc->err);
	log_info("getting a new OAuth2 access token for %s at %s",
	    srv->user->remotename, srv->host);
	if ((r = fetch_oauth_token(fc, srv, 1, &p->token)) != PS_SUCCESS)
		return r;
	return pop3_sasl_oauth(fc, p, srv, p->token);
}

static int
pop3_auth(struct fetch_conn *fc, struct pop3 *p, const struct fetch_server *srv)
{
	const struct rc_user	*u = srv->user;
	int			 r;

	if (fetch_oauth(srv))
		return pop3_oauth_login(fc, p, srv);
	if (u->password == NULL)
		return fetch_fail(fc, PS_AUTHFAIL, "no password for %s at %s",
		    u->remotename, srv->host);
	switch (srv->poll->auth) {
	case RC_AUTH_APOP:
		if (p->mp->pop3_timestamp == NULL)
			return fetch_fail(fc, PS_AUTHFAIL, "APOP: the server's "
			    "greeting has no timestamp");
		if ((r = mailpop3_apop(p->mp, u->remotename, u->password)) !=
		    MAILPOP3_NO_ERROR)
			return etpan_fail(fc, p, r, PS_AUTHFAIL, "APOP");
		return PS_SUCCESS;
	default:
		if ((r = mailpop3_user(p->mp, u->remotename)) !=
		    MAILPOP3_NO_ERROR)
			return etpan_fail(fc, p, r, PS_AUTHFAIL, "USER");
		if ((r = mailpop3_pass(p->mp, u->password)) !=
		    MAILPOP3_NO_ERROR)
			return etpan_fail(fc, p, r, PS_AUTHFAIL, "PASS");
		return PS_SUCCESS;
	}
}

/* USER/PASS (not APOP, not OAuth), with a password to send. */
static int
plain_login(const struct fetch_server *srv)
{
	return srv->user->password != NULL &&
	    (srv->poll->auth == RC_AUTH_ANY ||
	    srv->poll->auth == RC_AUTH_PASSWORD ||
	    srv->poll->auth == RC_AUTH_UNSET);
}

static int
has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/*
 * With PIPELINING, the rest of the opening goes in one write: (CAPA,) USER,
 * PASS, LIST and UIDL, which saves three or four round trips on a slow
 * line.  Only over TLS or with TLS explicitly off; the replies are read in
 * order, and a refused USER/PASS ends it before LIST is looked at.
 */
static int
pipelined_login(struct fetch_conn *fc, struct pop3 *p,
    const struct fetch_server *srv, int capa)
{
	const struct rc_user	*u = srv->user;
	char			 line[600];
	ssize_t			 n;
	int			 r, len;

	if (has_crlf(u->remotename) || has_crlf(u->password))
		return fetch_fail(fc, PS_AUTHFAIL, "user name or password "
		    "holds a line break");
	mailpop3_set_logger(p->mp, NULL, NULL);
	if (capa) {
		log_trace("POP3", '>', 0, "CAPA", 4);
		if (stream_printf(p->st, "CAPA\r\n") == -1)
			return stream_fail(fc, p, "CAPA");
	}
	len = snprintf(line, sizeof(line), "USER %s", u->remotename);
	if (len < 0 || (size_t)len >= sizeof(line))
		return fetch_fail(fc, PS_AUTHFAIL, "user name too long");
	log_trace("POP3", '>', 0, line, (size_t)len);
	log_trace("POP3", '>', TRACE_SECRET, "", 0);
	log_trace("POP3", '>', 0, "LIST", 4);
	log_trace("POP3", '>', 0, "UIDL", 4);
	if (stream_printf(p->st, "%s\r\n", line) == -1 ||
	    stream_printf(p->st, "PASS %s\r\nLIST\r\nUIDL\r\n",
	    u->password) == -1 || send_batch(fc, p, "USER") != 0)
		return stream_fail(fc, p, "USER");
	explicit_bzero(line, sizeof(line));
	if (capa) {
		p->pipelining = p->stls = 0;
		if ((r = read_status(fc, p, "CAPA")) < 0)
			return -r;
		while (r == 1 && (n = read_list_line(fc, p, "CAPA")) != -1) {
			if (n < 0)
				return (int)-n;
			log_trace("POP3", '<', 0, p->line, (size_t)n);
			if (strncasecmp(p->line, "PIPELINING", 10) == 0 &&
			    (p->line[10] == '\0' || p->line[10] == ' '))
				p->pipelining = 1;
		}
	}
	if ((r = read_status(fc, p, "USER")) < 0)
		return -r;
	if (r == 1 && (r = read_status(fc, p, "PASS")) < 0)
		return -r;
	if (r == 0)
		return fetch_fail(fc, strstr(p->line, "[IN-USE]") != NULL ?
		    PS_LOCKBUSY : PS_AUTHFAIL, "POP3 login failed: %.400s",
		    p->line);
	p->listed = 1;
	return PS_SUCCESS;
}

static int
pop3_open(struct fetch_conn *fc, const struct fetch_server *srv)
{
	struct pop3	*p;
	char		 err[512];
	int		 fd, r;

	fc->srv = srv;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return fetch_fail(fc, PS_UNDEFINED, "out of memory");
	fc->priv = p;
	/* OAuth2: the token first, so a refused one costs no connection. */
	if (fetch_oauth(srv) &&
	    (r = fetch_oauth_token(fc, srv, 0, &p->token)) != PS_SUCCESS)
		return r;
	fd = net_connect(srv->host, srv->port, NULL, srv->timeout_ms, NULL, 0,
	    err, sizeof(err));
	if (fd == -1)
		return fetch_fail(fc, PS_SOCKET, "%s", err);
	if ((p->st = stream_socket(fd, srv->timeout_ms, err, sizeof(err))) ==
	    NULL) {
		close(fd);
		return fetch_fail(fc, PS_SOCKET, "%s", err);
	}
	stream_set_cancel(p->st, srv->cancel);
	if (srv->tls == FETCH_TLS_IMPLICIT && stream_starttls(p->st,
	    srv->ssl_ctx, srv->host, NULL, err, sizeof(err)) == -1)
		return fetch_fail(fc, PS_SOCKET, "TLS to %s: %s", srv->host,
		    err);

	if ((p->mp = mailpop3_new(0, NULL)) == NULL)
		return fetch_fail(fc, PS_UNDEFINED, "out of memory");
	mailpop3_set_logger(p->mp, etpan_trace, p);
	r = mailpop3_connect(p->mp, stream_mailstream(p->st));
	if (p->mp->pop3_stream == NULL)
		p->st = NULL;	/* libetpan closed it */
	if (r != MAILPOP3_NO_ERROR) {
		if (p->st == NULL)
			return fetch_fail(fc, r == MAILPOP3_ERROR_STREAM ?
			    PS_SOCKET : PS_PROTOCOL, "POP3 greeting from %s: "
			    "%s", srv->host, r == MAILPOP3_ERROR_STREAM ?
			    "connection lost" : "refused");
		return etpan_fail(fc, p, r, PS_PROTOCOL, "greeting");
	}
	read_capa(p);

	if (srv->tls == FETCH_TLS_STARTTLS) {
		/* CVE-2021-39272: no STLS, no password. */
		if (!p->stls)
			return fetch_fail(fc, PS_SOCKET, "%s does not offer "
			    "STLS, which is required (sslproto '' turns TLS "
			    "off)", srv->host);
		if ((r = mailpop3_stls(p->mp)) != MAILPOP3_NO_ERROR)
			return etpan_fail(fc, p, r, PS_SOCKET, "STLS");
		if (stream_starttls(p->st, srv->ssl_ctx, srv->host, NULL, err,
		    sizeof(err)) == -1)
			return fetch_fail(fc, PS_SOCKET, "TLS to %s: %s",
			    srv->host, err);
		/*
		 * What was said in plaintext is void: CAPA again.  Only
		 * PIPELINING is taken on trust, to pipeline that CAPA with
		 * the login (a lie there costs speed, not safety).
		 */
		if (p->pipelining && plain_login(srv))
			return pipelined_login(fc, p, srv, 1);
		read_capa(p);
	} else if (p->pipelining && plain_login(srv))
		return pipelined_login(fc, p, srv, 0);
	if ((r = pop3_auth(fc, p, srv)) != PS_SUCCESS)
		return r;
	/* From here on our own layer, which traces for itself. */
	mailpop3_set_logger(p->mp, NULL, NULL);
	return PS_SUCCESS;
}

/* ---- transaction: our command layer ------------------------------------ */

static int
read_uidl(struct fetch_conn *fc, struct pop3 *p, struct fetch_list *ml)
{
	unsigned long	 num;
	size_t		 i = 0, len;
	ssize_t		 n;
	char		*s, *end;
	int		 r;

	if ((r = read_status(fc, p, "UIDL")) <= 0)
		return r < 0 ? -r : PS_PROTOCOL;
	while ((n = read_list_line(fc, p, "UIDL")) >= 0) {
		log_trace("POP3", '<', 0, p->line, (size_t)n);
		if (parse_ulong(p->line, &end, FETCH_MAX_MSGS, &num) == -1 ||
		    *end != ' ')
			return fetch_fail(fc, PS_PROTOCOL, "POP3 UIDL: bad "
			    "line '%.100s'", p->line);
		s = end + strspn(end, " ");
		len = strcspn(s, " ");
		if (len > POP3_UIDL_MAX || fetch_uid_ok(s, len) == -1)
			return fetch_fail(fc, PS_PROTOCOL, "POP3 UIDL: bad "
			    "unique-id for message %lu (1 to %d printable "
			    "characters)", num, POP3_UIDL_MAX);
		/* Both listings are in message order: find ours. */
		while (i < ml->n && ml->v[i].num < num)
			i++;
		if (i == ml->n || ml->v[i].num != num)
			return fetch_fail(fc, PS_PROTOCOL, "POP3 UIDL: message "
			    "%lu is not in LIST", num);
		memcpy(ml->v[i].uid, s, len);
		ml->v[i].uid[len] = '\0';
	}
	return n == -1 ? PS_SUCCESS : (int)-n;
}

static int
read_listing(struct fetch_conn *fc, struct pop3 *p, struct fetch_list *ml)
{
	struct fetch_msg *m;
	unsigned long	 num, size, last = 0;
	size_t		 cap = 0;
	ssize_t		 n;
	char		*end;
	int		 r;

	if ((r = read_status(fc, p, "LIST")) <= 0)
		return r < 0 ? -r : PS_PROTOCOL;
	while ((n = read_list_line(fc, p, "LIST")) >= 0) {
		log_trace("POP3", '<', 0, p->line, (size_t)n);
		if (parse_ulong(p->line, &end, FETCH_MAX_MSGS, &num) == -1 ||
		    *end != ' ' || num <= last ||
		    parse_ulong(end + strspn(end, " "), &end, 0xffffffffUL,
		    &size) == -1 || (*end != '\0' && *end != ' '))
			return fetch_fail(fc, PS_PROTOCOL, "POP3 LIST: bad or "
			    "out-of-order line '%.100s'", p->line);
		last = num;
		if (ml->n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((m = reallocarray(ml->v, cap, sizeof(*m))) == NULL)
				return fetch_fail(fc, PS_UNDEFINED, "out of "
				    "memory");
			ml->v = m;
		}
		m = &ml->v[ml->n++];
		memset(m, 0, sizeof(*m));
		m->num = m->key = num;
		m->size = size;
	}
	return n == -1 ? PS_SUCCESS : (int)-n;
}

static int
pop3_list(struct fetch_conn *fc, struct fetch_list *ml)
{
	struct pop3	*p = fc->priv;
	int		 r;

	ml->v = NULL;
	ml->n = 0;
	if (p->listed) {
		/* sent with the login */
		p->listed = 0;
		if ((r = read_listing(fc, p, ml)) != PS_SUCCESS)
			return r;
		goto uidl;
	}
	log_trace("POP3", '>', 0, "LIST", 4);
	if (stream_printf(p->st, "LIST\r\n") == -1)
		return stream_fail(fc, p, "LIST");
	if (!p->pipelining && send_batch(fc, p, "LIST") != 0)
		return PS_SOCKET;
	if (p->pipelining) {
		log_trace("POP3", '>', 0, "UIDL", 4);
		if (stream_printf(p->st, "UIDL\r\n") == -1 ||
		    send_batch(fc, p, "UIDL") != 0)
			return stream_fail(fc, p, "UIDL");
	}
	if ((r = read_listing(fc, p, ml)) != PS_SUCCESS)
		return r;
	if (!p->pipelining) {
		log_trace("POP3", '>', 0, "UIDL", 4);
		if (stream_printf(p->st, "UIDL\r\n") == -1 ||
		    send_batch(fc, p, "UIDL") != 0)
			return stream_fail(fc, p, "UIDL");
	}
uidl:
	r = read_uidl(fc, p, ml);
	if (r == PS_PROTOCOL && strncmp(p->line, "-ERR", 4) == 0) {
		/* No UIDL: no uids; the loop decides what that allows. */
		log_warnx("%s: server has no UIDL: %s", fc->srv->host,
		    p->line);
		return PS_SUCCESS;
	}
	return r;
}

/* Stream one message body to the sink, up to the terminating ".". */
static int
read_message(struct fetch_conn *fc, struct pop3 *p, struct fetch_msg *m,
    const struct fetch_sink *sink, int *ok)
{
	ssize_t	 n;
	int	 cont = 0, heldcr = 0, partial;
	char	*s;

	for (;;) {
		n = stream_getline(p->st, p->line, sizeof(p->line) - 2);
		if (n == STREAM_ERROR || n == STREAM_EOF)
			return stream_fail(fc, p, "RETR");
		s = p->line;
		if ((partial = n == STREAM_TOOLONG))
			n = (ssize_t)sizeof(p->line) - 3;
		if (!cont && s[0] == '.') {
			if (n == 1)
				return PS_SUCCESS;
			s++, n--;	/* dot-stuffing (RFC 1939 3) */
		}
		/*
		 * A CR held back at the end of a long line's chunk was the
		 * line's CR LF if nothing follows it, else a bare CR.
		 */
		if (heldcr && n > 0 && *ok &&
		    sink->data(sink->arg, m, "\r", 1) != 0)
			*ok = 0;
		if (partial) {
			/* Part of a long line: pass it on, the rest follows. */
			heldcr = n > 0 && s[n - 1] == '\r';
			n -= heldcr;
			cont = 1;
		} else {
			s[n++] = '\r';
			s[n++] = '\n';
			cont = heldcr = 0;
		}
		if (*ok && sink->data(sink->arg, m, s, (size_t)n) != 0)
			*ok = 0;
	}
}

/* Write one command for v[i], or (pipelining) all of them at i == 0. */
static int
send_cmds(struct fetch_conn *fc, struct pop3 *p, const char *cmd,
    struct fetch_msg **v, size_t n, size_t i)
{
	size_t	 j, last;

	if (p->pipelining && i > 0)
		return 0;
	last = p->pipelining ? n : i + 1;
	for (j = i; j < last; j++) {
		if (log_verbose()) {
			char	 buf[64];
			int	 len;

			len = snprintf(buf, sizeof(buf), "%s %lu", cmd,
			    v[j]->num);
			log_trace("POP3", '>', 0, buf, (size_t)len);
		}
		if (stream_printf(p->st, "%s %lu\r\n", cmd, v[j]->num) == -1)
			return stream_fail(fc, p, cmd);
	}
	return send_batch(fc, p, cmd);
}

static int
pop3_fetch(struct fetch_conn *fc, struct fetch_msg **v, size_t n,
    const struct fetch_sink *sink)
{
	struct pop3	*p = fc->priv;
	size_t		 i;
	int		 r, ok;

	for (i = 0; i < n; i++) {
		if ((r = send_cmds(fc, p, "RETR", v, n, i)) != 0)
			return r;
		if ((r = read_status(fc, p, "RETR")) < 0)
			return -r;
		if (r == 0) {
			log_warnx("%s", fc->err);
			sink->end(sink->arg, v[i], 0);
			continue;
		}
		ok = sink->begin == NULL || sink->begin(sink->arg, v[i]) == 0;
		if ((r = read_message(fc, p, v[i], sink, &ok)) != PS_SUCCESS) {
			sink->end(sink->arg, v[i], 0);
			return r;
		}
		sink->end(sink->arg, v[i], ok);
	}
	return PS_SUCCESS;
}

static int
pop3_delete(struct fetch_conn *fc, struct fetch_msg **v, size_t n)
{
	struct pop3	*p = fc->priv;
	size_t		 i;
	int		 r;

	for (i = 0; i < n; i++) {
		if ((r = send_cmds(fc, p, "DELE", v, n, i)) != 0)
			return r;
		if ((r = read_status(fc, p, "DELE")) < 0)
			return -r;
		if (r == 0)
			log_warnx("%s", fc->err);
		v[i]->deleted = r == 1;
	}
	return PS_SUCCESS;
}

static int
pop3_commit(struct fetch_conn *fc)
{
	struct pop3	*p = fc->priv;
	int		 r;

	log_trace("POP3", '>', 0, "QUIT", 4);
	if (stream_printf(p->st, "QUIT\r\n") == -1 ||
	    send_batch(fc, p, "QUIT") != 0)
		return stream_fail(fc, p, "QUIT");
	if ((r = read_status(fc, p, "QUIT")) < 0)
		return -r;
	if (r == 0)
		return PS_ERROR;
	p->committed = 1;
	return PS_SUCCESS;
}

static void
pop3_close(struct fetch_conn *fc)
{
	struct pop3	*p = fc->priv;

	if (p == NULL)
		return;
	/* mailpop3_free closes the stream without a QUIT: nothing deleted. */
	if (p->mp != NULL) {
		if (p->mp->pop3_stream == NULL && p->st != NULL)
			stream_close(p->st);
		mailpop3_free(p->mp);
	} else if (p->st != NULL)
		stream_close(p->st);
	explicit_bzero(p->line, sizeof(p->line));
	free(p);
	fc->priv = NULL;
}

const struct fetcher fetch_pop3 = {
	.name = "POP3",
	.received_with = "POP3",
	.open = pop3_open,
	.list = pop3_list,
	.fetch = pop3_fetch,
	.delete = pop3_delete,
	.mark_seen = NULL,
	.commit = pop3_commit,
	.idle = NULL,
	.close = pop3_close,
};
