/*
 * For the protocol harnesses: OAuth2 without a token endpoint.  Included
 * after fetch.c, which the harness compiles with
 *
 *	#define oauth2_token fuzz_oauth2_token
 *
 * so that fetch_oauth_token() gets FUZZ_TOKEN1 from the "cache", and
 * FUZZ_TOKEN2 when it forces a refresh after the server said NO: the
 * retry path runs on the script's bytes like any other.  tracecheck.h
 * knows both tokens and their SASL responses.
 */
#ifndef FUZZ_OAUTHSTUB_H
#define FUZZ_OAUTHSTUB_H

#include "oauth2.h"

#define FUZZ_TOKEN1	"FuzzT0ken.one"
#define FUZZ_TOKEN2	"FuzzT0ken.two"

/* Marks the account as loaded: fetch_oauth_token() never reads a file. */
static struct oauth2_account fuzz_account = { .path = "fuzz.oauth2" };

enum oauth2_result
fuzz_oauth2_token(struct oauth2_account *a, int force, const char *ca,
    const char **token, char *err, size_t errlen)
{
	(void)a, (void)ca, (void)err, (void)errlen;
	*token = force ? FUZZ_TOKEN2 : FUZZ_TOKEN1;
	return OAUTH2_OK;
}

/* The user logs in with OAuth2 when the poll's auth says so. */
static void
fuzz_oauth_user(struct rc_user *u)
{
	u->oauth2file = "fuzz.oauth2";
	u->oauth2 = &fuzz_account;
}

#endif
