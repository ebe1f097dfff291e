/*
 * Multi-drop recipients from a message's headers: see multidrop.h for the
 * rules.  Header values are untrusted: every field is bounded, and address
 * lists go through mailimf (common/addr.c) with a lenient fallback so one
 * broken address does not hide the others.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "multidrop.h"

#define MD_MAX_ADDR	(ADDR_MAX + 2)

struct field {
	char	*name;
	char	*value;
};

struct fields {
	struct field	*v;
	size_t		 n;
};

struct walk {
	const struct rc_poll	*poll;
	const struct rc_user	*user;
	struct md_rcpts		*out;
	int			 failed;
};

static void
fields_free(struct fields *f)
{
	size_t	 i;

	for (i = 0; i < f->n; i++) {
		free(f->v[i].name);
		free(f->v[i].value);
	}
	free(f->v);
}

/* Split the header section into unfolded fields (name, value). */
static int
split_fields(const char *h, size_t len, struct fields *f)
{
	struct field	*nf;
	size_t		 pos = 0, eol, colon, vlen;
	char		*v, *nv;

	memset(f, 0, sizeof(*f));
	while (pos < len && f->n < MD_MAX_FIELDS) {
		eol = pos;
		while (eol < len && h[eol] != '\n')
			eol++;
		/* an empty line ends the header */
		if (eol == pos || (eol == pos + 1 && h[pos] == '\r'))
			break;
		if (h[pos] == ' ' || h[pos] == '\t') {
			/* continuation of the previous field */
			if (f->n > 0) {
				v = f->v[f->n - 1].value;
				vlen = strlen(v);
				if (vlen + (eol - pos) + 1 <= MD_MAX_FIELD) {
					if ((nv = realloc(v, vlen + (eol - pos) +
					    1)) == NULL)
						return -1;
					memcpy(nv + vlen, h + pos, eol - pos);
					nv[vlen + (eol - pos)] = '\0';
					f->v[f->n - 1].value = nv;
				}
			}
			pos = eol + 1;
			continue;
		}
		for (colon = pos; colon < eol && h[colon] != ':'; colon++)
			;
		if (colon == eol || colon == pos) {
			/* not a field: "From " lines and junk are skipped */
			pos = eol + 1;
			continue;
		}
		if ((nf = reallocarray(f->v, f->n + 1, sizeof(*f->v))) == NULL)
			return -1;
		f->v = nf;
		vlen = eol - colon - 1;
		if (vlen > MD_MAX_FIELD)
			vlen = MD_MAX_FIELD;
		f->v[f->n].name = strndup(h + pos, colon - pos);
		f->v[f->n].value = strndup(h + colon + 1, vlen);
		if (f->v[f->n].name == NULL || f->v[f->n].value == NULL) {
			free(f->v[f->n].name);
			free(f->v[f->n].value);
			return -1;
		}
		f->n++;
		pos = eol + 1;
	}
	/* CRs left by CRLF line ends are blanks to every parser below */
	return 0;
}

static int
name_is(const struct field *fl, const char *name)
{
	size_t	 n = strlen(fl->name);

	/* "To :" is tolerated, as most MUAs do */
	while (n > 0 && (fl->name[n - 1] == ' ' || fl->name[n - 1] == '\t'))
		n--;
	return strlen(name) == n && strncasecmp(fl->name, name, n) == 0;
}

/* ---- recipients --------------------------------------------------------- */

static int
add_rcpt(struct md_rcpts *out, const char *name)
{
	char	**nv;
	size_t	  i;

	if (*name == '\0')
		return 0;
	for (i = 0; i < out->n; i++)
		if (strcasecmp(out->v[i], name) == 0)
			return 0;
	if (out->n >= MD_MAX_RCPTS)
		return 0;
	if ((nv = reallocarray(out->v, out->n + 1, sizeof(*nv))) == NULL)
		return -1;
	out->v = nv;
	if ((out->v[out->n] = strdup(name)) == NULL)
		return -1;
	out->n++;
	return 0;
}

static int
host_is_server(const struct rc_poll *p, const char *host, int localdomains)
{
	if (strcasecmp(host, p->name) == 0 ||
	    (p->via != NULL && strcasecmp(host, p->via) == 0))
		return 1;
	/* an aka matches itself and its subdomains (fetchmail's man page) */
	if (domain_match_list(host, p->akas.v, p->akas.n))
		return 1;
	return localdomains &&
	    domain_match_list(host, p->localdomains.v, p->localdomains.n);
}

/* The is/to map: the local name for remote, NULL when unlisted. */
static const char *
map_name(const struct rc_user *u, const char *remote)
{
	size_t	 i;

	for (i = 0; i < u->nnames; i++)
		if (strcasecmp(u->names[i].remote, remote) == 0)
			return u->names[i].local != NULL ? u->names[i].local :
			    u->names[i].remote;
	return u->wildcard ? remote : NULL;
}

static void
take_address(struct walk *w, const char *spec)
{
	const struct rc_poll	*p = w->poll;
	const char		*local, *at;
	char			 buf[MD_MAX_ADDR + 1];
	size_t			 i, ql;

	if (strlen(spec) > MD_MAX_ADDR)
		return;
	strcpy(buf, spec);
	local = buf;
	if (p->qvirtual != NULL && (ql = strlen(p->qvirtual)) > 0 &&
	    strncasecmp(local, p->qvirtual, ql) == 0)
		local += ql;

	/* a whole address on the left of the map wins (fetchmail 6.3.5) */
	for (i = 0; i < w->user->nnames; i++)
		if (strchr(w->user->names[i].remote, '@') != NULL &&
		    strcasecmp(w->user->names[i].remote, local) == 0) {
			if (add_rcpt(w->out, w->user->names[i].local != NULL ?
			    w->user->names[i].local :
			    w->user->names[i].remote) == -1)
				w->failed = 1;
			return;
		}
	if ((at = strrchr(local, '@')) != NULL) {
		if (domain_match_list(at + 1, p->localdomains.v,
		    p->localdomains.n)) {
			if (add_rcpt(w->out, local) == -1)
				w->failed = 1;
			return;
		}
		if (!host_is_server(p, at + 1, 0))
			return;
		buf[at - buf] = '\0';
	}
	if ((local = map_name(w->user, local)) != NULL &&
	    add_rcpt(w->out, local) == -1)
		w->failed = 1;
}

static void
addr_cb(const char *spec, const char *display, void *arg)
{
	(void)display;
	take_address(arg, spec);
}

/*
 * When mailimf refuses the list, take what looks like an address from each
 * comma-separated part: the <...> in it, else its words holding an '@'.
 */
static void
lenient_list(struct walk *w, const char *v)
{
	static const char	 delim[] = " \t\r\n()\"";
	char			 part[MD_MAX_ADDR + 1];
	const char		*s = v, *e, *lt, *gt, *ws;
	size_t			 n;

	while (*s != '\0') {
		e = s + strcspn(s, ",");
		lt = memchr(s, '<', (size_t)(e - s));
		gt = lt != NULL ? memchr(lt, '>', (size_t)(e - lt)) : NULL;
		if (lt != NULL && gt != NULL) {
			n = (size_t)(gt - lt - 1);
			if (n > 0 && n <= MD_MAX_ADDR) {
				memcpy(part, lt + 1, n);
				part[n] = '\0';
				take_address(w, part);
			}
		} else {
			for (ws = s; ws < e; ws += n) {
				ws += strspn(ws, delim);
				n = strcspn(ws, delim);
				if (ws + n > e)
					n = (size_t)(e - ws);
				if (n == 0)
					break;
				if (n <= MD_MAX_ADDR && memchr(ws, '@', n) != NULL) {
					memcpy(part, ws, n);
					part[n] = '\0';
					take_address(w, part);
				}
			}
		}
		s = *e == ',' ? e + 1 : e;
	}
}

static void
take_addr_list(struct walk *w, const char *value)
{
	if (addr_list_parse(value, strlen(value), addr_cb, w) == -1)
		lenient_list(w, value);
}

/* The next blank-delimited word of s from *pos, copied to buf. */
static int
word_at(const char *s, size_t *pos, char *buf, size_t len)
{
	size_t	 n = 0;

	while (s[*pos] != '\0' && isspace((unsigned char)s[*pos]))
		(*pos)++;
	if (s[*pos] == '\0')
		return -1;
	while (s[*pos] != '\0' && !isspace((unsigned char)s[*pos])) {
		if (n + 1 < len)
			buf[n++] = s[*pos];
		(*pos)++;
	}
	buf[n] = '\0';
	return 0;
}

/*
 * fetchmail's parse_received(): the "for" address of a Received: header
 * whose "by" host is this server.  1 with addr set, 0 if none.
 */
static int
received_for(const struct rc_poll *p, const char *v, char *addr, size_t len)
{
	char	 w[MD_MAX_ADDR + 8];
	size_t	 pos = 0, n;
	int	 by_ok = 0;
	char	*s;

	while (word_at(v, &pos, w, sizeof(w)) == 0) {
		if (!by_ok) {
			if (strcmp(w, "by") == 0 &&
			    word_at(v, &pos, w, sizeof(w)) == 0 &&
			    host_is_server(p, w, 1))
				by_ok = 1;
			continue;
		}
		if (strcmp(w, "for") != 0)
			continue;
		if (word_at(v, &pos, w, sizeof(w)) == -1)
			return 0;
		s = w;
		if (*s == '<')
			s++;
		n = strcspn(s, ">;");
		if (n == 0 || n >= len || memchr(s, '@', n) == NULL)
			return 0;
		memcpy(addr, s, n);
		addr[n] = '\0';
		return 1;
	}
	return 0;
}

static int
from_envelope(struct walk *w, const struct fields *f)
{
	const struct rc_poll	*p = w->poll;
	const char		*hdr;
	char			 addr[MD_MAX_ADDR + 1];
	size_t			 i;
	long			 seen = 0;

	if (p->envelope_on == RC_NO)
		return 0;
	hdr = p->envelope != NULL ? p->envelope : "Received";
	for (i = 0; i < f->n; i++) {
		if (!name_is(&f->v[i], hdr) || seen++ < p->envskip)
			continue;
		if (strcasecmp(hdr, "Received") == 0) {
			if (!received_for(p, f->v[i].value, addr, sizeof(addr)))
				continue;
			take_address(w, addr);
			/* fetchmail uses the first usable Received only */
			return 1;
		}
		take_addr_list(w, f->v[i].value);
		return 1;
	}
	return 0;
}

static void
from_headers(struct walk *w, const struct fields *f)
{
	static const char *const resent[] = {
		"Resent-To", "Resent-Cc", "Resent-Bcc"
	};
	static const char *const plain[] = { "To", "Cc", "Bcc" };
	const char *const	*names = plain;
	size_t			 i, j;

	for (i = 0; i < f->n; i++)
		for (j = 0; j < 3; j++)
			if (name_is(&f->v[i], resent[j]))
				names = resent;
	for (i = 0; i < f->n; i++) {
		for (j = 0; j < 3; j++)
			if (name_is(&f->v[i], names[j]))
				take_addr_list(w, f->v[i].value);
		if (name_is(&f->v[i], "Delivered-To"))
			take_addr_list(w, f->v[i].value);
	}
}

int
multidrop_rcpts(const char *hdr, size_t len, const struct rc_poll *poll,
    const struct rc_user *user, const char *postmaster, struct md_rcpts *out)
{
	struct fields	 f;
	struct walk	 w;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.poll = poll;
	w.user = user;
	w.out = out;
	if (split_fields(hdr, len, &f) == -1) {
		fields_free(&f);
		return -1;
	}
	/* an envelope recipient is the whole truth, mapped or not */
	if (from_envelope(&w, &f))
		out->from_envelope = 1;
	else
		from_headers(&w, &f);
	fields_free(&f);
	if (w.failed)
		goto fail;
	if (out->n == 0) {
		if (add_rcpt(out, postmaster != NULL && *postmaster != '\0' ?
		    postmaster : "postmaster") == -1)
			goto fail;
		out->postmaster = 1;
	}
	return 0;
fail:
	md_rcpts_free(out);
	return -1;
}

void
md_rcpts_free(struct md_rcpts *r)
{
	size_t	 i;

	for (i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}
