/*
 * OAuth2 account files and the daemons' cache of the access token.  The
 * token itself comes from the mtad-oauth2 helper (oauth2_exec.c); no HTTP
 * or JSON code is linked into the daemons.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic.h"
#include "conf.h"
#include "log.h"
#include "oauth2.h"

struct preset {
	const char	*name;
	const char	*token_url;
	const char	*device_url;
	const char	*scope;
};

static const struct preset presets[] = {
	{ "google", "https://oauth2.googleapis.com/token",
	  "https://oauth2.googleapis.com/device/code",
	  "https://mail.google.com/" },
	{ "microsoft",
	  "https://login.microsoftonline.com/common/oauth2/v2.0/token",
	  "https://login.microsoftonline.com/common/oauth2/v2.0/devicecode",
	  "https://outlook.office.com/SMTP.Send "
	  "https://outlook.office.com/IMAP.AccessAsUser.All "
	  "https://outlook.office.com/POP.AccessAsUser.All offline_access" },
};

void
oauth2_wipe_free(char **s)
{
	if (*s != NULL) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

void
oauth2_free(struct oauth2_account *a)
{
	free(a->path);
	free(a->provider);
	free(a->token_url);
	free(a->device_url);
	free(a->scope);
	free(a->client_id);
	oauth2_wipe_free(&a->client_secret);
	oauth2_wipe_free(&a->refresh_token);
	free(a->ca_file);
	oauth2_wipe_free(&a->access_token);
	memset(a, 0, sizeof(*a));
}

static int
set_string(struct conf_reader *r, char **slot, int secret)
{
	if (r->argc != 2)
		return conf_error(r, "%s takes one value", r->argv[0]);
	if (*slot != NULL)
		return conf_error(r, "%s given twice", r->argv[0]);
	if (r->argv[1][0] == '\0')
		return conf_error(r, "%s is empty", r->argv[0]);
	if ((*slot = strdup(r->argv[1])) == NULL)
		return conf_error(r, "%s", strerror(errno));
	if (secret)
		explicit_bzero(r->argv[1], strlen(r->argv[1]));
	return 0;
}

static int
set_url(struct conf_reader *r, char **slot)
{
	if (r->argc == 2 && strncmp(r->argv[1], "https://", 8) != 0)
		return conf_error(r, "%s must be an https:// URL", r->argv[0]);
	return set_string(r, slot, 0);
}

static int
set_provider(struct conf_reader *r, struct oauth2_account *a)
{
	size_t	i;

	if (r->argc == 2)
		for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
			if (strcmp(r->argv[1], presets[i].name) == 0)
				return set_string(r, &a->provider, 0);
	if (r->argc != 2)
		return conf_error(r, "provider takes one value");
	return conf_error(r, "unknown provider \"%.64s\" (google or "
	    "microsoft; else give token-url and scope)", r->argv[1]);
}

static int
statement(struct conf_reader *r, struct oauth2_account *a)
{
	const char	*k = r->argv[0];

	if (strcmp(k, "provider") == 0)
		return set_provider(r, a);
	if (strcmp(k, "token-url") == 0)
		return set_url(r, &a->token_url);
	if (strcmp(k, "device-url") == 0)
		return set_url(r, &a->device_url);
	if (strcmp(k, "scope") == 0)
		return set_string(r, &a->scope, 0);
	if (strcmp(k, "client-id") == 0)
		return set_string(r, &a->client_id, 0);
	if (strcmp(k, "client-secret") == 0)
		return set_string(r, &a->client_secret, 1);
	if (strcmp(k, "refresh-token") == 0)
		return set_string(r, &a->refresh_token, 1);
	if (strcmp(k, "ca-file") == 0)
		return set_string(r, &a->ca_file, 0);
	return conf_error(r, "unknown keyword \"%.64s\"", k);
}

/* Fill in the provider's preset for what the file left out. */
static int
finish(const char *name, struct oauth2_account *a, char *err, size_t errlen)
{
	const struct preset	*p = NULL;
	size_t			 i;

	for (i = 0; a->provider != NULL &&
	    i < sizeof(presets) / sizeof(presets[0]); i++)
		if (strcmp(a->provider, presets[i].name) == 0)
			p = &presets[i];
	if (p != NULL) {
		if ((a->token_url == NULL &&
		    (a->token_url = strdup(p->token_url)) == NULL) ||
		    (a->device_url == NULL &&
		    (a->device_url = strdup(p->device_url)) == NULL) ||
		    (a->scope == NULL && (a->scope = strdup(p->scope)) == NULL)) {
			snprintf(err, errlen, "%s: %s", name, strerror(errno));
			return -1;
		}
	}
	if (a->token_url == NULL) {
		snprintf(err, errlen, "%s: no token-url (and no provider)", name);
		return -1;
	}
	if (a->client_id == NULL) {
		snprintf(err, errlen, "%s: no client-id", name);
		return -1;
	}
	if ((a->path = strdup(name)) == NULL) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

int
oauth2_parse(const char *name, const char *buf, size_t len,
    struct oauth2_account *a, char *err, size_t errlen)
{
	struct conf_reader	*r;
	int			 rv;

	memset(a, 0, sizeof(*a));
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if ((rv = conf_open_mem(r, name, buf, len)) == 0) {
		while ((rv = conf_next(r)) == 1)
			if ((rv = statement(r, a)) == -1)
				break;
	}
	if (rv == -1)
		snprintf(err, errlen, "%s", r->err);
	conf_close(r);
	explicit_bzero(r, sizeof(*r));
	free(r);
	if (rv == 0)
		rv = finish(name, a, err, errlen);
	if (rv == -1)
		oauth2_free(a);
	return rv;
}

/* The whole file, bounded; the caller wipes and frees it. */
static char *
read_secret_file(const char *path, size_t *lenp, struct stat *st, char *err,
    size_t errlen)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (conf_check_secret_file(fd, path, err, errlen) == -1 ||
	    fstat(fd, st) == -1) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if ((buf = malloc(OAUTH2_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	while ((n = read(fd, buf + len, OAUTH2_FILE_MAX + 1 - len)) > 0)
		if ((len += n) > OAUTH2_FILE_MAX)
			break;
	close(fd);
	if (n == -1 || len > OAUTH2_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path, n == -1 ?
		    strerror(errno) : "too large");
		explicit_bzero(buf, len);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

static int
load(const char *path, int need_refresh, struct oauth2_account *a, char *err,
    size_t errlen)
{
	struct stat	 st;
	char		*buf;
	size_t		 len;
	int		 rv;

	memset(a, 0, sizeof(*a));
	if (errlen > 0)
		err[0] = '\0';
	if ((buf = read_secret_file(path, &len, &st, err, errlen)) == NULL)
		return -1;
	rv = oauth2_parse(path, buf, len, a, err, errlen);
	if (rv == 0 && need_refresh && a->refresh_token == NULL) {
		snprintf(err, errlen, "%s: no refresh-token (the provider's "
		    "consent gives one)", path);
		oauth2_free(a);
		rv = -1;
	}
	explicit_bzero(buf, len);
	free(buf);
	return rv;
}

int
oauth2_load(const char *path, struct oauth2_account *a, char *err,
    size_t errlen)
{
	return load(path, 1, a, err, errlen);
}

int
oauth2_load_consent(const char *path, struct oauth2_account *a, char *err,
    size_t errlen)
{
	if (load(path, 0, a, err, errlen) == -1)
		return -1;
	if (a->device_url == NULL) {
		snprintf(err, errlen, "%s: no device-url (and no provider)",
		    path);
		oauth2_free(a);
		return -1;
	}
	return 0;
}

/* --- write-back of a rotated refresh token --------------------------------- */

static int
is_refresh_line(const char *l, size_t n)
{
	static const char	kw[] = "refresh-token";
	size_t			i = 0;

	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	return n - i > sizeof(kw) - 1 &&
	    strncmp(l + i, kw, sizeof(kw) - 1) == 0 &&
	    (l[i + sizeof(kw) - 1] == ' ' || l[i + sizeof(kw) - 1] == '\t');
}

/* "refresh-token "T"\n" with T quoted for the lexer. */
static int
append_token_line(char *out, size_t outsz, size_t *pos, const char *tok)
{
	const char	*p;

	if (*pos + strlen("refresh-token \"") >= outsz)
		return -1;
	*pos += snprintf(out + *pos, outsz - *pos, "refresh-token \"");
	for (p = tok; *p != '\0'; p++) {
		if (*pos + 4 >= outsz)
			return -1;
		if (*p == '"' || *p == '\\')
			out[(*pos)++] = '\\';
		out[(*pos)++] = *p;
	}
	out[(*pos)++] = '"';
	out[(*pos)++] = '\n';
	return 0;
}

/*
 * Replace the refresh-token statement, keeping every other line (comments
 * included), the file's mode and its owner.
 */
int
oauth2_store_refresh_token(struct oauth2_account *a, const char *tok,
    char *err, size_t errlen)
{
	struct atomic_file	 af;
	struct stat		 st;
	char			*buf, *out = NULL;
	const char		*l, *nl;
	size_t			 len, n, pos = 0, outsz;
	int			 done = 0, rv = -1;

	err[0] = '\0';
	if ((buf = read_secret_file(a->path, &len, &st, err, errlen)) == NULL)
		return -1;
	outsz = len + strlen(tok) * 2 + 64;
	if ((out = malloc(outsz)) == NULL) {
		snprintf(err, errlen, "%s: %s", a->path, strerror(errno));
		goto done;
	}
	for (l = buf; l < buf + len; l = nl != NULL ? nl + 1 : buf + len) {
		nl = memchr(l, '\n', buf + len - l);
		n = nl != NULL ? (size_t)(nl - l) : (size_t)(buf + len - l);
		if (is_refresh_line(l, n)) {
			if (!done && append_token_line(out, outsz, &pos,
			    tok) == -1)
				goto toolong;
			done = 1;
			continue;
		}
		if (pos + n + 1 >= outsz)
			goto toolong;
		memcpy(out + pos, l, n);
		pos += n;
		out[pos++] = '\n';
	}
	if (!done && append_token_line(out, outsz, &pos, tok) == -1)
		goto toolong;
	if (atomic_open(&af, a->path, st.st_mode & 07777) == -1) {
		snprintf(err, errlen, "%s: %s", a->path, strerror(errno));
		goto done;
	}
	if (fchown(af.fd, st.st_uid, st.st_gid) == -1 && geteuid() == 0) {
		snprintf(err, errlen, "%s: chown: %s", a->path,
		    strerror(errno));
		atomic_abort(&af);
		goto done;
	}
	/* atomic_open's mode passes through the umask: set it exactly. */
	if (fchmod(af.fd, st.st_mode & 07777) == -1 ||
	    atomic_write(&af, out, pos) == -1) {
		snprintf(err, errlen, "%s: %s", a->path, strerror(errno));
		atomic_abort(&af);
		goto done;
	}
	if (atomic_commit(&af) == -1) {
		snprintf(err, errlen, "%s: %s", a->path, strerror(errno));
		goto done;
	}
	rv = 0;
	goto done;
toolong:
	snprintf(err, errlen, "%s: too large to rewrite", a->path);
done:
	explicit_bzero(buf, len);
	free(buf);
	if (out != NULL) {
		explicit_bzero(out, outsz);
		free(out);
	}
	return rv;
}

/* --- the access token -------------------------------------------------- */

int
oauth2_token_ok(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++, n++)
		if (*s <= ' ' || *s >= 0x7f)
			return 0;
	return n > 0 && n <= OAUTH2_TOKEN_MAX;
}

int
oauth2_cache_set(struct oauth2_account *a, const char *token, time_t expires)
{
	char	*t;

	if ((t = strdup(token)) == NULL)
		return -1;
	oauth2_wipe_free(&a->access_token);
	a->access_token = t;
	a->expires = expires;
	return 0;
}

enum oauth2_result
oauth2_token(struct oauth2_account *a, int force, const char *ca_default,
    const char **token, char *err, size_t errlen)
{
	enum oauth2_result	 rv;
	char			*tok = NULL;
	long long		 expires_in = 0;

	*token = NULL;
	if (!force && a->access_token != NULL && time(NULL) < a->expires) {
		*token = a->access_token;
		return OAUTH2_OK;
	}
	rv = oauth2_helper_token(a->path, force, ca_default, a->cancel, &tok,
	    &expires_in, err, errlen);
	if (rv != OAUTH2_OK)
		return rv;
	oauth2_wipe_free(&a->access_token);
	a->access_token = tok;
	/* A token just fetched is used for this login whatever its lifetime. */
	a->expires = time(NULL) + (expires_in > OAUTH2_EXPIRY_MARGIN ?
	    expires_in - OAUTH2_EXPIRY_MARGIN : 0);
	*token = a->access_token;
	return OAUTH2_OK;
}
