/*
 * Smart-host credentials (dma's auth.conf format).  The buffers that held
 * the file are wiped as soon as the table is built.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "authfile.h"

#define AUTHFILE_MAX	(1024 * 1024)

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int
add_entry(struct authfile *af, const char *user, size_t ulen,
    const char *host, size_t hlen, enum auth_kind kind, const char *secret,
    size_t slen)
{
	struct auth_entry	*v, *e;

	v = reallocarray(af->v, af->n + 1, sizeof(*v));
	if (v == NULL)
		return -1;
	af->v = v;
	e = &v[af->n];
	e->user = strndup(user, ulen);
	e->host = strndup(host, hlen);
	e->kind = kind;
	e->secret = strndup(secret, slen);
	if (e->user == NULL || e->host == NULL || e->secret == NULL) {
		free(e->user);
		free(e->host);
		wipe_free(e->secret);
		return -1;
	}
	af->n++;
	return 0;
}

/* One line without its newline.  The password never reaches err. */
static int
parse_line(const char *name, int lineno, const char *l, size_t n,
    struct authfile *af, char *err, size_t errlen)
{
	const char	*bar, *colon, *p, *secret;
	size_t		 i, slen;
	enum auth_kind	 kind = AUTH_PASSWORD;

	if (n > 0 && l[n - 1] == '\r')
		n--;
	for (i = 0; i < n && (l[i] == ' ' || l[i] == '\t'); i++)
		;
	if (i == n || l[i] == '#')
		return 0;
	if (n > AUTHFILE_LINE_MAX || memchr(l, '\0', n) != NULL) {
		snprintf(err, errlen, "%s:%d: line too long or binary", name,
		    lineno);
		return -1;
	}
	if ((bar = memchr(l, '|', n)) == NULL ||
	    (colon = memchr(bar, ':', n - (bar - l))) == NULL) {
		snprintf(err, errlen, "%s:%d: expected user|host:password",
		    name, lineno);
		return -1;
	}
	if (bar == l || colon == bar + 1) {
		snprintf(err, errlen, "%s:%d: empty %s", name, lineno,
		    bar == l ? "user name" : "host");
		return -1;
	}
	for (p = l; p < colon; p++)
		if (*p == ' ' || *p == '\t') {
			snprintf(err, errlen, "%s:%d: blank in user or host",
			    name, lineno);
			return -1;
		}
	secret = colon + 1;
	slen = n - (secret - l);
	if (slen >= 7 && strncmp(secret, "oauth2:", 7) == 0) {
		kind = AUTH_OAUTH2;
		secret += 7;
		slen -= 7;
	}
	if (slen == 0) {
		snprintf(err, errlen, "%s:%d: empty %s", name, lineno,
		    kind == AUTH_OAUTH2 ? "oauth2 account file" : "password");
		return -1;
	}
	if (add_entry(af, l, bar - l, bar + 1, colon - bar - 1, kind, secret,
	    slen) == -1) {
		snprintf(err, errlen, "%s:%d: %s", name, lineno,
		    strerror(errno));
		return -1;
	}
	return 0;
}

int
authfile_parse(const char *name, const char *buf, size_t len,
    struct authfile *af, char *err, size_t errlen)
{
	const char	*nl;
	size_t		 pos = 0, n;
	int		 lineno = 0;

	memset(af, 0, sizeof(*af));
	while (pos < len) {
		lineno++;
		nl = memchr(buf + pos, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
		if (parse_line(name, lineno, buf + pos, n, af, err,
		    errlen) == -1) {
			authfile_free(af);
			return -1;
		}
		pos += n + 1;
	}
	return 0;
}

int
authfile_load(const char *path, struct authfile *af, char *err,
    size_t errlen)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd, rv;

	memset(af, 0, sizeof(*af));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (conf_check_secret_file(fd, path, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	if ((buf = malloc(AUTHFILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf + len, AUTHFILE_MAX + 1 - len)) > 0)
		if ((len += n) > AUTHFILE_MAX)
			break;
	if (n == -1 || len > AUTHFILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, n == -1 ?
		    strerror(errno) : "too large");
		rv = -1;
	} else
		rv = authfile_parse(path, buf, len, af, err, errlen);
	explicit_bzero(buf, len);
	free(buf);
	close(fd);
	return rv;
}

const struct auth_entry *
authfile_lookup(const struct authfile *af, const char *host)
{
	const struct auth_entry	*any = NULL;
	size_t			 i;

	for (i = 0; i < af->n; i++) {
		if (strcasecmp(af->v[i].host, host) == 0)
			return &af->v[i];
		if (any == NULL && strcmp(af->v[i].host, "*") == 0)
			any = &af->v[i];
	}
	return any;
}

void
authfile_free(struct authfile *af)
{
	size_t	i;

	for (i = 0; i < af->n; i++) {
		free(af->v[i].user);
		free(af->v[i].host);
		wipe_free(af->v[i].secret);
	}
	free(af->v);
	memset(af, 0, sizeof(*af));
}
