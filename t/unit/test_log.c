/* trace masking: no credential survives into a trace line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "log.h"

static void
check(const char *in, const char *want)
{
	char	out[256];

	trace_mask(in, strlen(in), out, sizeof(out));
	assert_string_equal(out, want);
}

static void
masks_smtp_auth(void **state)
{
	check("AUTH PLAIN AGVkZHkAc2VjcmV0MQ==\r\n", "AUTH PLAIN ****");
	check("auth login ZWRkeQ==", "auth login ****");
	check("AUTH XOAUTH2 dXNlcj1", "AUTH XOAUTH2 ****");
	check("AUTH LOGIN", "AUTH LOGIN");
}

static void
masks_pop3_and_imap(void **state)
{
	check("PASS secret1", "PASS ****");
	check("APOP eddy 0123456789abcdef", "APOP eddy ****");
	check("a001 LOGIN eddy \"secret\"", "a001 LOGIN eddy ****");
	check("A2 AUTHENTICATE PLAIN AGVkZHk=", "A2 AUTHENTICATE PLAIN ****");
	check("USER eddy", "USER eddy");
}

static void
leaves_ordinary_lines(void **state)
{
	check("MAIL FROM:<eddy@shofar.lan> SIZE=12", "MAIL FROM:<eddy@shofar.lan> SIZE=12");
	check("250-PIPELINING\r\n", "250-PIPELINING");
	check("bin\x01\x7f", "bin??");
}

static void
truncates_safely(void **state)
{
	char	out[8];

	trace_mask("PASS verylongsecret", 19, out, sizeof(out));
	assert_true(strlen(out) < sizeof(out));
	assert_null(strstr(out, "very"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(masks_smtp_auth),
		cmocka_unit_test(masks_pop3_and_imap),
		cmocka_unit_test(leaves_ordinary_lines),
		cmocka_unit_test(truncates_safely),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
