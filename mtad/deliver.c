/*
 * Local delivery of a queued message: expand each pending local recipient
 * through the aliases, deliver every target, settle the recipient in the
 * queue and log it the way sendmail does.
 *
 * Rights: as root, each delivery runs in a forked child that becomes the
 * user it writes for and does nothing else.  Under privilege separation
 * (privsep.h) this process is the unprivileged worker and the privileged
 * parent forks that child on request.  A user's mailbox is written as
 * that user.  /file and |command targets from the aliases file run as the
 * mtad `user`; those from an :include: file run as the file's owner (the
 * mtad `user` when that is root), so whoever can edit a list can only do
 * what they could do anyway.  Not as root, everything runs as ourselves.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alias.h"
#include "atomic.h"
#include "bounce.h"
#include "deliver.h"
#include "log.h"
#include "privsep.h"

#define RETRY_FIRST	300		/* seconds before the first retry */
#define RETRY_MAX	(4 * 3600)

/* Who a delivery runs as. */
struct runas {
	char	user[64];
	char	home[PATH_MAX];
	uid_t	uid;
	gid_t	gid;
};

/* One target's outcome, kept for the DSN. */
struct failure {
	char	*orig;
	char	*final;
	char	*reason;
};

struct rcpt_run {
	const struct mtad_config *cf;
	struct qmsg		*msg;
	int			 datafd;
	const char		*rcpt;		/* as accepted */
	int			 privfd;	/* see privsep.h, or -1 */
	int			 ok, deferred, bounced;
	char			 defer_text[512];
	/* Targets that leave this message: remote addresses, and local
	 * users that must be retried after others were delivered. */
	char			**fwd;
	size_t			 nfwd;
	struct failure		*fail;
	size_t			 nfail;
	/* Deferred targets, in case others were delivered. */
	struct failure		*retry;
	size_t			 nretry;
};

/*
 * "As root" means a real uid of 0: while the queue is being written the
 * effective ids are the spool owner's (see queue_ids), root comes back in
 * each delivery child.
 */
static int
privileged(void)
{
	return getuid() == 0;
}

/*
 * Files this process adds to the queue (envelope updates, clones, DSNs)
 * must belong to the spool's owner, the unprivileged daemon that reads
 * them later: write them with its effective ids.  1 if switched.
 */
static int
queue_ids(struct queue *q)
{
	struct stat	st;

	if (geteuid() != 0 || fstat(q->dirfd, &st) == -1 || st.st_uid == 0)
		return 0;
	if (setresgid(-1, st.st_gid, -1) == -1)
		return 0;
	if (setresuid(-1, st.st_uid, -1) == -1) {
		(void)setresgid(-1, 0, -1);
		return 0;
	}
	return 1;
}

static void
root_ids(void)
{
	if (setresuid(-1, 0, -1) == -1 || setresgid(-1, 0, -1) == -1)
		log_warn("cannot take root back");
}

static const struct deliverer *
backend(const struct mtad_config *cf)
{
	switch (cf->mailbox) {
	case MAILBOX_MAILDIR:
		return &deliver_maildir;
	case MAILBOX_MDA:
		return &deliver_mda;
	default:
		return &deliver_mbox;
	}
}

static int
runas_pw(const struct passwd *pw, struct runas *ra)
{
	if (strlen(pw->pw_name) >= sizeof(ra->user) ||
	    strlen(pw->pw_dir) >= sizeof(ra->home))
		return -1;
	strcpy(ra->user, pw->pw_name);
	strcpy(ra->home, pw->pw_dir);
	ra->uid = pw->pw_uid;
	ra->gid = pw->pw_gid;
	return 0;
}

/* A local user by name: as given, then in lower case (names are
 * case-insensitive in mail, in /etc/passwd they are lower case). */
static struct passwd *
find_user(const char *name)
{
	struct passwd	*pw;
	char		 low[64];
	size_t		 i;

	if (*name == '\0' || strchr(name, '/') != NULL)
		return NULL;
	if ((pw = getpwnam(name)) != NULL)
		return pw;
	for (i = 0; name[i] && i + 1 < sizeof(low); i++)
		low[i] = tolower((unsigned char)name[i]);
	low[i] = '\0';
	if (name[i] != '\0' || strcmp(low, name) == 0)
		return NULL;
	return getpwnam(low);
}

int
local_rcpt_known(const struct mtad_config *cf, const char *local)
{
	struct alias_table	*t;
	int			 known;

	if (strcasecmp(local, "postmaster") == 0)
		return 1;	/* RFC 5321 4.5.1: always accepted */
	if (find_user(local) != NULL)
		return 1;
	/* An unreadable aliases file must not turn mail away for good:
	 * accept, and let delivery defer. */
	if ((t = alias_load(cf->aliases ? cf->aliases : "/etc/aliases", NULL,
	    NULL)) == NULL)
		return 1;
	known = alias_exists(t, local);
	alias_free(t);
	return known;
}

/* Become ra (as root), in a child that does nothing else afterwards. */
static int
drop_to(const struct runas *ra, gid_t extra_gid)
{
	gid_t	groups[NGROUPS_MAX + 1];
	int	n = NGROUPS_MAX;

	if (!privileged())
		return 0;
	if (setresuid(0, 0, 0) == -1 || setresgid(0, 0, 0) == -1)
		return -1;
	if (getgrouplist(ra->user, ra->gid, groups, &n) == -1)
		n = 0;
	if (extra_gid != (gid_t)-1 && n < NGROUPS_MAX + 1)
		groups[n++] = extra_gid;
	if (setgroups(n, groups) == -1 || setresgid(ra->gid, ra->gid, ra->gid)
	    == -1 || setresuid(ra->uid, ra->uid, ra->uid) == -1)
		return -1;
	if (ra->uid != 0 && (setuid(0) != -1 || geteuid() == 0))
		return -1;	/* could get root back: refuse */
	return 0;
}

/*
 * As root, create the user's mbox (owned by the user) before dropping, since
 * Debian's /var/mail is writable only by group mail; the group also lets
 * the dotlock be taken there.
 */
static gid_t
prepare_mbox(const struct mtad_config *cf, const struct runas *ra)
{
	const char	*dir = cf->mailbox_arg ? cf->mailbox_arg : "/var/mail";
	char		 path[PATH_MAX];
	struct stat	 st;
	int		 fd;

	if (!privileged() || setresuid(0, 0, 0) == -1 ||
	    setresgid(0, 0, 0) == -1 || stat(dir, &st) == -1)
		return (gid_t)-1;
	if (snprintf(path, sizeof(path), "%s/%s", dir, ra->user) >=
	    (int)sizeof(path))
		return (gid_t)-1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd != -1) {
		if (fchown(fd, ra->uid, (st.st_mode & S_ISGID) ? st.st_gid :
		    ra->gid) == -1)
			log_warn("chown %s", path);
		close(fd);
	}
	return (st.st_mode & S_IWGRP) && !(st.st_mode & S_IWOTH) ?
	    st.st_gid : (gid_t)-1;
}

/* In a child (of ours, or of the privileged parent): become ra, deliver. */
static void
deliver_as(const struct mtad_config *cf, const struct runas *ra,
    enum privsep_kind kind, const char *what, const struct delivery *d,
    struct dresult *r)
{
	gid_t extra = (gid_t)-1;

	if (kind == PS_USER && cf->mailbox == MAILBOX_MBOX)
		extra = prepare_mbox(cf, ra);
	if (drop_to(ra, extra) == -1) {
		r->status = DELIVER_DEFER;
		snprintf(r->text, sizeof(r->text), "451 4.3.0 cannot become "
		    "%s: %s", ra->user, strerror(errno));
	} else if (kind == PS_FILE)
		mbox_append(what, d, r);
	else if (kind == PS_PIPE)
		pipe_deliver(what, d, r);
	else
		backend(cf)->deliver(d, r);
}

/*
 * The privileged parent's child.  The worker names the user; the ids come
 * from the password database here, and a file or command never runs as
 * root: a worker taken over gets no more than a local user could.
 */
void
local_deliver_as(const struct mtad_config *cf, const struct privsep_req *req,
    int datafd, struct dresult *r)
{
	struct passwd	*pw;
	struct runas	 ra;
	struct qmsg	 m;
	struct delivery	 d;

	memset(r, 0, sizeof(*r));
	r->status = DELIVER_DEFER;
	if (req->kind == PS_USER)
		pw = getpwnam(req->user);
	else
		pw = getpwuid(req->uid);
	if (pw == NULL || runas_pw(pw, &ra) == -1) {
		snprintf(r->text, sizeof(r->text), "451 4.3.0 no such user");
		return;
	}
	if (req->kind != PS_USER) {
		if (ra.uid == 0 || (req->gid == 0 && ra.gid != 0)) {
			snprintf(r->text, sizeof(r->text), "451 4.3.0 refusing "
			    "to run %.400s as root", req->what);
			return;
		}
		ra.gid = req->gid;
	}
	memset(&m, 0, sizeof(m));
	m.sender = (char *)req->sender;
	memset(&d, 0, sizeof(d));
	d.cf = cf;
	d.msg = &m;
	d.datafd = datafd;
	d.user = ra.user;
	d.uid = ra.uid;
	d.gid = ra.gid;
	d.home = ra.home;
	d.rcpt = req->rcpt[0] != '\0' ? req->rcpt : NULL;
	memset(r, 0, sizeof(*r));
	deliver_as(cf, &ra, req->kind, req->what, &d, r);
}

/* Have the privileged parent run it (see privsep.h). */
static void
run_privsep(int privfd, const struct runas *ra, enum privsep_kind kind,
    const char *what, const struct delivery *d, struct dresult *r)
{
	struct privsep_req	*req;

	memset(r, 0, sizeof(*r));
	r->status = DELIVER_DEFER;
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		snprintf(r->text, sizeof(r->text), "451 4.3.0 out of memory");
		return;
	}
	req->kind = kind;
	req->uid = ra->uid;
	req->gid = ra->gid;
	if ((size_t)snprintf(req->user, sizeof(req->user), "%s", ra->user) >=
	    sizeof(req->user) ||
	    (size_t)snprintf(req->what, sizeof(req->what), "%s", what ? what :
	    "") >= sizeof(req->what) ||
	    (size_t)snprintf(req->sender, sizeof(req->sender), "%s",
	    d->msg->sender ? d->msg->sender : "") >= sizeof(req->sender) ||
	    (size_t)snprintf(req->rcpt, sizeof(req->rcpt), "%s", d->rcpt ?
	    d->rcpt : "") >= sizeof(req->rcpt)) {
		snprintf(r->text, sizeof(r->text), "451 4.3.0 delivery request "
		    "too long");
		free(req);
		return;
	}
	privsep_deliver(privfd, req, d->datafd, r);
	free(req);
}

/* Run one delivery in a child as ra; the result comes back over a pipe. */
static void
run_child(const struct mtad_config *cf, int privfd, const struct runas *ra,
    enum privsep_kind kind, const char *what, const struct delivery *d,
    struct dresult *r)
{
	int	 p[2], status;
	pid_t	 pid;
	size_t	 got;

	if (privfd != -1) {
		run_privsep(privfd, ra, kind, what, d, r);
		return;
	}
	memset(r, 0, sizeof(*r));
	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		r->status = DELIVER_DEFER;
		snprintf(r->text, sizeof(r->text), "451 4.3.0 fork: %s",
		    strerror(errno));
		return;
	}
	if (pid == 0) {
		close(p[0]);
		deliver_as(cf, ra, kind, what, d, r);
		(void)write(p[1], r, sizeof(*r));
		_exit(0);
	}
	close(p[1]);
	got = read_full(p[0], r, sizeof(*r));
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (got != sizeof(*r) || (unsigned)r->status > DELIVER_BOUNCE) {
		r->status = DELIVER_DEFER;
		snprintf(r->text, sizeof(r->text), "451 4.3.0 delivery process "
		    "failed");
	}
	r->text[sizeof(r->text) - 1] = '\0';
}

static int
push_failure(struct failure **v, size_t *n, const char *orig,
    const char *final, const char *reason)
{
	struct failure *nf;

	if ((nf = reallocarray(*v, *n + 1, sizeof(*nf))) == NULL)
		return -1;
	*v = nf;
	nf[*n].orig = strdup(orig);
	nf[*n].final = final ? strdup(final) : NULL;
	nf[*n].reason = strdup(reason);
	(*n)++;
	return 0;
}

static void
add_failure(struct rcpt_run *rr, const char *final, const char *reason)
{
	(void)push_failure(&rr->fail, &rr->nfail, rr->rcpt, final, reason);
}

static int
add_forward(struct rcpt_run *rr, const char *addr)
{
	char **nv;

	if ((nv = reallocarray(rr->fwd, rr->nfwd + 1, sizeof(*nv))) == NULL)
		return -1;
	rr->fwd = nv;
	if ((nv[rr->nfwd] = strdup(addr)) == NULL)
		return -1;
	rr->nfwd++;
	return 0;
}

/*
 * The Final-Recipient of a failed target: NULL for the recipient itself,
 * a user reached through an alias at the recipient's domain, else as is.
 */
static const char *
user_address(const struct rcpt_run *rr, const char *target, const char *user,
    char *buf, size_t len)
{
	const char	*at = strrchr(rr->rcpt, '@');
	size_t		 llen = at ? (size_t)(at - rr->rcpt) : strlen(rr->rcpt);

	if (strncasecmp(target, rr->rcpt, llen) == 0 && target[llen] == '\0')
		return NULL;
	if (user == NULL || at == NULL)
		return target;
	snprintf(buf, len, "%s%s", target, at);
	return buf;
}

static void
note(struct rcpt_run *rr, const char *target, const char *user,
    const struct dresult *r)
{
	struct failure	*nf;
	char		 fin[600];

	switch (r->status) {
	case DELIVER_OK:
		rr->ok++;
		log_debug("%s: <%s> -> %s: %s", rr->msg->id, rr->rcpt, target,
		    r->text);
		break;
	case DELIVER_DEFER:
		nf = reallocarray(rr->retry, rr->nretry + 1, sizeof(*nf));
		if (nf != NULL) {
			rr->retry = nf;
			nf[rr->nretry].orig = strdup(target);
			nf[rr->nretry].final = user ? strdup(user) : NULL;
			nf[rr->nretry].reason = strdup(r->text);
			rr->nretry++;
		}
		if (rr->deferred++ == 0)
			snprintf(rr->defer_text, sizeof(rr->defer_text), "%s",
			    r->text);
		log_info("%s: <%s> -> %s: deferred: %s", rr->msg->id, rr->rcpt,
		    target, r->text);
		break;
	case DELIVER_BOUNCE:
		rr->bounced++;
		add_failure(rr, user_address(rr, target, user, fin,
		    sizeof(fin)), r->text);
		break;
	}
}

/* Rights for a file or pipe target (see the comment at the top). */
static int
runas_for(const struct mtad_config *cf, int privfd,
    const struct alias_target *t, struct runas *ra, char *err, size_t errlen)
{
	int		 switching = privileged() || privfd != -1;
	struct passwd	*pw;
	const char	*user = cf->user ? cf->user : "mtad";

	if (!switching)
		pw = getpwuid(geteuid());
	else if (t->from_include && t->include_uid != 0)
		pw = getpwuid(t->include_uid);
	else
		pw = getpwnam(user);
	if (pw == NULL || runas_pw(pw, ra) == -1) {
		snprintf(err, errlen, "451 4.3.0 no user to run as for %s "
		    "(mtad user %s)", t->value, user);
		return -1;
	}
	if (t->from_include && t->include_uid != 0 && switching)
		ra->gid = t->include_gid;
	return 0;
}

static int
deliver_target(const struct alias_target *t, void *arg)
{
	struct rcpt_run	*rr = arg;
	struct delivery	 d;
	struct dresult	 r;
	struct runas	 ra;
	struct passwd	*pw;
	char		 where[PATH_MAX + 8];

	memset(&d, 0, sizeof(d));
	d.cf = rr->cf;
	d.msg = rr->msg;
	d.datafd = rr->datafd;
	d.rcpt = rr->rcpt;
	memset(&r, 0, sizeof(r));

	switch (t->kind) {
	case ALIAS_REMOTE:
		if (add_forward(rr, t->value) == -1) {
			r.status = DELIVER_DEFER;
			snprintf(r.text, sizeof(r.text), "451 4.3.0 out of "
			    "memory");
		} else
			r.status = DELIVER_OK;
		note(rr, t->value, NULL, &r);
		return 0;
	case ALIAS_USER:
		pw = find_user(t->value);
		if (pw == NULL && strcasecmp(t->value, "postmaster") == 0)
			pw = getpwnam("root");
		if (pw == NULL || runas_pw(pw, &ra) == -1) {
			r.status = DELIVER_BOUNCE;
			snprintf(r.text, sizeof(r.text), "550 5.1.1 <%s>... "
			    "User unknown", t->value);
			note(rr, t->value, t->value, &r);
			return 0;
		}
		d.user = ra.user;
		d.uid = ra.uid;
		d.gid = ra.gid;
		d.home = ra.home;
		run_child(rr->cf, rr->privfd, &ra, PS_USER, NULL, &d, &r);
		note(rr, ra.user, ra.user, &r);
		return 0;
	case ALIAS_FILE:
	case ALIAS_PIPE:
		if (runas_for(rr->cf, rr->privfd, t, &ra, r.text, sizeof(r.text)) == -1) {
			r.status = DELIVER_DEFER;
		} else {
			d.user = ra.user;
			d.uid = ra.uid;
			d.gid = ra.gid;
			d.home = ra.home;
			run_child(rr->cf, rr->privfd, &ra, t->kind ==
			    ALIAS_FILE ? PS_FILE : PS_PIPE, t->value, &d, &r);
		}
		snprintf(where, sizeof(where), "%s%s", t->kind == ALIAS_PIPE ?
		    "|" : "", t->value);
		note(rr, where, NULL, &r);
		return 0;
	}
	return 0;
}

static int	write_clone(const struct mtad_config *, struct queue *,
		    const struct qmsg *, int, char **, size_t);

/*
 * A copy of the message for targets that leave it: remote addresses from
 * the aliases (for the smart host) and local users still to be retried
 * after others got their copy.  0 or -1.
 */
static int
requeue(const struct mtad_config *cf, struct queue *q, const struct qmsg *m,
    int datafd, char **addrs, size_t n)
{
	int	sw, ret;

	sw = queue_ids(q);
	ret = write_clone(cf, q, m, datafd, addrs, n);
	if (sw)
		root_ids();
	return ret;
}

static int
write_clone(const struct mtad_config *cf, struct queue *q,
    const struct qmsg *m, int datafd, char **addrs, size_t n)
{
	struct qwriter	 w, *wp = &w;
	struct qmsg	 c;
	struct qrcpt	*rc;
	char		 buf[65536];
	off_t		 off = 0;
	ssize_t		 len;
	int		 res;

	if ((rc = calloc(n, sizeof(*rc))) == NULL)
		return -1;
	if (qwriter_open(q, QDEST_QUEUE, &w) == -1) {
		free(rc);
		return -1;
	}
	while ((len = pread(datafd, buf, sizeof(buf), off)) > 0) {
		qwriter_write(&w, buf, len);
		off += len;
	}
	if (len == -1) {
		qwriter_abort(&w);
		free(rc);
		return -1;
	}
	c = *m;
	c.rcpts = rc;
	c.nrcpts = n;
	for (size_t i = 0; i < n; i++) {
		const char *at = strrchr(addrs[i], '@');

		rc[i].addr = addrs[i];
		rc[i].local = at == NULL || config_is_local_domain(cf, at + 1);
		rc[i].state = QR_PENDING;
		/* A local user here was just deferred: not again at once. */
		if (rc[i].local)
			rc[i].next_try = time(NULL) + RETRY_FIRST;
	}
	if (qwriter_finish(&w, &c) == -1) {
		free(rc);
		return -1;
	}
	queue_commit(q, &wp, 1, &res);
	free(rc);
	if (res != 0) {
		errno = res;
		return -1;
	}
	log_info("%s: clone %s for %zu alias target%s", m->id, c.id, n,
	    n == 1 ? "" : "s");
	return 0;
}

static void
fmt_delay(time_t secs, char *buf, size_t len)
{
	if (secs < 0)
		secs = 0;
	if (secs >= 86400)
		snprintf(buf, len, "%lld+%02lld:%02lld:%02lld",
		    (long long)secs / 86400, (long long)secs % 86400 / 3600,
		    (long long)secs % 3600 / 60, (long long)secs % 60);
	else
		snprintf(buf, len, "%02lld:%02lld:%02lld",
		    (long long)secs / 3600, (long long)secs % 3600 / 60,
		    (long long)secs % 60);
}

static void
log_to(const struct qmsg *m, const char *rcpt, time_t start,
    const char *stat)
{
	char	delay[32], xdelay[32];
	time_t	now = time(NULL);

	fmt_delay(now - m->arrival, delay, sizeof(delay));
	fmt_delay(now - start, xdelay, sizeof(xdelay));
	log_info("%s: to=<%s>, delay=%s, xdelay=%s, mailer=local, stat=%s",
	    m->id, rcpt, delay, xdelay, stat);
}

static time_t
backoff(unsigned tries)
{
	time_t	t = RETRY_FIRST;

	while (tries-- > 0 && t < RETRY_MAX)
		t *= 2;
	return t < RETRY_MAX ? t : RETRY_MAX;
}

/* Domain part dropped: the name aliases and users are looked up by. */
static char *
local_part(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? strndup(addr, at - addr) : strdup(addr);
}

/* A bounce waiting for the DSN to be queued before it is settled. */
struct pending_bounce {
	size_t	 idx;
	char	*addr;
	char	*reason;
	time_t	 start;
};

static void
free_run(struct rcpt_run *rr)
{
	for (size_t i = 0; i < rr->nretry; i++) {
		free(rr->retry[i].orig);
		free(rr->retry[i].final);
		free(rr->retry[i].reason);
	}
	free(rr->retry);
	rr->retry = NULL;
	rr->nretry = 0;
	for (size_t i = 0; i < rr->nfwd; i++)
		free(rr->fwd[i]);
	free(rr->fwd);
	rr->fwd = NULL;
	rr->nfwd = 0;
}

static void
settle(struct queue *q, struct qmsg *m, size_t idx, const char *addr,
    enum qrcpt_state st, const char *text, time_t next, time_t start)
{
	char	stat[600];
	int	sw = queue_ids(q);

	if (queue_set_rcpt(q, m, idx, st, text, next) == -1)
		log_warn("%s: cannot record the result for <%s>", m->id, addr);
	if (sw)
		root_ids();
	if (st == QR_SENT)
		snprintf(stat, sizeof(stat), "Sent");
	else if (st == QR_BOUNCED)
		snprintf(stat, sizeof(stat), "Bounced (%s)", text);
	else
		snprintf(stat, sizeof(stat), "Deferred (%s)", text);
	log_to(m, addr, start, stat);
}

static int	deliver_locked(const struct mtad_config *, struct queue *,
		    const char *, int);

struct target_list {
	struct alias_target	*v;
	size_t			 n;
};

static int
collect_target(const struct alias_target *t, void *arg)
{
	struct target_list	*tl = arg;
	struct alias_target	*nv;

	if ((nv = reallocarray(tl->v, tl->n + 1, sizeof(*nv))) == NULL)
		return -1;
	tl->v = nv;
	nv[tl->n] = *t;
	if ((nv[tl->n].value = strdup(t->value)) == NULL)
		return -1;
	tl->n++;
	return 0;
}

/*
 * Deliver recipient idx.  Returns the state to record; text is the
 * deferral or bounce reason.  Failed targets are added to *fails.
 */
static enum qrcpt_state
deliver_rcpt(const struct mtad_config *cf, int privfd, struct queue *q,
    struct qmsg *m, int datafd, const struct alias_table *t, const char *addr,
    struct failure **fails, size_t *nfails, char *text, size_t textlen)
{
	struct rcpt_run		 rr;
	struct target_list	 tl;
	enum alias_result	 ar;
	enum qrcpt_state	 st;
	char			 err[512], *name;

	memset(&rr, 0, sizeof(rr));
	rr.cf = cf;
	rr.msg = m;
	rr.datafd = datafd;
	rr.rcpt = addr;
	rr.privfd = privfd;
	rr.fail = *fails;
	rr.nfail = *nfails;
	text[0] = '\0';
	if ((name = local_part(addr)) == NULL) {
		snprintf(text, textlen, "451 4.3.0 out of memory");
		return QR_PENDING;
	}
	/* Expand fully first: a loop found half-way must not leave some
	 * targets delivered and the sender told it all failed. */
	memset(&tl, 0, sizeof(tl));
	ar = alias_expand(t, cf, name, collect_target, &tl, err, sizeof(err));
	free(name);
	if (ar == ALIAS_OK)
		for (size_t i = 0; i < tl.n; i++)
			deliver_target(&tl.v[i], &rr);
	for (size_t i = 0; i < tl.n; i++)
		free((char *)tl.v[i].value);
	free(tl.v);
	if (ar == ALIAS_PERMFAIL) {
		snprintf(text, textlen, "554 %.480s", err);
		add_failure(&rr, NULL, text);
		st = QR_BOUNCED;
		goto out;
	}
	if (ar == ALIAS_TEMPFAIL) {
		snprintf(text, textlen, "451 %.480s", err);
		st = QR_PENDING;
		goto out;
	}
	if (rr.deferred > 0 && rr.ok == 0) {
		/* Retry the whole recipient: nobody has a copy yet.  Its
		 * bounced targets are reported when it is settled. */
		for (size_t i = *nfails; i < rr.nfail; i++) {
			free(rr.fail[i].orig);
			free(rr.fail[i].final);
			free(rr.fail[i].reason);
		}
		rr.nfail = *nfails;
		snprintf(text, textlen, "%s", rr.defer_text);
		st = QR_PENDING;
		goto out;
	}
	if (rr.deferred > 0) {
		/* Some have their copy: the rest are retried from a clone,
		 * so nobody gets a second one.  (Only users can be; files
		 * and commands are not addresses, and must not wait.) */
		const char *dom = cf->local_domains.n > 0 ?
		    cf->local_domains.v[0] : cf->hostname;

		log_info("%s: <%s>: partly delivered, retrying the rest "
		    "from a clone", m->id, addr);
		for (size_t i = 0; i < rr.nretry; i++) {
			char	a[600];

			if (rr.retry[i].final == NULL) {
				snprintf(a, sizeof(a), "%s (not retried after "
				    "a partial delivery)", rr.retry[i].reason);
				add_failure(&rr, rr.retry[i].orig, a);
				continue;
			}
			snprintf(a, sizeof(a), "%s%s%s", rr.retry[i].final,
			    dom ? "@" : "", dom ? dom : "");
			if (add_forward(&rr, a) == -1) {
				snprintf(text, textlen, "451 4.3.0 out of "
				    "memory");
				st = QR_PENDING;
				goto out;
			}
		}
	}
	if (rr.nfwd > 0 && requeue(cf, q, m, datafd, rr.fwd, rr.nfwd) == -1) {
		snprintf(text, textlen, "451 4.3.0 cannot queue alias "
		    "targets: %s", strerror(errno));
		st = QR_PENDING;
		goto out;
	}
	if (rr.bounced > 0 && rr.ok == 0 && rr.nfwd == 0) {
		snprintf(text, textlen, "%s", rr.fail[rr.nfail - 1].reason);
		st = QR_BOUNCED;
	} else
		st = QR_SENT;
out:
	free_run(&rr);
	*fails = rr.fail;
	*nfails = rr.nfail;
	return st;
}

/*
 * One delivery process per message at a time: a second one (a rescan while
 * a child still works on it) backs off instead of delivering twice.  An
 * open file description lock, since the queue's own flock on the .msg is
 * taken and dropped by every queue_set_rcpt of this very process.  It is
 * a byte of LOCK_FILE in the spool, at an offset hashed from the ID, not
 * the .msg itself: a write lock needs a file open for writing, and a
 * message mtad-sendmail dropped belongs to its submitter, which the
 * unprivileged daemon cannot write.  Two IDs sharing a byte only wait
 * for each other's turn.  The fd (returned) holds the lock until closed;
 * -1 with errno EAGAIN when busy, ENOENT when the message is gone.
 */
#define LOCK_FILE	"deliver.lock"

int
local_lock_message(struct queue *q, const char *id)
{
	struct flock	 fl;
	struct stat	 st;
	char		 name[QID_SIZE + 8], path[PATH_MAX];
	uint32_t	 h = 2166136261u;
	const char	*p;
	int		 fd;

	if (!queue_valid_id(id)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(name, sizeof(name), "%s.msg", id);
	if (fstatat(q->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", q->spool,
	    LOCK_FILE) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600))
	    == -1)
		return -1;
	for (p = id; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;	/* FNV-1a */
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_start = h;
	fl.l_len = 1;
	if (fcntl(fd, F_OFD_SETLK, &fl) == -1) {
		int save = errno == EACCES ? EAGAIN : errno;

		close(fd);
		errno = save;
		return -1;
	}
	/* Delivered and removed while we waited for the lock? */
	if (fstatat(q->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		close(fd);
		errno = ENOENT;
		return -1;
	}
	return fd;
}

int
local_bounce_loop(const struct mtad_config *cf, struct queue *q,
    const char *id, unsigned hops, unsigned max, char newid[QID_SIZE],
    int *local)
{
	struct bounce_rcpt	*br = NULL;
	struct qmsg		 m;
	char			 reason[128];
	size_t			 i, n = 0;
	time_t			 now = time(NULL);
	int			 lockfd, datafd = -1, rc = -1;

	if ((lockfd = local_lock_message(q, id)) == -1)
		return errno == ENOENT ? 0 : -1;
	if (queue_load(q, id, &m) == -1) {
		close(lockfd);
		return errno == ENOENT ? 0 : -1;
	}
	snprintf(reason, sizeof(reason), "554 5.4.6 Too many hops (%u "
	    "Received: fields, %u max): mail loop", hops, max);
	if ((datafd = queue_open_data(q, id)) == -1 ||
	    (br = calloc(m.nrcpts ? m.nrcpts : 1, sizeof(*br))) == NULL)
		goto out;
	for (i = 0; i < m.nrcpts; i++) {
		if (m.rcpts[i].state != QR_PENDING)
			continue;
		br[n].orig = m.rcpts[i].addr;
		br[n].reason = reason;
		n++;
	}
	rc = 0;
	if (n == 0)
		goto out;
	*local = 0;
	if ((rc = bounce_queue(cf, q, &m, datafd, br, n, newid, local)) == -1)
		goto out;
	for (i = 0; i < m.nrcpts; i++) {
		char *addr;

		if (m.rcpts[i].state != QR_PENDING ||
		    (addr = strdup(m.rcpts[i].addr)) == NULL)
			continue;
		settle(q, &m, i, addr, QR_BOUNCED, reason, 0, now);
		free(addr);
	}
	rc = rc == 1 ? 1 : 0;
out:
	free(br);
	if (datafd != -1)
		close(datafd);
	qmsg_free(&m);
	close(lockfd);
	return rc;
}

int
local_deliver_message(const struct mtad_config *cf, struct queue *q,
    const char *id, int privfd)
{
	int	lockfd, ret;

	if ((lockfd = local_lock_message(q, id)) == -1) {
		if (errno == ENOENT)
			return 0;	/* done meanwhile */
		if (errno == EAGAIN) {
			log_debug("%s: being delivered by another process", id);
			return 0;
		}
		log_warn("%s: cannot lock message", id);
		return -1;
	}
	ret = deliver_locked(cf, q, id, privfd);
	close(lockfd);
	return ret;
}

static int
deliver_locked(const struct mtad_config *cf, struct queue *q, const char *id,
    int privfd)
{
	struct alias_table	*t;
	struct qmsg		 m;
	struct failure		*fails = NULL;
	struct pending_bounce	*pb = NULL;
	size_t			 nfails = 0, npb = 0, i;
	char			 text[512], newid[QID_SIZE], aerr[600];
	time_t			 now = time(NULL);
	int			 datafd, aliases_ok = 1, nerr, local = 0;

	if (queue_load(q, id, &m) == -1) {
		int gone = errno == ENOENT;	/* done by someone meanwhile */

		if (!gone)
			log_warn("%s: cannot read envelope", id);
		return gone ? 0 : -1;
	}
	if ((datafd = queue_open_data(q, id)) == -1) {
		log_warn("%s: cannot open message", id);
		qmsg_free(&m);
		return -1;
	}
	if ((t = alias_load(cf->aliases ? cf->aliases : "/etc/aliases", NULL,
	    &nerr)) == NULL) {
		snprintf(aerr, sizeof(aerr), "451 4.3.0 %s: %s", cf->aliases ?
		    cf->aliases : "/etc/aliases", strerror(errno));
		aliases_ok = 0;
	}

	for (i = 0; i < m.nrcpts; i++) {
		struct qrcpt		*r = &m.rcpts[i];
		enum qrcpt_state	 st;
		char			*addr;
		size_t			 before = nfails;
		time_t			 start = time(NULL);

		if (!r->local || r->state != QR_PENDING || r->next_try > now)
			continue;
		if ((addr = strdup(r->addr)) == NULL)
			break;
		if (!aliases_ok) {
			snprintf(text, sizeof(text), "%.500s", aerr);
			st = QR_PENDING;
		} else
			st = deliver_rcpt(cf, privfd, q, &m, datafd, t, addr, &fails,
			    &nfails, text, sizeof(text));
		if (st == QR_PENDING && now - m.arrival >=
		    cf->queue_lifetime && cf->queue_lifetime > 0) {
			char	reason[600];

			snprintf(reason, sizeof(reason), "%s (queue lifetime "
			    "exceeded)", text);
			snprintf(text, sizeof(text), "%.500s", reason);
			if (push_failure(&fails, &nfails, addr, NULL, text)
			    == 0)
				st = QR_BOUNCED;
		}
		if (st == QR_BOUNCED || (st == QR_SENT && nfails > before)) {
			/* Settled once the DSN is safely queued. */
			struct pending_bounce *np;

			char *why = strdup(st == QR_BOUNCED ? text : "");

			np = reallocarray(pb, npb + 1, sizeof(*np));
			if (np != NULL && why != NULL) {
				pb = np;
				pb[npb].idx = i;
				pb[npb].addr = addr;
				pb[npb].reason = why;
				pb[npb].start = start;
				npb++;
				continue;
			}
			if (np != NULL)
				pb = np;
			free(why);
			/* Out of memory: try the whole recipient again. */
			snprintf(text, sizeof(text), "451 4.3.0 out of memory");
			st = QR_PENDING;
		}
		if (st == QR_PENDING)
			settle(q, &m, i, addr, st, text, time(NULL) +
			    backoff(m.rcpts[i].tries), start);
		else
			settle(q, &m, i, addr, st, text, 0, start);
		free(addr);
	}

	if (npb > 0) {
		struct bounce_rcpt	*br;
		int			 rc = -1;

		if ((br = calloc(nfails, sizeof(*br))) != NULL) {
			for (i = 0; i < nfails; i++) {
				br[i].orig = fails[i].orig ? fails[i].orig :
				    "";
				br[i].final = fails[i].final;
				br[i].reason = fails[i].reason ?
				    fails[i].reason : "554 5.0.0 failed";
			}
			int sw = queue_ids(q);

			rc = bounce_queue(cf, q, &m, datafd, br, nfails, newid,
			    &local);
			if (sw)
				root_ids();
			free(br);
		}
		for (i = 0; i < npb; i++) {
			int bounced = pb[i].reason[0] != '\0';

			if (rc == -1)
				settle(q, &m, pb[i].idx, pb[i].addr,
				    QR_PENDING, "451 4.3.0 cannot queue the "
				    "DSN", time(NULL) + RETRY_FIRST,
				    pb[i].start);
			else
				settle(q, &m, pb[i].idx, pb[i].addr, bounced ?
				    QR_BOUNCED : QR_SENT, bounced ?
				    pb[i].reason : NULL, 0, pb[i].start);
			free(pb[i].addr);
			free(pb[i].reason);
		}
		if (rc == -1)
			log_warn("%s: cannot queue a DSN", m.id);
		else if (rc == 1 && local)
			local_deliver_message(cf, q, newid, privfd);
	}
	for (i = 0; i < nfails; i++) {
		free(fails[i].orig);
		free(fails[i].final);
		free(fails[i].reason);
	}
	free(fails);
	free(pb);
	alias_free(t);
	close(datafd);
	qmsg_free(&m);
	return 0;
}
