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
 * The access token is fetched when first asked for, kept in memory until
 * shortly before it expires, and fetched again when the caller forces it
 * (after an authentication failure).  The fetch itself runs in the
 * mtad-oauth2 helper (HTTPS with libcurl, JSON with jansson; see
 * oauth2_exec.c for why it is a separate process), which also writes a
 * refresh token rotated by the server back to the file atomically.  No
 * token or secret is ever logged or put in an error message.
 */
#ifndef MAILHUB_OAUTH2_H
#define MAILHUB_OAUTH2_H

#include <signal.h>
#include <stddef.h>
#include <time.h>

#define OAUTH2_FILE_MAX		(64 * 1024)
#define OAUTH2_RESPONSE_MAX	(64 * 1024)
#define OAUTH2_SYSTEM_CA	"/etc/ssl/certs/ca-certificates.crt"
/* A cached token is refreshed this long before its stated expiry. */
#define OAUTH2_EXPIRY_MARGIN	60
/* The longest access token accepted from the helper (Microsoft's JWTs are
 * 1.5-3 KB). */
#define OAUTH2_TOKEN_MAX	8192
/* The helper's name, looked up beside the running program, then in the
 * build tree's mtad/, then in BINDIR. */
#define OAUTH2_HELPER		"mtad-oauth2"
/* How long a daemon waits for the helper (its own HTTP timeout is 60 s). */
#define OAUTH2_HELPER_TIMEOUT	90

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
	/* Set by the caller after loading (NULL: never): when it turns
	 * non-zero (the daemon's SIGTERM handler) a fetch in progress is
	 * abandoned, the helper killed, and the result is TEMPFAIL. */
	const volatile sig_atomic_t *cancel;
};

enum oauth2_result {
	OAUTH2_OK,
	OAUTH2_TEMPFAIL,	/* network, TLS, 5xx, bad response: try later */
	OAUTH2_REJECTED,	/* the refresh token or client was refused */
};

/* 0, or -1 with "file:line: message" (or "file: reason") in err. */
int	oauth2_load(const char *path, struct oauth2_account *a, char *err,
	    size_t errlen);
/* The same for the consent flow: no refresh-token yet, a device-url. */
int	oauth2_load_consent(const char *path, struct oauth2_account *a,
	    char *err, size_t errlen);
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

/* A token we can put on a line: 1 to OAUTH2_TOKEN_MAX printable
 * characters, no space (the helper's output and its parse in the daemons). */
int	oauth2_token_ok(const char *s);

/* Seed the cache (a token the runner kept from an earlier flush). */
int	oauth2_cache_set(struct oauth2_account *a, const char *token,
	    time_t expires);

/*
 * Replace (or add) the refresh-token line of a->path atomically, keeping
 * every other line, the mode and the owner.  0, or -1 with err set.
 */
int	oauth2_store_refresh_token(struct oauth2_account *a, const char *tok,
	    char *err, size_t errlen);

/*
 * Run "mtad-oauth2 token [-f] [-c ca_default] path" and read the token it
 * prints (oauth2_exec.c).  On OAUTH2_OK, *token (malloc'd; wipe and free
 * it) and *expires_in (seconds, as the server said).  The helper's stderr
 * goes to the log, its last line on failure into err.  Exit status 0: OK;
 * 77 (EX_NOPERM): refused; anything else, a timeout included: TEMPFAIL.
 */
enum oauth2_result oauth2_helper_token(const char *path, int force,
	    const char *ca_default, const volatile sig_atomic_t *cancel,
	    char **token, long long *expires_in, char *err, size_t errlen);

/* Wipes every secret. */
void	oauth2_free(struct oauth2_account *a);
/* Zero a secret string, free it, set the pointer to NULL. */
void	oauth2_wipe_free(char **s);

#endif
