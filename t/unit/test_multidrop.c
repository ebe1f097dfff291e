/* multi-drop: which local users a message is for, from its headers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../fetchd/multidrop.h"

static const struct rc_env env_root = { "root", "/root", 1 };

/* The seed's multi-drop poll, plus variants. */
static const char rc_text[] =
    "poll mail.example.net with proto POP3 aka shofar.example.net\n"
    "  user \"shofar\" with password \"secret2\" to eddy nelug=eddy "
    "NELUG-admin\n"
    "  nelug-approval=eddy NELUG-list root keith here options flush\n"
    "poll wild.example.net via 127.0.0.1 localdomains lan.example\n"
    "  qvirtual \"shofar-\" envelope 1 X-Envelope-To\n"
    "  user w there to bob@other.org=eddy * here\n"
    "poll noenv.example.net no envelope user n there to a b here\n";

static struct rc_config cfg;

static int
setup(void **state)
{
	char	 err[512];

	rc_init(&cfg);
	if (rc_parse_buf(&cfg, "rc", rc_text, strlen(rc_text), err,
	    sizeof(err)) != PS_SUCCESS ||
	    rc_select(&cfg, NULL, 0, err, sizeof(err)) != PS_SUCCESS ||
	    rc_finish(&cfg, NULL, NULL, &env_root, err, sizeof(err)) !=
	    PS_SUCCESS) {
		fprintf(stderr, "# %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	rc_free(&cfg);
	return 0;
}

/* The recipients of hdr on poll i, joined with ',' into buf. */
static const char *
rcpts(int i, const char *hdr, int *env)
{
	static char	 buf[8192];
	struct md_rcpts	 r;
	size_t		 k;

	assert_int_equal(multidrop_rcpts(hdr, strlen(hdr), &cfg.polls[i],
	    &cfg.polls[i].users[0], cfg.run.postmaster, &r), 0);
	buf[0] = '\0';
	for (k = 0; k < r.n; k++) {
		if (k > 0)
			strcat(buf, ",");
		strncat(buf, r.v[k], sizeof(buf) - strlen(buf) - 2);
	}
	if (env != NULL)
		*env = r.from_envelope;
	if (r.postmaster)
		assert_int_equal(r.n, 1);
	md_rcpts_free(&r);
	return buf;
}

static void
received_for_clause(void **state)
{
	int	 env;

	assert_string_equal(rcpts(0,
	    "Received: from relay.example.org (relay [192.0.2.1])\r\n"
	    "\tby mail.example.net (Postfix) with ESMTP id 4F2\r\n"
	    "\tfor <nelug@shofar.example.net>; Sun, 22 Nov 2026 03:00:00\r\n"
	    "To: NELUG-list@shofar.example.net\r\n"
	    "\r\n", &env), "eddy");
	assert_true(env);
	/* a Received by some other host is not this server's envelope */
	assert_string_equal(rcpts(0,
	    "Received: from a by mx.elsewhere.org with SMTP for "
	    "<root@shofar.example.net>;\n"
	    "To: NELUG-list@shofar.example.net\n"
	    "Cc: keith@shofar.example.net, someone@elsewhere.org\n"
	    "\n", &env), "NELUG-list,keith");
	assert_false(env);
	/* the aka matches its subdomains too */
	assert_string_equal(rcpts(0,
	    "Received: by pop.shofar.example.net for root@shofar.example.net\n"
	    "\n", NULL), "root");
	/* an envelope recipient nobody maps goes to the postmaster */
	assert_string_equal(rcpts(0,
	    "Received: by mail.example.net for <nobody@shofar.example.net>;\n"
	    "To: keith@shofar.example.net\n\n", &env), "postmaster");
	assert_true(env);
}

static void
headers_mapped_once(void **state)
{
	assert_string_equal(rcpts(0,
	    "From: someone@elsewhere.org\n"
	    "To: nelug@shofar.example.net, nelug-approval@shofar.example.net,\n"
	    "  Eddy <eddy@shofar.example.net>\n"
	    "Cc: Keith <KEITH@mail.example.net>, keith@shofar.example.net\n"
	    "Bcc: \"Root\" <root@shofar.example.net>\n"
	    "Subject: To: not@this\n"
	    "\n"
	    "To: body@shofar.example.net\n", NULL), "eddy,keith,root");
	/* Resent-* replace To/Cc when present; Delivered-To counts */
	assert_string_equal(rcpts(0,
	    "To: keith@shofar.example.net\n"
	    "Resent-To: root@shofar.example.net\n"
	    "Delivered-To: NELUG-admin@shofar.example.net\n\n", NULL),
	    "root,NELUG-admin");
}

static void
unmapped_and_missing_go_to_postmaster(void **state)
{
	assert_string_equal(rcpts(0,
	    "To: stranger@shofar.example.net, keith@elsewhere.org\n\n", NULL),
	    "postmaster");
	assert_string_equal(rcpts(0, "Subject: no recipients\n\n", NULL),
	    "postmaster");
	assert_string_equal(rcpts(0, "", NULL), "postmaster");
}

static void
malformed_headers(void **state)
{
	/* one broken address does not hide the good one */
	assert_string_equal(rcpts(0,
	    "To: keith@shofar.example.net, <<broken@@\n\n", NULL), "keith");
	assert_string_equal(rcpts(0,
	    "To: (((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
	    "((((((((((((((((((((((((((((((((((((((((( root@shofar.example.net"
	    "\n\n", NULL), "root");
	assert_string_equal(rcpts(0,
	    "garbage line without colon\n: empty name\n"
	    "Received: by\nReceived: for\n"
	    "To:\n\n", NULL), "postmaster");
}

static void
wildcard_localdomains_qvirtual(void **state)
{
	int	 env;

	/* envelope 1 X-Envelope-To: the second such header */
	assert_string_equal(rcpts(1,
	    "X-Envelope-To: first@127.0.0.1\n"
	    "X-Envelope-To: shofar-alice@wild.example.net, carol@lan.example,"
	    " bob@other.org\n"
	    "To: dave@wild.example.net\n\n", &env),
	    "alice,carol@lan.example,eddy");
	assert_true(env);
	/* no such header: To/Cc, '*' passes names through, via is the server */
	assert_string_equal(rcpts(1,
	    "To: dave@127.0.0.1, Erin@wild.example.net, x@mx.lan.example\n\n",
	    &env), "dave,Erin,x@mx.lan.example");
	assert_false(env);
}

static void
no_envelope(void **state)
{
	int	 env;

	assert_string_equal(rcpts(2,
	    "Received: by noenv.example.net for <a@noenv.example.net>;\n"
	    "To: b@noenv.example.net\n\n", &env), "b");
	assert_false(env);
}

static void
bounded(void **state)
{
	struct md_rcpts	 r;
	char		*hdr;
	size_t		 len = 0, i;

	hdr = malloc(1024 * 1024);
	assert_non_null(hdr);
	len += sprintf(hdr, "To: ");
	for (i = 0; i < 1000; i++)
		len += sprintf(hdr + len, "user%zu@wild.example.net, ", i);
	len += sprintf(hdr + len, "last@wild.example.net\n\n");
	assert_int_equal(multidrop_rcpts(hdr, len, &cfg.polls[1],
	    &cfg.polls[1].users[0], "postmaster", &r), 0);
	/* 64 KB per field: the tail of this 26 KB list is still read */
	assert_int_equal(r.n, MD_MAX_RCPTS);
	md_rcpts_free(&r);

	/* a field beyond MD_MAX_FIELD is cut, not overrun */
	len = sprintf(hdr, "To: a@wild.example.net, ");
	memset(hdr + len, 'x', 200000);
	len += 200000;
	len += sprintf(hdr + len, "\n\n");
	assert_int_equal(multidrop_rcpts(hdr, len, &cfg.polls[1],
	    &cfg.polls[1].users[0], "postmaster", &r), 0);
	assert_string_equal(r.v[0], "a");
	md_rcpts_free(&r);
	free(hdr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(received_for_clause),
		cmocka_unit_test(headers_mapped_once),
		cmocka_unit_test(unmapped_and_missing_go_to_postmaster),
		cmocka_unit_test(malformed_headers),
		cmocka_unit_test(wildcard_localdomains_qvirtual),
		cmocka_unit_test(no_envelope),
		cmocka_unit_test(bounded),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("multidrop", tests, setup, teardown);
}
