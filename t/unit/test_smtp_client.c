/*
 * smtp_client without a network: reply parsing (multi-line, enhanced codes,
 * malformed and oversize replies), EHLO capability lines, and the data
 * canonicalisation that stops SMTP smuggling (bare CR/LF, dot-stuffing),
 * fed in every possible split to show the streaming state is right.  Then a
 * scripted server on a socketpair: reply matching under PIPELINING, a
 * server that hangs up mid-DATA, and AUTH refused over plaintext.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "smtp_client.h"
#include "stream.h"

static int
feed(struct smtp_reply *r, const char *line)
{
	char	 err[256];

	return smtp_reply_parse(r, line, strlen(line), err, sizeof(err));
}

static void
reply_single_and_multi(void **state)
{
	struct smtp_reply	 r;
	char			 buf[256];

	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "250 2.1.5 OK\r\n"), SMTP_PARSE_DONE);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.enhanced, "2.1.5");
	assert_string_equal(r.text, "OK");

	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "550-5.1.1 No such"), SMTP_PARSE_MORE);
	assert_int_equal(feed(&r, "550-5.1.1 user"), SMTP_PARSE_MORE);
	assert_int_equal(feed(&r, "550 here"), SMTP_PARSE_DONE);
	assert_int_equal(r.nlines, 3);
	assert_string_equal(r.enhanced, "5.1.1");
	assert_string_equal(r.text, "No such user here");
	smtp_reply_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, "550 5.1.1 No such user here");

	/* bare code, no text; enhanced code of another class is text */
	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "354"), SMTP_PARSE_DONE);
	assert_int_equal(r.code, 354);
	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "451 5.1.1 odd"), SMTP_PARSE_DONE);
	assert_string_equal(r.enhanced, "");
	assert_string_equal(r.text, "5.1.1 odd");
	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "250 2.0.0"), SMTP_PARSE_DONE);
	assert_string_equal(r.enhanced, "2.0.0");
	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "250 2.0.0000 x"), SMTP_PARSE_DONE);
	assert_string_equal(r.enhanced, "");
}

static void
reply_malformed(void **state)
{
	static const char *bad[] = { "", "25", "abc", "2500 x", "250x", "150 hi",
	    "650 hi", "099 x", " 250 x", "25a x", NULL };
	struct smtp_reply	 r;
	char			 err[256];
	int			 i;

	for (i = 0; bad[i] != NULL; i++) {
		smtp_reply_init(&r);
		assert_int_equal(smtp_reply_parse(&r, bad[i], strlen(bad[i]),
		    err, sizeof(err)), SMTP_PARSE_BAD);
		assert_true(strlen(err) > 0);
	}
	/* a continuation that changes code */
	smtp_reply_init(&r);
	assert_int_equal(feed(&r, "250-a"), SMTP_PARSE_MORE);
	assert_int_equal(smtp_reply_parse(&r, "550 b", 5, err, sizeof(err)),
	    SMTP_PARSE_BAD);
	assert_non_null(strstr(err, "550"));
	/* NUL and control bytes survive as '?' */
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_parse(&r, "250 a\0b\033c", 9, err,
	    sizeof(err)), SMTP_PARSE_DONE);
	assert_string_equal(r.text, "a?b?c");
}

static void
reply_bounds(void **state)
{
	struct smtp_reply	 r;
	char			 err[256], *big;
	int			 i, rv = SMTP_PARSE_MORE;

	/* endless continuation lines stop at the bound */
	smtp_reply_init(&r);
	for (i = 0; i < 1000 && rv == SMTP_PARSE_MORE; i++)
		rv = feed(&r, "250-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	assert_int_equal(rv, SMTP_PARSE_BAD);
	assert_int_equal(i, SMTP_REPLY_LINES_MAX + 1);
	assert_true(strlen(r.text) < SMTP_REPLY_TEXT_MAX);

	/* an oversize line is refused, not truncated into a valid one */
	big = malloc(SMTP_REPLY_LINE_MAX + 10);
	memset(big, 'x', SMTP_REPLY_LINE_MAX + 10);
	memcpy(big, "250 ", 4);
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_parse(&r, big, SMTP_REPLY_LINE_MAX + 10,
	    err, sizeof(err)), SMTP_PARSE_BAD);
	smtp_reply_init(&r);
	assert_int_equal(smtp_reply_parse(&r, big, SMTP_REPLY_LINE_MAX,
	    err, sizeof(err)), SMTP_PARSE_DONE);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	free(big);
}

static void
caps_lines(void **state)
{
	struct smtp_caps	 c;

	memset(&c, 0, sizeof(c));
	smtp_caps_parse_line(&c, "PIPELINING");
	smtp_caps_parse_line(&c, "size 10240000");
	smtp_caps_parse_line(&c, "8BITMIME");
	smtp_caps_parse_line(&c, "AUTH PLAIN LOGIN CRAM-MD5");
	smtp_caps_parse_line(&c, "AUTH=XOAUTH2 NTLM");
	smtp_caps_parse_line(&c, "CHUNKING");
	smtp_caps_parse_line(&c, "ENHANCEDSTATUSCODES");
	smtp_caps_parse_line(&c, "STARTTLS");
	smtp_caps_parse_line(&c, "X-WHATEVER 1 2 3");
	assert_int_equal(c.flags, SMTP_CAP_PIPELINING | SMTP_CAP_SIZE |
	    SMTP_CAP_8BITMIME | SMTP_CAP_AUTH | SMTP_CAP_CHUNKING |
	    SMTP_CAP_ENHANCED | SMTP_CAP_STARTTLS);
	assert_int_equal(c.auth, SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN |
	    SMTP_AUTH_CRAM_MD5 | SMTP_AUTH_XOAUTH2);
	assert_int_equal(c.size_max, 10240000);

	memset(&c, 0, sizeof(c));
	smtp_caps_parse_line(&c, "SIZE 99999999999999999999999999");
	assert_int_equal(c.size_max, 0);	/* absurd: no limit */
	smtp_caps_parse_line(&c, "SIZE 12x");
	assert_int_equal(c.size_max, 0);
	smtp_caps_parse_line(&c, "PIPELININGX");
	smtp_caps_parse_line(&c, "");
	assert_int_equal(c.flags, SMTP_CAP_SIZE);
}

/* Canonicalise in one piece and in every two-piece split: same result. */
static void
canon_is(const char *in, const char *want, int dotstuff)
{
	struct smtp_canon	 cs;
	size_t			 len = strlen(in), cut, o;
	char			*out = malloc(2 * len + 8);

	for (cut = 0; cut <= len; cut++) {
		smtp_canon_init(&cs, dotstuff);
		o = smtp_canon_feed(&cs, in, cut, out);
		o += smtp_canon_feed(&cs, in + cut, len - cut, out + o);
		o += smtp_canon_end(&cs, out + o);
		out[o] = '\0';
		assert_string_equal(out, want);
	}
	free(out);
}

static void
canonical_data(void **state)
{
	canon_is("a\r\nb\r\n", "a\r\nb\r\n", 1);
	canon_is("a\nb\n", "a\r\nb\r\n", 1);
	canon_is("a\rb\r", "a\r\nb\r\n", 1);
	canon_is("a\r\r\nb", "a\r\n\r\nb\r\n", 1);
	canon_is("a\n\rb", "a\r\n\r\nb\r\n", 1);
	canon_is("no newline", "no newline\r\n", 1);
	canon_is("", "", 1);
	/* the smuggling shapes: every one stays inside the message */
	canon_is("x\n.\ny", "x\r\n..\r\ny\r\n", 1);
	canon_is("x\r.\ry", "x\r\n..\r\ny\r\n", 1);
	canon_is("x\r\n.\r\nMAIL FROM:<e@vil>", "x\r\n..\r\nMAIL FROM:<e@vil>\r\n",
	    1);
	canon_is(".\r\n", "..\r\n", 1);
	canon_is(".lead\r\nmid.dle\r\n..two\r\n",
	    "..lead\r\nmid.dle\r\n...two\r\n", 1);
	/* BDAT: no dot-stuffing, line ends still canonical */
	canon_is(".\nx\r", ".\r\nx\r\n", 0);
}

static void
canon_worst_case_fits(void **state)
{
	struct smtp_canon	 cs;
	char			 in[64], out[2 * sizeof(in) + 4];
	size_t			 o, i;

	/* "\r." repeated is the densest input: 2 octets in, 4 out */
	for (i = 0; i < sizeof(in); i += 2) {
		in[i] = '\r';
		in[i + 1] = '.';
	}
	smtp_canon_init(&cs, 1);
	o = smtp_canon_feed(&cs, in, sizeof(in), out);
	assert_true(o <= 2 * sizeof(in) + 4);
	o += smtp_canon_end(&cs, out + o);
	assert_true(o <= sizeof(out));
}

/* --- against a scripted server ---------------------------------------------- */

/*
 * Child: answers lines from script in order, reading what the client sends
 * into a file; "<close>" hangs up.
 */
static pid_t
server(int fd, const char *const *script, const char *log)
{
	pid_t	 pid;
	FILE	*in, *out;
	char	 buf[4096];
	int	 i;

	if ((pid = fork()) != 0)
		return pid;
	alarm(10);
	in = fdopen(dup(fd), "r");
	out = fopen(log, "w");
	for (i = 0; script[i] != NULL; i++) {
		if (strcmp(script[i], "<close>") == 0)
			break;
		if (strncmp(script[i], "<read", 5) == 0) {
			int n = atoi(script[i] + 5);

			while (n-- > 0 && fgets(buf, sizeof(buf), in) != NULL)
				fputs(buf, out);
			fflush(out);
			continue;
		}
		if (write(fd, script[i], strlen(script[i])) < 0)
			break;
	}
	fclose(out);
	_exit(0);
}

static struct smtp_client *
client(int fd, const struct smtp_creds *cr)
{
	struct smtp_params	 p;
	struct stream		*st;
	char			 err[256];

	memset(&p, 0, sizeof(p));
	p.helo = "client.test";
	p.host = "scripted";
	p.timeout_ms = 5000;
	p.creds = cr;
	st = stream_socket(fd, 5000, err, sizeof(err));
	assert_non_null(st);
	return smtp_client_new(st, &p);
}

static char *
slurp(const char *path)
{
	static char	 buf[8192];
	FILE		*f = fopen(path, "r");
	size_t		 n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
pipelined_replies_matched(void **state)
{
	static const char *const script[] = {
	    "220 hi\r\n", "<read1>", "250-x\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
	    "<read5>",
	    "250 ok\r\n", "250 2.1.5 ok\r\n", "550 5.1.1 nobody\r\n",
	    "451 4.2.0 later\r\n", "354 go\r\n",
	    "<read5>", "250 2.0.0 queued as X1\r\n", "<read1>", "221 bye\r\n",
	    NULL };
	struct smtp_client	*c;
	struct smtp_rcpt	 rc[3] = { { .addr = "a@x" }, { .addr = "b@x" },
	    { .addr = "c@x" } };
	struct smtp_msg		 m;
	char			 log[] = "/tmp/mh-smtp-XXXXXX";
	int			 sv[2], lfd;
	pid_t			 pid;

	lfd = mkstemp(log);
	close(lfd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = server(sv[1], script, log);
	close(sv[1]);
	c = client(sv[0], NULL);
	assert_int_equal(smtp_hello(c), 0);
	memset(&m, 0, sizeof(m));
	m.sender = "s@x";
	m.rcpts = rc;
	m.nrcpts = 3;
	m.fd = -1;
	m.prefix = "Subject: t\n\n.\nbody";
	m.prefixlen = strlen(m.prefix);
	assert_int_equal(smtp_send(c, &m), 0);
	assert_int_equal(rc[0].reply.code, 250);
	assert_string_equal(rc[0].reply.text, "queued as X1");
	assert_int_equal(rc[1].reply.code, 550);
	assert_string_equal(rc[1].reply.enhanced, "5.1.1");
	assert_int_equal(rc[2].reply.code, 451);
	assert_int_equal(m.nsent, 1);
	smtp_quit(c);
	smtp_client_free(c);
	waitpid(pid, NULL, 0);
	assert_string_equal(slurp(log), "EHLO client.test\r\n"
	    "MAIL FROM:<s@x> SIZE=18\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\n"
	    "RCPT TO:<c@x>\r\nDATA\r\n"
	    "Subject: t\r\n\r\n..\r\nbody\r\n.\r\nQUIT\r\n");
	unlink(log);
}

static void
hangup_mid_data_claims_nothing(void **state)
{
	static const char *const script[] = {
	    "220 hi\r\n", "<read1>", "250-x\r\n250 PIPELINING\r\n", "<read3>",
	    "250 ok\r\n250 ok\r\n354 go\r\n", "<read1>", "<close>", NULL };
	struct smtp_client	*c;
	struct smtp_rcpt	 rc[1] = { { .addr = "a@x" } };
	struct smtp_msg		 m;
	int			 sv[2];
	pid_t			 pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = server(sv[1], script, "/dev/null");
	close(sv[1]);
	c = client(sv[0], NULL);
	assert_int_equal(smtp_hello(c), 0);
	memset(&m, 0, sizeof(m));
	m.sender = "";
	m.rcpts = rc;
	m.nrcpts = 1;
	m.fd = -1;
	m.prefix = "Subject: t\n\nbody\n";
	m.prefixlen = strlen(m.prefix);
	assert_int_equal(smtp_send(c, &m), -1);
	assert_int_equal(rc[0].reply.code, 0);		/* not 250 */
	assert_int_equal(m.nsent, 0);
	assert_int_equal(smtp_error_kind(c), SMTP_ERR_NET);
	assert_non_null(strstr(rc[0].reply.text, "closed"));
	smtp_client_free(c);
	waitpid(pid, NULL, 0);
}

static void
no_auth_in_plaintext(void **state)
{
	static const char *const script[] = {
	    "220 hi\r\n", "<read1>", "250-x\r\n250 AUTH PLAIN LOGIN\r\n",
	    "<read1>", NULL };
	struct smtp_creds	 cr = { "eddy", "secret1", NULL, NULL };
	struct smtp_client	*c;
	char			 log[] = "/tmp/mh-smtp-XXXXXX";
	int			 sv[2], lfd;
	pid_t			 pid;

	lfd = mkstemp(log);
	close(lfd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = server(sv[1], script, log);
	close(sv[1]);
	c = client(sv[0], &cr);
	assert_int_equal(smtp_hello(c), -1);
	assert_int_equal(smtp_error_kind(c), SMTP_ERR_AUTH);
	assert_non_null(strstr(smtp_error(c), "without TLS"));
	smtp_client_free(c);
	waitpid(pid, NULL, 0);
	assert_null(strstr(slurp(log), "AUTH"));
	unlink(log);
}

static void
helo_fallback_lockstep(void **state)
{
	static const char *const script[] = {
	    "220 old server\r\n", "<read1>", "502 what?\r\n", "<read1>",
	    "250 hello\r\n", "<read1>", "250 ok\r\n", "<read1>",
	    "250 ok\r\n", "<read1>", "354 go\r\n", "<read2>",
	    "250 done\r\n", "<read1>", NULL };
	struct smtp_client	*c;
	struct smtp_rcpt	 rc[1] = { { .addr = "a@x" } };
	struct smtp_msg		 m;
	char			 log[] = "/tmp/mh-smtp-XXXXXX";
	int			 sv[2], lfd;
	pid_t			 pid;

	lfd = mkstemp(log);
	close(lfd);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = server(sv[1], script, log);
	close(sv[1]);
	c = client(sv[0], NULL);
	assert_int_equal(smtp_hello(c), 0);
	assert_int_equal(smtp_caps(c)->flags, 0);
	memset(&m, 0, sizeof(m));
	m.sender = "s@x";
	m.rcpts = rc;
	m.nrcpts = 1;
	m.fd = -1;
	m.prefix = "hi\n";
	m.prefixlen = 3;
	m.eightbit = 1;		/* no 8BITMIME offered: no BODY= */
	assert_int_equal(smtp_send(c, &m), 0);
	assert_int_equal(rc[0].reply.code, 250);
	smtp_client_free(c);
	waitpid(pid, NULL, 0);
	assert_string_equal(slurp(log), "EHLO client.test\r\nHELO client.test\r\n"
	    "MAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nhi\r\n.\r\n");
	unlink(log);
}

/* A 250 where the 354 belongs must not pass for a delivery. */
static void
nonsense_data_reply_is_no_verdict(void **state)
{
	static const char *const script[] = {
	    "220 hi\r\n", "<read1>", "250-x\r\n250 PIPELINING\r\n", "<read3>",
	    "250 ok\r\n250 ok\r\n250 2.0.0 queued as NOTHING\r\n", "<read2>",
	    "250 ok\r\n", "<read1>", NULL };
	struct smtp_client	*c;
	struct smtp_rcpt	 rc[1] = { { .addr = "a@x" } };
	struct smtp_msg		 m;
	int			 sv[2];
	pid_t			 pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = server(sv[1], script, "/dev/null");
	close(sv[1]);
	c = client(sv[0], NULL);
	assert_int_equal(smtp_hello(c), 0);
	memset(&m, 0, sizeof(m));
	m.sender = "s@x";
	m.rcpts = rc;
	m.nrcpts = 1;
	m.fd = -1;
	m.prefix = "x\n";
	m.prefixlen = 2;
	assert_int_equal(smtp_send(c, &m), 0);
	assert_int_equal(rc[0].reply.code, 0);
	assert_non_null(strstr(rc[0].reply.text, "unexpected reply: 250"));
	assert_int_equal(m.nsent, 0);
	smtp_client_free(c);
	waitpid(pid, NULL, 0);
}

static void
oversize_reply_is_protocol_error(void **state)
{
	static char	 huge[SMTP_REPLY_LINE_MAX + 100];
	static const char *script[] = { huge, NULL };
	struct smtp_client *c;
	int		 sv[2];
	pid_t		 pid;

	memset(huge, 'A', sizeof(huge) - 3);
	memcpy(huge, "220 ", 4);
	memcpy(huge + sizeof(huge) - 3, "\r\n", 3);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = server(sv[1], script, "/dev/null");
	close(sv[1]);
	c = client(sv[0], NULL);
	assert_int_equal(smtp_hello(c), -1);
	assert_int_equal(smtp_error_kind(c), SMTP_ERR_PROTO);
	assert_non_null(strstr(smtp_error(c), "longer than"));
	smtp_client_free(c);
	waitpid(pid, NULL, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reply_single_and_multi),
		cmocka_unit_test(reply_malformed),
		cmocka_unit_test(reply_bounds),
		cmocka_unit_test(caps_lines),
		cmocka_unit_test(canonical_data),
		cmocka_unit_test(canon_worst_case_fits),
		cmocka_unit_test(pipelined_replies_matched),
		cmocka_unit_test(hangup_mid_data_claims_nothing),
		cmocka_unit_test(no_auth_in_plaintext),
		cmocka_unit_test(helo_fallback_lockstep),
		cmocka_unit_test(nonsense_data_reply_is_no_verdict),
		cmocka_unit_test(oversize_reply_is_protocol_error),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("smtp_client", tests, NULL, NULL);
}
