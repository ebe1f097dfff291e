/*
 * Local submission: the message from mtad-sendmail's stdin into the
 * maildrop (rules in submit.h).  The header is held in memory (bounded);
 * the body streams straight to the queue file.
 */
#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alias.h"
#include "log.h"
#include "submit.h"

#define CHUNK	8192

/* --- addresses -------------------------------------------------------------- */

static int
add_rcpt(struct submit *s, const struct mailaddr *a)
{
	char		 buf[ADDR_MAX + 3];
	void		*p;
	size_t		 i;

	if (addr_format(a, buf, sizeof(buf)) < 0)
		return -1;
	for (i = 0; i < s->nrcpts; i++)
		if (strcmp(s->rcpts[i].addr, buf) == 0)
			return 0;
	if (s->nrcpts >= SUBMIT_MAX_RCPTS) {
		errno = E2BIG;
		return -1;
	}
	if (s->nrcpts == s->rcap) {
		s->rcap = s->rcap ? s->rcap * 2 : 8;
		if ((p = reallocarray(s->rcpts, s->rcap, sizeof(*s->rcpts))) ==
		    NULL)
			return -1;
		s->rcpts = p;
	}
	if ((s->rcpts[s->nrcpts].addr = strdup(buf)) == NULL)
		return -1;
	s->rcpts[s->nrcpts].local = config_is_local_domain(s->cf, a->domain);
	s->nrcpts++;
	return 0;
}

/* "addr", "<addr>" or "Name <addr>" → a parsed address. */
static int
parse_one(const char *text, size_t len, int allow_null, struct mailaddr *a,
    char *err, size_t errlen)
{
	char		 path[ADDR_MAX * 2 + 8], why[128];
	const char	*lt, *gt, *rest;

	while (len > 0 && (*text == ' ' || *text == '\t')) {
		text++;
		len--;
	}
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	lt = memchr(text, '<', len);
	gt = lt ? memchr(lt, '>', len - (lt - text)) : NULL;
	if (lt != NULL && gt != NULL) {
		len = gt - lt - 1;
		text = lt + 1;
	}
	if (len == 0 && !allow_null) {
		snprintf(err, errlen, "empty address");
		return -1;
	}
	if (len + 3 > sizeof(path)) {
		snprintf(err, errlen, "address too long: %.40s...", text);
		return -1;
	}
	snprintf(path, sizeof(path), "<%.*s>", (int)len, text);
	if (addr_parse_path(path, 1, a, &rest, why, sizeof(why)) == -1 ||
	    (rest != NULL && *rest != '\0')) {
		snprintf(err, errlen, "%s: %s", path, rest && *rest ?
		    "junk after address" : why);
		return -1;
	}
	if (!allow_null && addr_is_null(a)) {
		snprintf(err, errlen, "<>: not a recipient");
		return -1;
	}
	return 0;
}

int
submit_add_rcpts(struct submit *s, char **argv, int argc, char *err,
    size_t errlen)
{
	struct mailaddr	 a;
	const char	*p, *start;
	int		 i, quoted, angle;

	for (i = 0; i < argc; i++) {
		/* Commas separate addresses, except inside "..." or <...>. */
		for (p = start = argv[i], quoted = angle = 0;; p++) {
			if (*p == '"' && (p == start || p[-1] != '\\'))
				quoted = !quoted;
			else if (*p == '<' && !quoted)
				angle = 1;
			else if (*p == '>' && !quoted)
				angle = 0;
			if (*p != '\0' && (*p != ',' || quoted || angle))
				continue;
			if (strspn(start, " \t,") < (size_t)(p - start)) {
				if (parse_one(start, p - start, 0, &a, err,
				    errlen) == -1)
					return -1;
				if (add_rcpt(s, &a) == -1) {
					snprintf(err, errlen, "%s",
					    strerror(errno));
					return -1;
				}
			}
			if (*p == '\0')
				break;
			start = p + 1;
		}
	}
	return 0;
}

/* --- who is sending ----------------------------------------------------------- */

static char *
qualified(const struct mailaddr *a, const char *hostname)
{
	struct mailaddr	 q = *a;
	char		 buf[ADDR_MAX + 3];

	if (!addr_is_null(a) && q.domain[0] == '\0')
		snprintf(q.domain, sizeof(q.domain), "%s", hostname);
	if (addr_format(&q, buf, sizeof(buf)) < 0)
		return NULL;
	return strdup(buf);
}

/* A display name safe for a header line: no control characters. */
static char *
clean_name(const char *s)
{
	char	*out, *o;

	if (s == NULL || (out = malloc(strlen(s) + 1)) == NULL)
		return NULL;
	for (o = out; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x20 && *s != 0x7f)
			*o++ = *s;
	*o = '\0';
	if (out[0] == '\0') {
		free(out);
		return NULL;
	}
	return out;
}

int
submit_init(struct submit *s, const struct mtad_config *cf, const char *sender,
    const char *fullname, char *err, size_t errlen)
{
	struct passwd	*pw;
	struct mailaddr	 a;
	char		*gecos = NULL, *comma;
	char		 me[ADDR_MAX + 3];

	memset(s, 0, sizeof(*s));
	s->cf = cf;
	if ((pw = getpwuid(getuid())) == NULL) {
		snprintf(err, errlen, "no user name for uid %u",
		    (unsigned)getuid());
		return -1;
	}
	if ((s->user = strdup(pw->pw_name)) == NULL)
		goto nomem;
	if (fullname == NULL && pw->pw_gecos != NULL) {
		/* GECOS: "Full Name,room,phone,...". */
		if ((gecos = strdup(pw->pw_gecos)) == NULL)
			goto nomem;
		if ((comma = strchr(gecos, ',')) != NULL)
			*comma = '\0';
		fullname = gecos;
	}
	s->fullname = clean_name(fullname);
	free(gecos);

	if (snprintf(me, sizeof(me), "%s", s->user) >= (int)sizeof(me) ||
	    parse_one(me, strlen(me), 0, &a, err, errlen) == -1)
		return -1;
	if ((s->from = qualified(&a, cf->hostname)) == NULL)
		goto nomem;
	if (sender == NULL)
		s->sender = strdup(s->from);
	else {
		if (parse_one(sender, strlen(sender), 1, &a, err, errlen) == -1)
			return -1;
		s->sender = qualified(&a, cf->hostname);
		if (s->sender != NULL && s->sender[0] != '\0') {
			free(s->from);
			s->from = strdup(s->sender);
		}
	}
	if (s->sender == NULL || s->from == NULL)
		goto nomem;
	return 0;
nomem:
	snprintf(err, errlen, "%s", strerror(errno));
	return -1;
}

void
submit_free(struct submit *s)
{
	size_t	i;

	for (i = 0; i < s->nrcpts; i++)
		free(s->rcpts[i].addr);
	free(s->rcpts);
	for (i = 0; i < s->nhdrs; i++)
		free(s->hdrs[i].text);
	free(s->hdrs);
	free(s->user);
	free(s->sender);
	free(s->from);
	free(s->fullname);
	free(s->msgid);
	memset(s, 0, sizeof(*s));
}

/* --- reading ------------------------------------------------------------------ */

struct reader {
	FILE	*fp;
	char	 buf[CHUNK];
	size_t	 len;
	int	 bol;		/* this chunk starts a line */
	int	 complete;	/* this chunk ends with its newline */
	int	 done;		/* "." seen or end of file */
};

/* The next line, or the next CHUNK bytes of a longer one.  1, 0 at the end
 * of the input, -1 on a read error. */
static int
next_chunk(struct reader *r, int ignore_dots)
{
	int	c;

	if (r->done)
		return 0;
	r->bol = r->len == 0 || r->complete;
	r->len = 0;
	r->complete = 0;
	while (r->len < sizeof(r->buf)) {
		if ((c = getc_unlocked(r->fp)) == EOF)
			break;
		r->buf[r->len++] = (char)c;
		if (c == '\n') {
			r->complete = 1;
			break;
		}
	}
	if (ferror(r->fp))
		return -1;
	if (r->complete && r->len >= 2 && r->buf[r->len - 2] == '\r') {
		r->buf[r->len - 2] = '\n';
		r->len--;
	}
	if (!ignore_dots && r->bol &&
	    ((r->complete && r->len == 2 && r->buf[0] == '.') ||
	    (!r->complete && r->len == 1 && r->buf[0] == '.' &&
	    feof(r->fp)))) {
		r->done = 1;
		return 0;
	}
	if (r->len == 0) {
		r->done = 1;
		return 0;
	}
	return 1;
}

static int
is_field_start(const char *p, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (p[i] == ':')
			return i > 0;
		if ((unsigned char)p[i] <= 32 || (unsigned char)p[i] >= 127)
			return 0;
	}
	return 0;
}

static int
hdr_append(struct submit *s, const char *p, size_t len, int new_field)
{
	struct submit_hdr	*h;
	char			*t;
	void			*v;

	if (s->hbytes + len > SUBMIT_MAX_HEADER) {
		errno = EFBIG;
		return -1;
	}
	if (new_field) {
		if (s->nhdrs == s->hcap) {
			s->hcap = s->hcap ? s->hcap * 2 : 32;
			if ((v = reallocarray(s->hdrs, s->hcap,
			    sizeof(*s->hdrs))) == NULL)
				return -1;
			s->hdrs = v;
		}
		h = &s->hdrs[s->nhdrs++];
		memset(h, 0, sizeof(*h));
		h->namelen = (const char *)memchr(p, ':', len) - p;
	} else
		h = &s->hdrs[s->nhdrs - 1];
	if ((t = realloc(h->text, h->len + len + 1)) == NULL)
		return -1;
	memcpy(t + h->len, p, len);
	h->text = t;
	h->len += len;
	h->text[h->len] = '\0';
	s->hbytes += len;
	return 0;
}

enum hdr_end { HDR_BLANK, HDR_BODYLINE, HDR_EOF };

/* Read the header block.  A line that is neither a field nor a
 * continuation starts the body (the caller writes the blank line the
 * message lacked). */
static int
read_header(struct submit *s, struct reader *r, enum hdr_end *how)
{
	int	first = 1, n, cont_ok = 0;

	while ((n = next_chunk(r, s->ignore_dots)) == 1) {
		if (!r->bol) {
			/* The rest of an overlong line. */
			if (s->nhdrs > 0 && hdr_append(s, r->buf, r->len, 0) == -1)
				return -1;
			if (s->nhdrs == 0) {
				*how = HDR_BODYLINE;
				return 0;
			}
			continue;
		}
		if (first && r->len > 5 && memcmp(r->buf, "From ", 5) == 0) {
			/* An mbox separator, not part of the message;
			 * skip it whole, however long. */
			first = 0;
			while (!r->complete && (n = next_chunk(r, 1)) == 1)
				;
			if (n == -1)
				return -1;
			continue;
		}
		first = 0;
		if (r->len == 1 && r->buf[0] == '\n') {
			*how = HDR_BLANK;
			return 0;
		}
		if (cont_ok && (r->buf[0] == ' ' || r->buf[0] == '\t')) {
			if (hdr_append(s, r->buf, r->len, 0) == -1)
				return -1;
			continue;
		}
		if (!is_field_start(r->buf, r->len)) {
			*how = HDR_BODYLINE;
			return 0;
		}
		if (hdr_append(s, r->buf, r->len, 1) == -1)
			return -1;
		cont_ok = 1;
	}
	if (n == -1)
		return -1;
	*how = HDR_EOF;
	return 0;
}

static int
hdr_is(const struct submit_hdr *h, const char *name)
{
	return h->text != NULL && h->namelen == strlen(name) &&
	    strncasecmp(h->text, name, h->namelen) == 0;
}

static int
has_header(const struct submit *s, const char *name)
{
	size_t	i;

	for (i = 0; i < s->nhdrs; i++)
		if (hdr_is(&s->hdrs[i], name))
			return 1;
	return 0;
}

/* The unfolded value of a field: newlines become spaces. */
static char *
hdr_value(const struct submit_hdr *h, size_t *len)
{
	char	*v;
	size_t	 i;

	*len = h->len - h->namelen - 1;
	if ((v = malloc(*len + 1)) == NULL)
		return NULL;
	memcpy(v, h->text + h->namelen + 1, *len);
	v[*len] = '\0';
	for (i = 0; i < *len; i++)
		if (v[i] == '\n' || v[i] == '\r')
			v[i] = ' ';
	return v;
}

static void
header_addr(const char *spec, const char *display, void *arg)
{
	struct submit	*s = arg;
	struct mailaddr	 a;
	char		 err[200];

	if (s->err[0] != '\0')
		return;
	if (parse_one(spec, strlen(spec), 0, &a, err, sizeof(err)) == -1)
		snprintf(s->err, sizeof(s->err), "%s", err);
	else if (add_rcpt(s, &a) == -1)
		snprintf(s->err, sizeof(s->err), "%s", strerror(errno));
}

/* -t: recipients from To/Cc/Bcc, or Resent-To/Cc/Bcc when present. */
static int
extract_rcpts(struct submit *s, char *err, size_t errlen)
{
	static const char *const plain[] = { "To", "Cc", "Bcc" };
	static const char *const resent[] = { "Resent-To", "Resent-Cc",
	    "Resent-Bcc" };
	const char *const *names = plain;
	char		*v;
	size_t		 i, j, len;

	for (j = 0; j < 3; j++)
		if (has_header(s, resent[j]))
			names = resent;
	for (i = 0; i < s->nhdrs; i++)
		for (j = 0; j < 3; j++) {
			if (!hdr_is(&s->hdrs[i], names[j]))
				continue;
			if ((v = hdr_value(&s->hdrs[i], &len)) == NULL) {
				snprintf(err, errlen, "%s", strerror(errno));
				return -1;
			}
			if (addr_list_parse(v, len, header_addr, s) == -1 &&
			    s->err[0] == '\0')
				snprintf(s->err, sizeof(s->err),
				    "syntax error in address list");
			free(v);
			if (s->err[0] != '\0') {
				snprintf(err, errlen, "%s: header: %s",
				    names[j], s->err);
				return -1;
			}
		}
	return 0;
}

/* --- writing ------------------------------------------------------------------ */

static void
put(struct submit *s, struct qwriter *w, const char *p, size_t len)
{
	size_t	i;

	if (!s->body8bit)
		for (i = 0; i < len; i++)
			if ((unsigned char)p[i] & 0x80) {
				s->body8bit = 1;
				break;
			}
	qwriter_write(w, p, len);
}

static void
putf(struct submit *s, struct qwriter *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
putf(struct submit *s, struct qwriter *w, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (!w->failed)
			w->failed = ENOMEM;
		return;
	}
	put(s, w, p, n);
	free(p);
}

/* A display name as a phrase: bare when it is only atext and spaces. */
static void
put_from(struct submit *s, struct qwriter *w)
{
	const char	*p;
	int		 plain = 1;

	if (s->fullname == NULL) {
		putf(s, w, "From: %s\n", s->from);
		return;
	}
	for (p = s->fullname; *p != '\0'; p++)
		if (!(isalnum((unsigned char)*p) || *p == ' ' ||
		    strchr("!#$%&'*+-/=?^_`{|}~", *p) != NULL))
			plain = 0;
	if (plain) {
		putf(s, w, "From: %s <%s>\n", s->fullname, s->from);
		return;
	}
	put(s, w, "From: \"", 7);
	for (p = s->fullname; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			put(s, w, "\\", 1);
		put(s, w, p, 1);
	}
	putf(s, w, "\" <%s>\n", s->from);
}

static void
write_header(struct submit *s, struct qwriter *w, time_t now)
{
	struct tm	 tm;
	char		 date[64], stamp[32];
	size_t		 i;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	putf(s, w, "Received: (from %s@localhost)\n\tby %s (mtad-sendmail) "
	    "id %s;\n\t%s\n", s->user, s->cf->hostname, w->id, date);
	for (i = 0; i < s->nhdrs; i++) {
		if (hdr_is(&s->hdrs[i], "Bcc") ||
		    hdr_is(&s->hdrs[i], "Resent-Bcc"))
			continue;
		put(s, w, s->hdrs[i].text, s->hdrs[i].len);
		/* A field cut off by the end of the input still ends here. */
		if (s->hdrs[i].text[s->hdrs[i].len - 1] != '\n')
			put(s, w, "\n", 1);
	}
	if (!has_header(s, "From"))
		put_from(s, w);
	if (!has_header(s, "Date"))
		putf(s, w, "Date: %s\n", date);
	if (!has_header(s, "Message-ID")) {
		strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
		free(s->msgid);
		if (asprintf(&s->msgid, "<%s.%s@%s>", stamp, w->id,
		    s->cf->hostname) == -1)
			s->msgid = NULL;
		if (s->msgid != NULL)
			putf(s, w, "Message-ID: %s\n", s->msgid);
	}
}

static void
find_msgid(struct submit *s)
{
	size_t	i, len, a, b;
	char	*v;

	for (i = 0; i < s->nhdrs; i++) {
		if (!hdr_is(&s->hdrs[i], "Message-ID"))
			continue;
		if ((v = hdr_value(&s->hdrs[i], &len)) == NULL)
			return;
		for (a = 0; a < len && (v[a] == ' ' || v[a] == '\t'); a++)
			;
		for (b = len; b > a && (v[b - 1] == ' ' || v[b - 1] == '\t');
		    b--)
			;
		v[b] = '\0';
		s->msgid = strdup(v + a);
		free(v);
		return;
	}
}

/* The first local recipient nobody answers to, or NULL. */
static const char *
unknown_local(const struct submit *s)
{
	const char	*at;
	char		 name[ADDR_LOCAL_MAX + 1];
	size_t		 i, len;

	if (s->aliases == NULL)
		return NULL;
	for (i = 0; i < s->nrcpts; i++) {
		if (!s->rcpts[i].local)
			continue;
		at = strrchr(s->rcpts[i].addr, '@');
		len = at ? (size_t)(at - s->rcpts[i].addr) :
		    strlen(s->rcpts[i].addr);
		if (len >= sizeof(name))
			return s->rcpts[i].addr;
		memcpy(name, s->rcpts[i].addr, len);
		name[len] = '\0';
		if (strcasecmp(name, "postmaster") == 0 ||
		    alias_exists(s->aliases, name) || getpwnam(name) != NULL)
			continue;
		return s->rcpts[i].addr;
	}
	return NULL;
}

static int
fail(struct qwriter *w, int code, char *err, size_t errlen, const char *fmt,
    ...) __attribute__((format(printf, 5, 6)));

static int
fail(struct qwriter *w, int code, char *err, size_t errlen, const char *fmt,
    ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	qwriter_abort(w);
	return code;
}

static int
errno_code(int e)
{
	return e == EIO ? EX_IOERR : EX_TEMPFAIL;
}

int
submit_run(struct submit *s, struct queue *q, FILE *fp, char id[QID_SIZE],
    char *err, size_t errlen)
{
	struct reader	*r;
	struct qwriter	 w, *wp = &w;
	struct qmsg	 m;
	struct qrcpt	*qr;
	enum hdr_end	 how;
	const char	*bad;
	uint64_t	 max = s->cf->max_message_size;
	time_t		 now = time(NULL);
	size_t		 i;
	int		 n, res;

	if (qwriter_open(q, QDEST_MAILDROP, &w) == -1) {
		snprintf(err, errlen, "cannot write to %s/maildrop: %s",
		    q->spool, strerror(errno));
		return errno == EACCES ? EX_NOPERM : errno_code(errno);
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return fail(&w, EX_OSERR, err, errlen, "%s", strerror(errno));
	r->fp = fp;
	if (read_header(s, r, &how) == -1) {
		free(r);
		if (errno == EFBIG)
			return fail(&w, EX_DATAERR, err, errlen,
			    "message header longer than %d octets",
			    SUBMIT_MAX_HEADER);
		return fail(&w, EX_IOERR, err, errlen, "reading the message: "
		    "%s", strerror(errno));
	}
	if (s->extract && extract_rcpts(s, err, errlen) == -1) {
		free(r);
		qwriter_abort(&w);
		return EX_DATAERR;
	}
	if (s->nrcpts == 0) {
		free(r);
		return fail(&w, EX_DATAERR, err, errlen, "no recipients found "
		    "in the message header");
	}
	if ((bad = unknown_local(s)) != NULL) {
		free(r);
		return fail(&w, EX_NOUSER, err, errlen, "<%s>: user unknown",
		    bad);
	}
	find_msgid(s);
	write_header(s, &w, now);
	put(s, &w, "\n", 1);
	if (how == HDR_BODYLINE)
		put(s, &w, r->buf, r->len);
	n = how == HDR_EOF ? 0 : 1;
	while (n == 1) {
		if (max != 0 && w.size > max)
			break;
		if ((n = next_chunk(r, s->ignore_dots)) == 1)
			put(s, &w, r->buf, r->len);
	}
	free(r);
	if (n == -1)
		return fail(&w, EX_IOERR, err, errlen, "reading the message: "
		    "%s", strerror(errno));
	if (max != 0 && w.size > max)
		return fail(&w, EX_DATAERR, err, errlen, "message larger than "
		    "the limit of %" PRIu64 " octets", max);

	memset(&m, 0, sizeof(m));
	if ((qr = calloc(s->nrcpts, sizeof(*qr))) == NULL)
		return fail(&w, EX_OSERR, err, errlen, "%s", strerror(errno));
	for (i = 0; i < s->nrcpts; i++) {
		qr[i].addr = s->rcpts[i].addr;
		qr[i].local = s->rcpts[i].local;
	}
	m.arrival = now;
	m.sender = s->sender;
	m.client = "localhost";
	m.proto = "local";
	m.msgid = s->msgid;
	m.body8bit = s->body8bit;
	m.rcpts = qr;
	m.nrcpts = s->nrcpts;
	if (qwriter_finish(&w, &m) == -1) {
		free(qr);
		snprintf(err, errlen, "cannot queue the message: %s",
		    strerror(errno));
		return errno_code(errno);
	}
	free(qr);
	queue_commit(q, &wp, 1, &res);
	if (res != 0) {
		snprintf(err, errlen, "cannot queue the message: %s",
		    strerror(res));
		return errno_code(res);
	}
	memcpy(id, m.id, QID_SIZE);
	log_info("%s: from=<%s>, size=%" PRIu64 ", nrcpts=%zu, msgid=%s, "
	    "relay=%s@localhost", id, s->sender, m.size, s->nrcpts,
	    s->msgid ? s->msgid : "", s->user);
	return EX_OK;
}
