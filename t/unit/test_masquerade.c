/* masquerading: which addresses leave rewritten, and how headers look after. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../mtad/config.h"
#include "../../mtad/masquerade.h"

static char *local_domains[] = { "shofar.lan" };

static void
setup_cf(struct mtad_config *cf, const char *masquerade)
{
	memset(cf, 0, sizeof(*cf));
	cf->hostname = "hub.shofar.lan";
	cf->local_domains.v = local_domains;
	cf->local_domains.n = 1;
	cf->masquerade = (char *)masquerade;
	cf->masquerade_headers = 1;
}

static void
init(struct masq *m, const char *masquerade, const char *generics)
{
	struct mtad_config	cf;
	char			err[256];

	setup_cf(&cf, masquerade);
	assert_int_equal(masq_init(m, &cf, err, sizeof(err)), 0);
	if (generics != NULL)
		assert_int_equal(masq_load_generics_mem(m, "generics",
		    generics, strlen(generics), err, sizeof(err)), 0);
}

static void
want_addr(const struct masq *m, const char *in, const char *want)
{
	char	out[600];
	int	r = masq_address(m, in, out, sizeof(out));

	if (want == NULL) {
		assert_int_equal(r, 0);
		return;
	}
	assert_int_equal(r, 1);
	assert_string_equal(out, want);
}

static void
want_hdr(const struct masq *m, const char *in, const char *want)
{
	char	*out;
	size_t	 len;

	assert_int_equal(masq_headers(m, in, strlen(in), &out, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	free(out);
}

static void
form_domain(void **state)
{
	struct masq	m;

	init(&m, "isp.example", NULL);
	want_addr(&m, "eddy@shofar.lan", "eddy@isp.example");
	want_addr(&m, "eddy@pc1.shofar.lan", "eddy@isp.example");
	want_addr(&m, "eddy@PC1.Shofar.LAN", "eddy@isp.example");
	want_addr(&m, "eddy", "eddy@isp.example");
	want_addr(&m, "eddy@elsewhere.example", NULL);
	want_addr(&m, "eddy@notshofar.lan", NULL);
	want_addr(&m, "", NULL);
	masq_free(&m);
}

static void
form_user_at(void **state)
{
	struct masq	m;

	init(&m, "john@", NULL);
	want_addr(&m, "eddy@pc1.shofar.lan", "john@hub.shofar.lan");
	want_addr(&m, "keith", "john@hub.shofar.lan");
	masq_free(&m);
}

static void
form_user_at_domain(void **state)
{
	struct masq	m;

	init(&m, "herb@ert.example", NULL);
	want_addr(&m, "eddy@shofar.lan", "herb@ert.example");
	want_addr(&m, "keith@pc2.shofar.lan", "herb@ert.example");
	want_addr(&m, "x@other.example", NULL);
	masq_free(&m);
}

static void
exposed_and_null(void **state)
{
	struct masq		m;
	struct mtad_config	cf;
	char			err[256];
	char			*exp[] = { "eddy" };

	init(&m, "isp.example", NULL);
	want_addr(&m, "root@shofar.lan", NULL);
	want_addr(&m, "root", NULL);
	want_addr(&m, "", NULL);
	masq_free(&m);

	/* A list replaces the default: root is no longer exposed. */
	setup_cf(&cf, "isp.example");
	cf.exposed_users.v = exp;
	cf.exposed_users.n = 1;
	assert_int_equal(masq_init(&m, &cf, err, sizeof(err)), 0);
	want_addr(&m, "root@shofar.lan", "root@isp.example");
	want_addr(&m, "eddy@shofar.lan", NULL);
	masq_free(&m);
}

static void
generics_first(void **state)
{
	struct masq	m;

	init(&m, "isp.example",
	    "# per-user map\n"
	    "eddy eddy@isp.example\n"
	    "\n"
	    "keith@shofar.lan   keith.smith@isp.example   # full address\n"
	    "sam sam.jones@mail.example\n");
	want_addr(&m, "keith@shofar.lan", "keith.smith@isp.example");
	/* A full key is that address only; the subdomain falls to masquerade. */
	want_addr(&m, "keith@pc1.shofar.lan", "keith@isp.example");
	want_addr(&m, "sam@pc1.shofar.lan", "sam.jones@mail.example");
	want_addr(&m, "sam", "sam.jones@mail.example");
	want_addr(&m, "sam@other.example", NULL);
	want_addr(&m, "fred@shofar.lan", "fred@isp.example");
	masq_free(&m);

	/* generics alone, without masquerade */
	init(&m, NULL, "eddy eddy@isp.example\n");
	want_addr(&m, "eddy@shofar.lan", "eddy@isp.example");
	want_addr(&m, "keith@shofar.lan", NULL);
	masq_free(&m);
}

static void
quoted_local_parts(void **state)
{
	struct masq	m;

	init(&m, "isp.example", NULL);
	want_addr(&m, "\"john doe\"@shofar.lan", "\"john doe\"@isp.example");
	masq_free(&m);
}

static void
generics_errors(void **state)
{
	struct masq	m;
	char		err[256];
	const char	*bad[] = {
		"eddy\n",
		"eddy eddy@isp.example extra\n",
		"eddy isp.example\n",
		"eddy a@b@c\n",
		"@x eddy@isp.example\n",
		"eddy @isp.example\n",
	};
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		init(&m, NULL, NULL);
		assert_int_equal(masq_load_generics_mem(&m, "gen",
		    bad[i], strlen(bad[i]), err, sizeof(err)), -1);
		assert_non_null(strstr(err, "gen:1: "));
		masq_free(&m);
	}
	init(&m, NULL, NULL);
	assert_int_equal(masq_load_generics_mem(&m, "gen", "# c\n\nx y\n", 9,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "gen:3: bad address \"y\" (want user@domain)");
	masq_free(&m);
	init(&m, NULL, NULL);
	assert_int_equal(masq_load_generics(&m, "/nonexistent/generics", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/generics: "));
	masq_free(&m);
}

static void
bad_masquerade_value(void **state)
{
	struct masq		m;
	struct mtad_config	cf;
	char			err[256];

	setup_cf(&cf, "a@b@c");
	assert_int_equal(masq_init(&m, &cf, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "masquerade"));
}

static void
headers_rewritten(void **state)
{
	struct masq	m;

	init(&m, "isp.example", NULL);
	want_hdr(&m,
	    "Received: from pc1 by hub\n"
	    "From: \"Eddy \\\"E\\\" Smith\" <eddy@pc1.shofar.lan> (at home)\n"
	    "To: keith@shofar.lan\n"
	    "Sender: eddy@shofar.lan (Eddy)\n"
	    "Reply-To: Eddy <eddy@shofar.lan>,\n"
	    "\tKeith (the boss) <keith@shofar.lan>, other@else.example\n"
	    "Subject: From: eddy@shofar.lan\n",
	    "Received: from pc1 by hub\n"
	    "From: \"Eddy \\\"E\\\" Smith\" <eddy@isp.example> (at home)\n"
	    "To: keith@shofar.lan\n"
	    "Sender: eddy@isp.example (Eddy)\n"
	    "Reply-To: Eddy <eddy@isp.example>,\n"
	    "\tKeith (the boss) <keith@isp.example>, other@else.example\n"
	    "Subject: From: eddy@shofar.lan\n");
	/* CRLF, folding inside the display name, case of the field name */
	want_hdr(&m,
	    "FROM: Eddy\r\n Smith\r\n  <eddy@shofar.lan>\r\n",
	    "FROM: Eddy\r\n Smith\r\n  <eddy@isp.example>\r\n");
	/* groups, exposed root, bare names */
	want_hdr(&m,
	    "Reply-To: team: eddy@shofar.lan, Root <root@shofar.lan>;, keith\n",
	    "Reply-To: team: eddy@isp.example, Root <root@shofar.lan>;, "
	    "keith@isp.example\n");
	masq_free(&m);
}

static void
headers_generics_forms(void **state)
{
	struct masq	m;

	init(&m, "herb@ert.example", "keith@shofar.lan keith.smith@isp.example\n");
	want_hdr(&m,
	    "From: Keith <keith@shofar.lan>, Eddy <eddy@pc1.shofar.lan>\n",
	    "From: Keith <keith.smith@isp.example>, Eddy <herb@ert.example>\n");
	masq_free(&m);
}

static void
headers_malformed_left_alone(void **state)
{
	struct masq	m;
	const char	*same[] = {
		"From: garbage <<\n",
		"From: Eddy <eddy@shofar.lan\n",
		"From: \"unterminated <eddy@shofar.lan>\n",
		"From: (open comment eddy@shofar.lan\n",
		"From: eddy@[10.0.0.1]\n",
		"From: <>\n",
		"From:\n",
		"From: eddy@shofar.lan junk junk <x\n",
		" continuation without field\n",
		"No colon here\n",
		"From: eddy@sho far.lan\n",
	};
	size_t		i;

	init(&m, "isp.example", NULL);
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		want_hdr(&m, same[i], same[i]);
	masq_free(&m);
}

static void
headers_off(void **state)
{
	struct masq		m;
	struct mtad_config	cf;
	char			err[256];

	setup_cf(&cf, "isp.example");
	cf.masquerade_headers = 0;
	assert_int_equal(masq_init(&m, &cf, err, sizeof(err)), 0);
	want_hdr(&m, "From: eddy@shofar.lan\n", "From: eddy@shofar.lan\n");
	want_addr(&m, "eddy@shofar.lan", "eddy@isp.example");
	masq_free(&m);
}

static void
header_length(void **state)
{
	const char	*a = "From: x\nTo: y\n\nbody\n";
	const char	*b = "From: x\r\n\r\nbody";
	const char	*c = "From: x\n";

	assert_int_equal(masq_header_length(a, strlen(a)), 15);
	assert_int_equal(masq_header_length(b, strlen(b)), 11);
	assert_int_equal(masq_header_length(c, strlen(c)), strlen(c));
	assert_int_equal(masq_header_length("\nbody", 5), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(form_domain),
		cmocka_unit_test(form_user_at),
		cmocka_unit_test(form_user_at_domain),
		cmocka_unit_test(exposed_and_null),
		cmocka_unit_test(generics_first),
		cmocka_unit_test(quoted_local_parts),
		cmocka_unit_test(generics_errors),
		cmocka_unit_test(bad_masquerade_value),
		cmocka_unit_test(headers_rewritten),
		cmocka_unit_test(headers_generics_forms),
		cmocka_unit_test(headers_malformed_left_alone),
		cmocka_unit_test(headers_off),
		cmocka_unit_test(header_length),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("masquerade", tests, NULL, NULL);
}
