/* OAuth2 account files: keywords, presets, malformed input, permissions;
 * the helper's token and device responses; the runner's token lines */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../common/oauth2.h"
#include "../../mtad/oauth2_grant.h"
#include "../../mtad/relay.h"

static void
parses_keywords(void **state)
{
	const char	*text =
	    "# my ISP\n"
	    "token-url https://127.0.0.1:8443/token\n"
	    "device-url https://127.0.0.1:8443/device\n"
	    "scope \"a b\"\n"
	    "client-id cid\n"
	    "client-secret \"c s\"\n"
	    "refresh-token \"1//r\\\"t\"\n"
	    "ca-file /etc/ca.pem\n";
	struct oauth2_account	a;
	char			err[256];

	assert_int_equal(oauth2_parse("acct", text, strlen(text), &a, err,
	    sizeof(err)), 0);
	assert_string_equal(a.token_url, "https://127.0.0.1:8443/token");
	assert_string_equal(a.device_url, "https://127.0.0.1:8443/device");
	assert_string_equal(a.scope, "a b");
	assert_string_equal(a.client_id, "cid");
	assert_string_equal(a.client_secret, "c s");
	assert_string_equal(a.refresh_token, "1//r\"t");
	assert_string_equal(a.ca_file, "/etc/ca.pem");
	assert_null(a.access_token);
	oauth2_free(&a);
}

static void
presets_fill_in(void **state)
{
	const char		*g = "provider google\nclient-id x\n";
	const char		*m = "provider microsoft\nclient-id x\n"
				     "token-url https://own.example/t\n";
	struct oauth2_account	 a;
	char			 err[256];

	assert_int_equal(oauth2_parse("g", g, strlen(g), &a, err,
	    sizeof(err)), 0);
	assert_string_equal(a.token_url, "https://oauth2.googleapis.com/token");
	assert_non_null(strstr(a.scope, "mail.google.com"));
	assert_non_null(a.device_url);
	assert_null(a.refresh_token);
	oauth2_free(&a);
	assert_int_equal(oauth2_parse("m", m, strlen(m), &a, err,
	    sizeof(err)), 0);
	assert_string_equal(a.token_url, "https://own.example/t");
	assert_non_null(strstr(a.device_url, "login.microsoftonline.com"));
	assert_non_null(strstr(a.scope, "SMTP.Send"));
	oauth2_free(&a);
}

static void
rejects_bad_input(void **state)
{
	struct {
		const char *text, *want;
	} bad[] = {
		{ "provider yahoo\nclient-id x\n",
		  "acct:1: unknown provider \"yahoo\"" },
		{ "provider\n", "acct:1: provider takes one value" },
		{ "client-id x\nrefresh-token topsecret extra\n",
		  "acct:2: refresh-token takes one value" },
		{ "client-id x\nclient-id y\n", "acct:2: client-id given twice" },
		{ "token-url http://x/t\n", "acct:1: token-url must be an "
		  "https:// URL" },
		{ "colour blue\n", "acct:1: unknown keyword \"colour\"" },
		{ "client-id \"unterminated\n", "acct:1: " },
		{ "client-id x\nrefresh-token topsecret\n",
		  "acct: no token-url (and no provider)" },
		{ "provider google\nrefresh-token topsecret\n",
		  "acct: no client-id" },
		{ "client-id \"\"\n", "acct:1: client-id is empty" },
	};
	struct oauth2_account	a;
	char			err[256];
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(oauth2_parse("acct", bad[i].text,
		    strlen(bad[i].text), &a, err, sizeof(err)), -1);
		if (strncmp(err, bad[i].want, strlen(bad[i].want)) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    bad[i].want);
		assert_null(strstr(err, "topsecret"));
		assert_null(a.client_id);
	}
	/* Binary garbage is an error or a clean parse, never a crash. */
	{
		char	junk[300];

		for (i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(i * 37 + 11);
		if (oauth2_parse("acct", junk, sizeof(junk), &a, err,
		    sizeof(err)) == 0)
			oauth2_free(&a);
	}
}

static void
write_file(const char *path, mode_t mode, const char *text)
{
	int	fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
checks_permissions(void **state)
{
	const char		*ok = "provider google\nclient-id x\n"
				      "refresh-token topsecret\n";
	char			 dir[] = "/tmp/oauth2.XXXXXX", path[64];
	struct oauth2_account	 a;
	char			 err[256];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/acct", dir);
	write_file(path, 0640, ok);
	assert_int_equal(oauth2_load(path, &a, err, sizeof(err)), 0);
	assert_string_equal(a.path, path);
	oauth2_free(&a);

	write_file(path, 0604, ok);
	assert_int_equal(oauth2_load(path, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "others"));
	write_file(path, 0660, ok);
	assert_int_equal(oauth2_load(path, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "group-writable"));
	write_file(path, 0600, "provider google\nclient-id x\n");
	assert_int_equal(oauth2_load(path, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no refresh-token"));
	write_file(path, 0600, "provider aol\n");
	assert_int_equal(oauth2_load(path, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/acct:1: unknown provider"));
	unlink(path);
	assert_int_equal(oauth2_load(path, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	rmdir(dir);
}

static void
token_errors_without_secrets(void **state)
{
	const char		*text = "token-url https://127.0.0.1:1/token\n"
				    "client-id x\nrefresh-token topsecret\n";
	struct oauth2_account	 a;
	const char		*tok;
	struct oauth2_grant	 g;
	char			 err[512];

	assert_int_equal(oauth2_parse("acct", text, strlen(text), &a, err,
	    sizeof(err)), 0);
	/* Nothing listens on port 1: a temporary failure, said plainly. */
	assert_int_equal(oauth2_refresh(&a, NULL, &g, err, sizeof(err)),
	    OAUTH2_TEMPFAIL);
	assert_null(g.access_token);
	assert_non_null(strstr(err, "token endpoint"));
	assert_null(strstr(err, "topsecret"));
	/* A unit test binary has no mtad-oauth2 beside it: said plainly. */
	assert_int_equal(oauth2_token(&a, 0, NULL, &tok, err, sizeof(err)),
	    OAUTH2_TEMPFAIL);
	assert_null(tok);
	assert_non_null(strstr(err, "mtad-oauth2"));
	assert_null(strstr(err, "topsecret"));
	/* A cached token is handed out without the helper. */
	assert_int_equal(oauth2_cache_set(&a, "cached-tok", time(NULL) + 600),
	    0);
	assert_int_equal(oauth2_token(&a, 0, NULL, &tok, err, sizeof(err)),
	    OAUTH2_OK);
	assert_string_equal(tok, "cached-tok");
	oauth2_free(&a);
}

static void
token_responses(void **state)
{
	static const char	ok[] = "{\"access_token\":\"ya29.x\","
				    "\"expires_in\":\"1200\","
				    "\"refresh_token\":\"1//r\"}";
	static const char *const bad[] = {
		"", "[]", "null", "{", "{\"access_token\":7}",
		"{\"access_token\":\"\"}", "{\"access_token\":\"a b\"}",
		"{\"access_token\":\"a\\nb\"}",
	};
	static const char	slow[] = "{\"error\":\"slow_down\\n x\"}";
	static const char	revoked[] = "{\"error\":\"invalid_grant\"}";
	struct oauth2_grant	g;
	char			err[512];
	size_t			i;

	assert_int_equal(oauth2_parse_token("f", 200, ok, strlen(ok), &g,
	    err, sizeof(err)), OAUTH2_OK);
	assert_string_equal(g.access_token, "ya29.x");
	assert_string_equal(g.refresh_token, "1//r");
	assert_int_equal(g.expires_in, 1200);
	oauth2_grant_free(&g);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(oauth2_parse_token("f", 200, bad[i],
		    strlen(bad[i]), &g, err, sizeof(err)), OAUTH2_TEMPFAIL);
		assert_null(g.access_token);
	}
	/* The error code reaches the message, reduced to safe characters. */
	assert_int_equal(oauth2_parse_token("f", 400, slow, strlen(slow), &g,
	    err, sizeof(err)), OAUTH2_REJECTED);
	assert_string_equal(g.error, "slow_down??x");
	assert_int_equal(oauth2_parse_token("f", 400, revoked,
	    strlen(revoked), &g, err, sizeof(err)), OAUTH2_REJECTED);
	assert_non_null(strstr(err, "renew the consent"));
	assert_int_equal(oauth2_parse_token("f", 503, "<html>", 6, &g, err,
	    sizeof(err)), OAUTH2_TEMPFAIL);
	assert_int_equal(oauth2_parse_token("f", 429, "{}", 2, &g, err,
	    sizeof(err)), OAUTH2_TEMPFAIL);
}

static void
device_responses(void **state)
{
	static const char	google[] = "{\"device_code\":\"DC\","
				    "\"user_code\":\"AB-CD\",\"verification_url\":"
				    "\"https://www.google.com/device\","
				    "\"expires_in\":1800,\"interval\":5}";
	static const char *const bad[] = {
		"{}", "[1]", "{\"device_code\":\"DC\",\"user_code\":\"U\"}",
		"{\"device_code\":\"D C\",\"user_code\":\"U\","
		"\"verification_uri\":\"https://x/\"}",
	};
	static const char	badclient[] = "{\"error\":\"invalid_client\"}";
	struct oauth2_device	d;
	char			err[512];
	size_t			i;

	assert_int_equal(oauth2_parse_device("f", 200, google,
	    strlen(google), &d, err, sizeof(err)), 0);
	assert_string_equal(d.verification_uri,
	    "https://www.google.com/device");
	assert_string_equal(d.user_code, "AB-CD");
	assert_int_equal(d.interval, 5);
	oauth2_device_free(&d);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(oauth2_parse_device("f", 200, bad[i],
		    strlen(bad[i]), &d, err, sizeof(err)), -1);
	assert_int_equal(oauth2_parse_device("f", 400, badclient,
	    strlen(badclient), &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid_client"));
}

static void
runner_token_lines(void **state)
{
	struct oauth2_account	c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(relay_token_line("sent 0001", &c), 0);
	assert_int_equal(relay_token_line("oauth2 ", &c), -1);
	assert_int_equal(relay_token_line("oauth2 12", &c), -1);
	assert_int_equal(relay_token_line("oauth2 x tok /p", &c), -1);
	assert_int_equal(relay_token_line("oauth2 12 tok", &c), -1);
	assert_int_equal(relay_token_line("oauth2 12  /p", &c), -1);
	assert_null(c.access_token);
	assert_int_equal(relay_token_line("oauth2 1700000000 tok /a b", &c),
	    1);
	assert_string_equal(c.access_token, "tok");
	assert_string_equal(c.path, "/a b");
	assert_int_equal(c.expires, 1700000000);
	assert_int_equal(relay_token_line("oauth2 0 tok2 /c", &c), 1);
	assert_string_equal(c.access_token, "tok2");
	assert_int_equal(c.expires, 0);
	oauth2_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_keywords),
		cmocka_unit_test(presets_fill_in),
		cmocka_unit_test(rejects_bad_input),
		cmocka_unit_test(checks_permissions),
		cmocka_unit_test(token_errors_without_secrets),
		cmocka_unit_test(token_responses),
		cmocka_unit_test(device_responses),
		cmocka_unit_test(runner_token_lines),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("oauth2", tests, NULL, NULL);
}
