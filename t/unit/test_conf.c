/* conf: the mtad.conf lexer, its errors, and the value parsers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "conf.h"

static void
open_str(struct conf_reader *r, const char *text)
{
	assert_int_equal(conf_open_mem(r, "test.conf", text, strlen(text)), 0);
}

/* Next statement must be exactly the given words (NULL-terminated). */
static void
expect_words(struct conf_reader *r, int line, ...)
{
	va_list		 ap;
	const char	*w;
	int		 i = 0;

	assert_int_equal(conf_next(r), 1);
	assert_int_equal(r->lineno, line);
	va_start(ap, line);
	while ((w = va_arg(ap, const char *)) != NULL) {
		assert_true(i < r->argc);
		assert_string_equal(r->argv[i], w);
		i++;
	}
	va_end(ap);
	assert_int_equal(r->argc, i);
}

static void
expect_error(const char *text, const char *want)
{
	struct conf_reader	r;
	int			rv;

	open_str(&r, text);
	while ((rv = conf_next(&r)) == 1)
		;
	assert_int_equal(rv, -1);
	assert_string_equal(r.err, want);
	conf_close(&r);
}

static void
words_and_comments(void **state)
{
	struct conf_reader	r;

	open_str(&r,
	    "# a comment\n"
	    "\n"
	    "hostname hub.shofar.lan   # trailing comment\n"
	    "   \t  \n"
	    "local-domains\tshofar.lan  pc1.shofar.lan\n"
	    "path a#b\n"
	    "last-line-without-newline x\"#not a comment\"#comment");
	expect_words(&r, 3, "hostname", "hub.shofar.lan", NULL);
	expect_words(&r, 5, "local-domains", "shofar.lan", "pc1.shofar.lan",
	    NULL);
	expect_words(&r, 6, "path", "a", NULL);
	expect_words(&r, 7, "last-line-without-newline", "x#not a comment",
	    NULL);
	assert_int_equal(conf_next(&r), 0);
	assert_int_equal(conf_next(&r), 0);
	conf_close(&r);
}

static void
quotes_and_escapes(void **state)
{
	struct conf_reader	r;

	open_str(&r,
	    "mda \"/usr/bin/procmail -d %u # not a comment\"\n"
	    "esc \"a\\\"b\\\\c\\nd\\te\\x\"\n"
	    "empty \"\" x\n"
	    "join ab\"c d\"e\n"
	    "back a\\b\n");
	expect_words(&r, 1, "mda", "/usr/bin/procmail -d %u # not a comment",
	    NULL);
	expect_words(&r, 2, "esc", "a\"b\\c\nd\te" "x", NULL);
	expect_words(&r, 3, "empty", "", "x", NULL);
	expect_words(&r, 4, "join", "abc de", NULL);
	expect_words(&r, 5, "back", "a\\b", NULL);
	assert_int_equal(conf_next(&r), 0);
	conf_close(&r);
}

static void
continuation(void **state)
{
	struct conf_reader	r;

	open_str(&r,
	    "relay-from 127.0.0.1/8 \\\n"
	    "    192.168.1.0/24\\\n"
	    "    10.0.0.0/8\n"
	    "mda \"one \\\n"
	    "two\"\n"
	    "# comment ends here \\\n"
	    "next line\r\n"
	    "crlf\tfile\r\n");
	expect_words(&r, 1, "relay-from", "127.0.0.1/8", "192.168.1.0/24",
	    "10.0.0.0/8", NULL);
	expect_words(&r, 4, "mda", "one two", NULL);
	expect_words(&r, 7, "next", "line", NULL);
	expect_words(&r, 8, "crlf", "file", NULL);
	assert_int_equal(conf_next(&r), 0);
	conf_close(&r);
}

static void
malformed_input(void **state)
{
	expect_error("hostname \"hub\n", "test.conf:1: unterminated quote");
	expect_error("a b\nmda \"x\\\"\n", "test.conf:2: unterminated quote");
	expect_error("a b\nc \"d", "test.conf:2: unterminated quote");
	expect_error("a \"b\\", "test.conf:1: unterminated quote");
	expect_error("a \"b\\\n\nc\"\n", "test.conf:2: unterminated quote");
	expect_error("ok\nbad\rx\n", "test.conf:2: stray carriage return");
	{
		struct conf_reader	r;

		/* After an error the next line is read, with its number. */
		open_str(&r, "a \"b\nc d\n");
		assert_int_equal(conf_next(&r), -1);
		assert_string_equal(r.err, "test.conf:1: unterminated quote");
		expect_words(&r, 2, "c", "d", NULL);
		assert_int_equal(conf_next(&r), 0);
		conf_close(&r);
	}
	{
		const char		text[] = "a b\nc\0d\n";
		struct conf_reader	r;

		assert_int_equal(conf_open_mem(&r, "nul.conf", text,
		    sizeof(text) - 1), 0);
		assert_int_equal(conf_next(&r), 1);
		assert_int_equal(conf_next(&r), -1);
		assert_string_equal(r.err, "nul.conf:2: NUL byte in line");
		conf_close(&r);
	}
}

static void
line_too_long(void **state)
{
	struct conf_reader	 r;
	char			*text;
	size_t			 n = CONF_MAX_LINE + 100;

	/* Exactly the limit is fine. */
	text = malloc(n + 10);
	assert_non_null(text);
	memset(text, 'a', CONF_MAX_LINE);
	strcpy(text + CONF_MAX_LINE, "\nx y\n");
	open_str(&r, text);
	assert_int_equal(conf_next(&r), 1);
	assert_int_equal(strlen(r.argv[0]), CONF_MAX_LINE);
	expect_words(&r, 2, "x", "y", NULL);
	conf_close(&r);

	/* One more is an error, and the reader can go on after it. */
	memset(text, 'a', CONF_MAX_LINE + 1);
	strcpy(text + CONF_MAX_LINE + 1, "\nx y\n");
	open_str(&r, text);
	assert_int_equal(conf_next(&r), -1);
	assert_string_equal(r.err,
	    "test.conf:1: line too long (more than 8192 characters)");
	expect_words(&r, 2, "x", "y", NULL);
	conf_close(&r);

	/* Joined lines count together; an overlong comment is refused too. */
	memset(text, 'b', n);
	text[10] = '\\';
	text[11] = '\n';
	text[n] = '\0';
	open_str(&r, text);
	assert_int_equal(conf_next(&r), -1);
	assert_non_null(strstr(r.err, "line too long"));
	conf_close(&r);
	text[0] = '#';
	open_str(&r, text);
	assert_int_equal(conf_next(&r), -1);
	conf_close(&r);

	/* Escapes inside quotes cannot smuggle past the bound. */
	for (size_t i = 0; i + 1 < n; i += 2) {
		text[i] = '\\';
		text[i + 1] = 'n';
	}
	text[0] = '"';
	open_str(&r, text);
	assert_int_equal(conf_next(&r), -1);
	conf_close(&r);
	free(text);
}

static void
too_many_words(void **state)
{
	struct conf_reader	 r;
	char			 text[CONF_MAX_WORDS * 2 + 8];
	size_t			 i;

	for (i = 0; i < CONF_MAX_WORDS; i++) {
		text[2 * i] = 'w';
		text[2 * i + 1] = ' ';
	}
	text[2 * i] = '\0';
	open_str(&r, text);
	assert_int_equal(conf_next(&r), 1);
	assert_int_equal(r.argc, CONF_MAX_WORDS);
	conf_close(&r);

	strcat(text, "z");
	open_str(&r, text);
	assert_int_equal(conf_next(&r), -1);
	assert_string_equal(r.err, "test.conf:1: too many words (more than 256)");
	conf_close(&r);

	/* Many empty quoted words, each costing two bytes, stay in bounds. */
	open_str(&r, "\"\"\"\" \"\" \"\"");
	expect_words(&r, 1, "", "", "", NULL);
	conf_close(&r);
}

static void
error_format(void **state)
{
	struct conf_reader	r;

	open_str(&r, "\n\nfrobnicate 1\n");
	assert_int_equal(conf_next(&r), 1);
	assert_int_equal(conf_error(&r, "unknown keyword \"%s\"", r.argv[0]), -1);
	assert_string_equal(r.err, "test.conf:3: unknown keyword \"frobnicate\"");
	conf_close(&r);

	/* Statement line is where it starts, not where continuation ends. */
	open_str(&r, "a \\\n b \\\n c\n");
	assert_int_equal(conf_next(&r), 1);
	assert_int_equal(r.lineno, 1);
	conf_close(&r);
}

static void
files(void **state)
{
	struct conf_reader	r;
	char			path[] = "/tmp/test_conf.XXXXXX";
	int			fd;

	assert_int_equal(conf_open(&r, "/nonexistent/mtad.conf"), -1);
	assert_string_equal(r.err,
	    "/nonexistent/mtad.conf: No such file or directory");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "spool /var/spool/mtad\n", 22), 22);
	close(fd);
	assert_int_equal(conf_open(&r, path), 0);
	expect_words(&r, 1, "spool", "/var/spool/mtad", NULL);
	assert_int_equal(conf_next(&r), 0);
	conf_close(&r);
	conf_close(&r);
	unlink(path);

	/* A directory opens (fopen allows it) but does not read. */
	if (conf_open(&r, "/tmp") == 0) {
		assert_int_equal(conf_next(&r), -1);
		assert_string_equal(r.err, "/tmp:1: read error: Is a directory");
		assert_int_equal(conf_next(&r), 0);
		conf_close(&r);
	}

	/* An empty buffer is an empty file. */
	assert_int_equal(conf_open_mem(&r, "empty", "", 0), 0);
	assert_int_equal(conf_next(&r), 0);
	conf_close(&r);
}

static void
sizes(void **state)
{
	uint64_t	v;

	assert_int_equal(conf_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(conf_parse_size("1000", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(conf_parse_size("10K", &v), 0);
	assert_int_equal(v, 10240);
	assert_int_equal(conf_parse_size("10k", &v), 0);
	assert_int_equal(v, 10240);
	assert_int_equal(conf_parse_size("35M", &v), 0);
	assert_int_equal(v, 35 * 1024 * 1024);
	assert_int_equal(conf_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL * 1024 * 1024 * 1024);
	assert_int_equal(conf_parse_size("18446744073709551615", &v), 0);
	assert_true(v == UINT64_MAX);

	v = 42;
	assert_int_equal(conf_parse_size("10X", &v), -1);
	assert_int_equal(conf_parse_size("-1", &v), -1);
	assert_int_equal(conf_parse_size("+1", &v), -1);
	assert_int_equal(conf_parse_size("", &v), -1);
	assert_int_equal(conf_parse_size("M", &v), -1);
	assert_int_equal(conf_parse_size(" 10", &v), -1);
	assert_int_equal(conf_parse_size("10 ", &v), -1);
	assert_int_equal(conf_parse_size("10MB", &v), -1);
	assert_int_equal(conf_parse_size("1.5M", &v), -1);
	assert_int_equal(conf_parse_size("0x10", &v), -1);
	assert_int_equal(conf_parse_size("18446744073709551616", &v), -1);
	assert_int_equal(conf_parse_size("99999999999999999999999", &v), -1);
	assert_int_equal(conf_parse_size("17179869184G", &v), -1);
	assert_int_equal(v, 42);
}

static void
durations(void **state)
{
	time_t	t;

	assert_int_equal(conf_parse_duration("30", &t), 0);
	assert_int_equal(t, 30);
	assert_int_equal(conf_parse_duration("30s", &t), 0);
	assert_int_equal(t, 30);
	assert_int_equal(conf_parse_duration("5m", &t), 0);
	assert_int_equal(t, 300);
	assert_int_equal(conf_parse_duration("2h", &t), 0);
	assert_int_equal(t, 7200);
	assert_int_equal(conf_parse_duration("5d", &t), 0);
	assert_int_equal(t, 5 * 86400);
	assert_int_equal(conf_parse_duration("1w", &t), 0);
	assert_int_equal(t, 7 * 86400);
	assert_int_equal(conf_parse_duration("0", &t), 0);
	assert_int_equal(t, 0);

	t = 7;
	assert_int_equal(conf_parse_duration("5x", &t), -1);
	assert_int_equal(conf_parse_duration("5D", &t), -1);
	assert_int_equal(conf_parse_duration("-5", &t), -1);
	assert_int_equal(conf_parse_duration("d", &t), -1);
	assert_int_equal(conf_parse_duration("", &t), -1);
	assert_int_equal(conf_parse_duration("5dd", &t), -1);
	assert_int_equal(conf_parse_duration("1h30m", &t), -1);
	assert_int_equal(conf_parse_duration("9223372036854775808", &t), -1);
	assert_int_equal(conf_parse_duration("99999999999999999w", &t), -1);
	assert_int_equal(t, 7);
}

static void
booleans_and_uints(void **state)
{
	int		b;
	unsigned long	u;

	assert_int_equal(conf_parse_bool("yes", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(conf_parse_bool("on", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(conf_parse_bool("TRUE", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(conf_parse_bool("no", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(conf_parse_bool("off", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(conf_parse_bool("false", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(conf_parse_bool("1", &b), -1);
	assert_int_equal(conf_parse_bool("yess", &b), -1);
	assert_int_equal(conf_parse_bool("", &b), -1);

	assert_int_equal(conf_parse_uint("100", 1000, &u), 0);
	assert_int_equal(u, 100);
	assert_int_equal(conf_parse_uint("1000", 1000, &u), 0);
	assert_int_equal(u, 1000);
	assert_int_equal(conf_parse_uint("1001", 1000, &u), -1);
	assert_int_equal(conf_parse_uint("-1", 1000, &u), -1);
	assert_int_equal(conf_parse_uint("", 1000, &u), -1);
	assert_int_equal(conf_parse_uint("12a", 1000, &u), -1);
	assert_int_equal(conf_parse_uint("99999999999999999999999", -1UL, &u),
	    -1);
	assert_int_equal(conf_parse_uint("18446744073709551615", -1UL, &u), 0);
	assert_true(u == -1UL);
}

static void
secret_file_modes(void **state)
{
	char	path[] = "/tmp/test_conf_secret.XXXXXX";
	char	err[256];
	int	fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0600), 0);
	assert_int_equal(conf_check_secret_file(fd, path, err, sizeof(err)), 0);
	assert_int_equal(fchmod(fd, 0640), 0);
	assert_int_equal(conf_check_secret_file(fd, path, err, sizeof(err)), 0);
	assert_int_equal(fchmod(fd, 0400), 0);
	assert_int_equal(conf_check_secret_file(fd, path, err, sizeof(err)), 0);

	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(conf_check_secret_file(fd, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "0644"));
	assert_int_equal(fchmod(fd, 0601), 0);
	assert_int_equal(conf_check_secret_file(fd, path, err, sizeof(err)), -1);
	assert_int_equal(fchmod(fd, 0620), 0);
	assert_int_equal(conf_check_secret_file(fd, path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "group-writable"));
	close(fd);
	unlink(path);

	fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(conf_check_secret_file(fd, "/tmp", err, sizeof(err)),
	    -1);
	assert_string_equal(err, "/tmp: not a regular file");
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(words_and_comments),
		cmocka_unit_test(quotes_and_escapes),
		cmocka_unit_test(continuation),
		cmocka_unit_test(malformed_input),
		cmocka_unit_test(line_too_long),
		cmocka_unit_test(too_many_words),
		cmocka_unit_test(error_format),
		cmocka_unit_test(files),
		cmocka_unit_test(sizes),
		cmocka_unit_test(durations),
		cmocka_unit_test(booleans_and_uints),
		cmocka_unit_test(secret_file_modes),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
