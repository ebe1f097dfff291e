/*
 * mda: %T and %F are quoted for the shell whatever they hold, %% is a '%',
 * other % sequences are left alone; the exit status decides the verdict.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../fetchd/mda.h"

static void
expand(void **state)
{
	char	*s;

	(void)state;
	s = fmda_expand("/usr/bin/procmail -f %F -d %T", "a@b", "eddy");
	assert_non_null(s);
	assert_string_equal(s, "/usr/bin/procmail -f 'a@b' -d 'eddy'");
	free(s);
	s = fmda_expand("x %T%% %s %", "", "o'; rm -rf / #");
	assert_non_null(s);
	assert_string_equal(s, "x 'o'\\''; rm -rf / #'% %s %");
	free(s);
}

static void
verdicts(void **state)
{
	struct smtp_reply	 r;
	char			 tmpl[] = "/tmp/test_mda.XXXXXX", cmd[256];
	int			 fd;

	(void)state;
	fd = mkstemp(tmpl);
	assert_true(fd != -1);
	unlink(tmpl);
	assert_int_equal(write(fd, "a\r\nb\r\n", 6), 6);
	fmda_deliver("test \"$(cat)\" = \"$(printf 'R\\na\\nb')\"", 1, "s", "t",
	    "R\r\n", 3, fd, 0, &r);
	assert_int_equal(r.code, 250);
	/* from an offset: the prefix stands for what is skipped */
	fmda_deliver("test \"$(cat)\" = \"$(printf 'R\\nb')\"", 1, "s", "t",
	    "R\r\n", 3, fd, 3, &r);
	assert_int_equal(r.code, 250);
	fmda_deliver("cat >/dev/null; exit 75", 1, "s", "t", "", 0, fd, 0, &r);
	assert_int_equal(r.code, 450);
	fmda_deliver("cat >/dev/null; exit 67", 1, "s", "t", "", 0, fd, 0, &r);
	assert_int_equal(r.code, 554);
	snprintf(cmd, sizeof(cmd), "kill -9 $$");
	fmda_deliver(cmd, 1, "s", "t", "", 0, fd, 0, &r);
	assert_int_equal(r.code, 450);
	/* arguments arrive as one word each */
	fmda_deliver("cat >/dev/null; test \"$0\" = 'a b'", 0, "", "", "", 0,
	    fd, 0, &r);
	assert_int_equal(r.code, 554);
	fmda_deliver("cat >/dev/null; set -- %T; test $# = 1 && "
	    "test \"$1\" = 'a b'", 0, "s", "a b", "", 0, fd, 0, &r);
	assert_int_equal(r.code, 250);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(expand),
		cmocka_unit_test(verdicts),
	};

	/* as in fetchd: an MDA that exits early is EPIPE, not death */
	signal(SIGPIPE, SIG_IGN);

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("mda", tests, NULL, NULL);
}
