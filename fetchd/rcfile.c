/*
 * fetchmail run-control file: the parser.  The grammar is fetchmail 6.4's
 * rcfile_y.y, written as recursive descent with one token of look-ahead
 * over the lexer in rcfile_lex.c.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "rcfile.h"
#include "rcfile_lex.h"

static int
next(struct parser *p)
{
	if (p->peeked) {
		memcpy(&p->tok, &p->ahead, offsetof(struct token, text) +
		    p->ahead.len + 1);
		p->peeked = 0;
		return 0;
	}
	return rc_lex(p, &p->tok);
}

static int
peek(struct parser *p, const struct token **t)
{
	if (!p->peeked) {
		if (rc_lex(p, &p->ahead) == -1)
			return -1;
		p->peeked = 1;
	}
	*t = &p->ahead;
	return 0;
}

/* A name: any word that is not a keyword (quoted words never are). */
static int
is_word(const struct token *t)
{
	return t->type == T_WORD && t->kw == KW_NONE;
}

/* A single string value may also be written as a bare number. */
static int
is_value(const struct token *t)
{
	return is_word(t) || t->type == T_NUMBER;
}

/* The next token as a string value after keyword what; copied to *dst. */
static int
take_string(struct parser *p, const char *what, char **dst)
{
	char	 descbuf[64];
	int	 line = p->tok.line;

	if (next(p) == -1)
		return -1;
	if (!is_value(&p->tok))
		return rc_perr(p, p->tok.type == T_EOF ? line : p->tok.line,
		    "expected a string after '%s', got %s", what,
		    DESC(&p->tok));
	rc_setstr(dst, p->tok.text);
	return 0;
}

/* A number in [min, max] after keyword what. */
static int
take_number(struct parser *p, const char *what, long min, long max,
    long *dst)
{
	char	 descbuf[64];
	int	 line = p->tok.line;

	if (next(p) == -1)
		return -1;
	/* after '=' the lexer reads a name: accept digits there too */
	if (p->tok.type == T_WORD && p->tok.kw == KW_NONE &&
	    !p->tok.quoted && rc_is_number(p->tok.text)) {
		p->tok.num = strtol(p->tok.text, NULL, 10);
		p->tok.type = T_NUMBER;
	}
	if (p->tok.type != T_NUMBER)
		return rc_perr(p, p->tok.type == T_EOF ? line : p->tok.line,
		    "expected a number after '%s', got %s", what,
		    DESC(&p->tok));
	if (p->tok.num < min || p->tok.num > max)
		return rc_perr(p, p->tok.line, "'%s %ld' out of range (%ld to "
		    "%ld)", what, p->tok.num, min, max);
	*dst = p->tok.num;
	return 0;
}

/* One or more names after keyword what, appended to l. */
static int
take_list(struct parser *p, const char *what, struct rc_list *l)
{
	const struct token	*t;
	char			 descbuf[64];
	int			 n = 0, line = p->tok.line;

	for (;;) {
		if (peek(p, &t) == -1)
			return -1;
		if (!is_word(t))
			break;
		if (l->n >= RC_MAX_LIST)
			return rc_perr(p, t->line, "more than %d names after "
			    "'%s'", RC_MAX_LIST, what);
		if (next(p) == -1)
			return -1;
		rc_list_add(l, p->tok.text);
		n++;
	}
	if (n == 0)
		return rc_perr(p, t->type == T_EOF ? line : t->line,
		    "expected a name after '%s', got %s", what, DESC(t));
	return 0;
}

/* Relative file names in the rc file are relative to its directory. */
static int
take_path(struct parser *p, const char *what, char **dst)
{
	char	 path[PATH_MAX];

	if (take_string(p, what, dst) == -1)
		return -1;
	if ((*dst)[0] == '\0' || (*dst)[0] == '/' || strcmp(*dst, "-") == 0 ||
	    p->dir[0] == '\0')
		return 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", p->dir, *dst) >=
	    sizeof(path))
		return rc_perr(p, p->tok.line, "path after '%s' too long", what);
	rc_setstr(dst, path);
	return 0;
}

static int
not_implemented(struct parser *p, const struct token *t, int neg)
{
	if (p->tok.flags & C_SET)
		return rc_perr(p, t->line, "'set %s%s' is not implemented by "
		    "fetchd", neg ? "no " : "", t->text);
	return rc_perr(p, t->line, "'%s%s' is not implemented by fetchd",
	    neg ? "no " : "", t->text);
}

/* ---- set ---------------------------------------------------------------- */

static int
take_optmap(struct parser *p)
{
	const struct token	*t;

	if (peek(p, &t) == -1)
		return -1;
	if (t->type == T_MAP)
		return next(p);
	return 0;
}

static int
parse_set(struct parser *p)
{
	struct rc_run	*run = &p->cfg->run;
	char		 descbuf[64];
	int		 neg = 0, line = p->tok.line;

	if (next(p) == -1)
		return -1;
	if (p->tok.kw == KW_NO) {
		neg = 1;
		if (next(p) == -1)
			return -1;
	}
	if (!(p->tok.flags & C_SET))
		return rc_perr(p, p->tok.type == T_EOF ? line : p->tok.line,
		    "expected a global option after 'set%s' (daemon, "
		    "postmaster, bouncemail, syslog, logfile, idfile, "
		    "pidfile), got %s", neg ? " no" : "", DESC(&p->tok));
	if (neg && !(p->tok.flags & C_NO))
		return rc_perr(p, p->tok.line, "'no' cannot precede '%s'",
		    p->tok.text);
	if (p->tok.flags & C_NOIMPL) {
		/* "set no invisible" etc. ask for what fetchd always does */
		if (neg)
			return 0;
		return not_implemented(p, &p->tok, 0);
	}
	switch (p->tok.kw) {
	case KW_SYSLOG:
		run->syslog = neg ? RC_NO : RC_YES;
		return 0;
	case KW_BOUNCEMAIL:
		run->bouncemail = neg ? RC_NO : RC_YES;
		return 0;
	case KW_DAEMON:
		if (take_optmap(p) == -1)
			return -1;
		return take_number(p, "set daemon", 0, INT_MAX, &run->daemon);
	default:
		break;
	}
	if (take_optmap(p) == -1)
		return -1;
	switch (p->tok.kw) {
	case KW_LOGFILE:
		return take_path(p, "set logfile", &run->logfile);
	case KW_IDFILE:
		return take_path(p, "set idfile", &run->idfile);
	case KW_PIDFILE:
		return take_path(p, "set pidfile", &run->pidfile);
	case KW_POSTMASTER:
		return take_string(p, "set postmaster", &run->postmaster);
	case KW_PROPERTIES:
		return take_string(p, "set properties", &run->properties);
	default:
		return rc_perr(p, line, "internal: unhandled set keyword");
	}
}

/* ---- server options ----------------------------------------------------- */

static int
parse_port(struct parser *p, struct rc_poll *e, int kw)
{
	struct servent	*se;
	char		 descbuf[64];
	long		 port;

	if (kw == KW_PORT) {
		if (take_number(p, "port", 1, 65535, &port) == -1)
			return -1;
		e->port = (int)port;
		rc_setstr(&e->service, p->tok.text);
		return 0;
	}
	if (next(p) == -1)
		return -1;
	if (!is_value(&p->tok))
		return rc_perr(p, p->tok.line, "expected a service name or port "
		    "number after 'service', got %s", DESC(&p->tok));
	if (rc_is_number(p->tok.text)) {
		port = strtol(p->tok.text, NULL, 10);
		if (port < 1 || port > 65535)
			return rc_perr(p, p->tok.line, "'service %s' out of range "
			    "(1 to 65535)", p->tok.text);
	} else if ((se = getservbyname(p->tok.text, "tcp")) != NULL)
		port = ntohs((unsigned short)se->s_port);
	else
		return rc_perr(p, p->tok.line, "unknown service '%s' (not in "
		    "/etc/services)", p->tok.text);
	e->port = (int)port;
	rc_setstr(&e->service, p->tok.text);
	return 0;
}

static int
parse_proto(struct parser *p, struct rc_poll *e)
{
	static const char *const other[] = {
		"pop2", "rpop", "kpop", "sdps", "etrn", "odmr"
	};
	char	 descbuf[64];
	size_t	 i;
	int	 line = p->tok.line;

	if (next(p) == -1)
		return -1;
	if (p->tok.type == T_WORD && p->tok.kw == KW_NONE) {
		if (strcasecmp(p->tok.text, "pop3") == 0)
			e->proto = RC_PROTO_POP3;
		else if (strcasecmp(p->tok.text, "imap") == 0)
			e->proto = RC_PROTO_IMAP;
		else if (strcasecmp(p->tok.text, "auto") == 0)
			e->proto = RC_PROTO_AUTO;
		else if (strcasecmp(p->tok.text, "apop") == 0)
			e->proto = RC_PROTO_APOP;
		else {
			for (i = 0; i < sizeof(other) / sizeof(other[0]); i++)
				if (strcasecmp(p->tok.text, other[i]) == 0)
					return rc_perr(p, p->tok.line, "protocol "
					    "'%s' is not implemented by fetchd",
					    p->tok.text);
			goto bad;
		}
		return 0;
	}
bad:
	return rc_perr(p, p->tok.type == T_EOF ? line : p->tok.line,
	    "expected a protocol after 'proto' (POP3, IMAP, AUTO), got %s",
	    DESC(&p->tok));
}

static int
parse_auth(struct parser *p, struct rc_poll *e)
{
	static const char *const other[] = {
		"gssapi", "kerberos", "kerberos_v4", "kerberos4",
		"kerberos_v5", "kerberos5", "ssh", "implicit", "external",
		"otp", "opie", "cram", "cram-md5", "msn", "ntlm"
	};
	char	 descbuf[64];
	size_t	 i;
	int	 line = p->tok.line;

	if (next(p) == -1)
		return -1;
	if (p->tok.type == T_WORD && !p->tok.quoted) {
		if (strcmp(p->tok.text, "any") == 0)
			e->auth = RC_AUTH_ANY;
		else if (strcmp(p->tok.text, "password") == 0)
			e->auth = RC_AUTH_PASSWORD;
		else if (strcmp(p->tok.text, "apop") == 0)
			e->auth = RC_AUTH_APOP;
		else if (strcmp(p->tok.text, "xoauth2") == 0)
			e->auth = RC_AUTH_XOAUTH2;
		else if (strcmp(p->tok.text, "oauthbearer") == 0)
			e->auth = RC_AUTH_OAUTHBEARER;
		else {
			for (i = 0; i < sizeof(other) / sizeof(other[0]); i++)
				if (strcmp(p->tok.text, other[i]) == 0)
					return rc_perr(p, p->tok.line, "'auth %s' "
					    "is not implemented by fetchd",
					    p->tok.text);
			goto bad;
		}
		return 0;
	}
bad:
	return rc_perr(p, p->tok.type == T_EOF ? line : p->tok.line,
	    "expected an authentication type after 'auth' (any, password, "
	    "apop, xoauth2, oauthbearer), got %s", DESC(&p->tok));
}

static int
valid_header_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 128)
		return 0;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s >= 127 || *s == ':')
			return 0;
	return 1;
}

static int
parse_server_option(struct parser *p, struct rc_poll *e, int neg)
{
	const struct token	*t;
	int			 kw = p->tok.kw;
	char			 descbuf[64];

	if (neg) {
		switch (kw) {
		case KW_ENVELOPE:
			e->envelope_on = RC_NO;
			rc_setstr(&e->envelope, NULL);
			e->envskip = 0;
			return 0;
		default:
			/* no checkalias, no dns, no tracepolls: fetchd's way */
			return 0;
		}
	}
	switch (kw) {
	case KW_VIA:
		return take_string(p, "via", &e->via);
	case KW_AKA:
		return take_list(p, "aka", &e->akas);
	case KW_LOCALDOMAINS:
		return take_list(p, "localdomains", &e->localdomains);
	case KW_PROTOCOL:
		return parse_proto(p, e);
	case KW_SERVICE:
	case KW_PORT:
		return parse_port(p, e, kw);
	case KW_INTERVAL:
		return take_number(p, "interval", 0, INT_MAX, &e->interval);
	case KW_TIMEOUT:
		return take_number(p, "timeout", 0, INT_MAX, &e->timeout);
	case KW_AUTH:
		return parse_auth(p, e);
	case KW_ENVELOPE:
		if (peek(p, &t) == -1)
			return -1;
		e->envskip = 0;
		if (t->type == T_NUMBER && take_number(p, "envelope", 0,
		    1000, &e->envskip) == -1)
			return -1;
		if (take_string(p, "envelope", &e->envelope) == -1)
			return -1;
		if (!valid_header_name(e->envelope))
			return rc_perr(p, p->tok.line, "'envelope %s' is not a "
			    "header name", DESC(&p->tok));
		e->envelope_on = RC_YES;
		return 0;
	case KW_QVIRTUAL:
		return take_string(p, "qvirtual", &e->qvirtual);
	case KW_UIDL:
		e->uidl = RC_YES;
		return 0;
	case KW_BADHEADER:
		if (next(p) == -1)
			return -1;
		if (p->tok.type == T_WORD && strcmp(p->tok.text, "reject") == 0)
			return 0;
		if (p->tok.type == T_WORD && strcmp(p->tok.text, "accept") == 0)
			return rc_perr(p, p->tok.line, "'bad-header accept' is not "
			    "implemented by fetchd");
		return rc_perr(p, p->tok.line, "expected 'accept' or 'reject' "
		    "after 'bad-header', got %s", DESC(&p->tok));
	default:
		return rc_perr(p, p->tok.line, "internal: unhandled server "
		    "option '%s'", p->tok.text);
	}
}

/* ---- user options ------------------------------------------------------- */

/*
 * A name list after user/is/to: "name", "remote=local", "*".  Returns the
 * number of entries read; *single is set when the list was one plain name
 * (a candidate remote name before "there").
 */
static int
take_names(struct parser *p, const char *what, struct rc_user *u,
    int *single)
{
	const struct token	*t;
	char			 descbuf[64];
	struct rc_name		*nm;
	int			 n = 0, mapped = 0, line = p->tok.line;

	for (;;) {
		if (peek(p, &t) == -1)
			return -1;
		if (!is_word(t))
			break;
		if (next(p) == -1)
			return -1;
		if (peek(p, &t) == -1)
			return -1;
		if (t->type == T_MAP) {
			if (strcmp(p->tok.text, "*") == 0)
				return rc_perr(p, p->tok.line, "'*' cannot be "
				    "mapped to a local name");
			if (u->nnames >= RC_MAX_LIST)
				return rc_perr(p, p->tok.line, "more than %d "
				    "local names", RC_MAX_LIST);
			u->names = rc_xreallocarray(u->names, u->nnames + 1,
			    sizeof(*u->names));
			nm = &u->names[u->nnames++];
			nm->remote = rc_xstrdup(p->tok.text);
			nm->local = NULL;
			if (next(p) == -1 || next(p) == -1)
				return -1;
			if (!is_word(&p->tok))
				return rc_perr(p, p->tok.line, "expected a local "
				    "name after '%s=', got %s", nm->remote,
				    DESC(&p->tok));
			nm->local = rc_xstrdup(p->tok.text);
			mapped = 1;
		} else if (strcmp(p->tok.text, "*") == 0) {
			u->wildcard = 1;
			mapped = 1;
		} else {
			if (u->nnames >= RC_MAX_LIST)
				return rc_perr(p, p->tok.line, "more than %d "
				    "local names", RC_MAX_LIST);
			u->names = rc_xreallocarray(u->names, u->nnames + 1,
			    sizeof(*u->names));
			nm = &u->names[u->nnames++];
			nm->remote = rc_xstrdup(p->tok.text);
			nm->local = NULL;
		}
		n++;
	}
	if (n == 0)
		return rc_perr(p, t->type == T_EOF ? line : t->line,
		    "expected a name after '%s', got %s", what, DESC(t));
	*single = n == 1 && !mapped;
	return n;
}

/* After a name list: "here" ends it; "there" makes one plain name remote. */
static int
end_names(struct parser *p, struct rc_user *u, int single, int is_user)
{
	const struct token	*t;
	char			 descbuf[64];

	if (peek(p, &t) == -1)
		return -1;
	if (t->type == T_WORD && t->kw == KW_HERE)
		return next(p);
	if (t->type == T_WORD && t->kw == KW_THERE) {
		if (!single)
			return rc_perr(p, t->line, "'there' needs exactly one "
			    "remote name before it");
		if (next(p) == -1)
			return -1;
		goto remote;
	}
	if (!is_user)
		return 0;
	/* "user NAME": the remote login name */
	if (!single)
		return rc_perr(p, t->line, "expected 'here' after the local names "
		    "of 'user', got %s", DESC(t));
remote:
	u->nnames--;
	rc_setstr(&u->remotename, u->names[u->nnames].remote);
	free(u->names[u->nnames].remote);
	if (u->nnames == 0) {
		free(u->names);
		u->names = NULL;
	}
	return 0;
}

static int
parse_names_option(struct parser *p, struct rc_user *u, const char *what,
    int is_user)
{
	struct rc_user	 tmp;
	int		 single = 0;

	/* names go to a scratch user so "user X" cannot eat earlier names */
	memset(&tmp, 0, sizeof(tmp));
	if (take_names(p, what, &tmp, &single) == -1 ||
	    end_names(p, &tmp, single, is_user) == -1) {
		rc_user_free(&tmp);
		return -1;
	}
	if (tmp.remotename != NULL)
		rc_setstr(&u->remotename, tmp.remotename);
	if (tmp.wildcard)
		u->wildcard = 1;
	if (u->nnames + tmp.nnames > RC_MAX_LIST) {
		rc_user_free(&tmp);
		return rc_perr(p, p->tok.line, "more than %d local names",
		    RC_MAX_LIST);
	}
	if (tmp.nnames > 0) {
		u->names = rc_xreallocarray(u->names, u->nnames + tmp.nnames,
		    sizeof(*u->names));
		memcpy(u->names + u->nnames, tmp.names,
		    tmp.nnames * sizeof(*tmp.names));
		u->nnames += tmp.nnames;
		tmp.nnames = 0;
	}
	rc_user_free(&tmp);
	return 0;
}

static int
parse_smtphosts(struct parser *p, struct rc_user *u)
{
	struct rc_list	 l = { NULL, 0 };
	size_t		 i;

	if (take_list(p, "smtphost", &l) == -1) {
		rc_list_free(&l);
		return -1;
	}
	for (i = 0; i < l.n; i++) {
		if (u->nsmtphosts >= RC_MAX_LIST)
			break;
		if (l.v[i][0] == '/') {
			rc_perr(p, p->tok.line, "'smtphost %s' (a socket path, "
			    "for LMTP) is not implemented by fetchd", l.v[i]);
			rc_list_free(&l);
			return -1;
		}
		u->smtphosts = rc_xreallocarray(u->smtphosts,
		    u->nsmtphosts + 1, sizeof(*u->smtphosts));
		if (rc_smtphost_parse(l.v[i], &u->smtphosts[u->nsmtphosts]) ==
		    -1) {
			rc_perr(p, p->tok.line, "expected HOST or HOST/PORT after "
			    "'smtphost', got '%s'", l.v[i]);
			rc_list_free(&l);
			return -1;
		}
		u->nsmtphosts++;
	}
	rc_list_free(&l);
	return 0;
}

static int
parse_sslproto(struct parser *p, struct rc_user *u)
{
	static const char *const ok[] = {
		"", "auto", "ssl23", "tls1", "tls1+", "tls1.1", "tls1.1+",
		"tls1.2", "tls1.2+", "tls1.3", "tls1.3+"
	};
	size_t	 i;

	if (take_string(p, "sslproto", &u->sslproto) == -1)
		return -1;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcasecmp(u->sslproto, ok[i]) == 0)
			return 0;
	if (strncasecmp(u->sslproto, "ssl", 3) == 0)
		return rc_perr(p, p->tok.line, "'sslproto %s' is not implemented "
		    "by fetchd (SSLv2/v3 are insecure)", u->sslproto);
	return rc_perr(p, p->tok.line, "expected a TLS version after 'sslproto' "
	    "(\"\", auto, tls1.2, tls1.2+, tls1.3 ...), got '%s'",
	    u->sslproto);
}

static int
parse_user_option(struct parser *p, struct rc_user *u, int neg)
{
	enum rc_flag	*flag = NULL;

	switch (p->tok.kw) {
	case KW_KEEP:		flag = &u->keep; break;
	case KW_FLUSH:		flag = &u->flush; break;
	case KW_FETCHALL:	flag = &u->fetchall; break;
	case KW_SSL:		flag = &u->ssl; break;
	case KW_SSLCERTCK:	flag = &u->sslcertck; break;
	case KW_IDLE:		flag = &u->idle; break;
	case KW_DROPDELIVERED:	flag = &u->dropdelivered; break;
	case KW_STRIPCR:	flag = &u->stripcr; break;
	case KW_FORCECR:
		/* SMTP always gets CRLF line ends: forcecr is always on */
		return 0;
	default:
		break;
	}
	if (flag != NULL) {
		*flag = neg ? RC_NO : RC_YES;
		return 0;
	}
	if (neg)	/* "no rewrite", "no dropstatus" ...: fetchd's way */
		return 0;
	switch (p->tok.kw) {
	case KW_IS:
		return parse_names_option(p, u, "is", 0);
	case KW_TO:
		return parse_names_option(p, u, "to", 0);
	case KW_PASSWORD:
		return take_string(p, "password", &u->password);
	case KW_FOLDER:
		return take_list(p, "folder", &u->folders);
	case KW_SMTPHOST:
		return parse_smtphosts(p, u);
	case KW_SMTPNAME:
		return take_string(p, "smtpname", &u->smtpname);
	case KW_MDA:
		return take_string(p, "mda", &u->mda);
	case KW_OAUTH2FILE:
		return take_path(p, "oauth2file", &u->oauth2file);
	case KW_PROPERTIES:
		return take_string(p, "properties", &u->properties);
	case KW_SSLPROTO:
		return parse_sslproto(p, u);
	case KW_SSLCERTFILE:
		return take_path(p, "sslcertfile", &u->sslcertfile);
	case KW_SSLCERTPATH:
		return take_path(p, "sslcertpath", &u->sslcertpath);
	case KW_LIMIT:
		return take_number(p, "limit", 0, INT_MAX, &u->limit);
	case KW_FETCHLIMIT:
		return take_number(p, "fetchlimit", 0, INT_MAX,
		    &u->fetchlimit);
	default:
		return rc_perr(p, p->tok.line, "internal: unhandled user option "
		    "'%s'", p->tok.text);
	}
}

/* ---- entries ------------------------------------------------------------ */

static struct rc_user *
new_user(struct rc_poll *e, int line)
{
	struct rc_user	*u;

	e->users = rc_xreallocarray(e->users, e->nusers + 1, sizeof(*e->users));
	u = &e->users[e->nusers++];
	memset(u, 0, sizeof(*u));
	u->line = line;
	return u;
}

static int
parse_entry(struct parser *p, enum kw kind)
{
	struct rc_config	*cfg = p->cfg;
	const struct token	*t;
	struct rc_poll		*e;
	struct rc_user		*u = NULL;
	char			 descbuf[64];
	int			 neg, implicit = 0, line = p->tok.line;

	if (kind == KW_DEFAULTS) {
		if (cfg->defaults != NULL)
			return rc_perr(p, line, "a second 'defaults' entry "
			    "(fetchmail allows one)");
		if (cfg->npolls > 0)
			return rc_perr(p, line, "'defaults' must come before the "
			    "first poll entry");
		e = cfg->defaults = rc_xcalloc(1, sizeof(*e));
		e->name = rc_xstrdup("defaults");
	} else {
		if (next(p) == -1)
			return -1;
		if (!is_value(&p->tok))
			return rc_perr(p, p->tok.type == T_EOF ? line :
			    p->tok.line, "expected a server name after '%s', "
			    "got %s", kind == KW_SKIP ? "skip" : "poll",
			    DESC(&p->tok));
		if (cfg->npolls >= RC_MAX_POLLS)
			return rc_perr(p, line, "more than %d poll entries",
			    RC_MAX_POLLS);
		cfg->polls = rc_xreallocarray(cfg->polls, cfg->npolls + 1,
		    sizeof(*cfg->polls));
		e = &cfg->polls[cfg->npolls++];
		memset(e, 0, sizeof(*e));
		e->name = rc_xstrdup(p->tok.text);
		e->skip = kind == KW_SKIP;
	}
	e->line = line;

	for (;;) {
		if (peek(p, &t) == -1)
			return -1;
		if (t->type == T_EOF || t->kw == KW_POLL || t->kw == KW_SKIP ||
		    t->kw == KW_DEFAULTS || t->kw == KW_SET)
			return 0;
		if (t->kw == KW_USER) {
			if (implicit)
				return rc_perr(p, t->line, "'user' after user "
				    "options that had no 'user' (start the "
				    "block with 'user NAME')");
			if (e == cfg->defaults && e->nusers > 0)
				return rc_perr(p, t->line, "'defaults' can have "
				    "only one user block");
			if (e->nusers >= RC_MAX_USERS)
				return rc_perr(p, t->line, "more than %d user "
				    "blocks", RC_MAX_USERS);
			if (next(p) == -1)
				return -1;
			u = new_user(e, p->tok.line);
			if (parse_names_option(p, u, "user", 1) == -1)
				return -1;
			continue;
		}
		if (next(p) == -1)
			return -1;
		neg = 0;
		if (p->tok.kw == KW_NO) {
			neg = 1;
			if (next(p) == -1)
				return -1;
			if (!(p->tok.flags & (C_SERVER | C_USER)))
				return rc_perr(p, p->tok.type == T_EOF ? line :
				    p->tok.line, "expected an option after "
				    "'no', got %s", DESC(&p->tok));
			if (!(p->tok.flags & C_NO))
				return rc_perr(p, p->tok.line, "'no' cannot "
				    "precede '%s'", p->tok.text);
		}
		if (p->tok.flags & C_SERVER) {
			if (u != NULL)
				return rc_perr(p, p->tok.line, "server option "
				    "'%s' after user options (server options "
				    "come before the first user)",
				    p->tok.text);
			if ((p->tok.flags & C_NOIMPL) && !neg)
				return not_implemented(p, &p->tok, 0);
			if ((p->tok.flags & C_NONOIMPL) && neg)
				return not_implemented(p, &p->tok, 1);
			if (parse_server_option(p, e, neg) == -1)
				return -1;
		} else if (p->tok.flags & C_USER) {
			if (u == NULL) {
				u = new_user(e, p->tok.line);
				implicit = 1;
			}
			if ((p->tok.flags & C_NOIMPL) && !neg)
				return not_implemented(p, &p->tok, 0);
			if (parse_user_option(p, u, neg) == -1)
				return -1;
		} else if (p->tok.kw == KW_HERE || p->tok.kw == KW_THERE)
			return rc_perr(p, p->tok.line, "'%s' without a name "
			    "before it", p->tok.text);
		else
			return rc_perr(p, p->tok.line, "expected %s option or "
			    "a new poll entry, got %s%s", u == NULL ?
			    "a server or user" : "a user", DESC(&p->tok),
			    p->tok.flags & C_SET ? " (a global option: "
			    "use 'set')" : "");
	}
}

static int
parse(struct parser *p)
{
	char	 descbuf[64];

	for (;;) {
		if (next(p) == -1)
			return -1;
		switch (p->tok.type == T_WORD ? p->tok.kw : KW_NONE) {
		case KW_SET:
			if (parse_set(p) == -1)
				return -1;
			continue;
		case KW_POLL:
		case KW_SKIP:
		case KW_DEFAULTS:
			if (parse_entry(p, p->tok.kw) == -1)
				return -1;
			continue;
		default:
			break;
		}
		if (p->tok.type == T_EOF)
			return 0;
		return rc_perr(p, p->tok.line, "expected 'poll', 'skip', "
		    "'defaults' or 'set', got %s%s", DESC(&p->tok),
		    p->tok.flags & (C_SERVER | C_USER) ? " (an option "
		    "outside any poll entry)" : "");
	}
}

int
rc_parse_buf(struct rc_config *cfg, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	struct parser	*p;
	const char	*slash;
	int		 rv;

	if (len > RC_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %d bytes", name,
		    RC_MAX_FILE);
		return PS_SYNTAX;
	}
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte (not a text "
		    "file)", name);
		return PS_SYNTAX;
	}
	p = rc_xcalloc(1, sizeof(*p));
	p->name = name;
	p->buf = buf;
	p->len = len;
	p->line = p->lastline = 1;
	p->err = err;
	p->errlen = errlen;
	p->cfg = cfg;
	if ((slash = strrchr(name, '/')) != NULL && strcmp(name, "-") != 0) {
		if (slash == name)
			strcpy(p->dir, "/");
		else if ((size_t)(slash - name) < sizeof(p->dir))
			memcpy(p->dir, name, (size_t)(slash - name));
	}
	if (cfg->path == NULL)
		cfg->path = rc_xstrdup(name);
	rv = parse(p) == -1 ? PS_SYNTAX : PS_SUCCESS;
	/* the look-ahead may hold a password */
	explicit_bzero(p, sizeof(*p));
	free(p);
	return rv;
}

int
rc_check_mode(const char *path, const struct stat *st, char *err,
    size_t errlen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "File %s must be a regular file.", path);
		return PS_IOERR;
	}
	/* fetchmail's mask: group execute alone is tolerated */
	if (st->st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH | S_IXOTH)) {
		snprintf(err, errlen, "File %s must have no more than "
		    "-rwx------ (0700) permissions.", path);
		return PS_IOERR;
	}
	if (st->st_uid != geteuid()) {
		snprintf(err, errlen, "File %s must be owned by you.", path);
		return PS_IOERR;
	}
	return PS_SUCCESS;
}

/* Read all of fd, at most RC_MAX_FILE + 1 bytes (one more tells "too big"). */
static char *
read_all(int fd, size_t *lenp)
{
	char	*buf;
	size_t	 len = 0, cap = 8192;
	ssize_t	 n;

	buf = rc_xcalloc(1, cap);
	for (;;) {
		if (len == cap) {
			if (cap > RC_MAX_FILE)
				break;
			cap *= 2;
			buf = rc_xreallocarray(buf, 1, cap);
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*lenp = len;
	return buf;
}

int
rc_parse_file(struct rc_config *cfg, const char *path, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 len;
	int		 fd, rv;

	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		if (errno == ENOENT) {
			rc_setstr(&cfg->path, path);
			return PS_SUCCESS;
		}
		snprintf(err, errlen, "open: %s: %s", path, strerror(errno));
		return PS_IOERR;
	}
	if (fd != STDIN_FILENO) {
		/* checked on the open file: no race with a rename */
		if (fstat(fd, &st) == -1) {
			snprintf(err, errlen, "fstat: %s: %s", path,
			    strerror(errno));
			close(fd);
			return PS_IOERR;
		}
		if ((rv = rc_check_mode(path, &st, err, errlen)) !=
		    PS_SUCCESS) {
			close(fd);
			return rv;
		}
	}
	buf = read_all(fd, &len);
	if (buf == NULL) {
		snprintf(err, errlen, "read: %s: %s", path, strerror(errno));
		if (fd != STDIN_FILENO)
			close(fd);
		return PS_IOERR;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	rv = rc_parse_buf(cfg, path, buf, len, err, errlen);
	explicit_bzero(buf, len);
	free(buf);
	return rv;
}

