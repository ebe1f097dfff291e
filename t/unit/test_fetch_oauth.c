/*
 * fetch.c's OAuth2 pieces: the SASL initial responses (XOAUTH2 as Google
 * documents it, OAUTHBEARER as RFC 7628 frames it, with RFC 5801's saslname
 * escapes), refused for user names or tokens that would break the framing;
 * the server's base64 error document decoded to printable text, malformed
 * ones to nothing; the token lookup without an account.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "../../fetchd/fetch.h"
#include "oauth2.h"

static struct rc_poll	 poll_x = { .name = "x" };
static struct rc_user	 user = { .remotename = "eddy" };
static struct fetch_server srv = { .poll = &poll_x, .user = &user,
				   .host = "127.0.0.1", .port = "993" };

/* The response, decoded. */
static char *
response(enum rc_auth a, const char *name, const char *token, char *out,
    size_t outsz)
{
	struct fetch_conn	 fc;
	char			*b64;
	int			 n;

	memset(&fc, 0, sizeof(fc));
	poll_x.auth = a;
	user.remotename = (char *)name;
	if ((b64 = fetch_oauth_response(&fc, &srv, token)) == NULL) {
		assert_true(fc.err[0] != '\0');
		assert_true(token[0] == '\0' || strstr(fc.err, token) == NULL);
		return NULL;
	}
	assert_true(strlen(b64) % 4 == 0);
	n = EVP_DecodeBlock((unsigned char *)out, (unsigned char *)b64,
	    (int)strlen(b64));
	assert_true(n > 0 && (size_t)n < outsz);
	out[n] = '\0';
	free(b64);
	return out;
}

static void
xoauth2(void **state)
{
	char	 buf[20000];

	(void)state;
	assert_non_null(response(RC_AUTH_XOAUTH2, "eddy@gmail.com",
	    "ya29.a0-B_c~d+e/f==", buf, sizeof(buf)));
	assert_string_equal(buf, "user=eddy@gmail.com\001auth=Bearer "
	    "ya29.a0-B_c~d+e/f==\001\001");
	assert_string_equal(fetch_oauth_mech(&srv), "XOAUTH2");
	assert_string_equal(fetch_oauth_abort(&srv), "");
	assert_true(fetch_oauth(&srv));
}

static void
oauthbearer(void **state)
{
	char	 buf[20000];

	(void)state;
	assert_non_null(response(RC_AUTH_OAUTHBEARER, "a,b=c@x", "T0k",
	    buf, sizeof(buf)));
	assert_string_equal(buf, "n,a=a=2Cb=3Dc@x,\001host=127.0.0.1\001"
	    "port=993\001auth=Bearer T0k\001\001");
	assert_string_equal(fetch_oauth_mech(&srv), "OAUTHBEARER");
	assert_string_equal(fetch_oauth_abort(&srv), "AQ==");
}

static void
refused(void **state)
{
	char	 buf[20000], big[FETCH_SASL_MAX + 10], name[300];

	(void)state;
	/* tokens that would end the kvpair or the line */
	assert_null(response(RC_AUTH_XOAUTH2, "eddy", "ab\001auth=x", buf,
	    sizeof(buf)));
	assert_null(response(RC_AUTH_XOAUTH2, "eddy", "ab cd", buf,
	    sizeof(buf)));
	assert_null(response(RC_AUTH_XOAUTH2, "eddy", "ab\r\nA1 LOGOUT", buf,
	    sizeof(buf)));
	assert_null(response(RC_AUTH_OAUTHBEARER, "eddy", "", buf,
	    sizeof(buf)));
	/* user names: control characters, empty, too long */
	assert_null(response(RC_AUTH_XOAUTH2, "ed\001dy", "tok", buf,
	    sizeof(buf)));
	assert_null(response(RC_AUTH_XOAUTH2, "", "tok", buf, sizeof(buf)));
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_null(response(RC_AUTH_XOAUTH2, name, "tok", buf, sizeof(buf)));
	/* 255 commas: every one escaped, nothing cut */
	memset(name, ',', 255);
	name[255] = '\0';
	assert_non_null(response(RC_AUTH_OAUTHBEARER, name, "tok", buf,
	    sizeof(buf)));
	assert_int_equal(strstr(buf, ",\001host") - (buf + 4), 3 * 255);
	/* a token longer than any response */
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(response(RC_AUTH_XOAUTH2, "eddy", big, buf, sizeof(buf)));
	user.remotename = "eddy";
}

static void
challenge(void **state)
{
	char	 out[64], big[4000];

	(void)state;
	fetch_oauth_challenge("eyJzdGF0dXMiOiI0MDEifQ==\r\n", out,
	    sizeof(out));
	assert_string_equal(out, "{\"status\":\"401\"}");
	fetch_oauth_challenge("AAECAw==", out, sizeof(out));	/* 0 1 2 3 */
	assert_string_equal(out, "????");
	fetch_oauth_challenge("eyJ9", out, 3);			/* cut */
	assert_string_equal(out, "{\"");
	/* malformed: nothing */
	fetch_oauth_challenge("", out, sizeof(out));
	assert_string_equal(out, "");
	fetch_oauth_challenge("abc", out, sizeof(out));
	assert_string_equal(out, "");
	fetch_oauth_challenge("!!!!", out, sizeof(out));
	assert_string_equal(out, "");
	memset(big, 'Q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	fetch_oauth_challenge(big, out, sizeof(out));
	assert_string_equal(out, "");
	fetch_oauth_challenge("eyJ9", out, 0);			/* no room */
}

static void
no_account(void **state)
{
	struct fetch_conn	 fc;
	const char		*tok = "x";

	(void)state;
	memset(&fc, 0, sizeof(fc));
	poll_x.auth = RC_AUTH_XOAUTH2;
	assert_int_equal(fetch_oauth_token(&fc, &srv, 0, &tok), PS_AUTHFAIL);
	assert_null(tok);
	assert_non_null(strstr(fc.err, "needs an oauth2file"));
	poll_x.auth = RC_AUTH_ANY;
	assert_false(fetch_oauth(&srv));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(xoauth2),
		cmocka_unit_test(oauthbearer),
		cmocka_unit_test(refused),
		cmocka_unit_test(challenge),
		cmocka_unit_test(no_account),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("fetch_oauth", tests, NULL, NULL);
}
