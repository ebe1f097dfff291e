/*
 * Masquerading: which addresses are rewritten and into what, for the
 * envelope sender and for the address spans of From:/Sender:/Reply-To:.
 *
 * libetpan's mailimf finds where each address of a header value begins and
 * ends; inside one mailbox a small lexer that knows quoted strings and
 * comments finds the addr-spec, and only those bytes are replaced.
 * mailimf is lenient (it accepts "a <<" as an addr-spec), so the addr-spec
 * is checked strictly here and anything doubtful is left as it was.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libetpan/libetpan.h>

#include "config.h"
#include "masquerade.h"

#define LOCAL_MAX	64
#define DOMAIN_MAX	255
#define SPEC_MAX	(2 * LOCAL_MAX + 3 + DOMAIN_MAX + 1)	/* quoted */
#define EDITS_MAX	100
#define GEN_LINE_MAX	1024

struct edit {
	size_t	 start;
	size_t	 end;
	char	 text[SPEC_MAX];
};

struct edits {
	struct edit	v[EDITS_MAX];
	size_t		n;
};

struct obuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

static const char *const default_exposed[] = { "root" };

static int
atext(int c)
{
	return isalnum((unsigned char)c) || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL) || (unsigned char)c >= 0x80;
}

static int
dot_atom(const char *s)
{
	const char	*p;

	if (*s == '\0' || *s == '.')
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.' && (p[1] == '.' || p[1] == '\0'))
			return 0;
		if (*p != '.' && !atext(*p))
			return 0;
	}
	return 1;
}

/* domain is pattern or a subdomain of it. */
static int
domain_in(const char *domain, const char *pattern)
{
	size_t	dl = strlen(domain), pl = strlen(pattern);

	if (pl == 0)
		return 0;
	if (dl == pl)
		return strcasecmp(domain, pattern) == 0;
	return dl > pl && domain[dl - pl - 1] == '.' &&
	    strcasecmp(domain + dl - pl, pattern) == 0;
}

static int
masqueradable(const struct masq *m, const char *domain)
{
	size_t	i;

	if (*domain == '\0')
		return 1;
	for (i = 0; i < m->ndomains; i++)
		if (domain_in(domain, m->domains[i]))
			return 1;
	return 0;
}

static int
exposed(const struct masq *m, const char *local)
{
	size_t	i;

	for (i = 0; i < m->nexposed; i++)
		if (strcmp(local, m->exposed[i]) == 0)
			return 1;
	return 0;
}

static int
split_value(const char *v, char *local, size_t llen, char *domain,
    size_t dlen)
{
	const char	*at = strrchr(v, '@');
	int		 n;

	if (at == NULL)
		return -1;
	n = snprintf(local, llen, "%.*s", (int)(at - v), v);
	if (n <= 0 || (size_t)n >= llen)
		return -1;
	n = snprintf(domain, dlen, "%s", at + 1);
	if (n <= 0 || (size_t)n >= dlen)
		return -1;
	return 0;
}

static const struct masq_generic *
generic_lookup(const struct masq *m, const char *local, const char *domain)
{
	const char	*dom = *domain != '\0' ? domain : m->hostname;
	size_t		 i, ll = strlen(local);

	/* A full address beats a bare user name. */
	for (i = 0; i < m->ngen; i++) {
		const char *k = m->gen[i].key, *at = strrchr(k, '@');

		if (at != NULL && dom != NULL && (size_t)(at - k) == ll &&
		    strncasecmp(k, local, ll) == 0 &&
		    strcasecmp(at + 1, dom) == 0)
			return &m->gen[i];
	}
	for (i = 0; i < m->ngen; i++)
		if (strchr(m->gen[i].key, '@') == NULL &&
		    strcasecmp(m->gen[i].key, local) == 0)
			return &m->gen[i];
	return NULL;
}

/*
 * The rule itself.  1: nlocal/ndomain hold the new address; 0: keep.
 */
static int
rewrite(const struct masq *m, const char *local, const char *domain,
    char nlocal[LOCAL_MAX + 1], char ndomain[DOMAIN_MAX + 1])
{
	const struct masq_generic	*g;
	const char			*u, *d;

	if (*local == '\0' || !masqueradable(m, domain))
		return 0;
	if ((g = generic_lookup(m, local, domain)) != NULL)
		return split_value(g->value, nlocal, LOCAL_MAX + 1, ndomain,
		    DOMAIN_MAX + 1) == 0;
	if (m->user == NULL && m->domain == NULL)
		return 0;
	if (exposed(m, local))
		return 0;
	u = m->user != NULL ? m->user : local;
	d = m->domain != NULL ? m->domain : m->hostname;
	if (d == NULL || strlen(u) > LOCAL_MAX || strlen(d) > DOMAIN_MAX)
		return 0;
	snprintf(nlocal, LOCAL_MAX + 1, "%s", u);
	snprintf(ndomain, DOMAIN_MAX + 1, "%s", d);
	return 1;
}

/* "local@domain", the local part quoted when it is not a dot-atom. */
static int
format_addr(const char *local, const char *domain, char *out, size_t outlen)
{
	size_t		 o = 0;
	const char	*p;

	if (dot_atom(local)) {
		int n = snprintf(out, outlen, "%s@%s", local, domain);

		return n < 0 || (size_t)n >= outlen ? -1 : 0;
	}
	if (outlen < 2)
		return -1;
	out[o++] = '"';
	for (p = local; *p != '\0'; p++) {
		if (o + 3 >= outlen)
			return -1;
		if (*p == '"' || *p == '\\')
			out[o++] = '\\';
		out[o++] = *p;
	}
	out[o++] = '"';
	if (snprintf(out + o, outlen - o, "@%s", domain) >= (int)(outlen - o))
		return -1;
	return 0;
}

int
masq_address(const struct masq *m, const char *addr, char *out, size_t outlen)
{
	char		 local[LOCAL_MAX + 1], domain[DOMAIN_MAX + 1];
	char		 nlocal[LOCAL_MAX + 1], ndomain[DOMAIN_MAX + 1];
	const char	*at = strrchr(addr, '@');
	size_t		 ll, i, o;

	if (*addr == '\0')
		return 0;
	ll = at != NULL ? (size_t)(at - addr) : strlen(addr);
	if (ll == 0 || ll >= 2 * LOCAL_MAX + 3 ||
	    (at != NULL && strlen(at + 1) > DOMAIN_MAX))
		return 0;
	/* Unquote: the queue holds the local part as it appears on the wire. */
	if (addr[0] == '"' && ll >= 2 && addr[ll - 1] == '"') {
		for (i = 1, o = 0; i < ll - 1 && o < LOCAL_MAX; i++) {
			if (addr[i] == '\\' && i + 1 < ll - 1)
				i++;
			local[o++] = addr[i];
		}
		local[o] = '\0';
	} else if (ll <= LOCAL_MAX)
		snprintf(local, sizeof(local), "%.*s", (int)ll, addr);
	else
		return 0;
	snprintf(domain, sizeof(domain), "%s", at != NULL ? at + 1 : "");
	if (!rewrite(m, local, domain, nlocal, ndomain))
		return 0;
	return format_addr(nlocal, ndomain, out, outlen) == 0 ? 1 : -1;
}

/* --- the generics map ------------------------------------------------- */

static int
gen_add(struct masq *m, const char *key, const char *value)
{
	struct masq_generic	*v;

	v = reallocarray(m->gen, m->ngen + 1, sizeof(*v));
	if (v == NULL)
		return -1;
	m->gen = v;
	v[m->ngen].key = strdup(key);
	v[m->ngen].value = strdup(value);
	if (v[m->ngen].key == NULL || v[m->ngen].value == NULL) {
		free(v[m->ngen].key);
		free(v[m->ngen].value);
		return -1;
	}
	m->ngen++;
	return 0;
}

static int
gen_check(const char *word, int need_domain)
{
	const char	*at = strchr(word, '@');

	if (at == NULL)
		return need_domain ? -1 : (strlen(word) <= LOCAL_MAX &&
		    dot_atom(word) ? 0 : -1);
	if (strchr(at + 1, '@') != NULL || at == word || at[1] == '\0' ||
	    (size_t)(at - word) > LOCAL_MAX || strlen(at + 1) > DOMAIN_MAX)
		return -1;
	return 0;
}

/* One line: 0 (statement or blank), -1 with err set. */
static int
gen_line(struct masq *m, const char *name, int lineno, char *line,
    char *err, size_t errlen)
{
	char	*w[3], *p, *save = NULL;
	int	 n = 0;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	for (p = strtok_r(line, " \t\r\n", &save); p != NULL;
	    p = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 3)
			break;
		w[n++] = p;
	}
	if (n == 0)
		return 0;
	if (n != 2) {
		snprintf(err, errlen, "%s:%d: expected \"user address\"",
		    name, lineno);
		return -1;
	}
	if (gen_check(w[0], 0) == -1) {
		snprintf(err, errlen, "%s:%d: bad user or address \"%s\"",
		    name, lineno, w[0]);
		return -1;
	}
	if (gen_check(w[1], 1) == -1) {
		snprintf(err, errlen, "%s:%d: bad address \"%s\" (want "
		    "user@domain)", name, lineno, w[1]);
		return -1;
	}
	if (gen_add(m, w[0], w[1]) == -1) {
		snprintf(err, errlen, "%s:%d: %s", name, lineno,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
masq_load_generics_mem(struct masq *m, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	char		 line[GEN_LINE_MAX + 1];
	size_t		 pos = 0, n;
	const char	*nl;
	int		 lineno = 0;

	while (pos < len) {
		lineno++;
		nl = memchr(buf + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
		if (n > GEN_LINE_MAX || memchr(buf + pos, '\0', n) != NULL) {
			snprintf(err, errlen, "%s:%d: line too long or "
			    "binary", name, lineno);
			return -1;
		}
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		if (gen_line(m, name, lineno, line, err, errlen) == -1)
			return -1;
		pos += n + 1;
	}
	return 0;
}

int
masq_load_generics(struct masq *m, const char *path, char *err,
    size_t errlen)
{
	FILE	*fp;
	char	*buf = NULL;
	size_t	 len = 0, cap = 0, n;
	char	 chunk[8192];
	int	 rv;

	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		if (len + n > 16 * 1024 * 1024) {
			snprintf(err, errlen, "%s: too large", path);
			goto fail;
		}
		if (len + n > cap) {
			char *nb = realloc(buf, cap = (len + n) * 2);

			if (nb == NULL) {
				snprintf(err, errlen, "%s: %s", path,
				    strerror(errno));
				goto fail;
			}
			buf = nb;
		}
		memcpy(buf + len, chunk, n);
		len += n;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(fp);
	rv = masq_load_generics_mem(m, path, buf != NULL ? buf : "", len,
	    err, errlen);
	free(buf);
	return rv;
fail:
	fclose(fp);
	free(buf);
	return -1;
}

int
masq_init(struct masq *m, const struct mtad_config *cf, char *err,
    size_t errlen)
{
	const char	*mq = cf->masquerade, *at;

	memset(m, 0, sizeof(*m));
	m->hostname = cf->hostname;
	m->headers = cf->masquerade_headers;
	if (cf->masquerade_domains.n > 0) {
		m->domains = cf->masquerade_domains.v;
		m->ndomains = cf->masquerade_domains.n;
	} else {
		m->domains = cf->local_domains.v;
		m->ndomains = cf->local_domains.n;
	}
	if (cf->exposed_users.n > 0) {
		m->exposed = cf->exposed_users.v;
		m->nexposed = cf->exposed_users.n;
	} else {
		m->exposed = (char *const *)default_exposed;
		m->nexposed = 1;
	}
	if (mq != NULL && *mq != '\0') {
		if ((at = strchr(mq, '@')) == NULL)
			m->domain = strdup(mq);
		else {
			m->user = strndup(mq, at - mq);
			if (at[1] != '\0')
				m->domain = strdup(at + 1);
		}
		if ((at != NULL && (m->user == NULL ||
		    (at[1] != '\0' && m->domain == NULL))) ||
		    (at == NULL && m->domain == NULL)) {
			snprintf(err, errlen, "masquerade: %s",
			    strerror(errno));
			masq_free(m);
			return -1;
		}
		if ((m->user != NULL && (*m->user == '\0' ||
		    strlen(m->user) > LOCAL_MAX)) || (m->domain != NULL &&
		    (strchr(m->domain, '@') != NULL ||
		    strlen(m->domain) > DOMAIN_MAX))) {
			snprintf(err, errlen, "masquerade: bad value \"%s\" "
			    "(want user@, domain or user@domain)", mq);
			masq_free(m);
			return -1;
		}
	}
	if (cf->generics != NULL &&
	    masq_load_generics(m, cf->generics, err, errlen) == -1) {
		masq_free(m);
		return -1;
	}
	return 0;
}

void
masq_free(struct masq *m)
{
	size_t	i;

	for (i = 0; i < m->ngen; i++) {
		free(m->gen[i].key);
		free(m->gen[i].value);
	}
	free(m->gen);
	free(m->user);
	free(m->domain);
	memset(m, 0, sizeof(*m));
}

/* --- headers ------------------------------------------------------------ */

/*
 * Find the addr-spec of the mailbox in s[a..b): inside <...> when there
 * is an angle-addr, else the mailbox without its surrounding blanks and
 * comments.  0 with *rs..*re set, -1 when unbalanced.
 */
static int
find_spec(const char *s, size_t a, size_t b, size_t *rs, size_t *re)
{
	size_t	i, first = b, last = a, lt = b, gt = b;
	int	depth = 0, inq = 0;

	for (i = a; i < b; i++) {
		char c = s[i];

		if (inq) {
			if (c == '\\')
				i++;
			else if (c == '"') {
				inq = 0;
				last = i + 1;
			}
			continue;
		}
		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '(') {
			depth++;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (first == b)
			first = i;
		last = i + 1;
		if (c == '"')
			inq = 1;
		else if (c == '<' && lt == b)
			lt = i;
		else if (c == '>' && lt != b && gt == b)
			gt = i;
	}
	if (inq || depth != 0 || first == b)
		return -1;
	if (lt != b) {
		if (gt == b)
			return -1;
		for (a = lt + 1; a < gt && (s[a] == ' ' || s[a] == '\t'); a++)
			;
		for (b = gt; b > a && (s[b - 1] == ' ' || s[b - 1] == '\t');
		    b--)
			;
		*rs = a;
		*re = b;
		return 0;
	}
	*rs = first;
	*re = last;
	return 0;
}

/* Strict addr-spec (or bare local part) in s[a..b).  0 or -1. */
static int
parse_spec(const char *s, size_t a, size_t b, char local[LOCAL_MAX + 1],
    char domain[DOMAIN_MAX + 1])
{
	size_t	i = a, o = 0;

	if (a >= b)
		return -1;
	if (s[i] == '"') {
		for (i++; i < b && s[i] != '"'; i++) {
			if (s[i] == '\\' && i + 1 < b)
				i++;
			if (s[i] == '\r' || s[i] == '\n' || o == LOCAL_MAX)
				return -1;
			local[o++] = s[i];
		}
		if (i == b)
			return -1;
		i++;
	} else {
		for (; i < b && (atext(s[i]) || s[i] == '.'); i++) {
			if (o == LOCAL_MAX)
				return -1;
			local[o++] = s[i];
		}
	}
	local[o] = '\0';
	if (o == 0)
		return -1;
	if (i == b) {
		*domain = '\0';
		return 0;
	}
	if (s[i++] != '@' || i == b || b - i > DOMAIN_MAX)
		return -1;
	for (o = 0; i < b; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '.')
			return -1;
		domain[o++] = tolower((unsigned char)s[i]);
	}
	domain[o] = '\0';
	return 0;
}

static void
mailbox_edit(const struct masq *m, const char *s, size_t a, size_t b,
    struct edits *ed)
{
	char	local[LOCAL_MAX + 1], domain[DOMAIN_MAX + 1];
	char	nlocal[LOCAL_MAX + 1], ndomain[DOMAIN_MAX + 1];
	size_t	rs, re;
	struct edit *e;

	if (ed->n == EDITS_MAX || find_spec(s, a, b, &rs, &re) == -1 ||
	    parse_spec(s, rs, re, local, domain) == -1 ||
	    !rewrite(m, local, domain, nlocal, ndomain))
		return;
	e = &ed->v[ed->n];
	if (format_addr(nlocal, ndomain, e->text, sizeof(e->text)) == -1)
		return;
	e->start = rs;
	e->end = re;
	ed->n++;
}

/* The mailboxes of a group "name: a, b <c>;" in s[a..b). */
static void
group_edits(const struct masq *m, const char *s, size_t a, size_t b,
    struct edits *ed)
{
	struct mailimf_mailbox	*mb;
	size_t			 i, start;
	int			 depth = 0, inq = 0;

	for (i = a; i < b; i++) {
		if (inq) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				inq = 0;
		} else if (depth > 0) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')')
				depth--;
		} else if (s[i] == '"')
			inq = 1;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ':')
			break;
	}
	for (i++; i < b; ) {
		start = i;
		if (mailimf_mailbox_parse(s, b, &i, &mb) != MAILIMF_NO_ERROR)
			return;
		mailimf_mailbox_free(mb);
		mailbox_edit(m, s, start, i, ed);
		if (mailimf_unstrict_char_parse(s, b, &i, ',') !=
		    MAILIMF_NO_ERROR)
			return;
	}
}

/* Edits for one header value s[0..n); -1 when it does not parse. */
static int
value_edits(const struct masq *m, const char *s, size_t n, struct edits *ed)
{
	struct mailimf_address	*ad;
	size_t			 i = 0, start;

	for (;;) {
		start = i;
		if (mailimf_address_parse(s, n, &i, &ad) != MAILIMF_NO_ERROR)
			return -1;
		if (ad->ad_type == MAILIMF_ADDRESS_MAILBOX)
			mailbox_edit(m, s, start, i, ed);
		else
			group_edits(m, s, start, i, ed);
		mailimf_address_free(ad);
		if (mailimf_unstrict_char_parse(s, n, &i, ',') !=
		    MAILIMF_NO_ERROR)
			break;
	}
	mailimf_cfws_parse(s, n, &i);
	for (; i < n; i++)
		if (!strchr(" \t\r\n", s[i]))
			return -1;
	return 0;
}

static void
ob_put(struct obuf *o, const char *p, size_t n)
{
	if (o->failed || n == 0)
		return;
	if (o->len + n > o->cap) {
		size_t	 cap = (o->len + n) * 2;
		char	*np = realloc(o->p, cap);

		if (np == NULL) {
			o->failed = 1;
			return;
		}
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

static int
wanted_field(const char *name, size_t n)
{
	while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	return (n == 4 && strncasecmp(name, "From", 4) == 0) ||
	    (n == 6 && strncasecmp(name, "Sender", 6) == 0) ||
	    (n == 8 && strncasecmp(name, "Reply-To", 8) == 0);
}

static void
field_rewrite(const struct masq *m, const char *f, size_t n, struct obuf *o)
{
	struct edits	*ed;
	const char	*colon = memchr(f, ':', n);
	const char	*v;
	size_t		 vn, pos, i;

	if (colon == NULL || memchr(f, '\n', colon - f) != NULL ||
	    !wanted_field(f, colon - f) ||
	    (ed = calloc(1, sizeof(*ed))) == NULL) {
		ob_put(o, f, n);
		return;
	}
	v = colon + 1;
	vn = n - (v - f);
	if (value_edits(m, v, vn, ed) == -1 || ed->n == 0) {
		free(ed);
		ob_put(o, f, n);
		return;
	}
	ob_put(o, f, v - f);
	for (pos = 0, i = 0; i < ed->n; i++) {
		ob_put(o, v + pos, ed->v[i].start - pos);
		ob_put(o, ed->v[i].text, strlen(ed->v[i].text));
		pos = ed->v[i].end;
	}
	ob_put(o, v + pos, vn - pos);
	free(ed);
}

int
masq_headers(const struct masq *m, const char *hdr, size_t len, char **out,
    size_t *outlen)
{
	struct obuf	 o = { NULL, 0, 0, 0 };
	size_t		 pos = 0, end;
	const char	*nl;

	if (!m->headers || len > MASQ_MAX_HEADER) {
		ob_put(&o, hdr, len);
		goto done;
	}
	while (pos < len) {
		/* A field is its first line and every line starting blank. */
		end = pos;
		do {
			nl = memchr(hdr + end, '\n', len - end);
			end = nl != NULL ? (size_t)(nl - hdr) + 1 : len;
		} while (end < len && (hdr[end] == ' ' || hdr[end] == '\t'));
		field_rewrite(m, hdr + pos, end - pos, &o);
		pos = end;
	}
done:
	if (o.failed || (o.p == NULL && len > 0)) {
		free(o.p);
		return -1;
	}
	if (o.p == NULL && (o.p = malloc(1)) == NULL)
		return -1;
	*out = o.p;
	*outlen = o.len;
	return 0;
}

size_t
masq_header_length(const char *msg, size_t len)
{
	size_t		 pos = 0;
	const char	*nl;

	while (pos < len) {
		if (msg[pos] == '\n')
			return pos + 1;
		if (msg[pos] == '\r' && pos + 1 < len && msg[pos + 1] == '\n')
			return pos + 2;
		if ((nl = memchr(msg + pos, '\n', len - pos)) == NULL)
			return len;
		pos = nl - msg + 1;
	}
	return len;
}
