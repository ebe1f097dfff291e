/*
 * Smart-host delivery: one flush, one connection, every due message.
 *
 * The common SMTP client pipelines the messages the batch hands it and
 * gives each back once all its recipients have a final reply; done()
 * writes those results to the queue at once, so a 250 is recorded before
 * the next message's reply is read.  Masquerading happens here, on the
 * copy that leaves: the envelope sender, and the header section sent as
 * the client's prefix while the body streams from the queued file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "atomic.h"
#include "log.h"
#include "net.h"
#include "smtp_client.h"
#include "stream.h"
#include "tls.h"
#include "authfile.h"
#include "oauth2.h"
#include "bounce.h"
#include "masquerade.h"
#include "relay.h"

#define RELAY_CONNECT_MS	60000
#define RELAY_MAX_IDS		100000
#define RELAY_PICKUP_SOCK	"mtad.sock"	/* mtad.h's MTAD_PICKUP_SOCK */
/*
 * Settled messages share one directory sync: when the smart host keeps us
 * waiting this long, or once this many wait (see queue_sync).
 */
#define RELAY_SYNC_IDLE_MS	5
#define RELAY_SYNC_MAX		64
/* How long smarthost-command may take to exit after our QUIT. */
#define RELAY_COMMAND_GRACE_MS	2000
/* After SIGTERM, how long the messages in flight may take to finish. */
#define RELAY_FINISH_SECS	6

struct outmsg {
	struct smtp_msg		 sm;
	struct qmsg		 m;
	struct smtp_rcpt	*rc;
	size_t			*idx;		/* queue index of rc[i] */
	char			 sender[2 * ADDR_MAX];
	char			*prefix;
	time_t			 start;
};

struct relay {
	const struct mtad_config *cf;
	struct queue		*q;
	struct masq		 masq;
	int			 masq_ok;
	int			 reportfd;
	volatile sig_atomic_t	*cancel;	/* start no more messages */
	volatile sig_atomic_t	*abandon;	/* stop waiting for replies */
	int			 forced;
	time_t			 now;
	char			 host[256];
	char			 port[32];
	char			 ip[64];
	char			 desc[400];	/* "host [ip]" for to= lines */
	char			(*ids)[QID_SIZE];
	size_t			 nids;
	size_t			 nextid;
	struct smtp_client	*c;
	uint64_t		 size_max;
	pid_t			 cmdpid;	/* smarthost-command's group */
	struct outmsg		*ahead;		/* prepared, not handed out */
};

static const time_t backoff_table[] = { 60, 300, 900, 1800 };

time_t
relay_backoff(unsigned tries)
{
	if (tries == 0)
		return 0;
	if (tries <= sizeof(backoff_table) / sizeof(backoff_table[0]))
		return backoff_table[tries - 1];
	return 3600;
}

/* --- what is due ----------------------------------------------------------- */

static int
rcpt_due(const struct qrcpt *r, time_t now, int forced)
{
	return !r->local && r->state == QR_PENDING &&
	    (forced || r->next_try <= now);
}

struct due_scan {
	struct queue	*q;
	time_t		 now;
	int		 forced;
	long		 n;
	time_t		 next;
	struct relay	*rl;		/* collect IDs when set */
};

static int
due_one(const char *id, void *arg)
{
	struct due_scan	*ds = arg;
	struct qmsg	 m;
	size_t		 i;
	int		 due = 0;

	if (queue_load(ds->q, id, &m) == -1)
		return 0;
	for (i = 0; i < m.nrcpts; i++) {
		const struct qrcpt *r = &m.rcpts[i];

		if (rcpt_due(r, ds->now, ds->forced))
			due = 1;
		else if (!r->local && r->state == QR_PENDING &&
		    (ds->next == 0 || r->next_try < ds->next))
			ds->next = r->next_try;
	}
	qmsg_free(&m);
	if (!due)
		return 0;
	ds->n++;
	if (ds->rl != NULL && ds->rl->nids < RELAY_MAX_IDS) {
		void *v = reallocarray(ds->rl->ids, ds->rl->nids + 1,
		    QID_SIZE);

		if (v == NULL)
			return -1;
		ds->rl->ids = v;
		memcpy(ds->rl->ids[ds->rl->nids++], id, QID_SIZE);
	}
	return 0;
}

long
relay_due(struct queue *q, time_t now, int forced, time_t *next)
{
	struct due_scan	ds = { q, now, forced, 0, 0, NULL };

	if (queue_scan(q, due_one, &ds) == -1)
		return -1;
	*next = ds.next;
	return ds.n;
}

int
relay_check_config(const struct mtad_config *cf, char *err, size_t errlen)
{
	struct authfile	af;
	struct masq	m;
	struct oauth2_account	acct;
	size_t		i;

	if (cf->auth != NULL) {
		if (authfile_load(cf->auth, &af, err, errlen) == -1)
			return -1;
		/* Account files are read, never used: no token at start-up. */
		for (i = 0; i < af.n; i++) {
			if (af.v[i].kind != AUTH_OAUTH2)
				continue;
			if (oauth2_load(af.v[i].secret, &acct, err,
			    errlen) == -1) {
				authfile_free(&af);
				return -1;
			}
			oauth2_free(&acct);
		}
		authfile_free(&af);
	}
	if (masq_init(&m, cf, err, errlen) == -1)
		return -1;
	masq_free(&m);
	return 0;
}

/* --- results --------------------------------------------------------------- */

static void
report(struct relay *rl, const char *what, const char *id)
{
	char	line[512];
	int	n;

	if (rl->reportfd == -1)
		return;
	n = snprintf(line, sizeof(line), "%s %s\n", what, id);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)write_all(rl->reportfd, line, n);
}

static void
hms(time_t secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	snprintf(buf, len, "%02lld:%02lld:%02lld", (long long)secs / 3600,
	    (long long)secs % 3600 / 60, (long long)secs % 60);
}

static void
log_to(struct relay *rl, const struct qmsg *m, const char *rcpt,
    time_t start, const char *stat, const char *why)
{
	char	delay[32], xdelay[32];
	time_t	now = time(NULL);

	hms(now - m->arrival, delay, sizeof(delay));
	hms(now - start, xdelay, sizeof(xdelay));
	log_info("%s: to=<%s>, delay=%s, xdelay=%s, mailer=relay, relay=%s, "
	    "stat=%s (%s)", m->id, rcpt, delay, xdelay, rl->desc, stat, why);
}

static int
expired(const struct relay *rl, const struct qmsg *m)
{
	return rl->cf->queue_lifetime > 0 &&
	    time(NULL) - m->arrival >= rl->cf->queue_lifetime;
}

enum outcome { OUT_SENT, OUT_DEFERRED, OUT_BOUNCED, OUT_UNTOUCHED };

/* One recipient's verdict, before it is written. */
struct verdict {
	size_t		 idx;		/* in the queued envelope */
	int		 code;		/* 0: no reply (connection, TLS...) */
	const char	*reply;		/* "250 2.0.0 ok" or our reason */
};

static enum outcome
classify(const struct relay *rl, const struct qmsg *m, int code)
{
	if (code >= 200 && code < 300)
		return OUT_SENT;
	if (code >= 500 || expired(rl, m))
		return OUT_BOUNCED;
	return OUT_DEFERRED;
}

/*
 * A DSN for a local sender is delivered by mtad's loop, not here: tell it
 * the ID over its pickup socket.  If the datagram is lost, mtad finds the
 * DSN when it next scans the queue.
 */
static void
poke_local(struct relay *rl, const char id[QID_SIZE])
{
	struct sockaddr_un	sun;
	char			msg[64];
	int			fd, n;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    rl->cf->spool, RELAY_PICKUP_SOCK) >= sizeof(sun.sun_path))
		return;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	n = snprintf(msg, sizeof(msg), "deliver %s", id);
	(void)sendto(fd, msg, n, MSG_DONTWAIT, (struct sockaddr *)&sun,
	    sizeof(sun));
	close(fd);
}

/* Write one group of results; m is refreshed from disk. */
static int
record(struct relay *rl, struct qmsg *m, struct qrcpt_update *u, size_t nu)
{
	if (nu == 0)
		return 0;
	return queue_update(rl->q, m, u, nu);
}

/*
 * Write the verdicts of one message to the queue, one update per kind:
 * deliveries first (a 250 is recorded before anything else can fail),
 * then one DSN for every bounced recipient and their update, then
 * deferrals.  n[] counts the outcomes.  m is refreshed from disk along the
 * way; datafd stays readable for the DSN even once the last recipient is
 * settled and the files are gone.
 */
static void
settle(struct relay *rl, struct qmsg *m, int datafd, struct verdict *v,
    size_t nv, time_t start, int n[4])
{
	struct bounce_rcpt	*br = NULL;
	struct qrcpt_update	*u;
	enum outcome		*cls;
	char			 newid[QID_SIZE];
	char			(*why)[SMTP_REPLY_TEXT_MAX + 64] = NULL;
	size_t			 i, nb = 0, nu;
	int			 rv = -1, local = 0;

	cls = calloc(nv, sizeof(*cls));
	u = calloc(nv, sizeof(*u));
	if (cls == NULL || u == NULL) {
		log_warn("%s: cannot record the results", m->id);
		free(cls);
		free(u);
		return;
	}
	for (i = 0; i < nv; i++)
		cls[i] = classify(rl, m, v[i].code);

	/* Deliveries first: a 250 is on disk before anything else. */
	for (i = 0, nu = 0; i < nv; i++) {
		if (cls[i] != OUT_SENT)
			continue;
		n[OUT_SENT]++;
		log_to(rl, m, m->rcpts[v[i].idx].addr, start, "Sent",
		    v[i].reply);
		u[nu].idx = v[i].idx;
		u[nu].state = QR_SENT;
		u[nu].error = v[i].reply;
		u[nu++].next_try = 0;
	}
	if (record(rl, m, u, nu) == -1) {
		char	 line[400];
		size_t	 len;

		for (i = 0; i < nu; i++)	/* m is as it was */
			log_warn("%s: delivered to <%s> but the queue could "
			    "not record it: it will be sent again", m->id,
			    m->rcpts[u[i].idx].addr);
		/* The runner retries the record before it flushes again. */
		len = (size_t)snprintf(line, sizeof(line), "%s", m->id);
		for (i = 0; i < nu && len < sizeof(line); i++)
			len += (size_t)snprintf(line + len, sizeof(line) - len,
			    " %zu", u[i].idx);
		if (len < sizeof(line))
			report(rl, "unrecorded", line);
	}

	/* One DSN for every bounced recipient, queued before they are
	 * settled. */
	for (i = 0; i < nv; i++)
		if (cls[i] == OUT_BOUNCED)
			nb++;
	if (nb > 0) {
		br = calloc(nb, sizeof(*br));
		why = calloc(nv, sizeof(*why));
		if (br != NULL && why != NULL) {
			for (i = 0, nb = 0; i < nv; i++) {
				if (cls[i] != OUT_BOUNCED)
					continue;
				if (v[i].code < 500)
					snprintf(why[i], sizeof(why[i]),
					    "4.4.7 Delivery time expired "
					    "(queue-lifetime); last: %s",
					    v[i].reply);
				else
					snprintf(why[i], sizeof(why[i]), "%s",
					    v[i].reply);
				br[nb].orig = m->rcpts[v[i].idx].addr;
				br[nb++].reason = why[i];
			}
			rv = bounce_queue(rl->cf, rl->q, m, datafd, br, nb,
			    newid, &local);
			if (rv == 1 && local)
				poke_local(rl, newid);
		}
		if (rv == -1)
			log_warn("%s: cannot queue a DSN; the recipients "
			    "wait", m->id);
		for (i = 0, nu = 0; i < nv; i++) {
			if (cls[i] != OUT_BOUNCED)
				continue;
			if (rv == -1) {
				cls[i] = OUT_DEFERRED;
				continue;
			}
			n[OUT_BOUNCED]++;
			log_to(rl, m, m->rcpts[v[i].idx].addr, start,
			    "Bounced", why[i]);
			u[nu].idx = v[i].idx;
			u[nu].state = QR_BOUNCED;
			u[nu].error = why[i];
			u[nu++].next_try = 0;
		}
		if (record(rl, m, u, nu) == -1)
			log_warn("%s: cannot record the bounce of %zu "
			    "recipient%s", m->id, nu, nu == 1 ? "" : "s");
	}

	for (i = 0, nu = 0; i < nv; i++) {
		const char *reply = why != NULL && why[i][0] ? why[i] :
		    v[i].reply;

		if (cls[i] != OUT_DEFERRED)
			continue;
		n[OUT_DEFERRED]++;
		log_to(rl, m, m->rcpts[v[i].idx].addr, start, "Deferred",
		    reply);
		u[nu].idx = v[i].idx;
		u[nu].state = QR_PENDING;
		u[nu].error = reply;
		u[nu++].next_try = time(NULL) +
		    relay_backoff(m->rcpts[v[i].idx].tries + 1);
	}
	if (record(rl, m, u, nu) == -1)
		log_warn("%s: cannot record the deferral of %zu recipient%s",
		    m->id, nu, nu == 1 ? "" : "s");
	free(br);
	free(why);
	free(u);
	free(cls);
}

static void
report_outcome(struct relay *rl, const char *id, const int n[4])
{
	if (n[OUT_DEFERRED] || n[OUT_UNTOUCHED])
		report(rl, "deferred", id);
	else if (n[OUT_BOUNCED])
		report(rl, "bounced", id);
	else if (n[OUT_SENT])
		report(rl, "sent", id);
}

/*
 * Every due recipient of message id, without talking to anyone.  reply
 * NULL: past queue-lifetime, each recipient's own last error is quoted.
 */
static void
settle_all(struct relay *rl, const char *id, int code, const char *reply)
{
	struct qmsg	 m;
	struct verdict	*v;
	size_t		 i, nv = 0;
	int		 n[4] = { 0, 0, 0, 0 }, fd;

	if (queue_load(rl->q, id, &m) == -1)
		return;
	if ((v = calloc(m.nrcpts, sizeof(*v))) == NULL ||
	    (fd = queue_open_data(rl->q, id)) == -1) {
		free(v);
		qmsg_free(&m);
		return;
	}
	for (i = 0; i < m.nrcpts; i++) {
		if (!rcpt_due(&m.rcpts[i], rl->now, rl->forced))
			continue;
		v[nv].idx = i;
		v[nv].code = code;
		v[nv++].reply = reply != NULL ? reply :
		    m.rcpts[i].last_error != NULL ? m.rcpts[i].last_error :
		    "never tried (the link stayed down)";
	}
	settle(rl, &m, fd, v, nv, time(NULL), n);
	report_outcome(rl, id, n);
	close(fd);
	free(v);
	qmsg_free(&m);
}

/*
 * Make the settlements so far durable.  They are already in the kernel (a
 * crashed mtad never sends them again); this is for a crash of the machine.
 */
static void
relay_sync(void *arg)
{
	struct relay	*rl = arg;
	unsigned	 n = rl->q->unsynced;

	if (n > 0 && queue_sync(rl->q) == -1)
		log_warn("flush: cannot sync the queue directory: after a "
		    "power failure the last %u settled message%s may be sent "
		    "again", n, n == 1 ? "" : "s");
}

/* --- deliveries a flush could not record ---------------------------------------- */

int
relay_record_late(struct queue *q, const char *line)
{
	struct qrcpt_update	 u[RELAY_LATE_RCPTS];
	struct qmsg		 m;
	char			 id[QID_SIZE], *end;
	const char		*p;
	unsigned long		 idx;
	size_t			 n = 0, i, k;
	int			 rv;

	if (strncmp(line, "unrecorded ", 11) != 0)
		return -1;
	p = line + 11;
	if (strlen(p) < QID_LEN || (p[QID_LEN] != ' ' && p[QID_LEN] != '\0'))
		return -1;
	memcpy(id, p, QID_LEN);
	id[QID_LEN] = '\0';
	if (!queue_valid_id(id))
		return -1;
	if (queue_load(q, id, &m) == -1)
		return errno == ENOENT ? 1 : 0;
	for (p += QID_LEN; *p == ' '; p = end) {
		errno = 0;
		idx = strtoul(p + 1, &end, 10);
		if (end == p + 1 || errno != 0 || idx >= m.nrcpts) {
			qmsg_free(&m);
			return -1;
		}
		if (m.rcpts[idx].state != QR_PENDING || n == RELAY_LATE_RCPTS)
			continue;
		u[n].idx = idx;
		u[n].state = QR_SENT;
		u[n].error = "delivered; recorded late, after a failed write";
		u[n++].next_try = 0;
	}
	if (*p != '\0') {
		qmsg_free(&m);
		return -1;
	}
	rv = n == 0 || queue_update(q, &m, u, n) == 0 ? 1 : 0;
	for (i = 0; rv == 1 && i < n; i++) {
		k = u[i].idx;
		if (k < m.nrcpts)
			log_info("%s: the delivery to <%s> is recorded now",
			    id, m.rcpts[k].addr);
	}
	qmsg_free(&m);
	return rv;
}

/* --- expiry while no flush runs ------------------------------------------------ */

struct expire_scan {
	struct relay	*rl;
	time_t		 next;
	long		 n;
};

static int
expire_one(const char *id, void *arg)
{
	struct expire_scan	*es = arg;
	struct relay		*rl = es->rl;
	struct qmsg		 m;
	time_t			 when;
	size_t			 i;
	int			 remote = 0;

	if (queue_load(rl->q, id, &m) == -1)
		return 0;
	for (i = 0; i < m.nrcpts; i++)
		if (!m.rcpts[i].local && m.rcpts[i].state == QR_PENDING)
			remote = 1;
	when = m.arrival + rl->cf->queue_lifetime;
	qmsg_free(&m);
	if (!remote)
		return 0;
	if (when > rl->now) {
		if (es->next == 0 || when < es->next)
			es->next = when;
		return 0;
	}
	settle_all(rl, id, 0, NULL);
	es->n++;
	return 0;
}

long
relay_expire(const struct mtad_config *cf, struct queue *q, time_t now,
    time_t *next)
{
	struct relay		rl;
	struct expire_scan	es;

	*next = 0;
	if (cf->queue_lifetime <= 0)
		return 0;
	memset(&rl, 0, sizeof(rl));
	rl.cf = cf;
	rl.q = q;
	rl.reportfd = -1;
	rl.forced = 1;		/* every pending recipient, backoff or not */
	rl.now = now;
	snprintf(rl.desc, sizeof(rl.desc), "%s", cf->smarthost != NULL ?
	    cf->smarthost : cf->smarthost_command != NULL ?
	    "smarthost-command" : "none");
	memset(&es, 0, sizeof(es));
	es.rl = &rl;
	if (queue_scan(q, expire_one, &es) == -1)
		return -1;
	*next = es.next;
	return es.n;
}

/* --- the batch --------------------------------------------------------------- */

static void
outmsg_free(struct outmsg *om)
{
	if (om->sm.fd != -1)
		close(om->sm.fd);
	free(om->prefix);
	free(om->rc);
	free(om->idx);
	qmsg_free(&om->m);
	free(om);
}

/* The rewritten header section; the body follows from the file. */
static int
prepare_data(struct relay *rl, struct outmsg *om)
{
	char	*buf;
	ssize_t	 n;
	size_t	 len = 0, cap = 64 * 1024, hlen;

	if ((om->sm.fd = queue_open_data(rl->q, om->m.id)) == -1)
		return -1;
	om->sm.offset = 0;
	if (!rl->masq_ok || !rl->masq.headers)
		return 0;
	if ((buf = malloc(cap)) == NULL)
		return -1;
	/* Read until the end of the header section, bounded. */
	for (;;) {
		n = pread(om->sm.fd, buf + len, cap - len, len);
		if (n == -1) {
			free(buf);
			return -1;
		}
		len += n;
		hlen = masq_header_length(buf, len);
		if (n == 0 || hlen < len || len >= MASQ_MAX_HEADER)
			break;
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);

			if (nb == NULL) {
				free(buf);
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
	}
	hlen = masq_header_length(buf, len);
	if (hlen > MASQ_MAX_HEADER ||
	    masq_headers(&rl->masq, buf, hlen, &om->prefix,
	    &om->sm.prefixlen) == -1) {
		free(buf);
		om->prefix = NULL;
		om->sm.prefixlen = 0;
		return 0;	/* sent as it is */
	}
	free(buf);
	om->sm.prefix = om->prefix;
	om->sm.offset = hlen;
	return 0;
}

static struct outmsg *
outmsg_new(struct relay *rl, const char *id)
{
	struct outmsg	*om;
	size_t		 i, n = 0;
	int		 r;
	char		 reason[256];

	if ((om = calloc(1, sizeof(*om))) == NULL)
		return NULL;
	om->sm.fd = -1;
	om->start = time(NULL);
	if (queue_load(rl->q, id, &om->m) == -1) {
		free(om);
		return NULL;
	}
	for (i = 0; i < om->m.nrcpts; i++)
		if (rcpt_due(&om->m.rcpts[i], rl->now, rl->forced))
			n++;
	if (n == 0)
		goto skip;
	if (expired(rl, &om->m)) {
		settle_all(rl, id, 0, NULL);
		goto skip;
	}
	if (rl->size_max != 0 && om->m.size > rl->size_max) {
		snprintf(reason, sizeof(reason), "552 5.3.4 Message size "
		    "%llu exceeds the smart host's limit of %llu",
		    (unsigned long long)om->m.size,
		    (unsigned long long)rl->size_max);
		settle_all(rl, id, 552, reason);
		goto skip;
	}
	om->rc = calloc(n, sizeof(*om->rc));
	om->idx = calloc(n, sizeof(*om->idx));
	if (om->rc == NULL || om->idx == NULL)
		goto fail;
	for (i = 0, n = 0; i < om->m.nrcpts; i++) {
		if (!rcpt_due(&om->m.rcpts[i], rl->now, rl->forced))
			continue;
		om->rc[n].addr = om->m.rcpts[i].addr;
		om->idx[n++] = i;
	}
	r = rl->masq_ok ? masq_address(&rl->masq, om->m.sender, om->sender,
	    sizeof(om->sender)) : 0;
	if (r != 1)
		snprintf(om->sender, sizeof(om->sender), "%s", om->m.sender);
	if (prepare_data(rl, om) == -1) {
		log_warn("%s: cannot read the queued message", id);
		goto fail;
	}
	om->sm.sender = om->sender;
	om->sm.rcpts = om->rc;
	om->sm.nrcpts = n;
	om->sm.eightbit = om->m.body8bit;
	om->sm.arg = om;
	return om;
skip:
fail:
	outmsg_free(om);
	return NULL;
}

static struct outmsg *
next_outmsg(struct relay *rl)
{
	struct outmsg	*om;

	while (rl->nextid < rl->nids) {
		if (*rl->cancel)
			return NULL;
		om = outmsg_new(rl, rl->ids[rl->nextid++]);
		if (om != NULL)
			return om;
	}
	return NULL;
}

static struct smtp_msg *
batch_next(void *arg)
{
	struct relay	*rl = arg;
	struct outmsg	*om;

	if ((om = rl->ahead) != NULL)
		rl->ahead = NULL;
	else
		om = next_outmsg(rl);
	if (om != NULL && *rl->cancel) {
		outmsg_free(om);	/* never sent: stays as it was */
		return NULL;
	}
	return om != NULL ? &om->sm : NULL;
}

/* A prepared message the flush did not get to send: back to the list. */
static void
unprepare(struct relay *rl)
{
	if (rl->ahead == NULL)
		return;
	outmsg_free(rl->ahead);
	rl->ahead = NULL;
	rl->nextid--;
}

static void
batch_done(void *arg, struct smtp_msg *sm)
{
	struct relay	*rl = arg;
	struct outmsg	*om = sm->arg;
	struct verdict	*v;
	char		(*reply)[SMTP_REPLY_TEXT_MAX + 64];
	const char	*err;
	size_t		 i, nv = 0;
	int		 n[4] = { 0, 0, 0, 0 };
	char		 id[QID_SIZE];

	memcpy(id, om->m.id, QID_SIZE);
	v = calloc(sm->nrcpts, sizeof(*v));
	reply = calloc(sm->nrcpts, sizeof(*reply));
	if (v == NULL || reply == NULL) {
		/* Nothing recorded: what was sent is sent again (logged). */
		log_warn("%s: cannot record the results", id);
		n[OUT_UNTOUCHED]++;
		goto out;
	}
	for (i = 0; i < sm->nrcpts; i++) {
		const struct smtp_reply *r = &sm->rcpts[i].reply;

		if (r->code == 0 && *rl->abandon) {
			/* given up on (stop, link down): it stays as it was */
			n[OUT_UNTOUCHED]++;
			continue;
		}
		smtp_reply_format(r, reply[i], sizeof(reply[i]));
		if (r->code == 0 && reply[i][0] == '\0') {
			err = smtp_error(rl->c);
			snprintf(reply[i], sizeof(reply[i]), "%s",
			    err != NULL && *err != '\0' ? err :
			    "connection lost");
		}
		v[nv].idx = om->idx[i];
		v[nv].code = r->code;
		v[nv++].reply = reply[i];
	}
	settle(rl, &om->m, om->sm.fd, v, nv, om->start, n);
out:
	report_outcome(rl, id, n);
	free(v);
	free(reply);
	outmsg_free(om);
	if (rl->q->unsynced >= RELAY_SYNC_MAX)
		relay_sync(rl);
	/* The client is about to wait for the server: prepare the message
	 * after the next now rather than while the line waits for it. */
	if (rl->ahead == NULL)
		rl->ahead = next_outmsg(rl);
}

/* --- the connection ---------------------------------------------------------- */

static struct stream *
open_socket(struct relay *rl, char *err, size_t errlen)
{
	struct stream	*st;
	const char	*defport;
	int		 fd;

	defport = rl->cf->smarthost_tls == SMARTHOST_SMTPS ? "465" : "25";
	if (net_split_hostport(rl->cf->smarthost, defport, rl->host,
	    sizeof(rl->host), rl->port, sizeof(rl->port)) == -1) {
		snprintf(err, errlen, "bad smarthost %s", rl->cf->smarthost);
		return NULL;
	}
	snprintf(rl->desc, sizeof(rl->desc), "%s", rl->host);
	fd = net_connect(rl->host, rl->port, NULL, RELAY_CONNECT_MS, rl->ip,
	    sizeof(rl->ip), err, errlen);
	if (fd == -1)
		return NULL;
	snprintf(rl->desc, sizeof(rl->desc), "%s [%s]", rl->host, rl->ip);
	if ((st = stream_socket(fd, 0, err, errlen)) == NULL)
		close(fd);
	return st;
}

/* Each line the command writes to stderr becomes a log line. */
static void
log_stderr(int fd)
{
	char	 buf[1024];
	size_t	 len = 0;
	ssize_t	 n;
	char	*nl;

	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n')) != NULL ||
		    len == sizeof(buf) - 1) {
			if (nl == NULL)
				nl = buf + len - 1;
			*nl = '\0';
			log_warnx("smarthost-command: %s", buf);
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len + 1);
		}
	}
	if (len > 0)
		log_warnx("smarthost-command: %s", buf);
}

/* SMTP over `sh -c CMD`'s stdio (an SSH tunnel to a private relay). */
static struct stream *
open_command(struct relay *rl, char *err, size_t errlen)
{
	struct stream	*st;
	int		 in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int		 ep[2] = { -1, -1 };
	pid_t		 pid;

	snprintf(rl->host, sizeof(rl->host), "smarthost-command");
	snprintf(rl->desc, sizeof(rl->desc), "[%s]", rl->cf->smarthost_command);
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    pipe2(ep, O_CLOEXEC) == -1)
		goto fail;
	if ((pid = fork()) == -1)
		goto fail;
	if (pid == 0) {
		/* Its own process group: an ssh and what it spawned go
		 * together when the flush ends or gives up on them. */
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(ep[1], 2);
		execl("/bin/sh", "sh", "-c", rl->cf->smarthost_command,
		    (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	rl->cmdpid = pid;
	close(in[0]);
	close(out[1]);
	close(ep[1]);
	in[0] = out[1] = ep[1] = -1;
	if ((pid = fork()) == 0) {
		/* Only the command's stderr: the runner waits for EOF on
		 * the report pipe, which must not outlive this flush. */
		close(in[1]);
		close(out[0]);
		close(rl->reportfd);
		log_stderr(ep[0]);
		_exit(0);
	}
	close(ep[0]);
	if ((st = stream_fds(out[0], in[1], 0, err, errlen)) == NULL) {
		close(out[0]);
		close(in[1]);
	}
	return st;
fail:
	snprintf(err, errlen, "smarthost-command: %s", strerror(errno));
	for (pid = 0; pid < 2; pid++) {
		if (in[pid] != -1)
			close(in[pid]);
		if (out[pid] != -1)
			close(out[pid]);
		if (ep[pid] != -1)
			close(ep[pid]);
	}
	return NULL;
}

/*
 * The flush is over (its stdin is closed): smarthost-command gets a moment
 * to exit, then its process group is killed.  A command that stalled (the
 * smart-host timeout) is not waited for.
 */
static void
end_command(struct relay *rl, int stalled)
{
	int	ms, status;

	if (rl->cmdpid <= 0)
		return;
	for (ms = 0; !stalled && ms < RELAY_COMMAND_GRACE_MS; ms += 50) {
		if (waitpid(rl->cmdpid, &status, WNOHANG) == rl->cmdpid) {
			kill(-rl->cmdpid, SIGTERM);	/* what it left */
			rl->cmdpid = 0;
			return;
		}
		usleep(50 * 1000);
	}
	log_info("flush: ending smarthost-command (process group %ld)",
	    (long)rl->cmdpid);
	kill(-rl->cmdpid, SIGTERM);
	for (ms = 0; ms < RELAY_COMMAND_GRACE_MS; ms += 50) {
		if (waitpid(rl->cmdpid, &status, WNOHANG) == rl->cmdpid)
			break;
		usleep(50 * 1000);
	}
	kill(-rl->cmdpid, SIGKILL);
	(void)waitpid(rl->cmdpid, &status, 0);
	rl->cmdpid = 0;
}

/* A flush that cannot talk to the smart host: every due message waits. */
static void
connfail(struct relay *rl, const char *reason)
{
	size_t	i;

	log_warnx("flush: %s", reason);
	for (i = 0; i < rl->nids && !*rl->cancel; i++)
		settle_all(rl, rl->ids[i], 0, reason);
	report(rl, "connfail", reason);
}

/*
 * Connect, greet, STARTTLS and authenticate: 0 with rl->c ready, or -1
 * with why set and *authfail saying whether AUTH was what failed.
 */
static int
open_session(struct relay *rl, const struct smtp_params *p, char *why,
    size_t whylen, int *authfail)
{
	const struct smtp_reply	*r;
	struct stream		*st;
	char			 err[1024], rtext[SMTP_REPLY_TEXT_MAX + 32];

	*authfail = 0;
	st = rl->cf->smarthost_command != NULL ? open_command(rl, err,
	    sizeof(err)) : open_socket(rl, err, sizeof(err));
	if (st == NULL) {
		snprintf(why, whylen, "%s: %s", rl->desc, err);
		return -1;
	}
	stream_set_cancel(st, rl->abandon);
	stream_set_idle(st, RELAY_SYNC_IDLE_MS, relay_sync, rl);
	if ((rl->c = smtp_client_new(st, p)) == NULL) {
		stream_close(st);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (smtp_hello(rl->c) == 0)
		return 0;
	*authfail = smtp_error_kind(rl->c) == SMTP_ERR_AUTH;
	r = smtp_error_reply(rl->c);
	if (r != NULL && r->code != 0) {
		smtp_reply_format(r, rtext, sizeof(rtext));
		snprintf(why, whylen, "%s: %s (server said: %s)", rl->desc,
		    smtp_error(rl->c), rtext);
	} else
		snprintf(why, whylen, "%s: %s", rl->desc, smtp_error(rl->c));
	smtp_client_free(rl->c);
	rl->c = NULL;
	return -1;
}

/*
 * SIGTERM (link down, mtad stopping): no new message is started, but the
 * ones already sent get their replies read and recorded -- a 250 cut off
 * would send the message again -- for at most RELAY_FINISH_SECS (SIGALRM),
 * or until a second SIGTERM.  Before the messages flow there is nothing
 * to finish: the flush stops at once.
 */
static volatile sig_atomic_t *cancel_flag;
static volatile sig_atomic_t abandon_flag, sending_flag;

static void
on_cancel(int sig)
{
	(void)sig;
	if (cancel_flag == NULL)
		return;
	if (!sending_flag || *cancel_flag)
		abandon_flag = 1;
	else
		alarm(RELAY_FINISH_SECS);
	*cancel_flag = 1;
}

static void
on_finish_timeout(int sig)
{
	(void)sig;
	abandon_flag = 1;
}

/* --- the runner's token cache ------------------------------------------- */

/*
 * Hand the token this flush ended with back to the runner unless it has
 * it already: a new one after a login, or the refused one with expiry 0
 * when no new one came, so the next flush does not try it again.  One
 * good for this login only (expires now) replaces the runner's as well.
 */
static void
report_token(struct relay *rl, const struct oauth2_account *a,
    const struct oauth2_account *cached)
{
	char	*line;
	size_t	 n;

	if (a->access_token == NULL || strchr(a->path, '\n') != NULL)
		return;
	if (cached != NULL && cached->access_token != NULL &&
	    strcmp(cached->access_token, a->access_token) == 0 &&
	    cached->expires == a->expires)
		return;
	n = strlen(a->path) + strlen(a->access_token) + 48;
	if (n > RELAY_REPORT_MAX || (line = malloc(n)) == NULL)
		return;
	snprintf(line, n, "oauth2 %lld %s %s\n", (long long)a->expires,
	    a->access_token, a->path);
	(void)write_all(rl->reportfd, line, strlen(line));
	explicit_bzero(line, n);
	free(line);
}

int
relay_token_line(const char *line, struct oauth2_account *cache)
{
	const char	*tok, *sp, *path;
	char		*end, *t, *np;
	long long	 expires;
	int		 rv = -1;

	if (strncmp(line, "oauth2 ", 7) != 0)
		return 0;
	errno = 0;
	expires = strtoll(line + 7, &end, 10);
	if (errno != 0 || end == line + 7 || *end != ' ')
		return -1;
	tok = end + 1;
	if ((sp = strchr(tok, ' ')) == NULL || sp == tok || sp[1] == '\0')
		return -1;
	path = sp + 1;
	if ((t = strndup(tok, sp - tok)) == NULL)
		return -1;
	if ((np = strdup(path)) != NULL &&
	    oauth2_cache_set(cache, t, (time_t)expires) == 0) {
		free(cache->path);
		cache->path = np;
		np = NULL;
		rv = 1;
	}
	free(np);
	explicit_bzero(t, strlen(t));
	free(t);
	return rv;
}

int
relay_flush(const struct mtad_config *cf, struct queue *q, int forced,
    int reportfd, volatile sig_atomic_t *cancel,
    const struct oauth2_account *token)
{
	struct relay			 rl;
	struct due_scan			 ds;
	struct sigaction		 sa;
	struct smtp_params		 p;
	struct smtp_creds		 creds;
	struct authfile			 af = { NULL, 0 };
	const struct auth_entry		*ae = NULL;
	struct oauth2_account		 acct;
	int				 have_acct = 0, attempt, authfail, rv;
	int				 quit = 0;
	const struct smtp_caps		*caps;
	struct smtp_batch		 b;
	SSL_CTX				*ctx = NULL;
	char				 err[1024], why[SMTP_REPLY_TEXT_MAX + 1200];

	memset(&rl, 0, sizeof(rl));
	rl.cf = cf;
	rl.q = q;
	rl.reportfd = reportfd;
	rl.cancel = cancel;
	rl.abandon = &abandon_flag;
	rl.forced = forced;
	rl.now = time(NULL);
	snprintf(rl.desc, sizeof(rl.desc), "%s", cf->smarthost != NULL ?
	    cf->smarthost : "none");

	cancel_flag = cancel;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_cancel;	/* no SA_RESTART: waits notice at once */
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_finish_timeout;
	sigaction(SIGALRM, &sa, NULL);
	if (*cancel)
		abandon_flag = 1;
	signal(SIGPIPE, SIG_IGN);

	memset(&ds, 0, sizeof(ds));
	ds.q = q;
	ds.now = rl.now;
	ds.forced = forced;
	ds.rl = &rl;
	if (queue_scan(q, due_one, &ds) == -1) {
		log_warn("flush: cannot scan the queue");
		return 1;
	}
	if (rl.nids == 0)
		return 0;	/* nothing due: no connection at all */
	q->defer_sync = 1;

	if (masq_init(&rl.masq, cf, err, sizeof(err)) == -1)
		log_warnx("flush: %s; sending without masquerading", err);
	else
		rl.masq_ok = 1;
	if (cf->smarthost == NULL && cf->smarthost_command == NULL) {
		connfail(&rl, "no smarthost configured");
		goto out;
	}
	if (cf->auth != NULL) {
		if (authfile_load(cf->auth, &af, err, sizeof(err)) == -1) {
			connfail(&rl, err);
			goto out;
		}
	}

	memset(&p, 0, sizeof(p));
	p.helo = cf->hostname;
	p.host = rl.host;
	p.tls = SMTP_TLS_NONE;
	if (cf->smarthost_command == NULL &&
	    cf->smarthost_tls != SMARTHOST_NONE) {
		p.tls = cf->smarthost_tls == SMARTHOST_SMTPS ?
		    SMTP_TLS_IMPLICIT : SMTP_TLS_STARTTLS;
		if ((ctx = tls_client_ctx(cf->tls_ca_file, 1, err,
		    sizeof(err))) == NULL) {
			connfail(&rl, err);
			goto out;
		}
		p.ssl_ctx = ctx;
	}
	p.plain_auth_ok = p.tls == SMTP_TLS_NONE;
	/* Every wait, a smarthost-command's output included: a silent
	 * smart host defers the mail like a dropped connection. */
	p.timeout_ms = (int)cf->smarthost_timeout * 1000;
	/* The auth entry is chosen before connecting (the token is fetched
	 * first); the openers set the same rl.host again. */
	if (cf->smarthost_command != NULL)
		snprintf(rl.host, sizeof(rl.host), "smarthost-command");
	else if (net_split_hostport(cf->smarthost, cf->smarthost_tls ==
	    SMARTHOST_SMTPS ? "465" : "25", rl.host, sizeof(rl.host), rl.port,
	    sizeof(rl.port)) == -1) {
		snprintf(why, sizeof(why), "bad smarthost %s", cf->smarthost);
		connfail(&rl, why);
		goto out;
	}
	ae = authfile_lookup(&af, rl.host);
	if (ae != NULL) {
		memset(&creds, 0, sizeof(creds));
		creds.user = ae->user;
		if (ae->kind == AUTH_OAUTH2) {
			if (oauth2_load(ae->secret, &acct, err,
			    sizeof(err)) == -1) {
				snprintf(why, sizeof(why), "auth: %s", err);
				connfail(&rl, why);
				goto out;
			}
			have_acct = 1;
			acct.cancel = cancel;
			/* The runner's token, if it is this account's. */
			if (token != NULL && token->path != NULL &&
			    token->access_token != NULL &&
			    strcmp(token->path, acct.path) == 0)
				(void)oauth2_cache_set(&acct,
				    token->access_token, token->expires);
			if (oauth2_token(&acct, 0, cf->tls_ca_file, &creds.token,
			    err, sizeof(err)) != OAUTH2_OK) {
				snprintf(why, sizeof(why), "auth: oauth2: %s",
				    err);
				connfail(&rl, why);
				goto out;
			}
		} else
			creds.password = ae->secret;
		p.creds = &creds;
	}
	for (attempt = 0;; attempt++) {
		if (open_session(&rl, &p, why, sizeof(why), &authfail) == 0)
			break;
		end_command(&rl, 1);
		if (!authfail || !have_acct || attempt > 0 || *cancel) {
			connfail(&rl, why);
			goto out;
		}
		/* The cached or just-issued token may have been revoked or
		 * expired early: one fresh token, one more try. */
		log_info("flush: %s: AUTH refused; refreshing the oauth2 "
		    "access token and retrying once", rl.desc);
		if (oauth2_token(&acct, 1, cf->tls_ca_file, &creds.token, err,
		    sizeof(err)) != OAUTH2_OK) {
			acct.expires = 0;
			report_token(&rl, &acct, token);
			snprintf(why, sizeof(why), "auth: oauth2: %s", err);
			connfail(&rl, why);
			goto out;
		}
	}
	if (have_acct)
		report_token(&rl, &acct, token);
	caps = smtp_caps(rl.c);
	rl.size_max = caps->flags & SMTP_CAP_SIZE ? caps->size_max : 0;

	b.next = batch_next;
	b.done = batch_done;
	b.arg = &rl;
	sending_flag = 1;
	if (*cancel)
		abandon_flag = 1;	/* SIGTERM came during the login */
	rv = smtp_send_batch(rl.c, &b);
	sending_flag = 0;
	unprepare(&rl);
	if (*cancel)
		abandon_flag = 1;	/* no QUIT dialogue to wait for */
	if (rv == -1) {
		if (*cancel)
			log_info("flush: interrupted (link down or stop)");
		else {
			snprintf(why, sizeof(why), "%s: %s", rl.desc,
			    smtp_error(rl.c));
			/* What was never handed out waits for the next flush. */
			log_warnx("flush: %s", why);
			report(&rl, "connfail", why);
			while (rl.nextid < rl.nids)
				settle_all(&rl, rl.ids[rl.nextid++], 0, why);
		}
	} else if (*cancel)
		log_info("flush: stopped after the messages in hand (link down "
		    "or stop)");
	else {
		smtp_quit(rl.c);
		quit = 1;
	}
	smtp_client_free(rl.c);
out:
	end_command(&rl, !quit);
	relay_sync(&rl);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	authfile_free(&af);
	if (have_acct)
		oauth2_free(&acct);
	if (rl.masq_ok)
		masq_free(&rl.masq);
	free(rl.ids);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	return 0;
}
