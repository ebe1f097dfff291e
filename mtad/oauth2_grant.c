/*
 * The two grants the helper makes: refresh_token (RFC 6749 section 6) for
 * the daemons, and the device-code consent (RFC 8628) a user runs once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "oauth2_grant.h"

/* RFC 8628 section 3.5: slow_down adds 5 seconds to the interval. */
#define SLOW_DOWN_STEP	5
#define INTERVAL_MAX	300

static const char *
ca_for(const struct oauth2_account *a, const char *ca_default)
{
	return a->ca_file != NULL ? a->ca_file : ca_default != NULL ?
	    ca_default : OAUTH2_SYSTEM_CA;
}

/* POST the form to the token endpoint and parse the answer. */
static enum oauth2_result
token_request(struct oauth2_account *a, const char *ca,
    const struct oauth2_form *f, struct oauth2_grant *g, char *err,
    size_t errlen)
{
	char			*body, herr[1024];
	size_t			 len;
	long			 status;
	enum oauth2_result	 rv;

	memset(g, 0, sizeof(*g));
	if (oauth2_http_post(a->token_url, ca, f, &status, &body, &len, herr,
	    sizeof(herr)) == -1) {
		snprintf(err, errlen, "%s: token endpoint %s", a->path, herr);
		return OAUTH2_TEMPFAIL;
	}
	rv = oauth2_parse_token(a->path, status, body, len, g, err, errlen);
	explicit_bzero(body, len);
	free(body);
	return rv;
}

/* client_id, client_secret if any, and the scope where Microsoft wants it
 * on every grant. */
static int
add_client(struct oauth2_form *f, const struct oauth2_account *a)
{
	return oauth2_form_add(f, "client_id", a->client_id) == -1 ||
	    (a->client_secret != NULL && oauth2_form_add(f, "client_secret",
	    a->client_secret) == -1) ||
	    (a->scope != NULL && a->provider != NULL &&
	    strcmp(a->provider, "microsoft") == 0 &&
	    oauth2_form_add(f, "scope", a->scope) == -1) ? -1 : 0;
}

/* The server rotated the refresh token: the old one may already be dead,
 * so a failure to save the new one is worth a loud line. */
static void
store_rotated(struct oauth2_account *a, const char *rt)
{
	char	serr[1024];

	if (a->refresh_token != NULL && strcmp(rt, a->refresh_token) == 0)
		return;
	if (oauth2_store_refresh_token(a, rt, serr, sizeof(serr)) == -1)
		fprintf(stderr, "rotated refresh token not saved: %s\n", serr);
}

enum oauth2_result
oauth2_refresh(struct oauth2_account *a, const char *ca_default,
    struct oauth2_grant *g, char *err, size_t errlen)
{
	struct oauth2_form	f = { NULL, 0 };
	enum oauth2_result	rv;

	memset(g, 0, sizeof(*g));
	if (oauth2_form_add(&f, "grant_type", "refresh_token") == -1 ||
	    oauth2_form_add(&f, "refresh_token", a->refresh_token) == -1 ||
	    add_client(&f, a) == -1) {
		oauth2_form_free(&f);
		snprintf(err, errlen, "%s: out of memory", a->path);
		return OAUTH2_TEMPFAIL;
	}
	rv = token_request(a, ca_for(a, ca_default), &f, g, err, errlen);
	oauth2_form_free(&f);
	if (rv == OAUTH2_OK && g->refresh_token != NULL)
		store_rotated(a, g->refresh_token);
	return rv;
}

/* --- the device-code consent ----------------------------------------------- */

static int
device_request(struct oauth2_account *a, const char *ca,
    struct oauth2_device *d, char *err, size_t errlen)
{
	struct oauth2_form	 f = { NULL, 0 };
	char			*body, herr[1024];
	size_t			 len;
	long			 status;
	int			 rv;

	if (a->scope == NULL) {
		snprintf(err, errlen, "%s: no scope (and no provider)",
		    a->path);
		return -1;
	}
	if (oauth2_form_add(&f, "client_id", a->client_id) == -1 ||
	    oauth2_form_add(&f, "scope", a->scope) == -1) {
		oauth2_form_free(&f);
		snprintf(err, errlen, "%s: out of memory", a->path);
		return -1;
	}
	rv = oauth2_http_post(a->device_url, ca, &f, &status, &body, &len,
	    herr, sizeof(herr));
	oauth2_form_free(&f);
	if (rv == -1) {
		snprintf(err, errlen, "%s: device endpoint %s", a->path, herr);
		return -1;
	}
	rv = oauth2_parse_device(a->path, status, body, len, d, err, errlen);
	explicit_bzero(body, len);
	free(body);
	return rv;
}

static void
instructions(FILE *tty, const struct oauth2_device *d)
{
	fprintf(tty, "To let mailhub use this account, open\n\n    %s\n\n"
	    "in a browser (on any machine), sign in and enter the code\n\n"
	    "    %s\n\n", d->verification_uri, d->user_code);
	if (d->verification_uri_complete != NULL)
		fprintf(tty, "(or open %s, which carries the code)\n\n",
		    d->verification_uri_complete);
	fprintf(tty, "Waiting up to %lld minutes for the consent...\n",
	    (d->expires_in + 59) / 60);
	fflush(tty);
}

/*
 * Poll until the user consents, refuses, or the code expires.  An
 * interrupted sleep (^C kills us; other signals) just polls sooner.
 */
static int
poll_token(struct oauth2_account *a, const char *ca,
    const struct oauth2_device *d, struct oauth2_grant *g, char *err,
    size_t errlen)
{
	struct oauth2_form	f = { NULL, 0 };
	enum oauth2_result	rv;
	time_t			deadline = time(NULL) + d->expires_in;
	long long		interval = d->interval;
	char			perr[1024];

	if (interval < 1)
		interval = 1;
	if (oauth2_form_add(&f, "grant_type", OAUTH2_DEVICE_GRANT) == -1 ||
	    oauth2_form_add(&f, "device_code", d->device_code) == -1 ||
	    add_client(&f, a) == -1) {
		oauth2_form_free(&f);
		snprintf(err, errlen, "%s: out of memory", a->path);
		return OAUTH2_EX_TEMPFAIL;
	}
	for (;;) {
		if (time(NULL) + interval > deadline) {
			snprintf(err, errlen, "%s: the code expired before "
			    "the consent was given; run authorize again",
			    a->path);
			oauth2_form_free(&f);
			return OAUTH2_EX_TEMPFAIL;
		}
		sleep((unsigned)interval);
		rv = token_request(a, ca, &f, g, perr, sizeof(perr));
		if (rv == OAUTH2_OK)
			break;
		if (strcmp(g->error, "authorization_pending") == 0)
			continue;
		if (strcmp(g->error, "slow_down") == 0) {
			if (interval < INTERVAL_MAX)
				interval += SLOW_DOWN_STEP;
			continue;
		}
		oauth2_form_free(&f);
		if (strcmp(g->error, "access_denied") == 0) {
			snprintf(err, errlen, "%s: the consent was refused "
			    "(access_denied); nothing stored", a->path);
			return OAUTH2_EX_NOPERM;
		}
		if (strcmp(g->error, "expired_token") == 0) {
			snprintf(err, errlen, "%s: the code expired before "
			    "the consent was given (expired_token); run "
			    "authorize again", a->path);
			return OAUTH2_EX_TEMPFAIL;
		}
		snprintf(err, errlen, "%s", perr);
		return rv == OAUTH2_REJECTED ? OAUTH2_EX_NOPERM :
		    OAUTH2_EX_TEMPFAIL;
	}
	oauth2_form_free(&f);
	return OAUTH2_EX_OK;
}

int
oauth2_authorize(struct oauth2_account *a, const char *ca_default,
    FILE *tty, char *err, size_t errlen)
{
	struct oauth2_device	d;
	struct oauth2_grant	g;
	const char		*ca = ca_for(a, ca_default);
	int			 ex;

	if (device_request(a, ca, &d, err, errlen) == -1)
		return OAUTH2_EX_TEMPFAIL;
	instructions(tty, &d);
	memset(&g, 0, sizeof(g));
	ex = poll_token(a, ca, &d, &g, err, errlen);
	oauth2_device_free(&d);
	if (ex != OAUTH2_EX_OK)
		return ex;
	if (g.refresh_token == NULL) {
		snprintf(err, errlen, "%s: consent given but the server sent "
		    "no refresh token (Microsoft needs the offline_access "
		    "scope)", a->path);
		oauth2_grant_free(&g);
		return OAUTH2_EX_TEMPFAIL;
	}
	if (oauth2_store_refresh_token(a, g.refresh_token, err,
	    errlen) == -1) {
		oauth2_grant_free(&g);
		return OAUTH2_EX_CONFIG;
	}
	oauth2_grant_free(&g);
	fprintf(tty, "Consent given; the refresh token is stored in %s.\n",
	    a->path);
	return OAUTH2_EX_OK;
}
