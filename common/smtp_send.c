/*
 * SMTP transactions.  Commands are written as early as the server allows
 * and their replies kept in a queue, so each reply meets the command it
 * answers however far the pipeline runs ahead:
 *
 *  - PIPELINING: [RSET] MAIL, RCPT..., DATA in one write; after the 354 the
 *    data and its dot, and at once the next message's group (RFC 2920 3.1);
 *  - CHUNKING: MAIL, RCPT..., BDAT n [LAST] + data, never waiting for a
 *    reply unless SMTP_FLY_MAX messages are already in flight;
 *  - neither: one command, one reply.
 *
 * A recipient's result is final only with the verdict on the data; a
 * connection lost before that leaves it at code 0, which callers defer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smtp_int.h"

static void
local_reply(struct smtp_reply *r, int code, const char *enh, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
local_reply(struct smtp_reply *r, int code, const char *enh, const char *fmt,
    ...)
{
	va_list	 ap;

	smtp_reply_init(r);
	r->code = code;
	r->local = 1;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enh);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

static int
valid_addr(const char *a, int empty_ok)
{
	size_t	 n = strlen(a);

	if (n == 0)
		return empty_ok;
	if (n > 254)
		return 0;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a <= ' ' || *a == 0x7f || *a == '<' ||
		    *a == '>')
			return 0;
	return 1;
}

/* --- messages in flight ---------------------------------------------------- */

static void
settle(struct smtp_msg *m)
{
	size_t	 i;

	m->nsent = 0;
	for (i = 0; i < m->nrcpts; i++) {
		struct smtp_rcpt *rc = &m->rcpts[i];

		/* an accepted RCPT with no verdict on the data is no result */
		if (rc->accepted && !m->st_verdict)
			local_reply(&rc->reply, 0, "", "no reply to the "
			    "message data");
		if (rc->reply.code / 100 == 2)
			m->nsent++;
	}
}

/* Give back, in order, every message whose replies are all in. */
static void
finish_ready(struct smtp_client *c)
{
	struct smtp_msg	*m;

	while (c->nfly > 0 && c->fly[0]->st_sent && c->fly[0]->st_pending == 0) {
		m = c->fly[0];
		memmove(c->fly, c->fly + 1, (c->nfly - 1) * sizeof(c->fly[0]));
		c->nfly--;
		settle(m);
		if (c->batch->done != NULL)
			c->batch->done(c->batch->arg, m);
	}
}

/* Messages in flight still waiting for replies. */
static size_t
fly_busy(const struct smtp_client *c)
{
	size_t	 i, n = 0;

	for (i = 0; i < c->nfly; i++)
		if (!c->fly[i]->st_sent || c->fly[i]->st_pending > 0)
			n++;
	return n;
}

/* The connection is gone: every unsettled recipient gets code 0. */
static void
fail_all(struct smtp_client *c)
{
	size_t	 i, j;

	for (i = 0; i < c->nfly; i++) {
		struct smtp_msg *m = c->fly[i];

		for (j = 0; j < m->nrcpts; j++) {
			struct smtp_rcpt *rc = &m->rcpts[j];

			if (rc->reply.code == 0 || rc->accepted)
				local_reply(&rc->reply, 0, "", "%s", c->err);
		}
		if (!m->st_verdict)
			local_reply(&m->data_reply, 0, "", "%s", c->err);
		m->st_verdict = 1;
		m->st_sent = 1;
		m->st_pending = 0;
	}
	c->qlen = 0;
	finish_ready(c);
}

/* --- replies --------------------------------------------------------------- */

/*
 * A reply as a recipient's result: 2xx, 4xx or 5xx as the server said;
 * anything else (a 354 where a verdict belongs, a 250 to DATA) says nothing
 * about delivery, so it becomes "no verdict" (code 0: defer).
 */
static void
result(struct smtp_reply *dst, const struct smtp_reply *r, int ok_means_sent)
{
	char	 said[SMTP_REPLY_TEXT_MAX];

	if (r->code / 100 == 4 || r->code / 100 == 5 ||
	    (r->code / 100 == 2 && ok_means_sent)) {
		*dst = *r;
		return;
	}
	smtp_reply_format(r, said, sizeof(said));
	local_reply(dst, 0, "", "unexpected reply: %.900s", said);
}

static void
verdict(struct smtp_msg *m, const struct smtp_reply *r, int ok_means_sent)
{
	size_t	 i;

	result(&m->data_reply, r, ok_means_sent);
	m->st_verdict = 1;
	for (i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].accepted)
			m->rcpts[i].reply = m->data_reply;
}

static void
handle(struct smtp_client *c, const struct pend *pd, const struct smtp_reply *r)
{
	struct smtp_msg	*m = pd->m;
	int		 ok = r->code / 100 == 2;

	switch (pd->kind) {
	case P_RSET:
		break;
	case P_MAIL:
		m->mail_reply = *r;
		break;
	case P_RCPT:
		if (m->mail_reply.code / 100 != 2)
			result(&m->rcpts[pd->idx].reply, &m->mail_reply, 0);
		else {
			result(&m->rcpts[pd->idx].reply, r, 1);
			if (ok) {
				m->rcpts[pd->idx].accepted = 1;
				m->st_naccepted++;
			}
		}
		break;
	case P_DATA:
		if (r->code != 354) {
			m->st_datafail = 1;
			verdict(m, r, 0);
		} else
			m->data_reply = *r;
		break;
	case P_BDAT:
		if (m->st_datafail)
			break;
		if (!ok || m->st_naccepted == 0) {
			m->st_datafail = 1;
			verdict(m, r, 0);
		} else if (pd->last)
			verdict(m, r, 1);
		break;
	case P_DOT:
		if (m->st_naccepted == 0)
			m->st_datafail = 1;
		else
			verdict(m, r, 1);
		if (!ok)
			m->st_datafail = 1;
		break;
	}
	if (m != NULL)
		m->st_pending--;
}

/*
 * Wait for the oldest outstanding reply and act on it.  Finished messages
 * go back to the caller only here, once what we wrote is on its way: the
 * next message's data is with the server while done() records the last
 * one's results (a queue update) instead of waiting behind it.
 */
static int
drain_one(struct smtp_client *c)
{
	struct smtp_reply	 r;
	struct pend		 pd;

	if (c->qlen == 0)
		return 0;
	if (stream_flush(c->st) == -1) {
		smtp_set_error(c, SMTP_ERR_NET, NULL, "writing to %s: %s",
		    c->p.host, stream_error(c->st));
		return -1;
	}
	finish_ready(c);
	if (smtp_read_reply(c, &r, NULL) == -1)
		return -1;
	pd = c->q[c->qhead];
	c->qhead = (c->qhead + 1) % SMTP_PEND_MAX;
	c->qlen--;
	handle(c, &pd, &r);
	return 0;
}

static int
drain_all(struct smtp_client *c)
{
	while (c->qlen > 0)
		if (drain_one(c) == -1)
			return -1;
	return 0;
}

static int
expect(struct smtp_client *c, enum pend_kind kind, struct smtp_msg *m,
    size_t idx, int last)
{
	struct pend	*pd;

	if (c->qlen == SMTP_PEND_MAX && drain_one(c) == -1)
		return -1;
	pd = &c->q[(c->qhead + c->qlen) % SMTP_PEND_MAX];
	pd->kind = kind;
	pd->m = m;
	pd->idx = idx;
	pd->last = last;
	c->qlen++;
	if (m != NULL)
		m->st_pending++;
	if (!(c->caps.flags & SMTP_CAP_PIPELINING))
		return drain_all(c);
	return 0;
}

/* --- message data ---------------------------------------------------------- */

/* Next octets of prefix + file; pos counts across both.  >0, 0 at end, -1. */
static ssize_t
msg_read(struct smtp_client *c, struct smtp_msg *m, off_t *pos, char *buf,
    size_t len)
{
	ssize_t	 n;

	if ((size_t)*pos < m->prefixlen) {
		n = (ssize_t)(m->prefixlen - (size_t)*pos);
		if ((size_t)n > len)
			n = (ssize_t)len;
		memcpy(buf, m->prefix + *pos, (size_t)n);
		*pos += n;
		return n;
	}
	if (m->fd == -1)
		return 0;
	do
		n = pread(m->fd, buf, len, m->offset + *pos -
		    (off_t)m->prefixlen);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		smtp_set_error(c, SMTP_ERR_LOCAL, NULL,
		    "reading the message: %s", strerror(errno));
		c->broken = 1;	/* a half-sent message must not end */
		return -1;
	}
	*pos += n;
	return n;
}

static int
data_write(struct smtp_client *c, const char *buf, size_t len)
{
	if (stream_write(c->st, buf, len) == -1) {
		smtp_set_error(c, SMTP_ERR_NET, NULL, "writing to %s: %s",
		    c->p.host, stream_error(c->st));
		return -1;
	}
	c->wrote = 1;
	return 0;
}

/* After a 354: the data, dot-stuffed, and the final dot. */
static int
send_dot_data(struct smtp_client *c, struct smtp_msg *m)
{
	struct smtp_canon	 cs;
	off_t			 pos = 0;
	ssize_t			 n;
	size_t			 o;

	smtp_canon_init(&cs, 1);
	while ((n = msg_read(c, m, &pos, c->inbuf, SMTP_IOBUF)) > 0) {
		o = smtp_canon_feed(&cs, c->inbuf, (size_t)n, c->outbuf);
		if (data_write(c, c->outbuf, o) == -1)
			return -1;
	}
	if (n == -1)
		return -1;
	o = smtp_canon_end(&cs, c->outbuf);
	memcpy(c->outbuf + o, ".\r\n", 3);
	if (data_write(c, c->outbuf, o + 3) == -1)
		return -1;
	smtp_trace(c, '>', 0, ".", 1);
	return expect(c, P_DOT, m, 0, 0);
}

/* BDAT chunks; the one that reaches the end of the data says LAST. */
static int
send_bdat(struct smtp_client *c, struct smtp_msg *m)
{
	struct smtp_canon	 cs;
	off_t			 pos = 0;
	ssize_t			 n, next;
	size_t			 o;
	int			 last;

	smtp_canon_init(&cs, 0);
	if ((n = msg_read(c, m, &pos, c->inbuf, SMTP_IOBUF)) == -1)
		return -1;
	for (;;) {
		o = smtp_canon_feed(&cs, c->inbuf, (size_t)n, c->outbuf);
		next = n > 0 ? msg_read(c, m, &pos, c->inbuf, SMTP_IOBUF) : 0;
		if (next == -1)
			return -1;
		last = next == 0;
		if (last)
			o += smtp_canon_end(&cs, c->outbuf + o);
		if (o > 0 || last) {
			if (smtp_cmd(c, "BDAT %zu%s", o, last ? " LAST" : "") ==
			    -1 || data_write(c, c->outbuf, o) == -1 ||
			    expect(c, P_BDAT, m, 0, last) == -1)
				return -1;
			if (m->st_datafail)
				return 0;	/* unpipelined: stop here */
		}
		if (last)
			return 0;
		n = next;
	}
}

/* --- one message ----------------------------------------------------------- */

/* Checks that need no server: addresses, size.  0 = go, 1 = failed here. */
static int
precheck(struct smtp_client *c, struct smtp_msg *m)
{
	struct stat	 sb;
	size_t		 i, good = 0;

	m->st_size = (off_t)m->prefixlen;
	if (m->fd != -1) {
		if (fstat(m->fd, &sb) == -1) {
			for (i = 0; i < m->nrcpts; i++)
				local_reply(&m->rcpts[i].reply, 0, "",
				    "message file: %s", strerror(errno));
			return 1;
		}
		if (sb.st_size > m->offset)
			m->st_size += sb.st_size - m->offset;
	}
	if (!valid_addr(m->sender, 1)) {
		for (i = 0; i < m->nrcpts; i++)
			local_reply(&m->rcpts[i].reply, 553, "5.1.7",
			    "invalid sender address");
		return 1;
	}
	if ((c->caps.flags & SMTP_CAP_SIZE) && c->caps.size_max > 0 &&
	    (uint64_t)m->st_size > c->caps.size_max) {
		for (i = 0; i < m->nrcpts; i++)
			local_reply(&m->rcpts[i].reply, 552, "5.3.4",
			    "message size %lld exceeds the limit of %llu "
			    "octets of %s", (long long)m->st_size,
			    (unsigned long long)c->caps.size_max, c->p.host);
		return 1;
	}
	for (i = 0; i < m->nrcpts; i++) {
		if (valid_addr(m->rcpts[i].addr, 0))
			good++;
		else
			local_reply(&m->rcpts[i].reply, 553, "5.1.3",
			    "invalid recipient address");
	}
	return good == 0;
}

static void
reset_results(struct smtp_msg *m)
{
	size_t	 i;

	smtp_reply_init(&m->mail_reply);
	smtp_reply_init(&m->data_reply);
	m->nsent = 0;
	m->st_sent = m->st_datafail = m->st_pending = m->st_naccepted = 0;
	m->st_verdict = 0;
	for (i = 0; i < m->nrcpts; i++) {
		smtp_reply_init(&m->rcpts[i].reply);
		m->rcpts[i].accepted = 0;
	}
}

static int
send_one(struct smtp_client *c, struct smtp_msg *m)
{
	int	 pipelining = c->caps.flags & SMTP_CAP_PIPELINING;
	int	 chunking = c->caps.flags & SMTP_CAP_CHUNKING;
	char	 params[64] = "";
	size_t	 i;

	if (c->need_rset) {
		if (smtp_cmd(c, "RSET") == -1 || expect(c, P_RSET, NULL, 0, 0))
			return -1;
		c->need_rset = 0;
	}
	if (c->caps.flags & SMTP_CAP_SIZE)
		snprintf(params, sizeof(params), " SIZE=%lld",
		    (long long)m->st_size);
	if (m->eightbit && (c->caps.flags & SMTP_CAP_8BITMIME))
		snprintf(params + strlen(params), sizeof(params) -
		    strlen(params), " BODY=8BITMIME");
	if (smtp_cmd(c, "MAIL FROM:<%s>%s", m->sender, params) == -1 ||
	    expect(c, P_MAIL, m, 0, 0) == -1)
		return -1;
	if (!pipelining && m->mail_reply.code / 100 != 2) {
		for (i = 0; i < m->nrcpts; i++)
			if (m->rcpts[i].reply.code == 0)
				result(&m->rcpts[i].reply, &m->mail_reply, 0);
		goto failed;
	}
	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].reply.local)
			continue;
		if (smtp_cmd(c, "RCPT TO:<%s>", m->rcpts[i].addr) == -1 ||
		    expect(c, P_RCPT, m, i, 0) == -1)
			return -1;
	}
	if (!pipelining && m->st_naccepted == 0)
		goto failed;
	c->transactions++;
	if (chunking) {
		if (send_bdat(c, m) == -1)
			return -1;
		/* a failed BDAT transaction may still hold the MAIL */
		c->need_rset = pipelining || m->st_datafail;
		m->st_sent = 1;
		return 0;
	}
	if (smtp_cmd(c, "DATA") == -1 || expect(c, P_DATA, m, 0, 0) == -1)
		return -1;
	/* the one wait per message: every earlier reply comes in with it */
	while (m->data_reply.code == 0 && c->qlen > 0)
		if (drain_one(c) == -1)
			return -1;
	if (m->data_reply.code != 354)
		goto failed;
	if (send_dot_data(c, m) == -1)
		return -1;
	m->st_sent = 1;
	return 0;
failed:
	c->need_rset = 1;
	m->st_sent = 1;
	return 0;
}

int
smtp_send_batch(struct smtp_client *c, const struct smtp_batch *b)
{
	struct smtp_msg	*m;

	c->batch = b;
	if (c->broken) {
		smtp_set_error(c, c->kind ? c->kind : SMTP_ERR_NET, NULL,
		    "%s", c->err[0] ? c->err : "connection unusable");
		return -1;
	}
	for (;;) {
		/*
		 * A bounded number in flight (next() may open files).  When
		 * full, wait until half are done rather than one: fewer turns,
		 * and the newest stay in flight so the line never idles.
		 */
		if (c->nfly >= SMTP_FLY_MAX) {
			while (fly_busy(c) > SMTP_FLY_MAX / 2 && c->qlen > 0)
				if (drain_one(c) == -1)
					goto fail;
			finish_ready(c);
		}
		if (c->nfly >= SMTP_FLY_MAX) {
			/* cannot happen: in-flight messages always await replies */
			smtp_set_error(c, SMTP_ERR_LOCAL, NULL, "pipeline stuck");
			goto fail;
		}
		if ((m = b->next(b->arg)) == NULL)
			break;
		reset_results(m);
		c->fly[c->nfly++] = m;
		if (precheck(c, m) == 1) {
			m->st_sent = 1;
			finish_ready(c);
			continue;
		}
		if (send_one(c, m) == -1)
			goto fail;
	}
	if (drain_all(c) == -1)
		goto fail;
	finish_ready(c);
	return 0;
fail:
	fail_all(c);
	return -1;
}

struct one {
	struct smtp_msg	*m;
	int		 given;
};

static struct smtp_msg *
one_next(void *arg)
{
	struct one	*o = arg;

	if (o->given)
		return NULL;
	o->given = 1;
	return o->m;
}

int
smtp_send(struct smtp_client *c, struct smtp_msg *m)
{
	struct one		 o = { m, 0 };
	struct smtp_batch	 b = { one_next, NULL, &o };

	return smtp_send_batch(c, &b);
}
