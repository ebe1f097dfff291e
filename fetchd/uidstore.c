/*
 * The idfile and the delivery journal (see uidstore.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "atomic.h"
#include "log.h"
#include "uidstore.h"

struct uid_entry {
	struct uid_entry	*next;
	int			 bits;
	char			**rcpts;	/* UID_RCPTS: accepted ones */
	size_t			 nrcpts;
	char			*value;		/* a fact (uid " key") */
	char			*uid;		/* points into acct's block */
	char			 acct[];	/* acct NUL uid NUL */
};

/*
 * A fact about an account (uidstore_fact) is an entry whose uid is " key":
 * no real uid has a blank (fetch_uid_ok).  In the idfile it is the line
 * "ACCT %20key VALUE".
 */
#define IS_FACT(uid)	((uid)[0] == ' ')

static size_t
hash(const char *acct, const char *uid)
{
	size_t	 h = 2166136261u;

	for (; *acct != '\0'; acct++)
		h = (h ^ (unsigned char)*acct) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (; *uid != '\0'; uid++)
		h = (h ^ (unsigned char)*uid) * 16777619u;
	return h;
}

static struct uid_entry **
find(struct uidstore *us, const char *acct, const char *uid)
{
	struct uid_entry	**ep;

	if (us->nbuckets == 0)
		return NULL;
	ep = &us->tab[hash(acct, uid) % us->nbuckets];
	for (; *ep != NULL; ep = &(*ep)->next)
		if (strcmp((*ep)->acct, acct) == 0 &&
		    strcmp((*ep)->uid, uid) == 0)
			return ep;
	return ep;
}

static int
grow(struct uidstore *us)
{
	struct uid_entry	**tab, *e, *next;
	size_t			  nb, i, h;

	nb = us->nbuckets == 0 ? 256 : us->nbuckets * 2;
	if ((tab = calloc(nb, sizeof(*tab))) == NULL)
		return -1;
	for (i = 0; i < us->nbuckets; i++)
		for (e = us->tab[i]; e != NULL; e = next) {
			next = e->next;
			h = hash(e->acct, e->uid) % nb;
			e->next = tab[h];
			tab[h] = e;
		}
	free(us->tab);
	us->tab = tab;
	us->nbuckets = nb;
	return 0;
}

int
uidstore_get(struct uidstore *us, const char *acct, const char *uid)
{
	struct uid_entry	**ep = find(us, acct, uid);

	return ep != NULL && *ep != NULL ? (*ep)->bits : 0;
}

int
uidstore_set(struct uidstore *us, const char *acct, const char *uid,
    int bits)
{
	struct uid_entry	**ep, *e;
	size_t			  la = strlen(acct), lu = strlen(uid);

	if ((ep = find(us, acct, uid)) != NULL && *ep != NULL) {
		if (((*ep)->bits & bits & UID_SEEN) == 0 && (bits & UID_SEEN))
			us->dirty = 1;
		(*ep)->bits |= bits;
		return 0;
	}
	if (us->n >= UIDSTORE_MAX_ENTRIES) {
		errno = E2BIG;
		return -1;
	}
	if (us->n >= us->nbuckets && grow(us) == -1)
		return -1;
	if ((e = malloc(sizeof(*e) + la + lu + 2)) == NULL)
		return -1;
	memcpy(e->acct, acct, la + 1);
	e->uid = e->acct + la + 1;
	memcpy(e->uid, uid, lu + 1);
	e->bits = bits;
	e->rcpts = NULL;
	e->nrcpts = 0;
	e->value = NULL;
	ep = find(us, acct, uid);
	e->next = NULL;
	*ep = e;
	us->n++;
	if (bits & UID_SEEN)
		us->dirty = 1;
	return 0;
}

static void
free_rcpts(struct uid_entry *e)
{
	size_t	 i;

	for (i = 0; i < e->nrcpts; i++)
		free(e->rcpts[i]);
	free(e->rcpts);
	e->rcpts = NULL;
	e->nrcpts = 0;
}

static void
drop_bits(struct uidstore *us, struct uid_entry **ep, int bits)
{
	struct uid_entry	*e = *ep;

	if (e->bits & bits & UID_SEEN)
		us->dirty = 1;
	if (e->bits & bits & (UID_JOURNAL | UID_RCPTS))
		us->jdirty = 1;
	/* Once settled whole, the partial record is done with too. */
	if (bits & UID_JOURNAL)
		bits |= UID_RCPTS;
	e->bits &= ~bits;
	if ((e->bits & UID_RCPTS) == 0)
		free_rcpts(e);
	if (e->bits == 0) {
		*ep = e->next;
		free(e->value);
		free(e);
		us->n--;
	}
}

static struct uid_entry *
lookup(struct uidstore *us, const char *acct, const char *uid)
{
	struct uid_entry	**ep = find(us, acct, uid);

	return ep != NULL ? *ep : NULL;
}

/* Remember rcpt as accepted for uid, in memory. */
static int
add_rcpt(struct uidstore *us, const char *acct, const char *uid,
    const char *rcpt)
{
	struct uid_entry	*e;
	char			**v;

	if (uidstore_rcpt_done(us, acct, uid, rcpt))
		return 0;
	if (uidstore_set(us, acct, uid, UID_RCPTS) == -1 ||
	    (e = lookup(us, acct, uid)) == NULL)
		return -1;
	if ((v = reallocarray(e->rcpts, e->nrcpts + 1, sizeof(*v))) == NULL)
		return -1;
	e->rcpts = v;
	if ((v[e->nrcpts] = strdup(rcpt)) == NULL)
		return -1;
	e->nrcpts++;
	return 0;
}

int
uidstore_rcpt_done(struct uidstore *us, const char *acct, const char *uid,
    const char *rcpt)
{
	struct uid_entry	*e = lookup(us, acct, uid);
	size_t			 i;

	if (e == NULL)
		return 0;
	for (i = 0; i < e->nrcpts; i++)
		if (strcasecmp(e->rcpts[i], rcpt) == 0)
			return 1;
	return 0;
}

void
uidstore_clear(struct uidstore *us, const char *acct, const char *uid,
    int bits)
{
	struct uid_entry	**ep = find(us, acct, uid);

	if (ep != NULL && *ep != NULL)
		drop_bits(us, ep, bits);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
uidstore_prune(struct uidstore *us, const char *acct,
    const char *const *uids, size_t n)
{
	struct uid_entry	**ep;
	const char		**sorted;
	size_t			  i;

	if ((sorted = calloc(n + 1, sizeof(*sorted))) == NULL)
		return;		/* pruning is housekeeping */
	memcpy(sorted, uids, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_str);
	for (i = 0; i < us->nbuckets; i++)
		for (ep = &us->tab[i]; *ep != NULL;) {
			if (strcmp((*ep)->acct, acct) == 0 &&
			    !IS_FACT((*ep)->uid) && bsearch(&(*ep)->uid,
			    sorted, n, sizeof(*sorted), cmp_str) == NULL) {
				drop_bits(us, ep, UID_SEEN | UID_JOURNAL |
				    UID_RCPTS);
				continue;
			}
			ep = &(*ep)->next;
		}
	free(sorted);
}

const char *
uidstore_fact(struct uidstore *us, const char *acct, const char *key)
{
	struct uid_entry	*e;
	char			 uid[64];

	if (snprintf(uid, sizeof(uid), " %s", key) >= (int)sizeof(uid))
		return NULL;
	e = lookup(us, acct, uid);
	return e != NULL ? e->value : NULL;
}

int
uidstore_set_fact(struct uidstore *us, const char *acct, const char *key,
    const char *value)
{
	struct uid_entry	*e;
	char			 uid[64], *v;

	if (snprintf(uid, sizeof(uid), " %s", key) >= (int)sizeof(uid) ||
	    strchr(key, ' ') != NULL || *value == '\0') {
		errno = EINVAL;
		return -1;
	}
	if ((e = lookup(us, acct, uid)) != NULL && e->value != NULL &&
	    strcmp(e->value, value) == 0)
		return 0;
	if ((v = strdup(value)) == NULL)
		return -1;
	if (e == NULL && (uidstore_set(us, acct, uid, UID_SEEN) == -1 ||
	    (e = lookup(us, acct, uid)) == NULL)) {
		free(v);
		return -1;
	}
	free(e->value);
	e->value = v;
	e->bits |= UID_SEEN;
	us->dirty = 1;
	return 0;
}

int
uidstore_uids(struct uidstore *us, const char *acct, const char ***vp,
    size_t *np)
{
	struct uid_entry	*e;
	const char		**v = NULL, **nv;
	size_t			 i, n = 0, cap = 0;

	for (i = 0; i < us->nbuckets; i++)
		for (e = us->tab[i]; e != NULL; e = e->next) {
			if (IS_FACT(e->uid) || strcmp(e->acct, acct) != 0)
				continue;
			if (n == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				if ((nv = reallocarray(v, cap, sizeof(*v))) ==
				    NULL) {
					free(v);
					return -1;
				}
				v = nv;
			}
			v[n++] = e->uid;
		}
	*vp = v;
	*np = n;
	return 0;
}

size_t
uidstore_count(struct uidstore *us, const char *acct)
{
	struct uid_entry	*e;
	size_t			 i, n = 0, la = strlen(acct);

	for (i = 0; i < us->nbuckets; i++)
		for (e = us->tab[i]; e != NULL; e = e->next)
			if (!IS_FACT(e->uid) && strncmp(e->acct, acct, la) ==
			    0 && (e->acct[la] == '\0' || e->acct[la] == '/'))
				n++;
	return n;
}

/* ---- files -------------------------------------------------------------- */

static size_t
escape(const char *s, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 n = 0;
	unsigned char		 c;

	for (; *s != '\0' && n + 4 < outlen; s++) {
		c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f || c == '%') {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else
			out[n++] = (char)c;
	}
	out[n] = '\0';
	return n;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
unescape(char *s)
{
	char	*o = s;
	int	 hi, lo;

	for (; *s != '\0'; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		if ((hi = hexval(s[1])) < 0 || (lo = hexval(s[2])) < 0 ||
		    (hi == 0 && lo == 0))
			return -1;
		*o++ = (char)(hi << 4 | lo);
		s += 2;
	}
	*o = '\0';
	return 0;
}

/*
 * fgets(), with the count of octets it read: strchr() would stop at a NUL
 * inside the line and take its LF for missing, and the torn-line skip
 * below then ate the next line (found by t/fuzz/fuzz_uidstore).
 */
static int
read_line(FILE *fp, char *line, size_t size, size_t *got)
{
	off_t	 at, end;

	if ((at = ftello(fp)) == -1 || fgets(line, (int)size, fp) == NULL ||
	    (end = ftello(fp)) == -1 || end <= at)
		return 0;
	*got = (size_t)(end - at);
	return 1;
}

static int
load(struct uidstore *us, const char *path, int bits, char *err,
    size_t errlen)
{
	FILE	*fp;
	char	 line[UIDSTORE_LINE_MAX], *sp, *sp2;
	size_t	 got;
	int	 lineno = 0, bad = 0;

	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (read_line(fp, line, sizeof(line), &got)) {
		lineno++;
		/* A line without its LF is torn (or too long): skip it. */
		if (line[got - 1] != '\n') {
			bad++;
			while (got == sizeof(line) - 1 &&
			    read_line(fp, line, sizeof(line), &got) &&
			    line[got - 1] != '\n')
				;
			continue;
		}
		/* Nor is one holding a NUL: a crash can leave zeros. */
		if (memchr(line, '\0', got) != NULL) {
			bad++;
			continue;
		}
		line[got - 1] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if ((sp = strchr(line, ' ')) == NULL || sp[1] == '\0' ||
		    sp == line) {
			bad++;
			continue;
		}
		*sp++ = '\0';
		/* The journal's "ACCT UID RCPT": a partial delivery. */
		if ((sp2 = strchr(sp, ' ')) != NULL) {
			*sp2++ = '\0';
			if ((bits != UID_JOURNAL && strncmp(sp, "%20", 3) !=
			    0) || *sp == '\0' || *sp2 == '\0' ||
			    strchr(sp2, ' ') != NULL) {
				bad++;
				continue;
			}
		}
		if (unescape(line) == -1 || unescape(sp) == -1 ||
		    (sp2 != NULL && unescape(sp2) == -1)) {
			bad++;
			continue;
		}
		if (bits == UID_SEEN && IS_FACT(sp) != (sp2 != NULL)) {
			bad++;
			continue;
		}
		if (bits == UID_SEEN && sp2 != NULL ?
		    uidstore_set_fact(us, line, sp + 1, sp2) == -1 :
		    sp2 != NULL ? add_rcpt(us, line, sp, sp2) == -1 :
		    uidstore_set(us, line, sp, bits) == -1) {
			/* A fact that could never have been set (key too
			 * long, with a blank) is a bad line, not a reason to
			 * refuse the file (found by t/fuzz/fuzz_uidstore). */
			if (errno == EINVAL) {
				bad++;
				continue;
			}
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			fclose(fp);
			return -1;
		}
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		fclose(fp);
		return -1;
	}
	fclose(fp);
	if (bad > 0)
		log_warnx("%s: %d malformed line%s ignored", path, bad,
		    bad == 1 ? "" : "s");
	return 0;
}

int
uidstore_open(struct uidstore *us, const char *idfile, char *err,
    size_t errlen)
{
	int	 fd;

	memset(us, 0, sizeof(*us));
	us->jfd = -1;
	if ((us->path = strdup(idfile)) == NULL ||
	    asprintf(&us->jpath, "%s.journal", idfile) == -1) {
		us->jpath = NULL;
		snprintf(err, errlen, "out of memory");
		uidstore_close(us);
		return -1;
	}
	if (load(us, us->path, UID_SEEN, err, errlen) == -1 ||
	    load(us, us->jpath, UID_JOURNAL, err, errlen) == -1) {
		uidstore_close(us);
		return -1;
	}
	us->dirty = us->jdirty = 0;
	/* A killed predecessor's appends may be in the page cache only:
	 * make them durable before acting on them. */
	if ((fd = open(us->jpath, O_RDONLY | O_CLOEXEC)) != -1) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

void
uidstore_close(struct uidstore *us)
{
	struct uid_entry	*e, *next;
	size_t			 i;

	for (i = 0; i < us->nbuckets; i++)
		for (e = us->tab[i]; e != NULL; e = next) {
			next = e->next;
			free_rcpts(e);
			free(e->value);
			free(e);
		}
	if (us->jfd != -1) {
		fdatasync(us->jfd);
		close(us->jfd);
	}
	free(us->tab);
	free(us->path);
	free(us->jpath);
	memset(us, 0, sizeof(*us));
	us->jfd = -1;
}

static size_t
format_line(const char *acct, const char *uid, const char *rcpt, char *buf,
    size_t len)
{
	size_t	 n;

	n = escape(acct, buf, len / 3);
	buf[n++] = ' ';
	n += escape(uid, buf + n, rcpt != NULL ? (len - n) / 2 : len - n - 1);
	if (rcpt != NULL) {
		buf[n++] = ' ';
		n += escape(rcpt, buf + n, len - n - 1);
	}
	buf[n++] = '\n';
	return n;
}

static int
journal_openfd(struct uidstore *us)
{
	off_t	 end;
	char	 c;
	int	 created;

	if (us->jfd != -1)
		return 0;
	created = access(us->jpath, F_OK) == -1;
	if ((us->jfd = open(us->jpath, O_RDWR | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	/* A new journal's directory entry must be durable too. */
	if (created && fsync_dir(us->jpath) == -1)
		return -1;
	/*
	 * A torn last line (a crash or a full disk mid-append) is ended
	 * first: else the next entry would join it and be lost with it
	 * (found by t/fuzz/fuzz_uidstore).
	 */
	if ((end = lseek(us->jfd, 0, SEEK_END)) == -1)
		return -1;
	if (end > 0 && pread(us->jfd, &c, 1, end - 1) == 1 && c != '\n' &&
	    write_all(us->jfd, "\n", 1) == -1)
		return -1;
	return 0;
}

int
uidstore_journal(struct uidstore *us, const char *acct,
    const char *const *uids, size_t n)
{
	char	 line[UIDSTORE_LINE_MAX];
	size_t	 i, len;

	if (n == 0)
		return 0;
	if (journal_openfd(us) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		len = format_line(acct, uids[i], NULL, line, sizeof(line));
		if (write_all(us->jfd, line, len) == -1)
			return -1;
		us->junsynced = 1;
		if (uidstore_set(us, acct, uids[i], UID_JOURNAL) == -1)
			return -1;
	}
	return 0;
}

int
uidstore_journal_rcpt(struct uidstore *us, const char *acct,
    const char *uid, const char *rcpt)
{
	char	 line[UIDSTORE_LINE_MAX];
	size_t	 len;

	if (uidstore_rcpt_done(us, acct, uid, rcpt))
		return 0;
	if (journal_openfd(us) == -1)
		return -1;
	len = format_line(acct, uid, rcpt, line, sizeof(line));
	if (write_all(us->jfd, line, len) == -1)
		return -1;
	us->junsynced = 1;
	return add_rcpt(us, acct, uid, rcpt);
}

int
uidstore_sync(struct uidstore *us)
{
	if (!us->junsynced || us->jfd == -1)
		return 0;
	if (fdatasync(us->jfd) == -1)
		return -1;
	us->junsynced = 0;
	return 0;
}

static void
journal_closefd(struct uidstore *us)
{
	if (us->jfd != -1)
		close(us->jfd);
	us->jfd = -1;
}

static int
write_file(struct uidstore *us, const char *path, int bits)
{
	struct atomic_file	 af;
	struct uid_entry	*e;
	char			 line[UIDSTORE_LINE_MAX];
	size_t			 i, j, len;

	if (atomic_open(&af, path, 0600) == -1)
		return -1;
	for (i = 0; i < us->nbuckets; i++)
		for (e = us->tab[i]; e != NULL; e = e->next) {
			if (bits == UID_JOURNAL && (e->bits & UID_JOURNAL) ==
			    0 && (e->bits & UID_RCPTS)) {
				for (j = 0; j < e->nrcpts; j++) {
					len = format_line(e->acct, e->uid,
					    e->rcpts[j], line, sizeof(line));
					if (atomic_write(&af, line, len) == -1)
						goto fail;
				}
				continue;
			}
			if ((e->bits & bits) == 0)
				continue;
			len = format_line(e->acct, e->uid, bits == UID_SEEN ?
			    e->value : NULL, line, sizeof(line));
			if (atomic_write(&af, line, len) == -1)
				goto fail;
		}
	return atomic_commit(&af);
fail:
	atomic_abort(&af);
	return -1;
}

int
uidstore_save(struct uidstore *us)
{
	if (us->dirty) {
		if (write_file(us, us->path, UID_SEEN) == -1)
			return -1;
		us->dirty = 0;
	}
	if (us->jdirty) {
		/* The rewrite replaces the file: appends go to the new one. */
		if (uidstore_sync(us) == -1)
			return -1;
		journal_closefd(us);
		if (write_file(us, us->jpath, UID_JOURNAL) == -1)
			return -1;
		us->jdirty = 0;
	}
	return 0;
}
