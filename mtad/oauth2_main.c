/*
 * mtad-oauth2: the OAuth2 helper.
 *
 *	mtad-oauth2 authorize [-c cafile] FILE
 *		the one-time device-code consent; stores the refresh token
 *	mtad-oauth2 token [-f] [-c cafile] FILE
 *		refresh; print "access-token T", "expires-in N" and
 *		"expires EPOCH" on stdout for mtad and fetchd
 *
 * The daemons run this rather than link libcurl (common/oauth2_exec.c says
 * why).  Errors go to stderr, one line each, never with a secret: the
 * daemons log them.  Exit status (sysexits.h): 0, 64 usage, 75 temporary
 * failure, 77 refused (revoked refresh token, consent denied), 78 a bad
 * account file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "oauth2_grant.h"

static int
usage(void)
{
	fprintf(stderr, "usage: mtad-oauth2 authorize [-c cafile] file\n"
	    "       mtad-oauth2 token [-f] [-c cafile] file\n");
	return OAUTH2_EX_USAGE;
}

static int
cmd_token(const char *path, const char *ca)
{
	struct oauth2_account	a;
	struct oauth2_grant	g;
	enum oauth2_result	rv;
	char			err[1024];

	if (oauth2_load(path, &a, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return OAUTH2_EX_CONFIG;
	}
	rv = oauth2_refresh(&a, ca, &g, err, sizeof(err));
	oauth2_free(&a);
	if (rv != OAUTH2_OK) {
		fprintf(stderr, "%s\n", err);
		return rv == OAUTH2_REJECTED ? OAUTH2_EX_NOPERM :
		    OAUTH2_EX_TEMPFAIL;
	}
	printf("access-token %s\nexpires-in %lld\nexpires %lld\n",
	    g.access_token, g.expires_in, (long long)time(NULL) +
	    g.expires_in);
	oauth2_grant_free(&g);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the token\n", path);
		return OAUTH2_EX_TEMPFAIL;
	}
	return OAUTH2_EX_OK;
}

static int
cmd_authorize(const char *path, const char *ca)
{
	struct oauth2_account	a;
	char			err[1024];
	int			ex;

	if (oauth2_load_consent(path, &a, err, sizeof(err)) == -1) {
		fprintf(stderr, "mtad-oauth2: %s\n", err);
		return OAUTH2_EX_CONFIG;
	}
	if ((ex = oauth2_authorize(&a, ca, stdout, err, sizeof(err))) != 0)
		fprintf(stderr, "mtad-oauth2: %s\n", err);
	oauth2_free(&a);
	return ex;
}

int
main(int argc, char *argv[])
{
	const char	*cmd, *ca = NULL;
	int		 ch, ex;

	if (argc < 2)
		return usage();
	cmd = argv[1];
	if (strcmp(cmd, "token") != 0 && strcmp(cmd, "authorize") != 0)
		return usage();
	argc--;
	argv++;
	/* -f (force): the caller's token was refused.  The helper keeps no
	 * token of its own, so it always asks the server; the flag is for
	 * ps and the caller's intent. */
	while ((ch = getopt(argc, argv, "c:f")) != -1) {
		switch (ch) {
		case 'c':
			ca = optarg;
			break;
		case 'f':
			if (strcmp(cmd, "token") != 0)
				return usage();
			break;
		default:
			return usage();
		}
	}
	if (argc - optind != 1)
		return usage();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "mtad-oauth2: cannot initialise libcurl\n");
		return OAUTH2_EX_TEMPFAIL;
	}
	if (strcmp(cmd, "token") == 0)
		ex = cmd_token(argv[optind], ca);
	else
		ex = cmd_authorize(argv[optind], ca);
	curl_global_cleanup();
	return ex;
}
