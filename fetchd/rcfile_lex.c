/*
 * fetchmail run-control file: keywords and lexer, after fetchmail 6.4's
 * rcfile_l.l.  Keywords are case-sensitive whole words; the start states
 * become lexer modes: after user/is/to/pass/'=' the next word is a name,
 * after auth the next word is an authentication type.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rcfile.h"
#include "rcfile_lex.h"

static const struct keyword {
	const char	*name;
	enum kw		 kw;
	int		 flags;
} keywords[] = {
	{ "set",		KW_SET,		0 },
	{ "defaults",		KW_DEFAULTS,	0 },
	{ "poll",		KW_POLL,	0 },
	{ "server",		KW_POLL,	0 },
	{ "skip",		KW_SKIP,	0 },

	{ "logfile",		KW_LOGFILE,	C_SET },
	{ "idfile",		KW_IDFILE,	C_SET },
	{ "pidfile",		KW_PIDFILE,	C_SET },
	{ "daemon",		KW_DAEMON,	C_SET },
	{ "syslog",		KW_SYSLOG,	C_SET | C_NO },
	{ "invisible",		KW_INVISIBLE,	C_SET | C_NO | C_NOIMPL },
	{ "showdots",		KW_SHOWDOTS,	C_SET | C_NO | C_NOIMPL },
	{ "postmaster",		KW_POSTMASTER,	C_SET },
	{ "bouncemail",		KW_BOUNCEMAIL,	C_SET | C_NO },
	{ "spambounce",		KW_SPAMBOUNCE,	C_SET | C_NO | C_NOIMPL },
	{ "softbounce",		KW_SOFTBOUNCE,	C_SET | C_NO | C_NOIMPL },
	{ "properties",		KW_PROPERTIES,	C_SET | C_USER },

	{ "via",		KW_VIA,		C_SERVER },
	{ "aka",		KW_AKA,		C_SERVER },
	{ "local",		KW_LOCALDOMAINS, C_SERVER },
	{ "localdomains",	KW_LOCALDOMAINS, C_SERVER },
	{ "proto",		KW_PROTOCOL,	C_SERVER },
	{ "protocol",		KW_PROTOCOL,	C_SERVER },
	{ "service",		KW_SERVICE,	C_SERVER },
	{ "port",		KW_PORT,	C_SERVER },
	{ "interval",		KW_INTERVAL,	C_SERVER },
	{ "auth",		KW_AUTH,	C_SERVER },
	{ "authenticate",	KW_AUTH,	C_SERVER },
	{ "preauth",		KW_AUTH,	C_SERVER },
	{ "preauthenticate",	KW_AUTH,	C_SERVER },
	{ "timeout",		KW_TIMEOUT,	C_SERVER },
	{ "idletimeout",	KW_IDLETIMEOUT,	C_SERVER | C_NOIMPL },
	{ "envelope",		KW_ENVELOPE,	C_SERVER | C_NO },
	{ "qvirtual",		KW_QVIRTUAL,	C_SERVER },
	{ "principal",		KW_PRINCIPAL,	C_SERVER | C_NOIMPL },
	{ "esmtpname",		KW_ESMTPNAME,	C_SERVER | C_NOIMPL },
	{ "esmtppassword",	KW_ESMTPPASSWORD, C_SERVER | C_NOIMPL },
	{ "bad-header",		KW_BADHEADER,	C_SERVER },
	{ "retrieve-error",	KW_RETRIEVEERROR, C_SERVER | C_NOIMPL },
	/* fetchd always uses UIDL on POP3: "no uidl" cannot be honoured. */
	{ "uidl",		KW_UIDL,	C_SERVER | C_NO | C_NONOIMPL },
	{ "checkalias",		KW_CHECKALIAS,	C_SERVER | C_NO | C_NOIMPL },
	{ "dns",		KW_DNS,		C_SERVER | C_NO | C_NOIMPL },
	{ "interface",		KW_INTERFACE,	C_SERVER | C_NOIMPL },
	{ "monitor",		KW_MONITOR,	C_SERVER | C_NOIMPL },
	{ "plugin",		KW_PLUGIN,	C_SERVER | C_NOIMPL },
	{ "plugout",		KW_PLUGOUT,	C_SERVER | C_NOIMPL },
	{ "tracepolls",		KW_TRACEPOLLS,	C_SERVER | C_NO | C_NOIMPL },

	{ "user",		KW_USER,	C_NAMES },
	{ "username",		KW_USER,	C_NAMES },
	{ "pass",		KW_PASSWORD,	C_USER | C_NAMES },
	{ "password",		KW_PASSWORD,	C_USER | C_NAMES },
	{ "is",			KW_IS,		C_USER | C_NAMES },
	{ "to",			KW_TO,		C_USER | C_NAMES },
	{ "here",		KW_HERE,	0 },
	{ "there",		KW_THERE,	0 },
	{ "folder",		KW_FOLDER,	C_USER },
	{ "folders",		KW_FOLDER,	C_USER },
	{ "smtp",		KW_SMTPHOST,	C_USER },
	{ "smtphost",		KW_SMTPHOST,	C_USER },
	{ "fetchdomains",	KW_FETCHDOMAINS, C_USER | C_NOIMPL },
	{ "smtpaddress",	KW_SMTPADDRESS,	C_USER | C_NOIMPL },
	{ "smtpname",		KW_SMTPNAME,	C_USER },
	{ "antispam",		KW_ANTISPAM,	C_USER | C_NOIMPL },
	{ "mda",		KW_MDA,		C_USER },
	{ "bsmtp",		KW_BSMTP,	C_USER | C_NOIMPL },
	{ "lmtp",		KW_LMTP,	C_USER | C_NOIMPL },
	{ "pre",		KW_PRECONNECT,	C_USER | C_NOIMPL },
	{ "preconnect",		KW_PRECONNECT,	C_USER | C_NOIMPL },
	{ "post",		KW_POSTCONNECT,	C_USER | C_NOIMPL },
	{ "postconnect",	KW_POSTCONNECT,	C_USER | C_NOIMPL },
	{ "keep",		KW_KEEP,	C_USER | C_NO },
	{ "flush",		KW_FLUSH,	C_USER | C_NO },
	{ "limitflush",		KW_LIMITFLUSH,	C_USER | C_NO | C_NOIMPL },
	{ "fetchall",		KW_FETCHALL,	C_USER | C_NO },
	{ "rewrite",		KW_REWRITE,	C_USER | C_NO | C_NOIMPL },
	{ "forcecr",		KW_FORCECR,	C_USER | C_NO },
	{ "stripcr",		KW_STRIPCR,	C_USER | C_NO },
	{ "pass8bits",		KW_PASS8BITS,	C_USER | C_NO | C_NOIMPL },
	{ "pass8",		KW_PASS8BITS,	C_USER | C_NO | C_NOIMPL },
	{ "dropstatus",		KW_DROPSTATUS,	C_USER | C_NO | C_NOIMPL },
	{ "dropdelivered",	KW_DROPDELIVERED, C_USER | C_NO },
	{ "mimedecode",		KW_MIMEDECODE,	C_USER | C_NO | C_NOIMPL },
	{ "mimedec",		KW_MIMEDECODE,	C_USER | C_NO | C_NOIMPL },
	{ "idle",		KW_IDLE,	C_USER | C_NO },
	{ "forceidle",		KW_FORCEIDLE,	C_USER | C_NO | C_NOIMPL },
	{ "ssl",		KW_SSL,		C_USER | C_NO },
	{ "sslkey",		KW_SSLKEY,	C_USER | C_NOIMPL },
	{ "sslcert",		KW_SSLCERT,	C_USER | C_NOIMPL },
	{ "sslproto",		KW_SSLPROTO,	C_USER },
	{ "sslcertck",		KW_SSLCERTCK,	C_USER | C_NO },
	{ "sslcertfile",	KW_SSLCERTFILE,	C_USER },
	{ "sslcertpath",	KW_SSLCERTPATH,	C_USER },
	{ "sslcommonname",	KW_SSLCOMMONNAME, C_USER | C_NOIMPL },
	{ "sslfingerprint",	KW_SSLFINGERPRINT, C_USER | C_NOIMPL },
	{ "limit",		KW_LIMIT,	C_USER },
	{ "warnings",		KW_WARNINGS,	C_USER | C_NOIMPL },
	{ "fetchlimit",		KW_FETCHLIMIT,	C_USER },
	{ "fetchsizelimit",	KW_FETCHSIZELIMIT, C_USER | C_NOIMPL },
	{ "fastuidl",		KW_FASTUIDL,	C_USER | C_NOIMPL },
	{ "batchlimit",		KW_BATCHLIMIT,	C_USER | C_NOIMPL },
	{ "expunge",		KW_EXPUNGE,	C_USER | C_NOIMPL },
	{ "passwordfile",	KW_PASSWORDFILE, C_USER | C_NOIMPL },
	{ "passwordfd",		KW_PASSWORDFD,	C_USER | C_NOIMPL },
	{ "passwordeval",	KW_PASSWORDEVAL, C_USER | C_NOIMPL },
	{ "passeval",		KW_PASSWORDEVAL, C_USER | C_NOIMPL },
	/* fetchd's own: the OAuth2 account file for auth xoauth2/oauthbearer */
	{ "oauth2file",		KW_OAUTH2FILE,	C_USER },

	{ "no",			KW_NO,		0 },
};

/* Words fetchmail's lexer splits into "no" + keyword (yyless(2)). */
static const char *const no_words[] = {
	"nobouncemail", "nouidl", "nocheckalias", "nodns", "noenvelope",
	"nokeep", "noflush", "nolimitflush", "nofetchall", "norewrite",
	"noforcecr", "nostripcr", "nopass8", "nopass8bits", "nodropstatus",
	"nodropdelivered", "nomimedec", "nomimedecode", "nospambounce",
	"noidle", "noforceidle",
};

static const char *const noise_words[] = {
	"and", "with", "has", "wants", "options",
};

int
rc_perr(struct parser *p, int line, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", p->name, line, msg);
	return -1;
}

/* "'word'", "\"quoted\"", "'='" or "end of file", printable and short. */
const char *
rc_tok_desc(const struct token *t, char *buf, size_t len)
{
	char	 s[48];
	size_t	 i, n;

	switch (t->type) {
	case T_EOF:
		return "end of file";
	case T_MAP:
		return "'='";
	default:
		break;
	}
	for (i = n = 0; i < t->len && n < sizeof(s) - 4; i++)
		s[n++] = isprint((unsigned char)t->text[i]) ? t->text[i] : '?';
	if (i < t->len) {
		memcpy(s + n, "...", 3);
		n += 3;
	}
	s[n] = '\0';
	snprintf(buf, len, t->quoted ? "\"%s\"" : "'%s'", s);
	return buf;
}


static const struct keyword *
keyword_find(const char *s)
{
	size_t	 i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcmp(keywords[i].name, s) == 0)
			return &keywords[i];
	return NULL;
}

static int
in_list(const char *s, const char *const *list, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/*
 * fetchmail's escapes(): \n \t \b \r \\, \xHH (up to 2 hex digits), \0OO
 * (octal, the 0 counting as one of 3 digits), \DDD (decimal, up to 3),
 * backslash-newline dropped, any other \c is c.  In place; never longer.
 * A result that is NUL or above 255 is refused rather than truncated.
 */
static int
unescape(struct parser *p, struct token *t)
{
	char	*in = t->text, *out = t->text, *end = t->text + t->len;
	int	 c, digits;

	while (in < end) {
		if (*in != '\\') {
			*out++ = *in++;
			continue;
		}
		in++;
		if (in == end)
			break;
		if (*in == 'x' || *in == 'X') {
			in++;
			for (c = digits = 0; in < end && digits < 2 &&
			    isxdigit((unsigned char)*in); digits++, in++)
				c = c * 16 + (isdigit((unsigned char)*in) ?
				    *in - '0' : tolower((unsigned char)*in) -
				    'a' + 10);
		} else if (*in == '0') {
			for (c = digits = 0; in < end && digits < 3 &&
			    *in >= '0' && *in <= '7'; digits++, in++)
				c = c * 8 + (*in - '0');
		} else if (isdigit((unsigned char)*in)) {
			for (c = digits = 0; in < end && digits < 3 &&
			    isdigit((unsigned char)*in); digits++, in++)
				c = c * 10 + (*in - '0');
		} else {
			switch (*in) {
			case '\n':
				in++;
				continue;
			case 'n':  c = '\n'; break;
			case 't':  c = '\t'; break;
			case 'b':  c = '\b'; break;
			case 'r':  c = '\r'; break;
			default:   c = (unsigned char)*in; break;
			}
			in++;
		}
		if (c == 0)
			return rc_perr(p, t->line, "escape sequence gives a NUL "
			    "byte");
		if (c > 255)
			return rc_perr(p, t->line, "escape sequence gives %d, "
			    "above 255", c);
		*out++ = (char)c;
	}
	*out = '\0';
	t->len = (size_t)(out - t->text);
	return 0;
}

int
rc_is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

static int
bare_char(int c)
{
	return c != '=' && c != ';' && c != ':' && c != ',' && c != ' ' &&
	    c != '\t' && c != '\r' && c != '\n';
}

/* Read one token into t, honouring and updating the lexer's mode. */
int
rc_lex(struct parser *p, struct token *t)
{
	const char		*b = p->buf;
	const struct keyword	*k;
	size_t			 start;
	char			 q;

again:
	memset(t, 0, offsetof(struct token, text));
	t->text[0] = '\0';
	for (;;) {
		if (p->pos >= p->len) {
			/* errors at the end name the last line with a token */
			t->type = T_EOF;
			t->line = p->lastline;
			return 0;
		}
		if (b[p->pos] == '\n') {
			p->line++;
			p->pos++;
		} else if (b[p->pos] == ' ' || b[p->pos] == '\t' ||
		    b[p->pos] == '\r' || b[p->pos] == ',' ||
		    b[p->pos] == ';' || b[p->pos] == ':') {
			p->pos++;
		} else if (b[p->pos] == '#') {
			while (p->pos < p->len && b[p->pos] != '\n')
				p->pos++;
		} else if (b[p->pos] == '\\' && p->pos + 1 < p->len &&
		    b[p->pos + 1] == '\n') {
			p->pos++;
		} else
			break;
	}
	t->line = p->lastline = p->line;

	if (b[p->pos] == '=') {
		p->pos++;
		t->type = T_MAP;
		p->mode = LEX_NAME;
		return 0;
	}

	if (b[p->pos] == '"' || b[p->pos] == '\'') {
		q = b[p->pos++];
		start = p->pos;
		while (p->pos < p->len && b[p->pos] != q) {
			if (b[p->pos] == '\n')
				p->line++;
			p->pos++;
		}
		if (p->pos >= p->len)
			return rc_perr(p, t->line, "unterminated quoted string "
			    "(no closing %c)", q);
		if (p->pos - start > RC_MAX_TOKEN)
			return rc_perr(p, t->line, "string longer than %d bytes",
			    RC_MAX_TOKEN);
		t->len = p->pos - start;
		memcpy(t->text, b + start, t->len);
		t->text[t->len] = '\0';
		p->pos++;
		t->type = T_WORD;
		t->quoted = 1;
		p->mode = LEX_NORMAL;
		return unescape(p, t);
	}

	start = p->pos;
	while (p->pos < p->len && bare_char((unsigned char)b[p->pos]))
		p->pos++;
	if (p->pos - start > RC_MAX_TOKEN)
		return rc_perr(p, t->line, "word longer than %d bytes",
		    RC_MAX_TOKEN);
	t->len = p->pos - start;
	memcpy(t->text, b + start, t->len);
	t->text[t->len] = '\0';
	t->type = T_WORD;

	if (p->mode == LEX_NAME || p->mode == LEX_AUTH) {
		/* a name, or the authentication type: never a keyword */
		if (p->mode == LEX_AUTH && in_list(t->text, noise_words,
		    sizeof(noise_words) / sizeof(noise_words[0])))
			goto again;
		p->mode = LEX_NORMAL;
		return unescape(p, t);
	}
	if (in_list(t->text, noise_words,
	    sizeof(noise_words) / sizeof(noise_words[0])))
		goto again;
	if (in_list(t->text, no_words, sizeof(no_words) / sizeof(no_words[0]))) {
		p->pos = start + 2;
		strcpy(t->text, "no");
		t->len = 2;
		t->kw = KW_NO;
		return 0;
	}
	if ((k = keyword_find(t->text)) != NULL) {
		t->kw = k->kw;
		t->flags = k->flags;
		if (k->flags & C_NAMES)
			p->mode = LEX_NAME;
		else if (k->kw == KW_AUTH)
			p->mode = LEX_AUTH;
		return 0;
	}
	if (rc_is_number(t->text)) {
		errno = 0;
		t->num = strtol(t->text, NULL, 10);
		if (errno == ERANGE || t->num > INT_MAX || t->num < INT_MIN)
			return rc_perr(p, t->line, "number '%s' out of range",
			    t->text);
		t->type = T_NUMBER;
		return 0;
	}
	return unescape(p, t);
}
