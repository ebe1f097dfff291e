/*
 * Pieces shared by the fetchers: TLS policy and context, default ports,
 * error lines, uid bounds, the OAuth2 token and SASL responses.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fetch.h"
#include "log.h"
#include "oauth2.h"
#include "tls.h"

const struct fetcher *
fetch_select(enum rc_proto proto)
{
	switch (proto) {
	case RC_PROTO_POP3:
	case RC_PROTO_APOP:
		return &fetch_pop3;
	case RC_PROTO_IMAP:
	case RC_PROTO_AUTO:	/* fetchmail tries IMAP first */
		return &fetch_imap;
	default:
		return NULL;
	}
}

enum fetch_tls
fetch_tls_mode(const struct rc_user *u)
{
	if (u->ssl == RC_YES)
		return FETCH_TLS_IMPLICIT;
	if (u->sslproto != NULL && u->sslproto[0] == '\0')
		return FETCH_TLS_NONE;
	return FETCH_TLS_STARTTLS;
}

SSL_CTX *
fetch_tls_ctx(const struct rc_user *u, char *err, size_t errlen)
{
	int	 verify = u->sslcertck != RC_NO;

	if (!verify)
		log_warnx("warning: certificate verification disabled for "
		    "%s (no sslcertck)", u->remotename);
	return tls_client_ctx(u->sslcertfile, verify, err, errlen);
}

void
fetch_port(const struct rc_poll *p, enum rc_proto proto, enum fetch_tls tls,
    char *buf, size_t len)
{
	int	 port = p->port;

	if (port == 0) {
		if (proto == RC_PROTO_IMAP || proto == RC_PROTO_AUTO)
			port = tls == FETCH_TLS_IMPLICIT ? 993 : 143;
		else
			port = tls == FETCH_TLS_IMPLICIT ? 995 : 110;
	}
	snprintf(buf, len, "%d", port);
}

int
fetch_fail(struct fetch_conn *fc, int code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(fc->err, sizeof(fc->err), fmt, ap);
	va_end(ap);
	return code;
}

int
fetch_uid_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > FETCH_UID_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return -1;
	return 0;
}

void
fetch_list_free(struct fetch_list *ml)
{
	free(ml->v);
	ml->v = NULL;
	ml->n = 0;
	ml->total = 0;
	ml->validity = 0;
}

/* --- OAuth2 ---------------------------------------------------------------- */

int
fetch_oauth(const struct fetch_server *srv)
{
	return srv->poll != NULL && (srv->poll->auth == RC_AUTH_XOAUTH2 ||
	    srv->poll->auth == RC_AUTH_OAUTHBEARER);
}

const char *
fetch_oauth_mech(const struct fetch_server *srv)
{
	return srv->poll->auth == RC_AUTH_XOAUTH2 ? "XOAUTH2" : "OAUTHBEARER";
}

const char *
fetch_oauth_abort(const struct fetch_server *srv)
{
	return srv->poll->auth == RC_AUTH_XOAUTH2 ? "" : "AQ==";
}

int
fetch_oauth_token(struct fetch_conn *fc, const struct fetch_server *srv,
    int force, const char **token)
{
	const struct rc_user	*u = srv->user;
	char			 err[FETCH_ERR_MAX];

	*token = NULL;
	if (u->oauth2 == NULL || u->oauth2file == NULL)
		return fetch_fail(fc, PS_AUTHFAIL, "%s at %s: auth %s needs "
		    "an oauth2file", u->remotename, srv->host,
		    rc_auth_name(srv->poll->auth));
	/* Loaded when first needed; kept (token cache included) after. */
	if (u->oauth2->path == NULL &&
	    oauth2_load(u->oauth2file, u->oauth2, err, sizeof(err)) == -1)
		return fetch_fail(fc, PS_AUTHFAIL, "OAuth2 account for %s at "
		    "%s: %s", u->remotename, srv->host, err);
	err[0] = '\0';
	switch (oauth2_token(u->oauth2, force, u->sslcertfile, token, err,
	    sizeof(err))) {
	case OAUTH2_OK:
		return PS_SUCCESS;
	case OAUTH2_REJECTED:
		return fetch_fail(fc, PS_AUTHFAIL, "OAuth2 token for %s at %s "
		    "refused: %s", u->remotename, srv->host, err);
	default:
		return fetch_fail(fc, PS_ERROR, "OAuth2 token for %s at %s not "
		    "available now: %s", u->remotename, srv->host, err);
	}
}

/* RFC 6750 b64token, the only shape a bearer token may take. */
static int
token_ok(const char *t)
{
	size_t	 i;

	for (i = 0; t[i] != '\0'; i++)
		if (!isalnum((unsigned char)t[i]) &&
		    strchr("-._~+/=", t[i]) == NULL)
			return 0;
	return i > 0;
}

char *
fetch_oauth_response(struct fetch_conn *fc, const struct fetch_server *srv,
    const char *token)
{
	const char	*user = srv->user->remotename, *s;
	char		 raw[FETCH_SASL_MAX], name[3 * 255 + 1], *out;
	size_t		 n = 0;
	int		 w;

	for (s = user; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			break;
	if (*s != '\0' || s == user || s - user > 255) {
		fetch_fail(fc, PS_AUTHFAIL, "OAuth2: user name unusable in "
		    "SASL (empty, too long or with control characters)");
		return NULL;
	}
	if (!token_ok(token)) {
		fetch_fail(fc, PS_AUTHFAIL, "OAuth2 for %s: the token endpoint "
		    "gave an access token that is not a bearer token", user);
		return NULL;
	}
	if (srv->poll->auth == RC_AUTH_XOAUTH2)
		w = snprintf(raw, sizeof(raw), "user=%s\001auth=Bearer "
		    "%s\001\001", user, token);
	else {
		/* RFC 5801 saslname: ',' and '=' escaped. */
		for (s = user; *s != '\0' && n + 3 < sizeof(name); s++) {
			if (*s == ',' || *s == '=') {
				memcpy(name + n, *s == ',' ? "=2C" : "=3D", 3);
				n += 3;
			} else
				name[n++] = *s;
		}
		name[n] = '\0';
		w = snprintf(raw, sizeof(raw), "n,a=%s,\001host=%s\001port=%s"
		    "\001auth=Bearer %s\001\001", name, srv->host, srv->port,
		    token);
	}
	if (w < 0 || (size_t)w >= sizeof(raw) ||
	    (out = malloc(4 * (((size_t)w + 2) / 3) + 1)) == NULL) {
		explicit_bzero(raw, sizeof(raw));
		fetch_fail(fc, PS_AUTHFAIL, "OAuth2 for %s: access token too "
		    "long", user);
		return NULL;
	}
	EVP_EncodeBlock((unsigned char *)out, (unsigned char *)raw, w);
	explicit_bzero(raw, sizeof(raw));
	return out;
}

void
fetch_oauth_challenge(const char *b64, char *out, size_t outsz)
{
	unsigned char	 buf[1024];
	size_t		 len = strcspn(b64, "\r\n"), i, n = 0;
	int		 d;

	if (outsz == 0)
		return;
	out[0] = '\0';
	if (len == 0 || len > 4 * (sizeof(buf) / 3) || len % 4 != 0)
		return;
	if ((d = EVP_DecodeBlock(buf, (const unsigned char *)b64,
	    (int)len)) <= 0)
		return;
	/* EVP_DecodeBlock counts the padding as data. */
	if (b64[len - 1] == '=')
		d--;
	if (len > 1 && b64[len - 2] == '=')
		d--;
	for (i = 0; i < (size_t)d && n + 1 < outsz; i++)
		out[n++] = isprint(buf[i]) ? (char)buf[i] : '?';
	out[n] = '\0';
}

void
fetch_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR1);
}
