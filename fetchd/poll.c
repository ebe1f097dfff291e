/*
 * One poll of one user's mailbox (see poll.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "fetch.h"
#include "inject.h"
#include "log.h"
#include "multidrop.h"
#include "poll.h"

#define SPOOL_BUF	65536
#define HDR_MAX		(256 * 1024)	/* header section looked at */

struct item {
	struct fetch_msg	*fm;
	size_t			 index;		/* I of N, from 1 */
	int			 fd;
	int			 complete;
	int			 journaled;
	size_t			 skipped;	/* recipients who have it */
	char			*hdr;
	size_t			 hdrlen;
	char			*head;		/* dropdelivered: sent */
	struct inject_msg	 im;
};

struct session {
	struct poll_run		*run;
	const struct rc_poll	*p;
	const struct rc_user	*u;
	const char		*host;
	char			 acct[1024];
	struct fetch_conn	 fc;
	struct inject		 in;
	size_t			 total;		/* messages on the server */
	int			 spool_err;
	int			 journal_err;
	size_t			 wlen;
	char			 wbuf[SPOOL_BUF];
};

static int
spool_open(void)
{
	const char	*dir = getenv("TMPDIR");
	char		 path[4096];
	int		 fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if ((fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) != -1)
		return fd;
	snprintf(path, sizeof(path), "%s/fetchd.XXXXXX", dir);
	if ((fd = mkostemp(path, O_CLOEXEC)) != -1)
		unlink(path);
	return fd;
}

static int
spool_flush(struct session *s, struct item *it)
{
	int	 r = 0;

	if (s->wlen > 0 && it->fd != -1)
		r = write_all(it->fd, s->wbuf, s->wlen);
	s->wlen = 0;
	return r;
}

static int
sink_begin(void *arg, struct fetch_msg *m)
{
	struct session	*s = arg;
	struct item	*it = m->arg;

	s->wlen = 0;
	if ((it->fd = spool_open()) == -1) {
		log_warn("cannot spool message %zu", it->index);
		s->spool_err = 1;
		return -1;
	}
	return 0;
}

static int
sink_data(void *arg, struct fetch_msg *m, const char *buf, size_t len)
{
	struct session	*s = arg;
	struct item	*it = m->arg;

	if (len > sizeof(s->wbuf) - s->wlen) {
		if (spool_flush(s, it) == -1)
			goto fail;
		if (len > sizeof(s->wbuf))
			return write_all(it->fd, buf, len) == -1 ? -1 : 0;
	}
	memcpy(s->wbuf + s->wlen, buf, len);
	s->wlen += len;
	return 0;
fail:
	log_warn("cannot spool message %zu", it->index);
	s->spool_err = 1;
	return -1;
}

static void
sink_end(void *arg, struct fetch_msg *m, int complete)
{
	struct session	*s = arg;
	struct item	*it = m->arg;

	if (complete && spool_flush(s, it) == -1) {
		log_warn("cannot spool message %zu", it->index);
		s->spool_err = 1;
		complete = 0;
	}
	s->wlen = 0;
	it->complete = complete && it->fd != -1;
}

/* Read the header section of a spooled message, no more of it. */
static int
read_header(struct item *it)
{
	size_t	 cap = 8192, len = 0;
	ssize_t	 n;
	char	*buf = NULL, *nb, *end;

	for (;;) {
		if ((nb = realloc(buf, cap + 1)) == NULL)
			goto fail;
		buf = nb;
		if ((n = pread(it->fd, buf + len, cap - len, (off_t)len)) == -1)
			goto fail;
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = memmem(buf, len, "\n\r\n", 3)) != NULL ||
		    (end = memmem(buf, len, "\n\n", 2)) != NULL) {
			len = (size_t)(end - buf) + 1;
			break;
		}
		if (n == 0 || len >= HDR_MAX)
			break;
		cap = cap * 2 > HDR_MAX ? HDR_MAX : cap * 2;
	}
	if ((nb = realloc(buf, len + 1)) != NULL)
		buf = nb;
	buf[len] = '\0';
	it->hdr = buf;
	it->hdrlen = len;
	return 0;
fail:
	free(buf);
	return -1;
}

static int
add_rcpt(struct session *s, struct item *it, const char *name)
{
	struct inject_msg	*im = &it->im;
	char			**v, *a;
	size_t			  i;

	if ((a = inject_rcpt_addr(s->u, name)) == NULL)
		return -1;
	/* An earlier poll delivered it to this one, deferred by others. */
	if (it->fm->uid[0] != '\0' && uidstore_rcpt_done(s->run->us,
	    s->acct, it->fm->uid, a)) {
		log_info("message %s:%zu: already delivered to <%s>", s->acct,
		    it->index, a);
		it->skipped++;
		free(a);
		return 0;
	}
	for (i = 0; i < im->nrcpts; i++)
		if (strcasecmp(im->rcpts[i], a) == 0) {
			free(a);
			return 0;	/* one copy per local user */
		}
	if ((v = reallocarray(im->rcpts, im->nrcpts + 1, sizeof(*v))) ==
	    NULL) {
		free(a);
		return -1;
	}
	im->rcpts = v;
	im->rcpts[im->nrcpts++] = a;
	return 0;
}

/*
 * dropdelivered, as fetchmail: the message goes on without its
 * Delivered-To: fields (the header read, up to its last whole line, is
 * sent from memory in place of the spooled one).  Recipients are found
 * before, in the header as fetched.
 */
static int
drop_delivered(struct item *it)
{
	const char	*p = it->hdr, *end, *eol;
	size_t		 n = 0, len;
	int		 drop = 0;

	if ((end = memrchr(p, '\n', it->hdrlen)) == NULL)
		return 0;
	len = (size_t)(end - p) + 1;
	if ((it->head = malloc(len)) == NULL)
		return -1;
	for (; p < it->hdr + len; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(it->hdr + len - p));
		if (*p != ' ' && *p != '\t')
			drop = (size_t)(eol - p) >= 13 &&
			    strncasecmp(p, "Delivered-To:", 13) == 0;
		if (drop)
			continue;
		memcpy(it->head + n, p, (size_t)(eol - p) + 1);
		n += (size_t)(eol - p) + 1;
	}
	it->im.head = it->head;
	it->im.headlen = n;
	it->im.skip = (off_t)len;
	return 0;
}

/* Envelope of one message: sender, local recipients. */
static int
prepare(struct session *s, struct item *it)
{
	const struct rc_user	*u = s->u;
	struct md_rcpts		 r;
	size_t			 i;
	int			 rv = 0;

	memset(&it->im, 0, sizeof(it->im));
	it->im.fd = it->fd;
	it->im.arg = it;
	if (read_header(it) == -1)
		return -1;
	it->im.hdr = it->hdr;
	it->im.hdrlen = it->hdrlen;
	inject_sender(it->hdr, it->hdrlen, it->im.sender,
	    sizeof(it->im.sender));
	if (u->dropdelivered == RC_YES && drop_delivered(it) == -1)
		return -1;
	if (!rc_user_multidrop(u)) {
		if (u->smtpname != NULL)
			return add_rcpt(s, it, u->smtpname);
		return add_rcpt(s, it, u->names[0].local != NULL ?
		    u->names[0].local : u->names[0].remote);
	}
	memset(&r, 0, sizeof(r));
	if (multidrop_rcpts(it->hdr, it->hdrlen, s->p, u,
	    s->run->cfg->run.postmaster, &r) == -1)
		return -1;
	for (i = 0; i < r.n && rv == 0; i++)
		rv = add_rcpt(s, it, r.v[i]);
	if (r.postmaster)
		log_info("message %s:%zu: no local recipient found, "
		    "delivering to postmaster %s", s->acct, it->index, r.v[0]);
	md_rcpts_free(&r);
	return rv;
}

/* Called as each message settles with the SMTP server: journal it now. */
static void
settled(void *arg, struct inject_msg *im)
{
	struct session	*s = arg;
	struct item	*it = im->arg;
	const char	*uid = it->fm->uid;

	if (uid[0] == '\0')
		return;		/* no UIDL: nothing to journal with */
	if (s->journal_err)
		return;
	if (uidstore_journal(s->run->us, s->acct, &uid, 1) == -1) {
		log_warn("%s: cannot write the journal; no message will be "
		    "deleted in this poll", s->run->us->jpath);
		s->journal_err = 1;
		return;
	}
	it->journaled = 1;
}

/* Deferred after some recipients accepted it: journal those now. */
static void
partial(void *arg, struct inject_msg *im)
{
	struct session	*s = arg;
	struct item	*it = im->arg;
	size_t		 i;

	if (it->fm->uid[0] == '\0' || s->journal_err)
		return;
	for (i = 0; i < im->nrcpts; i++) {
		if (im->srcpts[i].reply.code / 100 != 2)
			continue;
		if (uidstore_journal_rcpt(s->run->us, s->acct, it->fm->uid,
		    im->rcpts[i]) == -1) {
			log_warn("%s: cannot write the journal; no message "
			    "will be deleted in this poll", s->run->us->jpath);
			s->journal_err = 1;
			return;
		}
	}
}

static void
item_free(struct item *it)
{
	if (it->fd != -1)
		close(it->fd);
	it->fd = -1;
	free(it->hdr);
	it->hdr = NULL;
	free(it->head);
	it->head = NULL;
	inject_msg_free(&it->im);
}

static int
is_settled(const struct item *it)
{
	return it->complete && (it->im.result == INJ_DELIVERED ||
	    it->im.result == INJ_BOUNCED);
}

/*
 * Fetch, deliver and delete one batch.  Returns PS_SUCCESS or the error
 * that ends the poll; *delivered counts settled messages.
 */
static int
do_batch(struct session *s, struct fetch_msg **v, size_t n,
    size_t *delivered)
{
	const struct fetcher	*f = s->fc.ops;
	const struct rc_user	*u = s->u;
	struct fetch_sink	 sink = { sink_begin, sink_data, sink_end, s };
	struct item		*items = NULL;
	struct inject_msg	**iv = NULL;
	struct fetch_msg	**dv = NULL;
	size_t			 i, ni = 0, nd = 0;
	int			 rv, frv, keep = u->keep == RC_YES;

	if ((items = calloc(n, sizeof(*items))) == NULL ||
	    (iv = calloc(n, sizeof(*iv))) == NULL ||
	    (dv = calloc(n, sizeof(*dv))) == NULL) {
		free(items);
		free(iv);
		free(dv);
		return PS_UNDEFINED;
	}
	for (i = 0; i < n; i++) {
		items[i].fm = v[i];
		items[i].fd = -1;
		items[i].index = (size_t)(uintptr_t)v[i]->arg;
		v[i]->arg = &items[i];
	}
	frv = f->fetch(&s->fc, v, n, &sink);
	if (frv != PS_SUCCESS)
		log_warnx("%s", s->fc.err);
	/* Whatever arrived whole is delivered, even if the link died. */
	for (i = 0; i < n; i++) {
		if (!items[i].complete)
			continue;
		if (prepare(s, &items[i]) == -1) {
			log_warn("message %s:%zu", s->acct, items[i].index);
			items[i].complete = 0;
			continue;
		}
		if (items[i].im.nrcpts == 0 && items[i].skipped > 0) {
			/* Every recipient has it from an earlier poll. */
			items[i].im.result = INJ_DELIVERED;
			settled(s, &items[i].im);
			continue;
		}
		iv[ni++] = &items[i].im;
	}
	rv = ni > 0 ? inject_send(&s->in, iv, ni) : PS_SUCCESS;
	if (rv != PS_SUCCESS)
		log_warnx("%s", s->in.err);

	for (i = 0; i < n; i++) {
		if (!is_settled(&items[i]))
			continue;
		(*delivered)++;
		if (items[i].fm->uid[0] != '\0' && !items[i].journaled)
			continue;	/* journal failed: keep it there */
		if (keep) {
			if (items[i].fm->uid[0] != '\0')
				uidstore_set(s->run->us, s->acct,
				    items[i].fm->uid, UID_SEEN);
		}
		dv[nd++] = items[i].fm;
	}
	/* Durable before any deletion goes out (one fsync per batch); the
	 * partial deliveries too (no-op when nothing was written). */
	if (uidstore_sync(s->run->us) == -1) {
		log_warn("%s: cannot sync the journal; nothing deleted",
		    s->run->us->jpath);
		s->journal_err = 1;
		nd = 0;
	}
	if (nd > 0 && frv == PS_SUCCESS) {
		if (keep)
			frv = f->mark_seen != NULL ?
			    f->mark_seen(&s->fc, dv, nd) : PS_SUCCESS;
		else
			frv = f->delete(&s->fc, dv, nd);
		if (frv != PS_SUCCESS)
			log_warnx("%s", s->fc.err);
	}
	for (i = 0; i < n; i++) {
		struct item	*it = &items[i];

		if (!it->complete)
			log_info("reading message %s:%zu of %zu (%llu octets) "
			    "not flushed (not retrieved)", s->acct, it->index,
			    s->total, (unsigned long long)it->fm->size);
		else if (!is_settled(it))
			log_info("reading message %s:%zu of %zu (%llu octets) "
			    "not flushed (deferred: %s)", s->acct, it->index,
			    s->total, (unsigned long long)it->fm->size,
			    it->im.why);
		else
			log_info("reading message %s:%zu of %zu (%llu octets)"
			    "%s", s->acct, it->index, s->total,
			    (unsigned long long)it->fm->size,
			    it->fm->deleted ? " flushed" : " not flushed");
		it->fm->arg = NULL;
		item_free(it);
	}
	free(items);
	free(iv);
	free(dv);
	if (frv != PS_SUCCESS)
		return frv;
	if (s->journal_err)
		return PS_IOERR;
	return rv;
}

/* Decide what each listed message is: journaled, old, too big, new. */
static int
classify(struct session *s, struct fetch_list *ml, struct fetch_msg ***newv,
    size_t *nnew, struct fetch_msg ***delv, size_t *ndel, size_t *nseen)
{
	const struct rc_user	*u = s->u;
	struct uidstore		*us = s->run->us;
	const char		**uids;
	struct fetch_msg	*m;
	size_t			 i;
	int			 bits, haveuids = 1;

	*nnew = *ndel = *nseen = 0;
	if ((*newv = calloc(ml->n + 1, sizeof(**newv))) == NULL ||
	    (*delv = calloc(ml->n + 1, sizeof(**delv))) == NULL ||
	    (uids = calloc(ml->n + 1, sizeof(*uids))) == NULL)
		return PS_UNDEFINED;
	for (i = 0; i < ml->n; i++) {
		m = &ml->v[i];
		/* "message I of N": the sequence number, as fetchmail */
		m->arg = (void *)(uintptr_t)(m->num > 0 ? m->num : i + 1);
		uids[i] = m->uid;
		if (m->uid[0] == '\0')
			haveuids = 0;
		bits = m->uid[0] != '\0' ? uidstore_get(us, s->acct, m->uid) :
		    0;
		if (bits & UID_JOURNAL) {
			/* Delivered before a crash or a dropped link. */
			if (u->keep == RC_YES)
				uidstore_set(us, s->acct, m->uid, UID_SEEN);
			else
				(*delv)[(*ndel)++] = m;
			(*nseen)++;
			continue;
		}
		if ((u->keep == RC_YES && (bits & UID_SEEN)) ||
		    m->server_seen || m->server_deleted) {
			(*nseen)++;
			if (u->fetchall != RC_YES || m->server_deleted) {
				if (u->flush == RC_YES && u->keep != RC_YES &&
				    !m->server_deleted)
					(*delv)[(*ndel)++] = m;
				continue;
			}
		}
		if (u->limit > 0 && m->size > (uint64_t)u->limit) {
			log_info("skipping message %s:%zu (%llu octets) "
			    "oversized (limit %ld)", s->acct,
			    (size_t)(uintptr_t)m->arg,
			    (unsigned long long)m->size, u->limit);
			continue;
		}
		(*newv)[(*nnew)++] = m;
	}
	if (haveuids)
		uidstore_prune(us, s->acct, uids, ml->n);
	free(uids);
	if (!haveuids && u->keep == RC_YES) {
		fetch_fail(&s->fc, PS_PROTOCOL, "%s: 'keep' needs UIDL, which "
		    "the server does not offer", s->host);
		return PS_PROTOCOL;
	}
	if (!haveuids)
		log_warnx("%s: no UIDL: a crash between delivery and deletion "
		    "may deliver a message twice", s->host);
	return PS_SUCCESS;
}

static unsigned long long
total_octets(const struct fetch_list *ml)
{
	unsigned long long	 t = 0;
	size_t			 i;

	for (i = 0; i < ml->n; i++)
		t += ml->v[i].size;
	return t;
}

/* After commit: journal entries of deleted messages are done with. */
static void
settle_journal(struct session *s, struct fetch_list *ml, int committed)
{
	size_t	 i;

	for (i = 0; i < ml->n; i++) {
		if (ml->v[i].uid[0] == '\0')
			continue;
		if (s->u->keep == RC_YES ||
		    (committed && ml->v[i].deleted))
			uidstore_clear(s->run->us, s->acct, ml->v[i].uid,
			    UID_JOURNAL);
	}
	if (uidstore_save(s->run->us) == -1)
		log_warn("%s", s->run->us->path);
}

/* "remotename@poll[/folder]": whose uids the uidstore holds. */
static void
acct_name(char *buf, size_t len, const struct rc_poll *p,
    const struct rc_user *u, const char *folder)
{
	snprintf(buf, len, "%s@%s%s%s", u->remotename, p->name,
	    folder != NULL ? "/" : "", folder != NULL ? folder : "");
}

/*
 * Remember which protocol's uids the account holds (proto AUTO reads it,
 * see poll_user), durably before the first of them is journaled.
 */
static void
note_proto(struct session *s, const struct fetcher *f)
{
	struct uidstore	*us = s->run->us;
	char		 acct[sizeof(s->acct)];
	const char	*was;

	acct_name(acct, sizeof(acct), s->p, s->u, NULL);
	if ((was = uidstore_fact(us, acct, "proto")) != NULL &&
	    strcmp(was, f->name) == 0)
		return;
	if (uidstore_set_fact(us, acct, "proto", f->name) == -1 ||
	    uidstore_save(us) == -1)
		log_warn("%s", us->path);
}

/* IMAP: a new UIDVALIDITY voids every uid remembered for the folder. */
static void
note_validity(struct session *s, const struct fetch_list *ml,
    const char *folder)
{
	struct uidstore	*us = s->run->us;
	const char	*was;
	char		 v[32];

	if (ml->validity == 0)
		return;
	snprintf(v, sizeof(v), "%lu", ml->validity);
	if ((was = uidstore_fact(us, s->acct, "uidvalidity")) != NULL &&
	    strcmp(was, v) != 0)
		log_warnx("IMAP server %s changed the UIDVALIDITY of %s for "
		    "%s (%s -> %s): the uids remembered for it are void, its "
		    "messages count as new", s->host, folder != NULL ? folder :
		    "INBOX", s->u->remotename, was, v);
	if (uidstore_set_fact(us, s->acct, "uidvalidity", v) == -1)
		log_warn("%s", us->path);
}

static int
poll_folder(struct poll_run *run, const struct rc_poll *p,
    const struct rc_user *u, const struct fetcher *f, const char *folder,
    int *openfail)
{
	struct session		*s;
	struct fetch_server	 srv;
	struct fetch_list	 ml = { 0 };
	struct fetch_msg	**newv = NULL, **delv = NULL;
	const char		**known = NULL;
	size_t			 nnew = 0, ndel = 0, nseen = 0, i, b, nb;
	size_t			 delivered = 0;
	char			 port[16], err[512];
	int			 rv, crv;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return PS_UNDEFINED;
	s->run = run;
	s->p = p;
	s->u = u;
	s->host = rc_poll_host(p);
	acct_name(s->acct, sizeof(s->acct), p, u, folder);
	memset(&srv, 0, sizeof(srv));
	srv.poll = p;
	srv.user = u;
	srv.host = s->host;
	srv.folder = folder;
	srv.tls = fetch_tls_mode(u);
	fetch_port(p, f == &fetch_pop3 ? RC_PROTO_POP3 : RC_PROTO_IMAP,
	    srv.tls, port, sizeof(port));
	srv.port = port;
	srv.timeout_ms = p->timeout > 0 ? (int)(p->timeout * 1000) : 300000;
	srv.daemon = run->daemon;
	/*
	 * --quit (SIGTERM) stops the mailbox dialogue after the message in
	 * hand: the messages already read whole are still delivered over
	 * SMTP (whose stream is not cancelled) and journaled, and the next
	 * poll deletes them.
	 */
	srv.cancel = run->stop;
	srv.wake = run->wake;
	if (srv.tls != FETCH_TLS_NONE &&
	    (srv.ssl_ctx = fetch_tls_ctx(u, err, sizeof(err))) == NULL) {
		log_warnx("%s: %s", s->host, err);
		free(s);
		return PS_SOCKET;
	}
	s->fc.ops = f;
	inject_init(&s->in, u, s->host, f->received_with, run->hostname,
	    run->cfg->run.postmaster, run->cfg->run.bouncemail == RC_YES,
	    srv.timeout_ms);
	s->in.done = settled;
	s->in.partial = partial;
	s->in.done_arg = s;

	rv = f->open(&s->fc, &srv);
	if (rv != PS_SUCCESS) {
		log_warnx("%s", s->fc.err);
		if (openfail != NULL)
			*openfail = 1;
		goto out;
	}
	note_proto(s, f);
cycle:
	free(known);
	known = NULL;
	if (uidstore_uids(run->us, s->acct, &known, &ml.nknown) == -1) {
		log_warn("%s", run->us->path);
		rv = PS_UNDEFINED;
		goto out;
	}
	ml.known = known;
	rv = f->list(&s->fc, &ml);
	ml.known = NULL;
	ml.nknown = 0;
	if (rv != PS_SUCCESS) {
		log_warnx("%s", s->fc.err);
		goto out;
	}
	note_validity(s, &ml, folder);
	if ((rv = classify(s, &ml, &newv, &nnew, &delv, &ndel, &nseen)) !=
	    PS_SUCCESS) {
		log_warnx("%s", s->fc.err);
		goto out;
	}
	/* IMAP lists only unseen and remembered messages: the rest of
	 * the mailbox is seen. */
	s->total = ml.total > ml.n ? ml.total : ml.n;
	nseen += s->total - ml.n;
	if (s->total == 0)
		log_info("No mail for %s at %s", u->remotename, s->host);
	else if (s->total > ml.n)
		log_info("%zu message%s (%zu seen) for %s at %s.", s->total,
		    s->total == 1 ? "" : "s", nseen, u->remotename, s->host);
	else if (nseen > 0)
		log_info("%zu message%s (%zu seen) for %s at %s (%llu octets).",
		    ml.n, ml.n == 1 ? "" : "s", nseen, u->remotename, s->host,
		    total_octets(&ml));
	else
		log_info("%zu message%s for %s at %s (%llu octets).", ml.n,
		    ml.n == 1 ? "" : "s", u->remotename, s->host,
		    total_octets(&ml));
	if (run->check) {
		rv = nnew > 0 ? PS_SUCCESS : PS_NOMAIL;
		goto out;
	}
	if (ndel > 0) {
		log_info("deleting %zu message%s already delivered or seen",
		    ndel, ndel == 1 ? "" : "s");
		if ((rv = f->delete(&s->fc, delv, ndel)) != PS_SUCCESS) {
			log_warnx("%s", s->fc.err);
			goto out;
		}
	}
	rv = PS_SUCCESS;
	if (u->fetchlimit > 0 && nnew > (size_t)u->fetchlimit) {
		nnew = (size_t)u->fetchlimit;
		rv = PS_MAXFETCH;
	}
	for (b = 0; b < nnew; b += nb) {
		if (*run->stop) {
			log_info("stopping after the messages in hand");
			break;
		}
		nb = nnew - b < POLL_BATCH ? nnew - b : POLL_BATCH;
		crv = do_batch(s, newv + b, nb, &delivered);
		if (crv != PS_SUCCESS) {
			rv = crv;
			break;
		}
	}
	/*
	 * IMAP IDLE in daemon mode: wait in the same session for up to the
	 * poll interval, and go round again when mail arrives.  Deletions of
	 * earlier rounds are expunged at the commit; the journal covers them
	 * until then.
	 */
	if (rv == PS_SUCCESS && run->daemon && u->idle == RC_YES &&
	    f->idle != NULL && !*run->stop) {
		log_info("IDLE: waiting for new mail for %s at %s",
		    u->remotename, s->host);
		crv = f->idle(&s->fc, (int)run->cfg->run.daemon);
		if (crv == 0)
			run->idled = 1;
		if (crv == 1 && run->wake != NULL && *run->wake) {
			*run->wake = 0;
			log_info("awakened: polling %s at %s again",
			    u->remotename, s->host);
		}
		if (crv == 1 && !*run->stop) {
			for (i = 0; i < ml.n; i++)
				ml.v[i].arg = NULL;
			fetch_list_free(&ml);
			free(newv);
			free(delv);
			newv = delv = NULL;
			goto cycle;
		}
		if (crv == -1)
			log_warnx("%s", s->fc.err);
	}
	if (rv == PS_SUCCESS || rv == PS_MAXFETCH || rv == PS_SMTP ||
	    rv == PS_IOERR) {
		crv = f->commit(&s->fc);
		if (crv != PS_SUCCESS) {
			log_warnx("%s", s->fc.err);
			if (rv == PS_SUCCESS || rv == PS_MAXFETCH)
				rv = crv;
		}
		settle_journal(s, &ml, crv == PS_SUCCESS);
	} else
		settle_journal(s, &ml, 0);
	if (rv == PS_SUCCESS && delivered == 0)
		rv = PS_NOMAIL;
out:
	inject_close(&s->in);
	f->close(&s->fc);
	run->turns += s->fc.turns;
	if (srv.ssl_ctx != NULL)
		SSL_CTX_free(srv.ssl_ctx);
	for (i = 0; i < ml.n; i++)
		ml.v[i].arg = NULL;
	fetch_list_free(&ml);
	free(known);
	free(newv);
	free(delv);
	free(s);
	return rv;
}

/* Every folder of the user (POP3: the one mailbox). */
static int
poll_folders(struct poll_run *run, const struct rc_poll *p,
    const struct rc_user *u, const struct fetcher *f, int *openfail)
{
	size_t	 i;
	int	 rv, best = PS_NOMAIL;

	if (u->folders.n == 0 || f == &fetch_pop3)
		return poll_folder(run, p, u, f, NULL, openfail);
	for (i = 0; i < u->folders.n; i++) {
		rv = poll_folder(run, p, u, f, u->folders.v[i],
		    i == 0 ? openfail : NULL);
		if (i == 0 && *openfail)
			return rv;
		if (rv == PS_SUCCESS || (rv != PS_NOMAIL && best == PS_NOMAIL))
			best = rv;
	}
	return best;
}

int
poll_user(struct poll_run *run, const struct rc_poll *p,
    const struct rc_user *u)
{
	const struct fetcher	*f;
	int			 rv, openfail = 0;

	f = fetch_select(p->proto);
	if (f == NULL) {
		log_warnx("%s: protocol %s is not implemented by fetchd yet",
		    p->name, rc_proto_name(p->proto));
		return PS_PROTOCOL;
	}
	/*
	 * AUTO while the uidstore holds uids of this account (kept, or
	 * journaled and not yet deleted): only the protocol they belong to
	 * can recognise those messages, the other would deliver them again.
	 */
	if (p->proto == RC_PROTO_AUTO) {
		char		 acct[1024];
		const char	*was;
		size_t		 n;

		acct_name(acct, sizeof(acct), p, u, NULL);
		was = uidstore_fact(run->us, acct, "proto");
		if (was != NULL && (n = uidstore_count(run->us, acct)) > 0) {
			f = strcmp(was, "POP3") == 0 ? &fetch_pop3 :
			    &fetch_imap;
			rv = poll_folders(run, p, u, f, &openfail);
			if (openfail && (rv == PS_SOCKET ||
			    rv == PS_PROTOCOL))
				log_warnx("%s: proto AUTO: not trying %s: %zu "
				    "message%s of %s %s tracked by %s uids, "
				    "which %s would deliver again", p->name,
				    f == &fetch_imap ? "POP3" : "IMAP", n,
				    n == 1 ? "" : "s", acct, n == 1 ? "is" :
				    "are", f->name, f == &fetch_imap ? "POP3" :
				    "IMAP");
			return rv;
		}
	}
	rv = poll_folders(run, p, u, f, &openfail);
	/*
	 * AUTO, as fetchmail: IMAP first, POP3 when the IMAP session could
	 * not be opened (refused, no IMAP greeting, TLS failed).  Not after
	 * a refused login: that is the user's to fix.
	 */
	if (p->proto == RC_PROTO_AUTO && openfail && !*run->stop &&
	    (rv == PS_SOCKET || rv == PS_PROTOCOL)) {
		log_info("%s: IMAP failed, trying POP3", p->name);
		openfail = 0;
		rv = poll_folders(run, p, u, &fetch_pop3, &openfail);
	}
	return rv;
}
