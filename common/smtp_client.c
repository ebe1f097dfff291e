/*
 * SMTP client session: commands out, replies in (bounded, matched, traced
 * with credentials masked), greeting, EHLO/HELO, STARTTLS and re-EHLO.
 * AUTH lives in smtp_auth.c, transactions in smtp_send.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "smtp_int.h"

void
smtp_set_error(struct smtp_client *c, enum smtp_err kind,
    const struct smtp_reply *r, const char *fmt, ...)
{
	char	 said[SMTP_REPLY_TEXT_MAX + 32];
	va_list	 ap;
	size_t	 n;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->kind = kind;
	if (r != NULL && r->code != 0) {
		c->ereply = *r;
		smtp_reply_format(r, said, sizeof(said));
		n = strlen(c->err);
		snprintf(c->err + n, sizeof(c->err) - n, ": %s", said);
	} else
		smtp_reply_init(&c->ereply);
	if (kind == SMTP_ERR_NET || kind == SMTP_ERR_PROTO ||
	    kind == SMTP_ERR_TLS)
		c->broken = 1;
}

void
smtp_trace(struct smtp_client *c, char dir, int flags, const char *s, size_t len)
{
	char	 buf[1024];

	if (c->p.trace == NULL) {
		log_trace("SMTP", dir, flags, s, len);
		return;
	}
	if (flags & TRACE_SECRET)
		snprintf(buf, sizeof(buf), "****");
	else
		trace_mask(s, len, buf, sizeof(buf));
	c->p.trace(c->p.trace_arg, dir, buf);
}

int
smtp_send_line(struct smtp_client *c, int secret, const char *s, size_t len)
{
	if (c->broken) {
		if (c->kind == SMTP_ERR_NONE)
			smtp_set_error(c, SMTP_ERR_NET, NULL,
			    "connection unusable");
		return -1;
	}
	smtp_trace(c, '>', secret ? TRACE_SECRET : 0, s, len);
	if (stream_write(c->st, s, len) == -1 ||
	    stream_write(c->st, "\r\n", 2) == -1) {
		smtp_set_error(c, SMTP_ERR_NET, NULL, "writing to %s: %s",
		    c->p.host, stream_error(c->st));
		return -1;
	}
	c->wrote = 1;
	return 0;
}

int
smtp_cmd(struct smtp_client *c, const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		smtp_set_error(c, SMTP_ERR_LOCAL, NULL, "command too long");
		return -1;
	}
	return smtp_send_line(c, 0, buf, (size_t)n);
}

int
smtp_read_reply(struct smtp_client *c, struct smtp_reply *r,
    void (*linecb)(struct smtp_client *, int, const char *))
{
	char	 why[256];
	ssize_t	 n;
	int	 rv;

	smtp_reply_init(r);
	if (c->broken)
		return -1;
	if (c->wrote) {
		c->turns++;
		c->wrote = 0;
	}
	if (stream_flush(c->st) == -1) {
		smtp_set_error(c, SMTP_ERR_NET, NULL, "writing to %s: %s",
		    c->p.host, stream_error(c->st));
		return -1;
	}
	do {
		n = stream_getline(c->st, c->line, sizeof(c->line));
		if (n == STREAM_TOOLONG) {
			smtp_set_error(c, SMTP_ERR_PROTO, NULL,
			    "%s sent a reply line longer than %d octets",
			    c->p.host, SMTP_REPLY_LINE_MAX);
			return -1;
		}
		if (n == STREAM_EOF) {
			smtp_set_error(c, SMTP_ERR_NET, NULL,
			    "connection closed by %s", c->p.host);
			return -1;
		}
		if (n < 0) {
			smtp_set_error(c, SMTP_ERR_NET, NULL,
			    "reading from %s: %s", c->p.host,
			    stream_error(c->st));
			return -1;
		}
		smtp_trace(c, '<', 0, c->line, (size_t)n);
		rv = smtp_reply_parse(r, c->line, (size_t)n, why, sizeof(why));
		if (rv == SMTP_PARSE_BAD) {
			smtp_set_error(c, SMTP_ERR_PROTO, NULL, "%s: %s",
			    c->p.host, why);
			return -1;
		}
		if (linecb != NULL)
			linecb(c, r->nlines - 1, n > 4 ? c->line + 4 : "");
	} while (rv == SMTP_PARSE_MORE);
	return 0;
}

struct smtp_client *
smtp_client_new(struct stream *st, const struct smtp_params *p)
{
	struct smtp_client	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->inbuf = malloc(SMTP_IOBUF);
	c->outbuf = malloc(2 * SMTP_IOBUF + 4);
	if (c->inbuf == NULL || c->outbuf == NULL) {
		free(c->inbuf);
		free(c->outbuf);
		free(c);
		return NULL;
	}
	c->st = st;
	c->p = *p;
	if (c->p.host == NULL)
		c->p.host = "server";
	if (c->p.helo == NULL)
		c->p.helo = "localhost";
	if (c->p.timeout_ms <= 0)
		c->p.timeout_ms = STREAM_TIMEOUT_MS;
	stream_set_timeout(st, c->p.timeout_ms);
	return c;
}

static void
caps_line(struct smtp_client *c, int lineno, const char *text)
{
	if (lineno > 0)
		smtp_caps_parse_line(&c->caps, text);
}

static int
valid_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 255)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

static int
ehlo(struct smtp_client *c)
{
	struct smtp_reply	 r;

	memset(&c->caps, 0, sizeof(c->caps));
	if (smtp_cmd(c, "EHLO %s", c->p.helo) == -1 ||
	    smtp_read_reply(c, &r, caps_line) == -1)
		return -1;
	if (r.code / 100 == 2)
		return 0;
	memset(&c->caps, 0, sizeof(c->caps));
	if (r.code / 100 != 5) {
		smtp_set_error(c, SMTP_ERR_REPLY, &r, "%s refused EHLO",
		    c->p.host);
		return -1;
	}
	/* An RFC 821 server: HELO, and no extensions at all. */
	if (smtp_cmd(c, "HELO %s", c->p.helo) == -1 ||
	    smtp_read_reply(c, &r, NULL) == -1)
		return -1;
	if (r.code / 100 != 2) {
		smtp_set_error(c, SMTP_ERR_REPLY, &r, "%s refused HELO",
		    c->p.host);
		return -1;
	}
	return 0;
}

static int
starttls(struct smtp_client *c)
{
	struct smtp_reply	 r;
	char			 why[300];

	if (!(c->caps.flags & SMTP_CAP_STARTTLS)) {
		smtp_set_error(c, SMTP_ERR_TLS, NULL, "%s does not offer "
		    "STARTTLS, which is required: nothing sent", c->p.host);
		return -1;
	}
	if (smtp_cmd(c, "STARTTLS") == -1 ||
	    smtp_read_reply(c, &r, NULL) == -1)
		return -1;
	if (r.code != 220) {
		smtp_set_error(c, SMTP_ERR_TLS, &r, "%s refused STARTTLS, "
		    "which is required", c->p.host);
		return -1;
	}
	if (stream_starttls(c->st, c->p.ssl_ctx, c->p.host, NULL, why,
	    sizeof(why)) == -1) {
		smtp_set_error(c, SMTP_ERR_TLS, NULL, "TLS with %s failed: %s",
		    c->p.host, why);
		return -1;
	}
	/* RFC 3207: forget everything learnt before the handshake. */
	return ehlo(c);
}

int
smtp_hello(struct smtp_client *c)
{
	struct smtp_reply	 r;
	char			 why[300];

	if (!valid_name(c->p.helo)) {
		smtp_set_error(c, SMTP_ERR_LOCAL, NULL, "bad HELO name");
		return -1;
	}
	if (c->p.tls != SMTP_TLS_NONE && c->p.ssl_ctx == NULL) {
		smtp_set_error(c, SMTP_ERR_LOCAL, NULL, "TLS without context");
		return -1;
	}
	if (c->p.tls == SMTP_TLS_IMPLICIT && stream_starttls(c->st,
	    c->p.ssl_ctx, c->p.host, NULL, why, sizeof(why)) == -1) {
		smtp_set_error(c, SMTP_ERR_TLS, NULL, "TLS with %s failed: %s",
		    c->p.host, why);
		return -1;
	}
	if (smtp_read_reply(c, &r, NULL) == -1)
		return -1;
	if (r.code != 220) {
		smtp_set_error(c, SMTP_ERR_REPLY, &r, "%s refused the "
		    "session", c->p.host);
		return -1;
	}
	if (ehlo(c) == -1)
		return -1;
	if (c->p.tls == SMTP_TLS_STARTTLS && starttls(c) == -1)
		return -1;
	if (c->p.creds != NULL && smtp_auth(c) == -1)
		return -1;
	return 0;
}

const struct smtp_caps *
smtp_caps(struct smtp_client *c)
{
	return &c->caps;
}

const char *
smtp_auth_mech(struct smtp_client *c)
{
	return c->mech;
}

const char *
smtp_error(struct smtp_client *c)
{
	return c->err[0] != '\0' ? c->err : "no error";
}

enum smtp_err
smtp_error_kind(struct smtp_client *c)
{
	return c->kind;
}

const struct smtp_reply *
smtp_error_reply(struct smtp_client *c)
{
	return &c->ereply;
}

unsigned long
smtp_turns(struct smtp_client *c)
{
	return c->turns;
}

void
smtp_quit(struct smtp_client *c)
{
	struct smtp_reply	 r;

	if (c->broken)
		return;
	stream_set_timeout(c->st, c->p.timeout_ms < 10000 ?
	    c->p.timeout_ms : 10000);
	if (smtp_cmd(c, "QUIT") == 0)
		smtp_read_reply(c, &r, NULL);
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	stream_close(c->st);
	free(c->inbuf);
	free(c->outbuf);
	free(c);
}
