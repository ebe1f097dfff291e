/*
 * The mtad-oauth2 helper's grants (oauth2_grant.c), its HTTPS POST
 * (oauth2_http.c) and its parsers of the token endpoint's JSON
 * (oauth2_json.c).  Only the helper links these: they are the daemons'
 * only use of libcurl and jansson (see common/oauth2_exec.c).
 */
#ifndef MTAD_OAUTH2_GRANT_H
#define MTAD_OAUTH2_GRANT_H

#include <stdio.h>

#include "oauth2.h"

/* sysexits.h codes the helper exits with; the daemons read 77 as refused. */
#define OAUTH2_EX_OK		0
#define OAUTH2_EX_USAGE		64
#define OAUTH2_EX_TEMPFAIL	75
#define OAUTH2_EX_NOPERM	77
#define OAUTH2_EX_CONFIG	78

#define OAUTH2_DEVICE_GRANT	"urn:ietf:params:oauth:grant-type:device_code"

/* --- oauth2_http.c --------------------------------------------------------- */

struct oauth2_form {
	char	*buf;
	size_t	 len;
};

/* Append key=value, URL-encoded; -1 when out of memory. */
int	oauth2_form_add(struct oauth2_form *f, const char *key,
	    const char *value);
/* Wipe and free. */
void	oauth2_form_free(struct oauth2_form *f);

/*
 * POST the form to url (https only, certificate verified against ca,
 * timeouts), the body (at most OAUTH2_RESPONSE_MAX) into body and len
 * (malloc'd, NUL-terminated; wipe and free it).  0 with the status, or -1
 * with err (no secret in it).
 */
int	oauth2_http_post(const char *url, const char *ca,
	    const struct oauth2_form *f, long *status, char **body,
	    size_t *len, char *err, size_t errlen);

/* --- oauth2_json.c --------------------------------------------------------- */

/* A token endpoint's answer. */
struct oauth2_grant {
	char		*access_token;
	char		*refresh_token;	/* NULL unless the server sent one */
	long long	 expires_in;
	char		 error[64];	/* the "error" code, safe to log */
};

/* A device authorization endpoint's answer (RFC 8628 section 3.2). */
struct oauth2_device {
	char		*device_code;
	char		*user_code;
	char		*verification_uri;
	char		*verification_uri_complete;	/* optional */
	long long	 expires_in;
	long long	 interval;
};

/*
 * The token endpoint's response with HTTP status.  OAUTH2_OK fills g;
 * otherwise err says why (naming g->error when the server sent one):
 * OAUTH2_REJECTED for a 4xx other than 429, OAUTH2_TEMPFAIL for the rest.
 */
enum oauth2_result oauth2_parse_token(const char *name, long status,
	    const char *buf, size_t len, struct oauth2_grant *g, char *err,
	    size_t errlen);
void	oauth2_grant_free(struct oauth2_grant *g);

/* The device endpoint's response: 0, or -1 with err. */
int	oauth2_parse_device(const char *name, long status, const char *buf,
	    size_t len, struct oauth2_device *d, char *err, size_t errlen);
void	oauth2_device_free(struct oauth2_device *d);

/* --- oauth2_grant.c -------------------------------------------------------- */

/*
 * The refresh-token grant for account a (loaded from its file), CA from
 * the file's ca-file, else ca_default, else the system bundle.  A rotated
 * refresh token is written back to the file.
 */
enum oauth2_result oauth2_refresh(struct oauth2_account *a,
	    const char *ca_default, struct oauth2_grant *g, char *err,
	    size_t errlen);

/*
 * The device-code consent (RFC 8628): print the URL and code on tty, poll
 * the token endpoint, store the refresh token in a->path.  Returns an
 * OAUTH2_EX_* exit status, err set unless OK.
 */
int	oauth2_authorize(struct oauth2_account *a, const char *ca_default,
	    FILE *tty, char *err, size_t errlen);

#endif
