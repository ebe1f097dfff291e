/* /etc/aliases: parsing with file:line errors, expansion, loops, includes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../mtad/alias.h"

struct fixture {
	char	dir[64];
	char	path[128];
};

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	chmod(path, mode);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_alias.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/aliases", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Expansion collected as "KIND value" lines. */
struct got {
	char	text[4096];
};

static int
collect(const struct alias_target *t, void *arg)
{
	static const char *kinds[] = { "USER", "FILE", "PIPE", "REMOTE" };
	struct got *g = arg;
	size_t off = strlen(g->text);

	snprintf(g->text + off, sizeof(g->text) - off, "%s %s%s\n",
	    kinds[t->kind], t->value, t->from_include ? " (include)" : "");
	return 0;
}

static enum alias_result
expand(struct alias_table *t, const struct mtad_config *cf, const char *name,
    struct got *g, char *err, size_t errlen)
{
	memset(g, 0, sizeof(*g));
	return alias_expand(t, cf, name, collect, g, err, errlen);
}

static struct alias_table *
load_text(struct fixture *f, const char *text, char *errs, size_t errlen,
    int *nerr)
{
	struct alias_table	*t;
	FILE			*out = fmemopen(errs, errlen, "w");

	memset(errs, 0, errlen);
	write_file(f->path, text, 0644);
	t = alias_load(f->path, out, nerr);
	fclose(out);
	return t;
}

static void
parses_entries_and_continuations(void **state)
{
	struct fixture		*f = *state;
	struct alias_table	*t;
	char			 errs[1024], err[256];
	struct got		 g;
	int			 n;

	t = load_text(f,
	    "# comment\n"
	    "\n"
	    "Staff: alice, bob,\n"
	    "\tcarol@remote.example,\n"
	    "  # a comment inside does not end the entry\n"
	    "   \"|/usr/bin/vacation -a x, y\", /var/log/staff.mbox\n"
	    "postmaster: root\r\n"
	    "nolf: dave", errs, sizeof(errs), &n);
	assert_non_null(t);
	assert_int_equal(n, 0);
	assert_string_equal(errs, "");
	assert_int_equal(alias_count(t), 3);
	assert_true(alias_exists(t, "staff"));
	assert_true(alias_exists(t, "STAFF"));
	assert_true(alias_exists(t, "NoLF"));
	assert_false(alias_exists(t, "alice"));

	assert_int_equal(expand(t, NULL, "sTaFf", &g, err, sizeof(err)),
	    ALIAS_OK);
	assert_string_equal(g.text,
	    "USER alice\n"
	    "USER bob\n"
	    "REMOTE carol@remote.example\n"
	    "PIPE /usr/bin/vacation -a x, y\n"
	    "FILE /var/log/staff.mbox\n");
	/* Not an alias: the name itself, as a user. */
	assert_int_equal(expand(t, NULL, "eve", &g, err, sizeof(err)),
	    ALIAS_OK);
	assert_string_equal(g.text, "USER eve\n");
	alias_free(t);
}

static void
reports_malformed_lines_with_file_and_line(void **state)
{
	struct fixture		*f = *state;
	struct alias_table	*t;
	char			 errs[4096], want[256];
	int			 n;

	t = load_text(f,
	    "good: alice\n"				/* 1 */
	    "no colon here\n"				/* 2 */
	    ": nobody\n"				/* 3 */
	    "open: \"|unterminated\n"			/* 4 */
	    "empty:   \n"				/* 5 */
	    "inc: :include:relative/path\n"		/* 6 */
	    "GOOD: bob\n"				/* 7 */
	    "two words: x\n"				/* 8 */
	    "pipe: |\n"					/* 9 */
	    "sp: a b\n"					/* 10 */
	    "at: @example.org\n",			/* 11 */
	    errs, sizeof(errs), &n);
	assert_non_null(t);
	assert_int_equal(n, 10);
#define HAS(line, what) do {						\
	snprintf(want, sizeof(want), "%s:%d: %s", f->path, line, what);	\
	if (strstr(errs, want) == NULL)					\
		fail_msg("no \"%s\" in:\n%s", want, errs);		\
} while (0)
	HAS(2, "missing ':' after alias name");
	HAS(3, "missing alias name before ':'");
	HAS(4, "alias open: unterminated quote");
	HAS(5, "alias empty has no targets");
	HAS(6, "alias inc: :include: needs an absolute path");
	HAS(7, "duplicate alias good (first on line 1)");
	HAS(8, "bad alias name \"two words\"");
	HAS(9, "alias pipe: empty command after '|'");
	HAS(10, "alias sp: bad target \"a b\"");
	HAS(11, "alias at: bad address \"@example.org\"");
	/* The good lines still count; the first of a duplicate wins. */
	assert_int_equal(alias_count(t), 1);
	alias_free(t);

	/* A continuation with nothing to continue. */
	t = load_text(f, "  alice\nx: y\n", errs, sizeof(errs), &n);
	assert_int_equal(n, 1);
	HAS(1, "continuation line without an alias");
	alias_free(t);

	/* Binary junk is an error, not a crash. */
	write_file(f->path, "a: b\n", 0644);
	{
		FILE *fp = fopen(f->path, "a");

		static const char junk[] = "x\0y: z\n\xff\xfe: \x01\n";

		fwrite(junk, 1, sizeof(junk) - 1, fp);
		fclose(fp);
	}
	{
		FILE *out = fmemopen(errs, sizeof(errs), "w");

		memset(errs, 0, sizeof(errs));
		t = alias_load(f->path, out, &n);
		fclose(out);
	}
	assert_non_null(t);
	assert_true(n >= 2);
	HAS(2, "NUL byte in line");
	alias_free(t);
#undef HAS
}

static void
missing_file_is_empty_and_check_says_so(void **state)
{
	struct fixture		*f = *state;
	struct alias_table	*t;
	char			 errs[512];
	FILE			*out;
	int			 n = -1;


	t = alias_load("/nonexistent/aliases", NULL, &n);
	assert_non_null(t);
	assert_int_equal(n, 0);
	assert_int_equal(alias_count(t), 0);
	alias_free(t);

	/* Empty, or nothing but comments: no aliases, no errors. */
	t = load_text(f, "", errs, sizeof(errs), &n);
	assert_non_null(t);
	assert_int_equal(n, 0);
	assert_int_equal(alias_count(t), 0);
	assert_false(alias_exists(t, "root"));
	alias_free(t);
	t = load_text(f, "# only\n\n   # comments\n", errs, sizeof(errs), &n);
	assert_int_equal(n, 0);
	assert_int_equal(alias_count(t), 0);
	alias_free(t);

	memset(errs, 0, sizeof(errs));
	out = fmemopen(errs, sizeof(errs), "w");
	assert_int_equal(alias_check("/nonexistent/aliases", out), -1);
	fclose(out);
	assert_non_null(strstr(errs, "/nonexistent/aliases: No such file"));
	(void)f;
}

static void
local_domains_and_backslash(void **state)
{
	struct fixture		*f = *state;
	struct alias_table	*t;
	struct mtad_config	 cf;
	char			*domains[] = { "hub.lan", "example.lan" };
	char			 errs[512], err[256];
	struct got		 g;
	int			 n;

	memset(&cf, 0, sizeof(cf));
	cf.hostname = "hub.lan";
	cf.local_domains.v = domains;
	cf.local_domains.n = 2;
	t = load_text(f,
	    "root: \\root, admin@EXAMPLE.lan, ops@elsewhere.org\n"
	    "admin: alice, Alice, alice@hub.lan\n",
	    errs, sizeof(errs), &n);
	assert_int_equal(n, 0);
	assert_int_equal(expand(t, &cf, "root", &g, err, sizeof(err)),
	    ALIAS_OK);
	/* alice once, however many times she is named. */
	assert_string_equal(g.text,
	    "USER root\n"
	    "USER alice\n"
	    "REMOTE ops@elsewhere.org\n");
	alias_free(t);
}

static void
loops_and_depth_are_permanent_failures(void **state)
{
	struct fixture		*f = *state;
	struct alias_table	*t;
	char			 errs[512], err[256], text[4096];
	struct got		 g;
	size_t			 off = 0;
	int			 n;

	t = load_text(f,
	    "a: b\n"
	    "b: c, x\n"
	    "c: a\n"
	    "root: root, admin\n"
	    "admin: ops\n",
	    errs, sizeof(errs), &n);
	assert_int_equal(expand(t, NULL, "a", &g, err, sizeof(err)),
	    ALIAS_PERMFAIL);
	assert_string_equal(err, "5.4.6 alias loop: a -> b -> c -> a");
	/* A name in its own list is the user, not a loop. */
	assert_int_equal(expand(t, NULL, "root", &g, err, sizeof(err)),
	    ALIAS_OK);
	assert_string_equal(g.text, "USER root\nUSER ops\n");
	alias_free(t);

	for (int i = 0; i < 30; i++)
		off += snprintf(text + off, sizeof(text) - off,
		    "l%d: l%d\n", i, i + 1);
	t = load_text(f, text, errs, sizeof(errs), &n);
	assert_int_equal(n, 0);
	assert_int_equal(expand(t, NULL, "l0", &g, err, sizeof(err)),
	    ALIAS_PERMFAIL);
	assert_non_null(strstr(err, "5.4.6 alias l0: expansion deeper than"));
	/* Ten levels are fine. */
	assert_int_equal(expand(t, NULL, "l20", &g, err, sizeof(err)),
	    ALIAS_OK);
	assert_string_equal(g.text, "USER l30\n");
	alias_free(t);
}

static void
includes_expand_and_fail_safely(void **state)
{
	struct fixture		*f = *state;
	struct alias_table	*t;
	char			 errs[2048], err[256], inc[128], text[512];
	char			 want[256];
	struct got		 g;
	FILE			*out;
	int			 n;

	snprintf(inc, sizeof(inc), "%s/list.members", f->dir);
	write_file(inc,
	    "# members\n"
	    "alice, bob\n"
	    "\n"
	    "\"|/bin/cat > /dev/null\"\n"
	    "staff\n"
	    "bad target here\n", 0644);
	snprintf(text, sizeof(text),
	    "list: :include:%s\n"
	    "staff: carol, /tmp/staff.log\n"
	    "self: :include:%s/self.inc\n"
	    "gone: :include:%s/missing\n",
	    inc, f->dir, f->dir);
	t = load_text(f, text, errs, sizeof(errs), &n);
	assert_int_equal(n, 0);

	assert_int_equal(expand(t, NULL, "list", &g, err, sizeof(err)),
	    ALIAS_OK);
	/* Pipes and files from an include say so (they run as its owner);
	 * the malformed line is skipped. */
	assert_string_equal(g.text,
	    "USER alice\n"
	    "USER bob\n"
	    "PIPE /bin/cat > /dev/null (include)\n"
	    "USER carol\n"
	    "FILE /tmp/staff.log\n");

	assert_int_equal(expand(t, NULL, "gone", &g, err, sizeof(err)),
	    ALIAS_TEMPFAIL);
	assert_non_null(strstr(err, "4.3.0 "));
	assert_non_null(strstr(err, "missing: No such file"));

	/* An include that includes itself is a loop. */
	snprintf(text, sizeof(text), "%s/self.inc", f->dir);
	{
		char body[600];

		snprintf(body, sizeof(body), ":include:%s\n", text);
		write_file(text, body, 0644);
	}
	assert_int_equal(expand(t, NULL, "self", &g, err, sizeof(err)),
	    ALIAS_PERMFAIL);
	assert_non_null(strstr(err, "5.4.6 alias loop"));

	/* Anyone could add a |command to a world-writable include. */
	chmod(inc, 0666);
	assert_int_equal(expand(t, NULL, "list", &g, err, sizeof(err)),
	    ALIAS_PERMFAIL);
	assert_non_null(strstr(err, "writable by others"));
	chmod(inc, 0644);

	/* newaliases looks into includes too. */
	memset(errs, 0, sizeof(errs));
	out = fmemopen(errs, sizeof(errs), "w");
	n = alias_check(f->path, out);
	fclose(out);
	assert_int_equal(n, 2);
	snprintf(want, sizeof(want), "%s:6: bad target \"bad target here\"",
	    inc);
	assert_non_null(strstr(errs, want));
	snprintf(want, sizeof(want), "%s:4: alias gone: %s/missing: No such",
	    f->path, f->dir);
	assert_non_null(strstr(errs, want));
	alias_free(t);
}

static int
stop_at_second(const struct alias_target *t, void *arg)
{
	int *count = arg;

	(void)t;
	return ++*count == 2;
}

static void
callback_can_stop_expansion(void **state)
{
	struct fixture		*f = *state;
	struct alias_table	*t;
	char			 errs[256], err[256];
	int			 n, count = 0;

	t = load_text(f, "l: a, b, c\n", errs, sizeof(errs), &n);
	assert_int_equal(alias_expand(t, NULL, "l", stop_at_second, &count,
	    err, sizeof(err)), ALIAS_TEMPFAIL);
	assert_int_equal(count, 2);
	alias_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    parses_entries_and_continuations, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    reports_malformed_lines_with_file_and_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    missing_file_is_empty_and_check_says_so, setup, teardown),
		cmocka_unit_test_setup_teardown(local_domains_and_backslash,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    loops_and_depth_are_permanent_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    includes_expand_and_fail_safely, setup, teardown),
		cmocka_unit_test_setup_teardown(callback_can_stop_expansion,
		    setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("alias", tests, NULL, NULL);
}
