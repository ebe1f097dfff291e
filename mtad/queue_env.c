/*
 * Envelope text: writing and strict parsing (format in queue_env.h).
 * A parse error names the line and what is wrong with it; nothing in the
 * file is trusted to be well-formed, it may have been edited by hand.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue.h"
#include "queue_env.h"

#define ENV_MAX_RCPTS	100000

static const char *const state_names[] = {
	[QR_PENDING] = "pending",
	[QR_SENT] = "sent",
	[QR_BOUNCED] = "bounced",
};

static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static void
put_text(FILE *fp, const char *key, const char *s)
{
	if (s == NULL)
		return;
	fprintf(fp, "%s ", key);
	for (; *s != '\0'; s++)
		fputc(((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s, fp);
	fputc('\n', fp);
}

int
env_format(const struct qmsg *m, char **buf, size_t *len)
{
	FILE		*fp;
	const struct qrcpt *r;
	size_t		 i;

	*buf = NULL;
	if (m->sender == NULL || has_ctl(m->sender) || m->nrcpts == 0) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].addr == NULL || has_ctl(m->rcpts[i].addr) ||
		    (unsigned)m->rcpts[i].state > QR_BOUNCED) {
			errno = EINVAL;
			return -1;
		}
	if ((fp = open_memstream(buf, len)) == NULL)
		return -1;
	fprintf(fp, "version %d\nid %s\narrival %jd\nsize %" PRIu64
	    "\nbody8bit %d\nsender <%s>\n", ENV_VERSION, m->id,
	    (intmax_t)m->arrival, m->size, m->body8bit ? 1 : 0, m->sender);
	put_text(fp, "helo", m->helo);
	put_text(fp, "client", m->client);
	put_text(fp, "proto", m->proto ? m->proto : "local");
	put_text(fp, "msgid", m->msgid);
	for (i = 0; i < m->nrcpts; i++) {
		r = &m->rcpts[i];
		fprintf(fp, "rcpt %s %s %u %jd <%s>\n", state_names[r->state],
		    r->local ? "local" : "remote", r->tries,
		    (intmax_t)r->next_try, r->addr);
		put_text(fp, "error", r->last_error);
	}
	fputs("end\n", fp);
	if (ferror(fp)) {
		fclose(fp);
		free(*buf);
		*buf = NULL;
		errno = ENOMEM;
		return -1;
	}
	if (fclose(fp) != 0) {
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

/* --- parsing -------------------------------------------------------------- */

struct env_parser {
	struct qmsg	*m;
	int		 lineno;
	char		*err;
	size_t		 errlen;
	unsigned	 seen;		/* bits of the single-valued keywords */
	size_t		 cap;
	int		 error_ok;	/* an "error" line may follow */
};

static int
perr(struct env_parser *p, const char *fmt, ...) PRINTFLIKE(2, 3);

static int
perr(struct env_parser *p, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	n = snprintf(p->err, p->errlen, "line %d: ", p->lineno);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char		*end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* "<addr>" → strdup(addr); the address itself may hold anything printable. */
static int
parse_angle(struct env_parser *p, const char *what, const char *s, char **out)
{
	size_t	len = strlen(s);

	if (len < 2 || s[0] != '<' || s[len - 1] != '>')
		return perr(p, "%s must be <address>: \"%.64s\"", what, s);
	if ((*out = strndup(s + 1, len - 2)) == NULL)
		return perr(p, "out of memory");
	return 0;
}

static int
parse_state(const char *s, enum qrcpt_state *st)
{
	size_t	i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(s, state_names[i]) == 0) {
			*st = (enum qrcpt_state)i;
			return 0;
		}
	return -1;
}

/* "STATE local|remote TRIES NEXT <addr>" */
static int
parse_rcpt(struct env_parser *p, char *v)
{
	struct qmsg	*m = p->m;
	struct qrcpt	*r, *nv;
	char		*f[4], *save = NULL;
	uint64_t	 n;
	int		 i;

	if (m->nrcpts >= ENV_MAX_RCPTS)
		return perr(p, "too many recipients");
	if (m->nrcpts == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 4;
		if ((nv = reallocarray(m->rcpts, p->cap, sizeof(*nv))) == NULL)
			return perr(p, "out of memory");
		m->rcpts = nv;
	}
	for (i = 0; i < 4; i++) {
		if ((f[i] = strtok_r(i == 0 ? v : NULL, " ", &save)) == NULL)
			return perr(p, "rcpt needs state, local|remote, tries, "
			    "next try and <address>");
	}
	r = &m->rcpts[m->nrcpts];
	memset(r, 0, sizeof(*r));
	if (parse_state(f[0], &r->state) == -1)
		return perr(p, "bad recipient state \"%.32s\"", f[0]);
	if (strcmp(f[1], "local") == 0)
		r->local = 1;
	else if (strcmp(f[1], "remote") != 0)
		return perr(p, "expected local or remote, got \"%.32s\"", f[1]);
	if (parse_u64(f[2], UINT32_MAX, &n) == -1)
		return perr(p, "bad tries \"%.32s\"", f[2]);
	r->tries = (unsigned)n;
	if (parse_u64(f[3], INT64_MAX, &n) == -1)
		return perr(p, "bad next try \"%.32s\"", f[3]);
	r->next_try = (time_t)n;
	if (save == NULL || *save == '\0')
		return perr(p, "rcpt without address");
	if (parse_angle(p, "recipient", save, &r->addr) == -1)
		return -1;
	m->nrcpts++;
	p->error_ok = 1;
	return 0;
}

enum { K_VERSION, K_ID, K_ARRIVAL, K_SIZE, K_BODY8BIT, K_SENDER, K_HELO,
    K_CLIENT, K_PROTO, K_MSGID, K_RCPT, K_ERROR, K_END };

static const char *const keywords[] = {
	"version", "id", "arrival", "size", "body8bit", "sender", "helo",
	"client", "proto", "msgid", "rcpt", "error", "end",
};

static int
keyword(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcmp(s, keywords[i]) == 0)
			return (int)i;
	return -1;
}

static int
set_text(struct env_parser *p, char **dst, const char *v)
{
	if ((*dst = strdup(v)) == NULL)
		return perr(p, "out of memory");
	return 0;
}

static int
parse_line(struct env_parser *p, char *line)
{
	struct qmsg	*m = p->m;
	char		*v;
	uint64_t	 n;
	int		 k;

	if ((v = strchr(line, ' ')) != NULL)
		*v++ = '\0';
	else
		v = line + strlen(line);
	if ((k = keyword(line)) == -1)
		return perr(p, "unknown keyword \"%.32s\"", line);
	if (p->lineno == 1 && k != K_VERSION)
		return perr(p, "not an envelope (no version line)");
	if (k != K_RCPT && k != K_ERROR) {
		if (p->seen & (1u << k))
			return perr(p, "duplicate %s", keywords[k]);
		p->seen |= 1u << k;
	}
	if (k != K_END && k != K_ERROR && k != K_RCPT && *v == '\0')
		return perr(p, "%s without a value", keywords[k]);
	if (k != K_ERROR)
		p->error_ok = 0;

	switch (k) {
	case K_VERSION:
		if (parse_u64(v, 1000, &n) == -1 || n != ENV_VERSION)
			return perr(p, "unsupported version \"%.32s\"", v);
		return 0;
	case K_ID:
		if (!queue_valid_id(v))
			return perr(p, "bad queue id \"%.32s\"", v);
		memcpy(m->id, v, QID_SIZE);
		return 0;
	case K_ARRIVAL:
		if (parse_u64(v, INT64_MAX, &n) == -1)
			return perr(p, "bad arrival time \"%.32s\"", v);
		m->arrival = (time_t)n;
		return 0;
	case K_SIZE:
		if (parse_u64(v, UINT64_MAX, &m->size) == -1)
			return perr(p, "bad size \"%.32s\"", v);
		return 0;
	case K_BODY8BIT:
		if (parse_u64(v, 1, &n) == -1)
			return perr(p, "body8bit must be 0 or 1");
		m->body8bit = (int)n;
		return 0;
	case K_SENDER:
		return parse_angle(p, "sender", v, &m->sender);
	case K_HELO:
		return set_text(p, &m->helo, v);
	case K_CLIENT:
		return set_text(p, &m->client, v);
	case K_PROTO:
		return set_text(p, &m->proto, v);
	case K_MSGID:
		return set_text(p, &m->msgid, v);
	case K_RCPT:
		return parse_rcpt(p, v);
	case K_ERROR:
		if (!p->error_ok)
			return perr(p, "error line not after a rcpt line");
		p->error_ok = 0;
		return set_text(p, &m->rcpts[m->nrcpts - 1].last_error, v);
	case K_END:
		if (*v != '\0')
			return perr(p, "junk after end");
		return 0;
	}
	return perr(p, "unknown keyword");
}

int
env_parse(const char *buf, size_t len, struct qmsg *m, char *err,
    size_t errlen)
{
	struct env_parser p;
	const char	*s = buf, *nl, *end = buf + len;
	char		 line[4096];
	size_t		 ll;
	const unsigned	 required = (1u << K_VERSION) | (1u << K_ID) |
	    (1u << K_ARRIVAL) | (1u << K_SIZE) | (1u << K_SENDER);

	memset(m, 0, sizeof(*m));
	memset(&p, 0, sizeof(p));
	p.m = m;
	p.err = err;
	p.errlen = errlen;
	while (s < end) {
		p.lineno++;
		if (p.seen & (1u << K_END)) {
			perr(&p, "data after end");
			goto fail;
		}
		if ((nl = memchr(s, '\n', end - s)) == NULL) {
			perr(&p, "truncated (no newline)");
			goto fail;
		}
		ll = nl - s;
		if (ll >= sizeof(line)) {
			perr(&p, "line too long");
			goto fail;
		}
		memcpy(line, s, ll);
		line[ll] = '\0';
		if (memchr(line, '\0', ll) != NULL) {
			perr(&p, "NUL byte");
			goto fail;
		}
		/* The writer never puts one there (see env_format). */
		if (has_ctl(line)) {
			perr(&p, "control character");
			goto fail;
		}
		if (parse_line(&p, line) == -1)
			goto fail;
		s = nl + 1;
	}
	p.lineno++;
	if (!(p.seen & (1u << K_END))) {
		perr(&p, "truncated (no end line)");
		goto fail;
	}
	if ((p.seen & required) != required) {
		snprintf(err, errlen, "missing version, id, arrival, size or "
		    "sender");
		goto fail;
	}
	if (m->nrcpts == 0) {
		snprintf(err, errlen, "no recipients");
		goto fail;
	}
	return 0;
fail:
	qmsg_free(m);
	return -1;
}
