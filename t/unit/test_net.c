/* net: host:port forms, CIDR matching (v4, v6, mapped, malformed), and a
 * real listen + connect on loopback. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "net.h"

static int
split(const char *s, const char *def, char *h, char *p)
{
	return net_split_hostport(s, def, h, 64, p, 16);
}

static void
hostport_forms(void **state)
{
	char	 h[64], p[16];

	assert_int_equal(split("192.0.2.1:25", NULL, h, p), 0);
	assert_string_equal(h, "192.0.2.1");
	assert_string_equal(p, "25");
	assert_int_equal(split("[2001:db8::1]:587", NULL, h, p), 0);
	assert_string_equal(h, "2001:db8::1");
	assert_string_equal(p, "587");
	assert_int_equal(split("[::1]", "25", h, p), 0);
	assert_string_equal(h, "::1");
	assert_string_equal(p, "25");
	assert_int_equal(split("::1", "25", h, p), 0);
	assert_string_equal(h, "::1");
	assert_int_equal(split("smtp.isp.example", "465", h, p), 0);
	assert_string_equal(h, "smtp.isp.example");
	assert_string_equal(p, "465");
	assert_int_equal(split("smtp.isp.example:2525", "25", h, p), 0);
	assert_string_equal(p, "2525");
	assert_int_equal(split("*:25", NULL, h, p), 0);
	assert_string_equal(h, "*");
}

static void
hostport_malformed(void **state)
{
	char	 h[64], p[16];
	char	 longhost[200];

	assert_int_equal(split("", "25", h, p), -1);
	assert_int_equal(split("host", NULL, h, p), -1);	/* no port */
	assert_int_equal(split(":25", NULL, h, p), -1);
	assert_int_equal(split("host:", NULL, h, p), -1);
	assert_int_equal(split("host:abc", NULL, h, p), -1);
	assert_int_equal(split("host:65536", NULL, h, p), -1);
	assert_int_equal(split("host:-1", NULL, h, p), -1);
	assert_int_equal(split("[::1", "25", h, p), -1);
	assert_int_equal(split("[]:25", NULL, h, p), -1);
	assert_int_equal(split("[::1]x25", NULL, h, p), -1);
	assert_int_equal(split("[127.0.0.1]:25", NULL, h, p), -1);
	assert_int_equal(split("a:b:c", "25", h, p), -1);
	assert_int_equal(split("ho st:25", NULL, h, p), -1);
	assert_int_equal(split("host:25\n", NULL, h, p), -1);
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	assert_int_equal(split(longhost, "25", h, p), -1);	/* too long */
}

static struct sockaddr_storage
sa_of(const char *a)
{
	struct sockaddr_storage	 ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(a, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, a, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, a, &s4->sin_addr), 1);
	}
	return ss;
}

static int
match(const char *cidr, const char *a)
{
	struct sockaddr_storage	 ss = sa_of(a);

	return net_cidr_match(cidr, (struct sockaddr *)&ss);
}

static void
cidr_v4(void **state)
{
	assert_int_equal(match("192.168.1.0/24", "192.168.1.77"), 1);
	assert_int_equal(match("192.168.1.0/24", "192.168.2.1"), 0);
	assert_int_equal(match("10.1.2.3", "10.1.2.3"), 1);
	assert_int_equal(match("10.1.2.3", "10.1.2.4"), 0);
	assert_int_equal(match("0.0.0.0/0", "203.0.113.9"), 1);
	assert_int_equal(match("172.16.0.0/12", "172.31.255.255"), 1);
	assert_int_equal(match("172.16.0.0/12", "172.32.0.0"), 0);
	assert_int_equal(match("192.168.1.0/24", "::1"), 0);
}

static void
cidr_v6(void **state)
{
	assert_int_equal(match("::1/128", "::1"), 1);
	assert_int_equal(match("::1", "::2"), 0);
	assert_int_equal(match("2001:db8::/32", "2001:db8:ffff::1"), 1);
	assert_int_equal(match("2001:db8::/33", "2001:db8:8000::1"), 0);
	assert_int_equal(match("fe80::/10", "febf::1"), 1);
	assert_int_equal(match("fe80::/10", "fec0::1"), 0);
	assert_int_equal(match("::1/128", "127.0.0.1"), 0);
	/* v4-mapped clients on a v6 listener match v4 rules. */
	assert_int_equal(match("127.0.0.0/8", "::ffff:127.0.0.5"), 1);
	assert_int_equal(match("10.0.0.0/8", "::ffff:127.0.0.5"), 0);
}

static void
cidr_malformed(void **state)
{
	static const char *bad[] = { "", "/24", "192.168.1.0/", "192.168.1.0/33",
	    "192.168.1.0/-1", "192.168.1.0/2x", "192.168.1/24", "::1/129",
	    "256.0.0.1", "host.example", "1.2.3.4/ 8", "1.2.3.4//8",
	    "1.2.3.4/0008", "::1::2", NULL };
	int	 i;

	for (i = 0; bad[i] != NULL; i++) {
		assert_int_equal(net_cidr_valid(bad[i]), -1);
		assert_int_equal(match(bad[i], "127.0.0.1"), -1);
	}
	assert_int_equal(net_cidr_valid(NULL), -1);
	assert_int_equal(net_cidr_valid("127.0.0.0/8"), 0);
	assert_int_equal(net_cidr_valid("::/0"), 0);
}

static void
listen_connect_loopback(void **state)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 err[256], peer[64], port[16];
	int			 lfd, cfd, afd;

	lfd = net_listen("127.0.0.1:0", 5, err, sizeof(err));
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&ss, &sl), 0);
	snprintf(port, sizeof(port), "%u",
	    ntohs(((struct sockaddr_in *)&ss)->sin_port));
	cfd = net_connect("127.0.0.1", port, "127.0.0.1", 2000, peer,
	    sizeof(peer), err, sizeof(err));
	assert_true(cfd >= 0);
	assert_string_equal(peer, "127.0.0.1");
	assert_int_equal(write(cfd, "x", 1), 1);
	afd = -1;
	for (int i = 0; i < 200 && afd == -1; i++) {
		afd = accept(lfd, NULL, NULL);
		if (afd == -1)
			usleep(10000);
	}
	assert_true(afd >= 0);
	close(afd);
	close(cfd);
	close(lfd);

	/* Nobody listens there any more: refused, with a reason. */
	cfd = net_connect("127.0.0.1", port, NULL, 2000, NULL, 0, err,
	    sizeof(err));
	assert_int_equal(cfd, -1);
	assert_non_null(strstr(err, "refused"));
	assert_non_null(strstr(err, port));
}

static void
listen_malformed(void **state)
{
	char	 err[256];

	assert_int_equal(net_listen("127.0.0.1", 5, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_int_equal(net_listen("127.0.0.1:99999", 5, err, sizeof(err)),
	    -1);
	assert_int_equal(net_connect("127.0.0.1", "x", NULL, 100, NULL, 0,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad port"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hostport_forms),
		cmocka_unit_test(hostport_malformed),
		cmocka_unit_test(cidr_v4),
		cmocka_unit_test(cidr_v6),
		cmocka_unit_test(cidr_malformed),
		cmocka_unit_test(listen_connect_loopback),
		cmocka_unit_test(listen_malformed),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
