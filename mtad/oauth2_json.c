/*
 * The token and device endpoints' JSON answers (RFC 6749 section 5,
 * RFC 8628 section 3.2), parsed with jansson.  Every value is checked for
 * type and bound; nothing from the server reaches a message but the
 * "error" code, reduced to safe characters.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "oauth2_grant.h"

/* Longest device_code/user_code/URI taken from a device endpoint. */
#define DEVICE_FIELD_MAX	2048

void
oauth2_grant_free(struct oauth2_grant *g)
{
	oauth2_wipe_free(&g->access_token);
	oauth2_wipe_free(&g->refresh_token);
	memset(g, 0, sizeof(*g));
}

void
oauth2_device_free(struct oauth2_device *d)
{
	oauth2_wipe_free(&d->device_code);
	free(d->user_code);
	free(d->verification_uri);
	free(d->verification_uri_complete);
	memset(d, 0, sizeof(*d));
}

/* The server's "error" code, reduced to safe characters for a log line. */
static void
error_code(json_t *j, char *out, size_t outsz)
{
	const char	*s = json_string_value(json_object_get(j, "error"));
	size_t		 i;

	snprintf(out, outsz, "%s", s != NULL ? s : "no error code");
	for (i = 0; out[i] != '\0'; i++)
		if (!isalnum((unsigned char)out[i]) && out[i] != '_' &&
		    out[i] != '-')
			out[i] = '?';
}

/* A number of seconds, given as an integer or (some servers) a string;
 * dflt when absent or out of range. */
static long long
seconds(json_t *j, const char *key, long long dflt)
{
	json_t		*v = json_object_get(j, key);
	long long	 n;
	char		*end;

	if (json_is_integer(v))
		n = json_integer_value(v);
	else if (json_is_string(v)) {
		errno = 0;
		n = strtoll(json_string_value(v), &end, 10);
		if (errno != 0 || *end != '\0' || end == json_string_value(v))
			return dflt;
	} else
		return dflt;
	return n < 0 || n > 366LL * 86400 ? dflt : n;
}

enum oauth2_result
oauth2_parse_token(const char *name, long status, const char *buf,
    size_t len, struct oauth2_grant *g, char *err, size_t errlen)
{
	json_t		*j;
	json_error_t	 je;
	const char	*tok, *rt;
	enum oauth2_result rv;

	memset(g, 0, sizeof(*g));
	if ((j = json_loadb(buf, len, 0, &je)) == NULL || !json_is_object(j)) {
		snprintf(err, errlen, "%s: token endpoint: HTTP %ld with "
		    "a response that is not a JSON object", name, status);
		json_decref(j);
		return status >= 400 && status < 500 && status != 429 ?
		    OAUTH2_REJECTED : OAUTH2_TEMPFAIL;
	}
	if (status != 200) {
		error_code(j, g->error, sizeof(g->error));
		snprintf(err, errlen, "%s: token endpoint: HTTP %ld, %s%s",
		    name, status, g->error, strcmp(g->error,
		    "invalid_grant") == 0 ? " (refresh token revoked or "
		    "expired: renew the consent with mtad-oauth2 authorize)" :
		    "");
		rv = status >= 400 && status < 500 && status != 429 ?
		    OAUTH2_REJECTED : OAUTH2_TEMPFAIL;
		json_decref(j);
		return rv;
	}
	tok = json_string_value(json_object_get(j, "access_token"));
	if (tok == NULL || !oauth2_token_ok(tok)) {
		snprintf(err, errlen, "%s: token endpoint: %s access_token in "
		    "the response", name, tok == NULL ? "no" : "a malformed");
		json_decref(j);
		return OAUTH2_TEMPFAIL;
	}
	/* RFC 6749 leaves expires_in optional: assume an hour. */
	g->expires_in = seconds(j, "expires_in", 3600);
	rt = json_string_value(json_object_get(j, "refresh_token"));
	if ((g->access_token = strdup(tok)) == NULL ||
	    (rt != NULL && oauth2_token_ok(rt) &&
	    (g->refresh_token = strdup(rt)) == NULL)) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		oauth2_grant_free(g);
		json_decref(j);
		return OAUTH2_TEMPFAIL;
	}
	json_decref(j);
	return OAUTH2_OK;
}

/* A printable string field of at most DEVICE_FIELD_MAX, or NULL. */
static const char *
field(json_t *j, const char *key)
{
	const char	*s = json_string_value(json_object_get(j, key));
	const char	*p;

	if (s == NULL || *s == '\0' || strlen(s) > DEVICE_FIELD_MAX)
		return NULL;
	for (p = s; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return NULL;
	return s;
}

int
oauth2_parse_device(const char *name, long status, const char *buf,
    size_t len, struct oauth2_device *d, char *err, size_t errlen)
{
	json_t		*j;
	json_error_t	 je;
	const char	*dc, *uc, *uri, *full;
	char		 code[64];

	memset(d, 0, sizeof(*d));
	if ((j = json_loadb(buf, len, 0, &je)) == NULL || !json_is_object(j)) {
		snprintf(err, errlen, "%s: device endpoint: HTTP %ld with a "
		    "response that is not a JSON object", name, status);
		json_decref(j);
		return -1;
	}
	if (status != 200) {
		error_code(j, code, sizeof(code));
		snprintf(err, errlen, "%s: device endpoint: HTTP %ld, %s%s",
		    name, status, code, strcmp(code, "invalid_client") == 0 ?
		    " (check client-id, and that the app allows the device "
		    "flow)" : "");
		json_decref(j);
		return -1;
	}
	dc = field(j, "device_code");
	uc = field(j, "user_code");
	/* Google says verification_url, RFC 8628 verification_uri. */
	if ((uri = field(j, "verification_uri")) == NULL)
		uri = field(j, "verification_url");
	full = field(j, "verification_uri_complete");
	if (dc == NULL || uc == NULL || uri == NULL) {
		snprintf(err, errlen, "%s: device endpoint: no %s in the "
		    "response", name, dc == NULL ? "device_code" : uc == NULL ?
		    "user_code" : "verification_uri");
		json_decref(j);
		return -1;
	}
	d->expires_in = seconds(j, "expires_in", 1800);
	d->interval = seconds(j, "interval", 5);
	if ((d->device_code = strdup(dc)) == NULL ||
	    (d->user_code = strdup(uc)) == NULL ||
	    (d->verification_uri = strdup(uri)) == NULL ||
	    (full != NULL &&
	    (d->verification_uri_complete = strdup(full)) == NULL)) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		oauth2_device_free(d);
		json_decref(j);
		return -1;
	}
	json_decref(j);
	return 0;
}
