/*
 * /etc/aliases parsing and expansion.  The file is small and read at each
 * delivery, so an edit takes effect without newaliases; newaliases only
 * checks it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alias.h"
#include "log.h"

struct strvec {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

struct alias_entry {
	char		*name;		/* lower case */
	struct strvec	 targets;	/* unquoted */
	int		 line;
};

struct alias_table {
	struct alias_entry *e;
	size_t		 n;
	size_t		 cap;
};

/* Where a parse error goes: a stream (newaliases) or the log. */
struct errsink {
	FILE		*out;
	const char	*path;
	int		 nerrors;
};

static void PRINTFLIKE(3, 4)
parse_error(struct errsink *es, int line, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	es->nerrors++;
	if (es->out != NULL)
		fprintf(es->out, "%s:%d: %s\n", es->path, line, msg);
	else
		log_warnx("%s:%d: %s", es->path, line, msg);
}

static int
strvec_add(struct strvec *sv, const char *s, size_t len)
{
	char	**nv;

	if (sv->n == sv->cap) {
		size_t ncap = sv->cap ? sv->cap * 2 : 4;

		if ((nv = reallocarray(sv->v, ncap, sizeof(*nv))) == NULL)
			return -1;
		sv->v = nv;
		sv->cap = ncap;
	}
	if ((sv->v[sv->n] = strndup(s, len)) == NULL)
		return -1;
	sv->n++;
	return 0;
}

static void
strvec_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

static int
is_blank(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	return *s == '\0';
}

/* A target once unquoted: is it something we know how to deliver to? */
static int
check_target(const char *t, int quoted, char *err, size_t errlen)
{
	const char *at;

	if (t[0] == '|') {
		if (is_blank(t + 1)) {
			snprintf(err, errlen, "empty command after '|'");
			return -1;
		}
		return 0;
	}
	if (strncasecmp(t, ":include:", 9) == 0) {
		t += 9;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t != '/') {
			snprintf(err, errlen,
			    ":include: needs an absolute path");
			return -1;
		}
		return 0;
	}
	if (t[0] == '/')
		return 0;
	if (t[0] == '\\')
		t++;
	if (*t == '\0' || strlen(t) > 320) {
		snprintf(err, errlen, "bad target \"%.200s\"", t);
		return -1;
	}
	for (const char *p = t; *p; p++) {
		unsigned char c = *p;

		if (c < 0x20 || c == 0x7f || ((c == ' ' || c == '\t') &&
		    !quoted) || c == ',' || c == '"' || c == ':') {
			snprintf(err, errlen, "bad target \"%.200s\"", t);
			return -1;
		}
	}
	if ((at = strrchr(t, '@')) != NULL && (at == t || at[1] == '\0')) {
		snprintf(err, errlen, "bad address \"%.200s\"", t);
		return -1;
	}
	return 0;
}

/*
 * Split a list of targets at commas outside double quotes, unquoting and
 * checking each.  0, or -1 with the reason in err.
 */
static int
split_targets(const char *s, struct strvec *out, char *err, size_t errlen)
{
	char	*buf;
	size_t	 len;

	if ((buf = malloc(strlen(s) + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (*s != '\0') {
		int	quoted = 0, inq = 0;

		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		len = 0;
		for (; *s != '\0'; s++) {
			if (inq) {
				if (*s == '\\' && s[1] != '\0')
					buf[len++] = *++s;
				else if (*s == '"')
					inq = 0;
				else
					buf[len++] = *s;
			} else if (*s == '"') {
				inq = quoted = 1;
			} else if (*s == ',') {
				break;
			} else {
				buf[len++] = *s;
			}
		}
		if (inq) {
			snprintf(err, errlen, "unterminated quote");
			goto fail;
		}
		while (len > 0 && strchr(" \t\r\n", buf[len - 1]) != NULL)
			len--;
		buf[len] = '\0';
		if (*s == ',')
			s++;
		if (len == 0) {
			if (quoted) {
				snprintf(err, errlen, "empty target");
				goto fail;
			}
			continue;	/* "a, , b" and a trailing comma */
		}
		if (check_target(buf, quoted, err, errlen) == -1)
			goto fail;
		if (out->n >= ALIAS_MAX_TARGETS) {
			snprintf(err, errlen, "too many targets");
			goto fail;
		}
		if (strvec_add(out, buf, len) == -1) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct alias_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : x->line - y->line;
}

static void
lower(char *s)
{
	for (; *s; s++)
		*s = tolower((unsigned char)*s);
}

/* One logical entry (continuations joined): "name: targets". */
static void
add_entry(struct alias_table *t, struct errsink *es, const char *text,
    int line)
{
	struct alias_entry	 e;
	const char		*colon;
	char			 err[256];
	size_t			 nlen;

	memset(&e, 0, sizeof(e));
	if ((colon = strchr(text, ':')) == NULL) {
		parse_error(es, line, "missing ':' after alias name");
		return;
	}
	nlen = colon - text;
	while (nlen > 0 && (text[nlen - 1] == ' ' || text[nlen - 1] == '\t'))
		nlen--;
	if (nlen == 0) {
		parse_error(es, line, "missing alias name before ':'");
		return;
	}
	if ((e.name = strndup(text, nlen)) == NULL) {
		parse_error(es, line, "out of memory");
		return;
	}
	for (const char *p = e.name; *p; p++) {
		if (isspace((unsigned char)*p) || *p == '"' || *p == ',' ||
		    (unsigned char)*p < 0x20) {
			parse_error(es, line, "bad alias name \"%s\"", e.name);
			free(e.name);
			return;
		}
	}
	lower(e.name);
	if (split_targets(colon + 1, &e.targets, err, sizeof(err)) == -1) {
		parse_error(es, line, "alias %s: %s", e.name, err);
		goto drop;
	}
	if (e.targets.n == 0) {
		parse_error(es, line, "alias %s has no targets", e.name);
		goto drop;
	}
	e.line = line;
	if (t->n == t->cap) {
		size_t			 ncap = t->cap ? t->cap * 2 : 32;
		struct alias_entry	*ne;

		if ((ne = reallocarray(t->e, ncap, sizeof(*ne))) == NULL) {
			parse_error(es, line, "out of memory");
			goto drop;
		}
		t->e = ne;
		t->cap = ncap;
	}
	t->e[t->n++] = e;
	return;
drop:
	free(e.name);
	strvec_free(&e.targets);
}

/* Read a whole (bounded) file; a final newline is added if missing. */
static char *
slurp(FILE *fp, const char *path, struct errsink *es, size_t *lenp)
{
	char	*buf;
	size_t	 len;

	if ((buf = malloc(ALIAS_MAX_FILE + 2)) == NULL)
		return NULL;
	len = fread(buf, 1, ALIAS_MAX_FILE + 1, fp);
	if (ferror(fp)) {
		free(buf);
		return NULL;
	}
	if (len > ALIAS_MAX_FILE) {
		parse_error(es, 0, "file larger than %d bytes, rest ignored",
		    ALIAS_MAX_FILE);
		len = ALIAS_MAX_FILE;
	}
	if (len == 0 || buf[len - 1] != '\n')
		buf[len++] = '\n';
	buf[len] = '\0';
	*lenp = len;
	(void)path;
	return buf;
}

/* Split buf (len bytes) into lines in place; calls fn for each. */
static void
each_line(char *buf, size_t len, struct errsink *es,
    void (*fn)(const char *line, int lineno, void *arg), void *arg)
{
	int	 lineno = 0;
	char	*p = buf, *end = buf + len, *nl;

	while (p < end && (nl = memchr(p, '\n', end - p)) != NULL) {
		int	nul = memchr(p, '\0', nl - p) != NULL;

		*nl = '\0';
		lineno++;
		if (nl > p && nl[-1] == '\r')
			nl[-1] = '\0';
		if (nul)
			parse_error(es, lineno, "NUL byte in line");
		else if (nl - p > ALIAS_MAX_LINE)
			parse_error(es, lineno, "line longer than %d bytes",
			    ALIAS_MAX_LINE);
		else
			fn(p, lineno, arg);
		p = nl + 1;
	}
}

struct table_parse {
	struct alias_table	*t;
	struct errsink		*es;
	char			*cur;		/* the entry being joined */
	size_t			 curlen;
	int			 curline;
	int			 failed;	/* cur is being dropped */
};

static void
flush_entry(struct table_parse *tp)
{
	if (tp->cur != NULL && !tp->failed)
		add_entry(tp->t, tp->es, tp->cur, tp->curline);
	free(tp->cur);
	tp->cur = NULL;
	tp->curlen = 0;
	tp->failed = 0;
}

static void
table_line(const char *line, int lineno, void *arg)
{
	struct table_parse	*tp = arg;
	size_t			 len = strlen(line);
	char			*n;

	const char		*p = line + strspn(line, " \t");

	if (*p == '#' || is_blank(line))
		return;		/* comments and blank lines end nothing */
	if (line[0] == ' ' || line[0] == '\t') {
		if (tp->cur == NULL) {
			parse_error(tp->es, lineno,
			    "continuation line without an alias");
			return;
		}
		if (tp->failed)
			return;
		if (tp->curlen + len + 2 > ALIAS_MAX_FILE ||
		    (n = realloc(tp->cur, tp->curlen + len + 2)) == NULL) {
			parse_error(tp->es, lineno, "alias too long");
			tp->failed = 1;
			return;
		}
		tp->cur = n;
		tp->cur[tp->curlen++] = ' ';
		memcpy(tp->cur + tp->curlen, line, len + 1);
		tp->curlen += len;
		return;
	}
	flush_entry(tp);
	if ((tp->cur = strdup(line)) == NULL) {
		parse_error(tp->es, lineno, "out of memory");
		return;
	}
	tp->curlen = len;
	tp->curline = lineno;
}

static struct alias_table *
load(const char *path, struct errsink *es)
{
	struct alias_table	*t;
	struct table_parse	 tp;
	FILE			*fp;
	char			*buf;
	size_t			 len;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if ((fp = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return t;
		free(t);
		return NULL;
	}
	buf = slurp(fp, path, es, &len);
	fclose(fp);
	if (buf == NULL) {
		free(t);
		return NULL;
	}
	memset(&tp, 0, sizeof(tp));
	tp.t = t;
	tp.es = es;
	each_line(buf, len, es, table_line, &tp);
	flush_entry(&tp);
	free(buf);

	if (t->n > 0)
		qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
	/* Keep the first of duplicate names, as Postfix does, and say so. */
	for (size_t i = 1; i < t->n; ) {
		if (strcmp(t->e[i].name, t->e[i - 1].name) != 0) {
			i++;
			continue;
		}
		parse_error(es, t->e[i].line, "duplicate alias %s (first on "
		    "line %d)", t->e[i].name, t->e[i - 1].line);
		free(t->e[i].name);
		strvec_free(&t->e[i].targets);
		memmove(&t->e[i], &t->e[i + 1], (t->n - i - 1) *
		    sizeof(*t->e));
		t->n--;
	}
	return t;
}

struct alias_table *
alias_load(const char *path, FILE *errout, int *nerrors)
{
	struct errsink		 es = { errout, path, 0 };
	struct alias_table	*t;

	t = load(path, &es);
	if (nerrors != NULL)
		*nerrors = es.nerrors;
	return t;
}

void
alias_free(struct alias_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].name);
		strvec_free(&t->e[i].targets);
	}
	free(t->e);
	free(t);
}

size_t
alias_count(const struct alias_table *t)
{
	return t ? t->n : 0;
}

static const struct alias_entry *
lookup(const struct alias_table *t, const char *name)
{
	size_t lo = 0, hi;

	if (t == NULL)
		return NULL;
	hi = t->n;
	while (lo < hi) {
		size_t	mid = (lo + hi) / 2;
		int	c = strcasecmp(name, t->e[mid].name);

		if (c == 0)
			return &t->e[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
alias_exists(const struct alias_table *t, const char *name)
{
	return lookup(t, name) != NULL;
}

/* --- :include: files ------------------------------------------------------ */

struct include_parse {
	struct strvec	*out;
	struct errsink	*es;
};

static void
include_line(const char *line, int lineno, void *arg)
{
	struct include_parse	*ip = arg;
	const char		*p = line;
	char			 err[256];

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '#' || *p == '\0')
		return;
	if (split_targets(p, ip->out, err, sizeof(err)) == -1)
		parse_error(ip->es, lineno, "%s", err);
}

/*
 * Read the targets of an include file.  0, or -1 (errno) when it cannot be
 * read or is writable by others (anyone could add a |command).
 */
static int
read_include(const char *path, struct errsink *es, struct strvec *out,
    struct stat *st)
{
	struct include_parse	 ip = { out, es };
	FILE			*fp;
	char			*buf;
	size_t			 len;
	int			 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK))
	    == -1)
		return -1;
	if (fstat(fd, st) == -1) {
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode) || (st->st_mode & S_IWOTH)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	buf = slurp(fp, path, es, &len);
	fclose(fp);
	if (buf == NULL)
		return -1;
	each_line(buf, len, es, include_line, &ip);
	free(buf);
	return 0;
}

static const char *
include_path(const char *target)
{
	target += 9;
	while (*target == ' ' || *target == '\t')
		target++;
	return target;
}

int
alias_check(const char *path, FILE *errout)
{
	struct errsink		 es = { errout, path, 0 };
	struct alias_table	*t;
	FILE			*fp;

	/* A missing file is fine for delivery but worth a word here. */
	if ((fp = fopen(path, "re")) == NULL) {
		fprintf(errout, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	fclose(fp);
	if ((t = load(path, &es)) == NULL) {
		fprintf(errout, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < t->n; i++) {
		for (size_t j = 0; j < t->e[i].targets.n; j++) {
			const char	*tg = t->e[i].targets.v[j];
			struct errsink	 ies;
			struct strvec	 sv = { NULL, 0, 0 };
			struct stat	 st;

			if (strncasecmp(tg, ":include:", 9) != 0)
				continue;
			ies.out = errout;
			ies.path = include_path(tg);
			ies.nerrors = 0;
			if (read_include(ies.path, &ies, &sv, &st) == -1)
				parse_error(&es, t->e[i].line, "alias %s: "
				    "%s: %s", t->e[i].name, ies.path,
				    errno == EPERM ? "not a regular file or "
				    "writable by others" : strerror(errno));
			es.nerrors += ies.nerrors;
			strvec_free(&sv);
		}
	}
	alias_free(t);
	return es.nerrors;
}

/* --- expansion ------------------------------------------------------------ */

struct expand {
	const struct alias_table	*t;
	const struct mtad_config	*cf;
	alias_cb			 cb;
	void				*arg;
	const char			*stack[ALIAS_MAX_DEPTH + 1];
	int				 depth;
	struct strvec			 seen;	/* "kind:value" */
	char				*err;
	size_t				 errlen;
};

static int
is_local_domain(const struct mtad_config *cf, const char *domain)
{
	if (*domain == '\0')
		return 1;
	if (cf == NULL)
		return 0;
	for (size_t i = 0; i < cf->local_domains.n; i++)
		if (strcasecmp(domain, cf->local_domains.v[i]) == 0)
			return 1;
	return cf->hostname != NULL && strcasecmp(domain, cf->hostname) == 0;
}

static enum alias_result
emit(struct expand *x, enum alias_kind kind, const char *value,
    const struct stat *inc)
{
	struct alias_target	 t;
	char			 key[1024];

	snprintf(key, sizeof(key), "%d:%s", (int)kind, value);
	if (kind == ALIAS_USER || kind == ALIAS_REMOTE)
		lower(key);
	for (size_t i = 0; i < x->seen.n; i++)
		if (strcmp(x->seen.v[i], key) == 0)
			return ALIAS_OK;
	if (x->seen.n >= ALIAS_MAX_TARGETS) {
		snprintf(x->err, x->errlen, "5.3.0 alias %s: more than %d "
		    "targets", x->stack[0], ALIAS_MAX_TARGETS);
		return ALIAS_PERMFAIL;
	}
	if (strvec_add(&x->seen, key, strlen(key)) == -1) {
		snprintf(x->err, x->errlen, "4.3.0 out of memory");
		return ALIAS_TEMPFAIL;
	}
	memset(&t, 0, sizeof(t));
	t.kind = kind;
	t.value = value;
	if (inc != NULL) {
		t.from_include = 1;
		t.include_uid = inc->st_uid;
		t.include_gid = inc->st_gid;
	}
	if (x->cb(&t, x->arg) != 0) {
		if (x->err[0] == '\0')
			snprintf(x->err, x->errlen, "4.3.0 expansion stopped");
		return ALIAS_TEMPFAIL;
	}
	return ALIAS_OK;
}

static void
loop_error(struct expand *x, const char *name)
{
	size_t	off;

	off = snprintf(x->err, x->errlen, "5.4.6 alias loop:");
	for (int i = 0; i < x->depth && off < x->errlen; i++)
		off += snprintf(x->err + off, x->errlen - off, " %s ->",
		    x->stack[i]);
	if (off < x->errlen)
		snprintf(x->err + off, x->errlen - off, " %s", name);
}

static enum alias_result expand_item(struct expand *, const char *,
    const struct stat *);

static enum alias_result
push(struct expand *x, const char *name)
{
	for (int i = 0; i < x->depth; i++) {
		if (strcasecmp(x->stack[i], name) == 0) {
			loop_error(x, name);
			return ALIAS_PERMFAIL;
		}
	}
	if (x->depth >= ALIAS_MAX_DEPTH) {
		snprintf(x->err, x->errlen, "5.4.6 alias %s: expansion "
		    "deeper than %d levels", x->stack[0], ALIAS_MAX_DEPTH);
		return ALIAS_PERMFAIL;
	}
	x->stack[x->depth++] = name;
	return ALIAS_OK;
}

static enum alias_result
expand_name(struct expand *x, const char *name)
{
	const struct alias_entry	*e;
	enum alias_result		 r;

	/* "root: root, admin" means the user root, not a loop. */
	if ((e = lookup(x->t, name)) == NULL || (x->depth > 0 &&
	    strcasecmp(x->stack[x->depth - 1], name) == 0))
		return emit(x, ALIAS_USER, name, NULL);
	if ((r = push(x, e->name)) != ALIAS_OK)
		return r;
	for (size_t i = 0; i < e->targets.n; i++)
		if ((r = expand_item(x, e->targets.v[i], NULL)) != ALIAS_OK)
			return r;
	x->depth--;
	return ALIAS_OK;
}

static enum alias_result
expand_include(struct expand *x, const char *target)
{
	struct errsink		 es;
	struct strvec		 sv = { NULL, 0, 0 };
	struct stat		 st;
	enum alias_result	 r;
	const char		*path = include_path(target);

	if ((r = push(x, target)) != ALIAS_OK)
		return r;
	es.out = NULL;
	es.path = path;
	es.nerrors = 0;
	if (read_include(path, &es, &sv, &st) == -1) {
		if (errno == EPERM) {
			snprintf(x->err, x->errlen, "5.3.0 %s: not a regular "
			    "file or writable by others", path);
			r = ALIAS_PERMFAIL;
		} else {
			snprintf(x->err, x->errlen, "4.3.0 %s: %s", path,
			    strerror(errno));
			r = ALIAS_TEMPFAIL;
		}
		strvec_free(&sv);
		return r;
	}
	for (size_t i = 0; i < sv.n; i++)
		if ((r = expand_item(x, sv.v[i], &st)) != ALIAS_OK)
			break;
	strvec_free(&sv);
	if (r == ALIAS_OK)
		x->depth--;
	return r;
}

static enum alias_result
expand_item(struct expand *x, const char *item, const struct stat *inc)
{
	const char	*at;
	char		 local[321];

	if (item[0] == '|') {
		item++;
		while (*item == ' ' || *item == '\t')
			item++;
		return emit(x, ALIAS_PIPE, item, inc);
	}
	if (item[0] == '/')
		return emit(x, ALIAS_FILE, item, inc);
	if (strncasecmp(item, ":include:", 9) == 0)
		return expand_include(x, item);
	if (item[0] == '\\')
		return emit(x, ALIAS_USER, item + 1, NULL);
	if ((at = strrchr(item, '@')) != NULL) {
		if (!is_local_domain(x->cf, at + 1))
			return emit(x, ALIAS_REMOTE, item, NULL);
		if ((size_t)(at - item) >= sizeof(local)) {
			snprintf(x->err, x->errlen, "5.1.3 bad address %s",
			    item);
			return ALIAS_PERMFAIL;
		}
		memcpy(local, item, at - item);
		local[at - item] = '\0';
		return expand_name(x, local);
	}
	return expand_name(x, item);
}

enum alias_result
alias_expand(const struct alias_table *t, const struct mtad_config *cf,
    const char *name, alias_cb cb, void *arg, char *err, size_t errlen)
{
	struct expand		 x;
	enum alias_result	 r;

	memset(&x, 0, sizeof(x));
	x.t = t;
	x.cf = cf;
	x.cb = cb;
	x.arg = arg;
	x.err = err;
	x.errlen = errlen;
	err[0] = '\0';
	r = expand_name(&x, name);
	strvec_free(&x.seen);
	return r;
}
