/* the smart-host auth file: dma's lines, permissions, no password in errors */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../mtad/authfile.h"

static void
parses_dma_lines(void **state)
{
	const char	*text =
	    "# smart host credentials\n"
	    "\n"
	    "eddy|smtp.isp.example:s3cr:et with # and blanks\r\n"
	    "   # indented comment\n"
	    "keith@isp.example|*:pw2\n"
	    "bot|mail.example:oauth2:/etc/mtad/google.acct";
	struct authfile			 af;
	const struct auth_entry		*e;
	char				 err[256];

	assert_int_equal(authfile_parse("auth", text, strlen(text), &af, err,
	    sizeof(err)), 0);
	assert_int_equal(af.n, 3);
	e = authfile_lookup(&af, "SMTP.isp.example");
	assert_non_null(e);
	assert_string_equal(e->user, "eddy");
	assert_int_equal(e->kind, AUTH_PASSWORD);
	assert_string_equal(e->secret, "s3cr:et with # and blanks");
	e = authfile_lookup(&af, "other.example");
	assert_non_null(e);
	assert_string_equal(e->user, "keith@isp.example");
	assert_string_equal(e->secret, "pw2");
	e = authfile_lookup(&af, "mail.example");
	assert_int_equal(e->kind, AUTH_OAUTH2);
	assert_string_equal(e->secret, "/etc/mtad/google.acct");
	authfile_free(&af);

	assert_int_equal(authfile_parse("auth", "a|h:p\n", 6, &af, err,
	    sizeof(err)), 0);
	assert_null(authfile_lookup(&af, "other"));
	authfile_free(&af);
}

static void
rejects_bad_lines(void **state)
{
	struct {
		const char *text, *want;
	} bad[] = {
		{ "# c\nnobar:topsecret\n", "auth:2: expected user|host:password" },
		{ "user|hostonly\n", "auth:1: expected user|host:password" },
		{ "|host:topsecret\n", "auth:1: empty user name" },
		{ "user|:topsecret\n", "auth:1: empty host" },
		{ "user|host:\n", "auth:1: empty password" },
		{ "user|host:oauth2:\n", "auth:1: empty oauth2 account file" },
		{ "us er|host:topsecret\n", "auth:1: blank in user or host" },
	};
	struct authfile	af;
	char		err[256];
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(authfile_parse("auth", bad[i].text,
		    strlen(bad[i].text), &af, err, sizeof(err)), -1);
		assert_string_equal(err, bad[i].want);
		assert_null(strstr(err, "topsecret"));
		assert_int_equal(af.n, 0);
	}
	{
		char	 line[AUTHFILE_LINE_MAX + 20];

		memset(line, 'x', sizeof(line));
		memcpy(line, "u|h:", 4);
		assert_int_equal(authfile_parse("auth", line, sizeof(line),
		    &af, err, sizeof(err)), -1);
		assert_string_equal(err, "auth:1: line too long or binary");
		assert_int_equal(authfile_parse("auth", "u|h:p\0w\n", 8,
		    &af, err, sizeof(err)), -1);
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
	char		 dir[] = "/tmp/authfile.XXXXXX", path[64];
	struct authfile	 af;
	char		 err[256];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/auth.conf", dir);
	write_file(path, 0640, "eddy|smarthost:pw\n");
	assert_int_equal(authfile_load(path, &af, err, sizeof(err)), 0);
	assert_int_equal(af.n, 1);
	authfile_free(&af);

	write_file(path, 0644, "eddy|smarthost:pw\n");
	assert_int_equal(authfile_load(path, &af, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "others"));
	write_file(path, 0660, "eddy|smarthost:pw\n");
	assert_int_equal(authfile_load(path, &af, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "group-writable"));
	write_file(path, 0600, "eddy smarthost pw\n");
	assert_int_equal(authfile_load(path, &af, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "auth.conf:1: "));
	unlink(path);
	assert_int_equal(authfile_load(path, &af, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_dma_lines),
		cmocka_unit_test(rejects_bad_lines),
		cmocka_unit_test(checks_permissions),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("authfile", tests, NULL, NULL);
}
