/*
 * The parts of the SMTP client that read outside bytes or rewrite message
 * data, kept free of I/O so unit tests and fuzz harnesses can drive them:
 * reply lines, EHLO capability lines, and CR LF canonicalisation with
 * dot-stuffing.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtp_client.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Length of "class.subject.detail" at s (RFC 3463), or 0. */
static size_t
enhanced_len(const char *s, size_t len, int class)
{
	size_t	 i = 0, n;
	int	 part;

	if (len < 5 || s[0] != '0' + class || s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; i < len && n < 4 && isdigit((unsigned char)s[i]);
		    n++)
			i++;
		if (n == 0 || n > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

static void
append_text(struct smtp_reply *r, const char *s, size_t len)
{
	size_t	 n = strlen(r->text), i;

	if (n > 0 && len > 0 && n + 1 < sizeof(r->text))
		r->text[n++] = ' ';
	for (i = 0; i < len && n + 1 < sizeof(r->text); i++) {
		unsigned char c = (unsigned char)s[i];

		r->text[n++] = (isprint(c) || c == '\t') ? (char)c : '?';
	}
	r->text[n] = '\0';
}

int
smtp_reply_parse(struct smtp_reply *r, const char *line, size_t len,
    char *err, size_t errlen)
{
	size_t	 i, elen;
	int	 code, more;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	if (len > SMTP_REPLY_LINE_MAX) {
		seterr(err, errlen, "reply line longer than %d octets",
		    SMTP_REPLY_LINE_MAX);
		return SMTP_PARSE_BAD;
	}
	if (len < 3 || line[0] < '2' || line[0] > '5' ||
	    !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		char	 show[64];

		for (i = 0; i < len && i + 1 < sizeof(show); i++)
			show[i] = isprint((unsigned char)line[i]) ?
			    line[i] : '?';
		show[i] = '\0';
		seterr(err, errlen, "malformed reply \"%s\"", show);
		return SMTP_PARSE_BAD;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines > 0 && code != r->code) {
		seterr(err, errlen, "reply line with code %d inside a %d reply",
		    code, r->code);
		return SMTP_PARSE_BAD;
	}
	if (r->nlines >= SMTP_REPLY_LINES_MAX) {
		seterr(err, errlen, "reply longer than %d lines",
		    SMTP_REPLY_LINES_MAX);
		return SMTP_PARSE_BAD;
	}
	r->code = code;
	r->nlines++;
	more = len > 3 && line[3] == '-';
	if (len > 4) {
		line += 4;
		len -= 4;
		if ((elen = enhanced_len(line, len, code / 100)) > 0) {
			if (r->enhanced[0] == '\0') {
				memcpy(r->enhanced, line, elen);
				r->enhanced[elen] = '\0';
			}
			line += elen;
			len -= elen;
			while (len > 0 && *line == ' ') {
				line++;
				len--;
			}
		}
		append_text(r, line, len);
	}
	return more ? SMTP_PARSE_MORE : SMTP_PARSE_DONE;
}

void
smtp_reply_format(const struct smtp_reply *r, char *buf, size_t len)
{
	if (r->code == 0)
		snprintf(buf, len, "%s", r->text);
	else if (r->enhanced[0] != '\0')
		snprintf(buf, len, "%d %s %s", r->code, r->enhanced, r->text);
	else
		snprintf(buf, len, "%d %s", r->code, r->text);
}

/* --- EHLO capabilities ----------------------------------------------------- */

static int
keyword(const char *s, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(s, kw, n) == 0;
}

static unsigned
auth_bit(const char *s, size_t n)
{
	if (keyword(s, n, "PLAIN"))
		return SMTP_AUTH_PLAIN;
	if (keyword(s, n, "LOGIN"))
		return SMTP_AUTH_LOGIN;
	if (keyword(s, n, "CRAM-MD5"))
		return SMTP_AUTH_CRAM_MD5;
	if (keyword(s, n, "XOAUTH2"))
		return SMTP_AUTH_XOAUTH2;
	if (keyword(s, n, "OAUTHBEARER"))
		return SMTP_AUTH_OAUTHBEARER;
	return 0;
}

void
smtp_caps_parse_line(struct smtp_caps *caps, const char *text)
{
	static const struct {
		const char	*kw;
		unsigned	 flag;
	} simple[] = {
		{ "PIPELINING", SMTP_CAP_PIPELINING },
		{ "8BITMIME", SMTP_CAP_8BITMIME },
		{ "STARTTLS", SMTP_CAP_STARTTLS },
		{ "CHUNKING", SMTP_CAP_CHUNKING },
		{ "ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCED },
		{ "SMTPUTF8", SMTP_CAP_SMTPUTF8 },
		{ "DSN", SMTP_CAP_DSN },
	};
	const char	*p = text, *w;
	size_t		 n, i;
	uint64_t	 v;
	int		 digits;

	n = strcspn(p, " =");
	for (i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
		if (keyword(p, n, simple[i].kw)) {
			caps->flags |= simple[i].flag;
			return;
		}
	if (keyword(p, n, "SIZE")) {
		caps->flags |= SMTP_CAP_SIZE;
		p += n;
		p += strspn(p, " ");
		v = 0;
		digits = 0;
		for (; isdigit((unsigned char)*p); p++, digits++) {
			if (v > (UINT64_MAX - 9) / 10)
				return;		/* absurd: treat as no limit */
			v = v * 10 + (uint64_t)(*p - '0');
		}
		if (digits > 0 && (*p == '\0' || *p == ' '))
			caps->size_max = v;
		return;
	}
	if (keyword(p, n, "AUTH")) {
		/* "AUTH PLAIN LOGIN" and the old "AUTH=PLAIN LOGIN" */
		caps->flags |= SMTP_CAP_AUTH;
		p += n;
		for (;;) {
			p += strspn(p, " =");
			if (*p == '\0')
				break;
			w = p;
			p += strcspn(p, " =");
			caps->auth |= auth_bit(w, (size_t)(p - w));
		}
	}
}

/* --- data canonicalisation ------------------------------------------------- */

void
smtp_canon_init(struct smtp_canon *cs, int dotstuff)
{
	cs->line_start = 1;
	cs->pending_cr = 0;
	cs->dotstuff = dotstuff;
}

size_t
smtp_canon_feed(struct smtp_canon *cs, const char *in, size_t len,
    char *out)
{
	size_t	 i, o = 0;
	char	 c;

	for (i = 0; i < len; i++) {
		c = in[i];
		if (cs->pending_cr) {
			/* CR LF, or a stray CR: either way one line end */
			out[o++] = '\r';
			out[o++] = '\n';
			cs->pending_cr = 0;
			cs->line_start = 1;
			if (c == '\n')
				continue;
		}
		if (c == '\r') {
			cs->pending_cr = 1;
			continue;
		}
		if (c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			cs->line_start = 1;
			continue;
		}
		if (cs->line_start && c == '.' && cs->dotstuff)
			out[o++] = '.';
		out[o++] = c;
		cs->line_start = 0;
	}
	return o;
}

size_t
smtp_canon_end(struct smtp_canon *cs, char *out)
{
	if (!cs->pending_cr && cs->line_start)
		return 0;
	cs->pending_cr = 0;
	cs->line_start = 1;
	out[0] = '\r';
	out[1] = '\n';
	return 2;
}
