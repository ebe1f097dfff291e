/*
 * Reinjection over SMTP (see inject.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "log.h"
#include "mda.h"
#include "net.h"
#include "status.h"
#include "stream.h"

#define INJ_HDR_VALUE_MAX	4096
#define INJ_BOUNCE_HDR_MAX	(32 * 1024)

void
inject_init(struct inject *in, const struct rc_user *u, const char *server,
    const char *proto, const char *hostname, const char *postmaster,
    int bouncemail, int timeout_ms)
{
	memset(in, 0, sizeof(*in));
	in->user = u;
	in->server = server;
	in->proto = proto;
	in->hostname = hostname;
	in->postmaster = postmaster;
	in->bouncemail = bouncemail;
	in->timeout_ms = timeout_ms;
}

static int
connect_smtp(struct inject *in)
{
	const struct rc_user	*u = in->user;
	struct smtp_params	 sp;
	struct stream		*st;
	char			 port[16], err[512];
	size_t			 i;
	int			 fd;

	for (i = 0; i < u->nsmtphosts; i++) {
		snprintf(port, sizeof(port), "%d", u->smtphosts[i].port);
		snprintf(in->smtphost, sizeof(in->smtphost), "%s/%s",
		    u->smtphosts[i].host, port);
		fd = net_connect(u->smtphosts[i].host, port, NULL,
		    in->timeout_ms, NULL, 0, err, sizeof(err));
		if (fd == -1) {
			snprintf(in->err, sizeof(in->err), "SMTP connect to "
			    "%.200s failed: %.250s", in->smtphost, err);
			log_warnx("%s", in->err);
			continue;
		}
		if ((st = stream_socket(fd, in->timeout_ms, err,
		    sizeof(err))) == NULL) {
			close(fd);
			snprintf(in->err, sizeof(in->err), "%s", err);
			continue;
		}
		memset(&sp, 0, sizeof(sp));
		sp.helo = in->hostname;
		sp.host = u->smtphosts[i].host;
		sp.tls = SMTP_TLS_NONE;
		sp.timeout_ms = in->timeout_ms;
		in->c = smtp_client_new(st, &sp);
		if (in->c == NULL) {
			stream_close(st);
			snprintf(in->err, sizeof(in->err), "out of memory");
			return -1;
		}
		if (smtp_hello(in->c) == 0)
			return 0;
		snprintf(in->err, sizeof(in->err), "SMTP server %s: %s",
		    in->smtphost, smtp_error(in->c));
		log_warnx("%s", in->err);
		smtp_client_free(in->c);
		in->c = NULL;
	}
	return -1;
}

static void
rfc5322_date(char *buf, size_t len)
{
	time_t		 now = time(NULL);
	struct tm	 tm;

	localtime_r(&now, &tm);
	strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

static int
make_prefix(struct inject *in, struct inject_msg *m)
{
	char	 date[64], forc[ADDR_MAX + 16];
	int	 n;

	rfc5322_date(date, sizeof(date));
	forc[0] = '\0';
	if (m->nrcpts == 1)
		snprintf(forc, sizeof(forc), " for <%s>", m->rcpts[0]);
	free(m->prefix);
	n = asprintf(&m->prefix, "Received: from %s by %s with %s (fetchd)"
	    "%s (%s); %s\r\n%.*s", in->server, in->hostname, in->proto, forc,
	    rc_user_multidrop(in->user) ? "multi-drop" : "single-drop", date,
	    m->head != NULL ? (int)m->headlen : 0,
	    m->head != NULL ? m->head : "");
	if (n < 0) {
		m->prefix = NULL;
		return -1;
	}
	m->prefixlen = (size_t)n;
	return 0;
}

/* The Received: line and the per-recipient results; -1: deferred. */
static int
prepare_msg(struct inject *in, struct inject_msg *m)
{
	size_t	 i;

	if (make_prefix(in, m) == -1 || (m->srcpts = calloc(m->nrcpts,
	    sizeof(*m->srcpts))) == NULL) {
		m->result = INJ_DEFERRED;
		snprintf(m->why, sizeof(m->why), "out of memory");
		return -1;
	}
	for (i = 0; i < m->nrcpts; i++)
		m->srcpts[i].addr = m->rcpts[i];
	return 0;
}

static struct smtp_msg *
batch_next(void *arg)
{
	struct inject		*in = arg;
	struct inject_msg	*m;

	while (in->next < in->n) {
		m = in->v[in->next++];
		if (prepare_msg(in, m) == -1)
			continue;
		memset(&m->sm, 0, sizeof(m->sm));
		m->sm.sender = m->sender;
		m->sm.rcpts = m->srcpts;
		m->sm.nrcpts = m->nrcpts;
		m->sm.prefix = m->prefix;
		m->sm.prefixlen = m->prefixlen;
		m->sm.fd = m->fd;
		m->sm.offset = m->skip;
		m->sm.eightbit = 1;
		m->sm.arg = m;
		return &m->sm;
	}
	return NULL;
}

/* Deferred, but some recipients have it: tell the caller which. */
static void
deferred(struct inject *in, struct inject_msg *m)
{
	size_t	 i;

	m->result = INJ_DEFERRED;
	if (in->partial == NULL || m->srcpts == NULL)
		return;
	for (i = 0; i < m->nrcpts; i++)
		if (m->srcpts[i].reply.code / 100 == 2) {
			in->partial(in->done_arg, m);
			return;
		}
}

static void
verdict(struct inject *in, struct inject_msg *m)
{
	const struct smtp_reply	*r;
	size_t			 i, n5 = 0, nother = 0;

	for (i = 0; i < m->nrcpts; i++) {
		r = &m->srcpts[i].reply;
		if (r->code >= 200 && r->code < 300)
			continue;
		if (r->code >= 500 && r->code < 600)
			n5++;
		else
			nother++;
		if (m->why[0] == '\0') {
			snprintf(m->why, sizeof(m->why), "<%s>: ", m->rcpts[i]);
			smtp_reply_format(r, m->why + strlen(m->why),
			    sizeof(m->why) - strlen(m->why));
		}
	}
	if (n5 == 0 && nother == 0) {
		m->result = INJ_DELIVERED;
		if (in->done != NULL)
			in->done(in->done_arg, m);
	} else if (nother > 0)
		deferred(in, m);
	/* else: some 5xx and no 4xx, still PENDING: a bounce decides */
}

static void
batch_done(void *arg, struct smtp_msg *sm)
{
	verdict(arg, sm->arg);
}

/* The local name an address stands for (%T): "eddy@localhost" -> "eddy". */
static void
mda_name(const struct rc_user *u, const char *addr, char *out, size_t len)
{
	const char	*dom = "localhost", *at;
	size_t		 n;

	if (u->smtpname != NULL && (at = strchr(u->smtpname, '@')) != NULL)
		dom = at + 1;
	n = strlen(addr);
	if ((at = strrchr(addr, '@')) != NULL && strcasecmp(at + 1, dom) == 0)
		n = (size_t)(at - addr);
	snprintf(out, len, "%.*s", (int)n, addr);
}

/* mda "CMD" instead of SMTP: one run per recipient. */
static void
mda_batch(struct inject *in, struct inject_msg **v, size_t n)
{
	struct inject_msg	*m;
	char			 name[ADDR_MAX + 1];
	size_t			 i, j;

	for (i = 0; i < n; i++) {
		m = v[i];
		if (prepare_msg(in, m) == -1)
			continue;
		for (j = 0; j < m->nrcpts; j++) {
			mda_name(in->user, m->rcpts[j], name, sizeof(name));
			fmda_deliver(in->user->mda, in->user->stripcr == RC_YES,
			    m->sender, name, m->prefix, m->prefixlen, m->fd,
			    m->skip, &m->srcpts[j].reply);
		}
		verdict(in, m);
	}
}

/* A short report to the sender (or the postmaster) with the header. */
static int
send_bounce(struct inject *in, struct inject_msg *m)
{
	struct smtp_msg		 b;
	struct smtp_rcpt	 rc;
	char			*text = NULL, *to, date[64];
	size_t			 i, hl;
	int			 n, use_pm;
	FILE			*fp;
	size_t			 len;

	use_pm = !in->bouncemail || m->sender[0] == '\0';
	to = inject_rcpt_addr(in->user, use_pm ? in->postmaster : m->sender);
	if (to == NULL)
		return -1;
	if ((fp = open_memstream(&text, &len)) == NULL) {
		free(to);
		return -1;
	}
	rfc5322_date(date, sizeof(date));
	fprintf(fp, "From: Mail Delivery Subsystem <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\nSubject: Undeliverable mail fetched from %s\r\n"
	    "Date: %s\r\nAuto-Submitted: auto-replied\r\n\r\n"
	    "fetchd fetched a message for %s from %s,\r\n"
	    "and the SMTP server %s refused these recipients:\r\n\r\n",
	    in->hostname, to, in->server, date, in->user->remotename,
	    in->server, in->smtphost);
	for (i = 0; i < m->nrcpts; i++) {
		char	 r[400];

		if (m->srcpts[i].reply.code < 500)
			continue;
		smtp_reply_format(&m->srcpts[i].reply, r, sizeof(r));
		fprintf(fp, "  <%s>: %s\r\n", m->rcpts[i], r);
	}
	hl = m->hdrlen < INJ_BOUNCE_HDR_MAX ? m->hdrlen : INJ_BOUNCE_HDR_MAX;
	fprintf(fp, "\r\n--- the message's header follows ---\r\n\r\n");
	fwrite(m->hdr, 1, hl, fp);
	if (fclose(fp) != 0) {
		free(text);
		free(to);
		return -1;
	}
	memset(&b, 0, sizeof(b));
	memset(&rc, 0, sizeof(rc));
	rc.addr = to;
	b.sender = "";
	b.rcpts = &rc;
	b.nrcpts = 1;
	b.prefix = text;
	b.prefixlen = len;
	b.fd = -1;
	n = smtp_send(in->c, &b);
	if (n == -1)
		in->broken = 1;
	n = n == 0 && rc.reply.code >= 200 && rc.reply.code < 300 ? 0 : -1;
	if (n == 0)
		log_info("bounce for message from <%s> sent to <%s>",
		    m->sender, to);
	else
		log_warnx("bounce to <%s> failed: %s", to,
		    rc.reply.code != 0 ? rc.reply.text : smtp_error(in->c));
	free(text);
	free(to);
	return n;
}

int
inject_send(struct inject *in, struct inject_msg **v, size_t n)
{
	struct smtp_batch	 b;
	size_t			 i;
	int			 rv = PS_SUCCESS;

	for (i = 0; i < n; i++)
		v[i]->result = INJ_PENDING;
	if (in->user->mda != NULL)
		mda_batch(in, v, n);
	else if (in->c == NULL && !in->broken && connect_smtp(in) == -1)
		in->broken = 1;
	if (!in->broken && in->user->mda == NULL) {
		in->v = v;
		in->n = n;
		in->next = 0;
		b.next = batch_next;
		b.done = batch_done;
		b.arg = in;
		if (smtp_send_batch(in->c, &b) == -1) {
			snprintf(in->err, sizeof(in->err), "SMTP to %s: %s",
			    in->smtphost, smtp_error(in->c));
			in->broken = 1;
		}
	}
	for (i = 0; i < n; i++) {
		if (v[i]->result != INJ_PENDING)
			continue;
		/* With an mda, SMTP is only for bounces: connect now. */
		if (v[i]->srcpts != NULL && in->c == NULL && !in->broken &&
		    connect_smtp(in) == -1)
			in->broken = 1;
		if (!in->broken && v[i]->srcpts != NULL &&
		    send_bounce(in, v[i]) == 0) {
			v[i]->result = INJ_BOUNCED;
			if (in->done != NULL)
				in->done(in->done_arg, v[i]);
			continue;
		}
		deferred(in, v[i]);
		if (v[i]->why[0] == '\0')
			snprintf(v[i]->why, sizeof(v[i]->why), "%.250s", in->err);
	}
	if (in->broken)
		rv = PS_SMTP;
	return rv;
}

void
inject_close(struct inject *in)
{
	if (in->c != NULL) {
		if (!in->broken)
			smtp_quit(in->c);
		smtp_client_free(in->c);
		in->c = NULL;
	}
}

/* The first field called name, unfolded, into out.  0 or -1. */
static int
header_value(const char *hdr, size_t len, const char *name, char *out,
    size_t outlen)
{
	size_t	 nl = strlen(name), i = 0, o = 0, eol;

	while (i < len) {
		eol = i;
		while (eol < len && hdr[eol] != '\n')
			eol++;
		if (eol == i || (eol == i + 1 && hdr[i] == '\r'))
			return -1;	/* end of header */
		if (eol - i > nl && strncasecmp(hdr + i, name, nl) == 0 &&
		    hdr[i + nl] == ':') {
			i += nl + 1;
			for (;;) {
				for (; i < eol && o + 1 < outlen; i++)
					if (hdr[i] != '\r')
						out[o++] = hdr[i];
				i = eol + 1;
				if (i >= len || (hdr[i] != ' ' &&
				    hdr[i] != '\t'))
					break;
				for (eol = i; eol < len && hdr[eol] != '\n';)
					eol++;
			}
			out[o] = '\0';
			return 0;
		}
		i = eol + 1;
	}
	return -1;
}

static void
first_mailbox(const char *spec, const char *display, void *arg)
{
	char	*out = arg;

	(void)display;
	if (out[0] == '\0' && strlen(spec) <= ADDR_MAX)
		strcpy(out, spec);
}

void
inject_sender(const char *hdr, size_t len, char *out, size_t outlen)
{
	struct mailaddr	 a;
	char		 v[INJ_HDR_VALUE_MAX], err[128], *s;
	char		 spec[ADDR_MAX + 1];

	out[0] = '\0';
	if (header_value(hdr, len, "Return-Path", v, sizeof(v)) == 0) {
		for (s = v; isspace((unsigned char)*s); s++)
			;
		if (addr_parse_path(s, 1, &a, NULL, err, sizeof(err)) == 0 &&
		    addr_format(&a, out, outlen) >= 0)
			return;
		out[0] = '\0';
	}
	spec[0] = '\0';
	if (header_value(hdr, len, "From", v, sizeof(v)) == 0 &&
	    addr_list_parse(v, strlen(v), first_mailbox, spec) > 0 &&
	    strlen(spec) < outlen)
		strcpy(out, spec);
}

char *
inject_rcpt_addr(const struct rc_user *u, const char *name)
{
	const char	*dom = "localhost", *at;
	char		*s;

	if (strchr(name, '@') != NULL)
		return strdup(name);
	if (u->smtpname != NULL && (at = strchr(u->smtpname, '@')) != NULL)
		dom = at + 1;
	if (asprintf(&s, "%s@%s", name, dom) == -1)
		return NULL;
	return s;
}

void
inject_msg_free(struct inject_msg *m)
{
	size_t	 i;

	for (i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->srcpts);
	free(m->prefix);
	m->rcpts = NULL;
	m->srcpts = NULL;
	m->prefix = NULL;
	m->nrcpts = 0;
}
