/*
 * Addresses: RFC 5321 paths (MAIL FROM / RCPT TO arguments), formatting,
 * domain matching, and RFC 5322 address lists through libetpan's mailimf.
 *
 * Paths are parsed to the RFC 5321 grammar with two tolerances: blanks before
 * the '<' (many clients send "MAIL FROM: <a@b>"), and '_' in domain labels
 * (common in LAN host names).  '%' and '!' are ordinary atext: a local part
 * "a%b@c" is that literal local part, never a route.  A source route
 * "<@a,@b:u@d>" is checked for syntax and then dropped.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libetpan/libetpan.h>

#include "addr.h"

#define LABEL_MAX	63
/* "[IPv6:" + the longest IPv6 text form + "]", with room to spare. */
#define LITERAL_MAX	64
/* Deeper comment nesting than this in a header is refused before mailimf
 * (whose comment parser recurses) sees it. */
#define NEST_MAX	64

static int
set_err(char *err, size_t errlen, const char *msg)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", msg);
	return -1;
}

static int
is_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
is_ldh(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Domain = sub-domain *("." sub-domain), lower-cased into out (which holds
 * ADDR_DOMAIN_MAX + 1 bytes).  *pp is left at the first byte after it.
 */
static int
parse_domain(const char **pp, char *out, char *err, size_t errlen)
{
	const char	*p = *pp;
	size_t		 n = 0, label = 0;

	for (;; p++) {
		if (is_ldh((unsigned char)*p)) {
			if (label == 0 && *p == '-')
				return set_err(err, errlen, "bad domain");
			if (++label > LABEL_MAX)
				return set_err(err, errlen, "bad domain");
		} else if (*p == '.') {
			if (label == 0 || p[-1] == '-')
				return set_err(err, errlen, "bad domain");
			label = 0;
		} else
			break;
		if (n == ADDR_DOMAIN_MAX)
			return set_err(err, errlen, "domain too long");
		out[n++] = (char)tolower((unsigned char)*p);
	}
	if (label == 0 || p[-1] == '-')
		return set_err(err, errlen, n == 0 ? "domain missing" :
		    "bad domain");
	out[n] = '\0';
	*pp = p;
	return 0;
}

/* address-literal: "[" IPv4 "]" or "[IPv6:" IPv6 "]"; tag kept as "IPv6:". */
static int
parse_literal(const char **pp, char *out, char *err, size_t errlen)
{
	const char	*p = *pp + 1, *end;
	char		 text[LITERAL_MAX];
	struct in6_addr	 a6;
	struct in_addr	 a4;
	size_t		 n;

	if ((end = strchr(p, ']')) == NULL || (n = (size_t)(end - p)) == 0 ||
	    n >= sizeof(text))
		return set_err(err, errlen, "bad address literal");
	memcpy(text, p, n);
	text[n] = '\0';
	if (strncasecmp(text, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, text + 5, &a6) != 1)
			return set_err(err, errlen, "bad address literal");
		for (size_t i = 5; i < n; i++)
			text[i] = (char)tolower((unsigned char)text[i]);
		memcpy(text, "IPv6:", 5);
	} else if (inet_pton(AF_INET, text, &a4) != 1)
		return set_err(err, errlen, "bad address literal");
	snprintf(out, ADDR_DOMAIN_MAX + 1, "[%s]", text);
	*pp = end + 1;
	return 0;
}

/* Local-part = Dot-string / Quoted-string, unquoted into out. */
static int
parse_local(const char **pp, char *out, char *err, size_t errlen)
{
	const char	*p = *pp, *start = *pp;
	size_t		 n = 0;
	int		 c;

	if (*p == '"') {
		for (p++; *p != '"'; p++) {
			c = (unsigned char)*p;
			if (c == '\\') {
				c = (unsigned char)*++p;
				if (c < 32 || c > 126)
					return set_err(err, errlen,
					    "syntax error in address");
			} else if (c < 32 || c > 126)
				return set_err(err, errlen,
				    "syntax error in address");
			if (n == ADDR_LOCAL_MAX)
				return set_err(err, errlen,
				    "local part too long");
			out[n++] = (char)c;
		}
		p++;
	} else {
		for (;; p++) {
			if (is_atext((unsigned char)*p))
				;
			else if (*p == '.' && p != start && p[-1] != '.')
				;
			else
				break;
			if (n == ADDR_LOCAL_MAX)
				return set_err(err, errlen,
				    "local part too long");
			out[n++] = *p;
		}
		if (n == 0 || out[n - 1] == '.')
			return set_err(err, errlen, "syntax error in address");
	}
	/* The limit is on the octets as sent, quotes and backslashes too. */
	if ((size_t)(p - start) > ADDR_LOCAL_MAX)
		return set_err(err, errlen, "local part too long");
	out[n] = '\0';
	*pp = p;
	return 0;
}

int
addr_parse_path(const char *s, int allow_bare, struct mailaddr *out,
    const char **rest, char *err, size_t errlen)
{
	struct mailaddr	 a;
	char		 hop[ADDR_DOMAIN_MAX + 1];
	const char	*p = s;

	memset(&a, 0, sizeof(a));
	while (*p == ' ')
		p++;
	if (*p != '<')
		return set_err(err, errlen, "address must be in <>");
	p++;
	if (*p == '@') {
		/* A-d-l ":": syntax-checked, then dropped. */
		for (;;) {
			if (*p != '@')
				return set_err(err, errlen,
				    "syntax error in source route");
			p++;
			if (parse_domain(&p, hop, err, errlen) == -1)
				return -1;
			if (*p == ':')
				break;
			if (*p != ',')
				return set_err(err, errlen,
				    "syntax error in source route");
			p++;
		}
		p++;
	} else if (*p == '>') {
		p++;
		goto done;
	}
	if (parse_local(&p, a.local, err, errlen) == -1)
		return -1;
	if (*p == '@') {
		p++;
		if (*p == '[') {
			if (parse_literal(&p, a.domain, err, errlen) == -1)
				return -1;
		} else if (parse_domain(&p, a.domain, err, errlen) == -1)
			return -1;
	} else if (*p == '>' && allow_bare) {
		/* "<postmaster>", or a bare user name. */
	} else if (*p == '>')
		return set_err(err, errlen, "domain missing");
	else if (*p == '\0')
		return set_err(err, errlen, "missing '>'");
	else
		return set_err(err, errlen, "syntax error in address");
	if (*p != '>')
		return set_err(err, errlen, *p == '\0' ? "missing '>'" :
		    "syntax error in address");
	p++;
done:
	if (*p != '\0' && *p != ' ')
		return set_err(err, errlen, "syntax error after address");
	if (out != NULL)
		*out = a;
	if (rest != NULL)
		*rest = p;
	return 0;
}

int
addr_is_null(const struct mailaddr *a)
{
	return a->local[0] == '\0' && a->domain[0] == '\0';
}

/* Whether a local part can be written as a Dot-string. */
static int
local_is_dotstring(const char *s)
{
	const char	*p;

	if (*s == '\0' || *s == '.')
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (p[1] == '.' || p[1] == '\0')
				return 0;
		} else if (!is_atext((unsigned char)*p))
			return 0;
	}
	return 1;
}

int
addr_format(const struct mailaddr *a, char *buf, size_t len)
{
	size_t		 n = 0;
	const char	*p;
	int		 quote;

#define PUT(c) do { if (n + 1 >= len) goto toolong; buf[n++] = (c); } while (0)
	if (len == 0)
		return -1;
	if (!addr_is_null(a)) {
		quote = !local_is_dotstring(a->local);
		if (quote)
			PUT('"');
		for (p = a->local; *p != '\0'; p++) {
			if (quote && (*p == '"' || *p == '\\'))
				PUT('\\');
			PUT(*p);
		}
		if (quote)
			PUT('"');
		if (a->domain[0] != '\0') {
			PUT('@');
			for (p = a->domain; *p != '\0'; p++)
				PUT(*p);
		}
	}
#undef PUT
	buf[n] = '\0';
	return (int)n;
toolong:
	buf[n] = '\0';
	return -1;
}

int
domain_match(const char *domain, const char *pattern)
{
	size_t	dl, pl;

	if (*pattern == '.')
		pattern++;
	dl = strlen(domain);
	pl = strlen(pattern);
	/* "host." is "host": a trailing root dot changes nothing. */
	if (dl > 0 && domain[dl - 1] == '.')
		dl--;
	if (pl > 0 && pattern[pl - 1] == '.')
		pl--;
	if (dl == 0 || pl == 0 || dl < pl)
		return 0;
	if (strncasecmp(domain + dl - pl, pattern, pl) != 0)
		return 0;
	return dl == pl || domain[dl - pl - 1] == '.';
}

int
domain_match_list(const char *domain, char *const *patterns, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (domain_match(domain, patterns[i]))
			return 1;
	return 0;
}

/*
 * mailimf's comment parser recurses once per '(' level; refuse deep nesting
 * up front so hostile headers cannot exhaust the stack.
 */
static int
nesting_ok(const char *s, size_t len)
{
	size_t	i;
	int	depth = 0, quoted = 0;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\') {
			i++;
			continue;
		}
		if (quoted) {
			if (s[i] == '"')
				quoted = 0;
		} else if (s[i] == '"' && depth == 0)
			quoted = 1;
		else if (s[i] == '(') {
			if (++depth > NEST_MAX)
				return 0;
		} else if (s[i] == ')' && depth > 0)
			depth--;
	}
	return 1;
}

static int
all_blank(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
		    s[i] != '\n')
			return 0;
	return 1;
}

/* Whether s is only folding white space and (possibly nested) comments. */
static int
all_cfws(const char *s, size_t len)
{
	size_t	i;
	int	depth = 0;

	for (i = 0; i < len; i++) {
		if (depth > 0 && s[i] == '\\') {
			i++;
			continue;
		}
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')') {
			if (depth-- == 0)
				return 0;
		} else if (depth == 0 && s[i] != ' ' && s[i] != '\t' &&
		    s[i] != '\r' && s[i] != '\n')
			return 0;
	}
	return depth == 0;
}

/*
 * mailimf's addr-spec parser is loose: it takes everything up to the next
 * delimiter and squeezes out blanks ("a@b junk" comes back as "a@bjunk", and
 * a quoted "a b" as "ab").  So every addr-spec it returns must (1) appear
 * verbatim in the header, in order, which a squeezed one does not, and
 * (2) match the RFC 5321 mailbox grammar (a bare local name allowed, as
 * "To: eddy" in locally submitted mail).  A list holding a bad one does not
 * parse.
 */
static int
spec_valid(const char *spec)
{
	char		 local[ADDR_LOCAL_MAX + 1], domain[ADDR_DOMAIN_MAX + 1];
	const char	*p = spec;

	if (parse_local(&p, local, NULL, 0) == -1)
		return 0;
	if (*p == '\0')
		return 1;
	if (*p++ != '@')
		return 0;
	if (*p == '[') {
		if (parse_literal(&p, domain, NULL, 0) == -1)
			return 0;
	} else if (parse_domain(&p, domain, NULL, 0) == -1)
		return 0;
	return *p == '\0';
}

struct list_walk {
	int		 check;		/* validate only, no callbacks */
	const char	*value;
	size_t		 len;
	size_t		 pos;		/* where the next addr-spec may start */
	addr_list_cb	 cb;
	void		*arg;
};

/* 1 per mailbox, -1 for a bad one (check pass). */
static int
visit_mailbox(struct list_walk *w, struct mailimf_mailbox *mb)
{
	const char	*found;
	size_t		 n;

	if (mb == NULL || mb->mb_addr_spec == NULL)
		return w->check ? -1 : 0;
	if (!w->check) {
		if (w->cb != NULL)
			w->cb(mb->mb_addr_spec, mb->mb_display_name, w->arg);
		return 1;
	}
	n = strlen(mb->mb_addr_spec);
	found = memmem(w->value + w->pos, w->len - w->pos, mb->mb_addr_spec, n);
	if (found == NULL || !spec_valid(mb->mb_addr_spec))
		return -1;
	w->pos = (size_t)(found - w->value) + n;
	return 1;
}

static int
visit_list(struct list_walk *w, struct mailimf_address_list *list)
{
	struct mailimf_address		*ad;
	struct mailimf_mailbox_list	*mbl;
	clistiter			*it, *jt;
	int				 n = 0, rv;

	for (it = clist_begin(list->ad_list); it != NULL; it = clist_next(it)) {
		ad = clist_content(it);
		if (ad != NULL && ad->ad_type == MAILIMF_ADDRESS_MAILBOX) {
			if ((rv = visit_mailbox(w, ad->ad_data.ad_mailbox)) == -1)
				return -1;
			n += rv;
			continue;
		}
		if (ad == NULL || ad->ad_type != MAILIMF_ADDRESS_GROUP ||
		    ad->ad_data.ad_group == NULL)
			return w->check ? -1 : n;
		/* A group with no members ("undisclosed-recipients:;"). */
		if ((mbl = ad->ad_data.ad_group->grp_mb_list) == NULL)
			continue;
		for (jt = clist_begin(mbl->mb_list); jt != NULL;
		    jt = clist_next(jt)) {
			if ((rv = visit_mailbox(w, clist_content(jt))) == -1)
				return -1;
			n += rv;
		}
	}
	return n;
}

int
addr_list_parse(const char *value, size_t len, addr_list_cb cb, void *arg)
{
	struct mailimf_address_list	*list = NULL;
	struct list_walk		 w;
	size_t				 idx = 0;
	int				 n = -1;

	if (all_blank(value, len))
		return 0;
	if (!nesting_ok(value, len))
		return -1;
	if (mailimf_address_list_parse(value, len, &idx, &list) !=
	    MAILIMF_NO_ERROR)
		return -1;
	memset(&w, 0, sizeof(w));
	w.value = value;
	w.len = len;
	w.check = 1;
	/* All of it must parse, and every address be valid, before cb runs. */
	if (idx <= len && all_cfws(value + idx, len - idx) &&
	    visit_list(&w, list) != -1) {
		w.check = 0;
		w.cb = cb;
		w.arg = arg;
		n = visit_list(&w, list);
	}
	mailimf_address_list_free(list);
	return n;
}
