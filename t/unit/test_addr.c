/* addr: RFC 5321 paths, formatting, domain matching, RFC 5322 lists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

static void
ok_path(const char *in, int bare, const char *local, const char *domain,
    const char *rest)
{
	struct mailaddr	 a;
	const char	*r = NULL;
	char		 err[128] = "";

	if (addr_parse_path(in, bare, &a, &r, err, sizeof(err)) != 0)
		fail_msg("%s: %s", in, err);
	assert_string_equal(a.local, local);
	assert_string_equal(a.domain, domain);
	assert_string_equal(r, rest);
}

static void
bad_path(const char *in, int bare, const char *why)
{
	struct mailaddr	 a;
	const char	*r = NULL;
	char		 err[128] = "";

	memset(&a, 'x', sizeof(a));
	if (addr_parse_path(in, bare, &a, &r, err, sizeof(err)) != -1)
		fail_msg("accepted: %s", in);
	if (why != NULL && strcmp(err, why) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", in, err, why);
	assert_true(err[0] != '\0');
	assert_null(r);
}

static void
plain_paths(void **state)
{
	ok_path("<eddy@shofar.lan>", 0, "eddy", "shofar.lan", "");
	ok_path("<Eddy.Smith@PC1.Shofar.LAN>", 0, "Eddy.Smith",
	    "pc1.shofar.lan", "");
	ok_path("<a+tag@x.y> SIZE=1234 BODY=8BITMIME", 0, "a+tag", "x.y",
	    " SIZE=1234 BODY=8BITMIME");
	ok_path(" <a@b>", 0, "a", "b", "");
	ok_path("<~!#$&'*+-/=?^_`{|}@a-b.c_d.e>", 0, "~!#$&'*+-/=?^_`{|}",
	    "a-b.c_d.e", "");
	/* '%' and '!' are literal characters, not routing. */
	ok_path("<user%other.example@shofar.lan>", 0, "user%other.example",
	    "shofar.lan", "");
	ok_path("<remote!user@shofar.lan>", 0, "remote!user", "shofar.lan",
	    "");
}

static void
null_and_bare(void **state)
{
	struct mailaddr	a;

	ok_path("<>", 0, "", "", "");
	ok_path("<> SIZE=10", 0, "", "", " SIZE=10");
	assert_int_equal(addr_parse_path("<>", 0, &a, NULL, NULL, 0), 0);
	assert_true(addr_is_null(&a));
	assert_int_equal(addr_parse_path("<a@b>", 0, &a, NULL, NULL, 0), 0);
	assert_false(addr_is_null(&a));

	ok_path("<postmaster>", 1, "postmaster", "", "");
	ok_path("<eddy>", 1, "eddy", "", "");
	bad_path("<postmaster>", 0, "domain missing");
	assert_int_equal(addr_parse_path("<eddy>", 1, &a, NULL, NULL, 0), 0);
	assert_false(addr_is_null(&a));
}

static void
source_routes(void **state)
{
	ok_path("<@relay.example:eddy@shofar.lan>", 0, "eddy", "shofar.lan",
	    "");
	ok_path("<@a.example,@b.example:u@D.example> NOTIFY=NEVER", 0, "u",
	    "d.example", " NOTIFY=NEVER");
	bad_path("<@a.example>", 0, NULL);
	bad_path("<@a.example,u@d>", 0, NULL);
	bad_path("<@:u@d>", 0, NULL);
	bad_path("<@a,,@b:u@d>", 0, NULL);
	bad_path("<@a,b:u@d>", 0, NULL);
	bad_path("<@a:>", 0, NULL);
}

static void
quoted_local_parts(void **state)
{
	ok_path("<\"a b\"@x>", 0, "a b", "x", "");
	ok_path("<\"a\\\"q\\\\z\"@x>", 0, "a\"q\\z", "x", "");
	ok_path("<\"plain\"@x>", 0, "plain", "x", "");
	ok_path("<\"\"@x>", 0, "", "x", "");
	ok_path("<\"a@b\"@x>", 0, "a@b", "x", "");
	bad_path("<\"a b@x>", 0, NULL);
	bad_path("<\"a\tb\"@x>", 0, NULL);
	bad_path("<\"a\\\x01\"@x>", 0, NULL);
	bad_path("<\"a\"b@x>", 0, NULL);
	bad_path("<\"a\\", 0, NULL);
}

static void
address_literals(void **state)
{
	ok_path("<root@[192.0.2.1]>", 0, "root", "[192.0.2.1]", "");
	ok_path("<root@[ipv6:2001:DB8::1]>", 0, "root", "[IPv6:2001:db8::1]",
	    "");
	bad_path("<root@[192.0.2]>", 0, "bad address literal");
	bad_path("<root@[192.0.2.256]>", 0, "bad address literal");
	bad_path("<root@[]>", 0, "bad address literal");
	bad_path("<root@[IPv6:zz::1]>", 0, "bad address literal");
	bad_path("<root@[x-tag:foo]>", 0, "bad address literal");
	bad_path("<root@[192.0.2.1>", 0, "bad address literal");
	bad_path("<root@[192.0.2.1]x>", 0, NULL);
}

static void
limits(void **state)
{
	char	buf[600], want[300];

	/* 64 octets of local part is the most RFC 5321 allows. */
	snprintf(buf, sizeof(buf), "<%.*s@x>", 64,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	ok_path(buf, 0, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "x", "");
	snprintf(buf, sizeof(buf), "<%.*s@x>", 65,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	bad_path(buf, 0, "local part too long");
	/* Quotes count: 63 characters quoted are 65 octets on the wire. */
	snprintf(buf, sizeof(buf), "<\"%.*s\"@x>", 63,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	bad_path(buf, 0, "local part too long");

	/* Domain: 255 octets fits, 256 does not; labels at most 63. */
	memset(want, 0, sizeof(want));
	for (int i = 0; i < 4; i++) {
		memset(want + i * 64, 'd', 63);
		want[i * 64 + 63] = '.';
	}
	want[255] = '\0';		/* 4 labels of 63 and 3 dots + "ddd" */
	memcpy(want + 252, "ddd", 3);
	snprintf(buf, sizeof(buf), "<u@%s>", want);
	ok_path(buf, 0, "u", want, "");
	snprintf(buf, sizeof(buf), "<u@%sd>", want);
	bad_path(buf, 0, NULL);
	snprintf(buf, sizeof(buf), "<u@%.64s.x>",
	    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
	bad_path(buf, 0, "bad domain");
}

static void
malformed_paths(void **state)
{
	bad_path("", 0, "address must be in <>");
	bad_path("eddy@shofar.lan", 0, "address must be in <>");
	bad_path("<eddy@shofar.lan", 0, "missing '>'");
	bad_path("<eddy", 1, "missing '>'");
	bad_path("<", 0, NULL);
	bad_path("<eddy@shofar.lan>junk", 0, "syntax error after address");
	bad_path("<a@b>>", 0, NULL);
	bad_path("<a@b@c>", 0, NULL);
	bad_path("<a@>", 0, "domain missing");
	bad_path("<@b>", 0, NULL);
	bad_path("<a b@c>", 0, NULL);
	bad_path("< a@b>", 0, NULL);
	bad_path("<a@b >", 0, NULL);
	bad_path("<a@ b>", 0, NULL);
	bad_path("<.a@b>", 0, NULL);
	bad_path("<a.@b>", 0, NULL);
	bad_path("<a..b@c>", 0, NULL);
	bad_path("<a@b..c>", 0, "bad domain");
	bad_path("<a@.b>", 0, "bad domain");
	bad_path("<a@b.>", 0, "bad domain");
	bad_path("<a@-b.c>", 0, "bad domain");
	bad_path("<a@b-.c>", 0, "bad domain");
	bad_path("<a\x01@b>", 0, NULL);
	bad_path("<a@b\x7f>", 0, NULL);
	bad_path("<a@b\r\n>", 0, NULL);
	bad_path("<\xc3\xa9@b>", 0, NULL);
	bad_path("<a@\xc3\xa9.fr>", 0, NULL);
	bad_path("<a(comment)@b>", 0, NULL);
	bad_path("<a,b@c>", 0, NULL);
	bad_path("<<a@b>>", 0, NULL);
}

static void
formatting(void **state)
{
	struct mailaddr	a;
	char		buf[ADDR_MAX + 8];

	memset(&a, 0, sizeof(a));
	assert_int_equal(addr_format(&a, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");

	strcpy(a.local, "eddy");
	assert_int_equal(addr_format(&a, buf, sizeof(buf)), 4);
	assert_string_equal(buf, "eddy");

	strcpy(a.domain, "shofar.lan");
	assert_int_equal(addr_format(&a, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "eddy@shofar.lan");

	strcpy(a.local, "a b\"c\\");
	addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "\"a b\\\"c\\\\\"@shofar.lan");
	strcpy(a.local, "a..b");
	addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "\"a..b\"@shofar.lan");
	strcpy(a.local, "");
	addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "\"\"@shofar.lan");
	strcpy(a.local, "user%x!y");
	addr_format(&a, buf, sizeof(buf));
	assert_string_equal(buf, "user%x!y@shofar.lan");

	/* Too small: -1, still a terminated string. */
	strcpy(a.local, "eddy");
	assert_int_equal(addr_format(&a, buf, 15), -1);
	assert_true(strlen(buf) < 15);
	assert_int_equal(addr_format(&a, buf, 16), 15);
	assert_int_equal(addr_format(&a, buf, 0), -1);
}

static void
round_trip(void **state)
{
	static const char *const in[] = {
		"<\"a b\"@x.y>", "<plain@x.y>", "<\"a\\\\b\"@x>", "<\"\"@x>",
		"<u@[192.0.2.1]>",
	};
	struct mailaddr	a, b;
	char		buf[ADDR_MAX + 8], path[ADDR_MAX + 10];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(addr_parse_path(in[i], 0, &a, NULL, NULL, 0),
		    0);
		assert_true(addr_format(&a, buf, sizeof(buf)) > 0);
		snprintf(path, sizeof(path), "<%s>", buf);
		assert_string_equal(path, in[i]);
		assert_int_equal(addr_parse_path(path, 0, &b, NULL, NULL, 0),
		    0);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

static void
domains(void **state)
{
	char *const	list[] = { "shofar.lan", "example.org" };

	assert_true(domain_match("shofar.lan", "shofar.lan"));
	assert_true(domain_match("pc1.shofar.lan", "shofar.lan"));
	assert_true(domain_match("a.b.SHOFAR.lan", "Shofar.LAN"));
	assert_true(domain_match("shofar.lan.", "shofar.lan"));
	assert_true(domain_match("pc1.shofar.lan", ".shofar.lan"));
	assert_false(domain_match("evilshofar.lan", "shofar.lan"));
	assert_false(domain_match("shofar.lan.evil.com", "shofar.lan"));
	assert_false(domain_match("lan", "shofar.lan"));
	assert_false(domain_match("", "shofar.lan"));
	assert_false(domain_match("shofar.lan", ""));
	assert_false(domain_match(".shofar.lan", "shofar.lan") == 0);
	assert_true(domain_match("[192.0.2.1]", "[192.0.2.1]"));
	assert_false(domain_match("[192.0.2.11]", "[192.0.2.1]"));

	assert_true(domain_match_list("pc1.shofar.lan", list, 2));
	assert_true(domain_match_list("example.org", list, 2));
	assert_false(domain_match_list("example.com", list, 2));
	assert_false(domain_match_list("example.org", list, 0));
}

struct seen {
	int	n;
	char	out[8][128];
};

static void
collect(const char *spec, const char *display, void *arg)
{
	struct seen	*s = arg;

	if (s->n < 8)
		snprintf(s->out[s->n], sizeof(s->out[0]), "%s|%s", spec,
		    display != NULL ? display : "(null)");
	s->n++;
}

static int
parse_list(const char *v, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return addr_list_parse(v, strlen(v), collect, s);
}

static void
address_lists(void **state)
{
	struct seen	s;

	assert_int_equal(parse_list("eddy@shofar.lan", &s), 1);
	assert_string_equal(s.out[0], "eddy@shofar.lan|(null)");

	assert_int_equal(parse_list("Eddy Smith <eddy@shofar.lan>, "
	    "\"Doe, Jane\" <jane@example.org>,\r\n\tbob@x.y (Bob)", &s), 3);
	assert_string_equal(s.out[0], "eddy@shofar.lan|Eddy Smith");
	assert_string_equal(s.out[1], "jane@example.org|Doe, Jane");
	assert_int_equal(s.n, 3);

	/* Groups are flattened; an empty group gives nothing. */
	assert_int_equal(parse_list("team: a@x, B <b@y>;, c@z", &s), 3);
	assert_string_equal(s.out[0], "a@x|(null)");
	assert_string_equal(s.out[1], "b@y|B");
	assert_string_equal(s.out[2], "c@z|(null)");
	assert_int_equal(parse_list("undisclosed-recipients:;", &s), 0);

	/* Bare local names (locally submitted mail), angle-only, comments. */
	assert_int_equal(parse_list("eddy, root (the admin)", &s), 2);
	assert_string_equal(s.out[0], "eddy|(null)");
	assert_string_equal(s.out[1], "root|(null)");
	assert_int_equal(parse_list("<a@b> (x (nested) y)\r\n", &s), 1);
	assert_string_equal(s.out[0], "a@b|(null)");
	/* The same address twice, and one inside a display name first. */
	assert_int_equal(parse_list("\"b@c a@b\" <a@b>, b@c, a@b", &s), 3);
	assert_string_equal(s.out[0], "a@b|b@c a@b");
	assert_string_equal(s.out[1], "b@c|(null)");
	assert_string_equal(s.out[2], "a@b|(null)");

	/* Encoded words are handed over as they are. */
	assert_int_equal(parse_list("=?utf-8?q?J=C3=B6rg?= <j@x>", &s), 1);
	assert_string_equal(s.out[0], "j@x|=?utf-8?q?J=C3=B6rg?=");

	/* Blank values are an empty list; the callback may be NULL. */
	assert_int_equal(parse_list("", &s), 0);
	assert_int_equal(parse_list(" \r\n", &s), 0);
	assert_int_equal(addr_list_parse("a@b, c@d", 8, NULL, NULL), 2);
	/* len bounds the input: no NUL needed, nothing read past it. */
	assert_int_equal(addr_list_parse("a@b, c@d", 3, NULL, NULL), 1);
}

static void
malformed_lists(void **state)
{
	struct seen	s;
	char		deep[4096];

	assert_int_equal(parse_list("<unterminated@x", &s), -1);
	assert_int_equal(parse_list("a@b, <c@d", &s), -1);
	assert_int_equal(parse_list("\"unterminated <a@b>", &s), -1);
	assert_int_equal(parse_list("a@b junk junk <", &s), -1);
	assert_int_equal(parse_list(",,,", &s), -1);
	/* mailimf would squeeze these into "a@bc@d", "a@bjunk", "ab"@x. */
	assert_int_equal(parse_list("a@b c@d", &s), -1);
	assert_int_equal(parse_list("x@y, a@b junk", &s), -1);
	assert_int_equal(parse_list("A <a@b junk>", &s), -1);
	assert_int_equal(parse_list("\"a b\"@x", &s), -1);
	assert_int_equal(parse_list("a@b (unclosed", &s), -1);
	assert_int_equal(parse_list("a@b )", &s), -1);
	assert_int_equal(parse_list("a@[1.2.3]", &s), -1);
	assert_int_equal(parse_list("\x01@b", &s), -1);
	assert_int_equal(s.n, 0);

	/* Deep comment nesting is refused before mailimf recurses. */
	memset(deep, '(', sizeof(deep) - 1);
	deep[0] = 'a';
	deep[1] = '@';
	deep[2] = 'b';
	deep[sizeof(deep) - 1] = '\0';
	assert_int_equal(parse_list(deep, &s), -1);
	assert_int_equal(s.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_paths),
		cmocka_unit_test(null_and_bare),
		cmocka_unit_test(source_routes),
		cmocka_unit_test(quoted_local_parts),
		cmocka_unit_test(address_literals),
		cmocka_unit_test(limits),
		cmocka_unit_test(malformed_paths),
		cmocka_unit_test(formatting),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(domains),
		cmocka_unit_test(address_lists),
		cmocka_unit_test(malformed_lists),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("addr", tests, NULL, NULL);
}
