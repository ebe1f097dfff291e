/*
 * OAuth2 account files and access-token refresh (RFC 6749 section 6).
 *
 * An account file has mtad.conf's syntax and the auth file's permission
 * rule:
 *
 *	provider	google | microsoft	(presets token-url, device-url, scope)
 *	token-url	https://...
 *	device-url	https://...
 *	scope		"..."
 *	client-id	ID
 *	client-secret	S			(optional)
 *	refresh-token	T
 *	ca-file		/path			(optional)
 *
 * The access token is fetched over HTTPS with libcurl when first asked for,
 * kept in memory until shortly before it expires, and fetched again when
 * the caller forces it (after an authentication failure).  A refresh token
 * rotated by the server is written back to the file atomically.  No token
 * or secret is ever logged or put in an error message.
 */
#ifndef MAILHUB_OAUTH2_H
#define MAILHUB_OAUTH2_H

#include <stddef.h>
#include <time.h>

#define OAUTH2_FILE_MAX		(64 * 1024)
#define OAUTH2_RESPONSE_MAX	(64 * 1024)
#define OAUTH2_SYSTEM_CA	"/etc/ssl/certs/ca-certificates.crt"
/* A cached token is refreshed this long before its stated expiry. */
#define OAUTH2_EXPIRY_MARGIN	60

struct oauth2_account {
	char	*path;
	char	*provider;
	char	*token_url;
	char	*device_url;
	char	*scope;
	char	*client_id;
	char	*client_secret;
	char	*refresh_token;
	char	*ca_file;
	char	*access_token;		/* cached */
	time_t	 expires;		/* when the cached token is stale */
};

enum oauth2_result {
	OAUTH2_OK,
	OAUTH2_TEMPFAIL,	/* network, TLS, 5xx, bad response: try later */
	OAUTH2_REJECTED,	/* the refresh token or client was refused */
};

/* 0, or -1 with "file:line: message" (or "file: reason") in err. */
int	oauth2_load(const char *path, struct oauth2_account *a, char *err,
	    size_t errlen);
/* The same over a buffer; no permission check (tests, fuzzing). */
int	oauth2_parse(const char *name, const char *buf, size_t len,
	    struct oauth2_account *a, char *err, size_t errlen);

/*
 * The access token in *token (owned by a, valid until the next call or
 * oauth2_free).  force: fetch a new one even if the cached one looks valid.
 * ca_default: the caller's CA file when the account names none (NULL: the
 * system bundle).  On failure err says why, without any secret.
 */
enum oauth2_result oauth2_token(struct oauth2_account *a, int force,
	    const char *ca_default, const char **token, char *err,
	    size_t errlen);

/* Wipes every secret. */
void	oauth2_free(struct oauth2_account *a);

#endif
