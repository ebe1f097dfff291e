/* The SMTP server state machine fed bytes directly: replies, limits,
 * smuggling, pipelining, and the commit hand-off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../mtad/config.h"
#include "../../mtad/queue.h"
#include "../../mtad/smtp_session.h"

struct fx {
	char			 dir[64];
	struct mtad_config	 cf;
	struct queue		 q;
	struct smtp_session	 s;
};

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static int
setup(void **state)
{
	struct fx	*fx = calloc(1, sizeof(*fx));
	char		 path[128], spool[128], err[256];
	FILE		*fp;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/test_smtp_session.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(spool, sizeof(spool), "%s/spool", fx->dir);
	snprintf(path, sizeof(path), "%s/aliases", fx->dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("list: root\n", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/mtad.conf", fx->dir);
	assert_non_null(fp = fopen(path, "w"));
	fprintf(fp, "hostname hub.example\nlocal-domains hub.example\n"
	    "spool %s\naliases %s/aliases\nmax-message-size 4K\n", spool,
	    fx->dir);
	fclose(fp);
	assert_int_equal(config_load(path, &fx->cf, err, sizeof(err)), 0);
	assert_int_equal(queue_open(&fx->q, spool, err, sizeof(err)), 0);
	assert_int_equal(smtp_session_init(&fx->s, &fx->cf, &fx->q,
	    QDEST_QUEUE, "192.0.2.7", "[192.0.2.7]", 0, 0), 0);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	smtp_session_free(&fx->s);
	queue_close(&fx->q);
	config_free(&fx->cf);
	nftw(fx->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Feed bytes, return (and consume) everything the session answered. */
static const char *
feed(struct fx *fx, const char *in, size_t len)
{
	static char	out[64 * 1024];
	size_t		n;

	while (len > 0) {
		n = sizeof(fx->s.in) - fx->s.inlen;
		if (n > len)
			n = len;
		memcpy(fx->s.in + fx->s.inlen, in, n);
		fx->s.inlen += n;
		in += n;
		len -= n;
		smtp_session_feed(&fx->s);
	}
	smtp_session_feed(&fx->s);
	n = fx->s.outlen < sizeof(out) - 1 ? fx->s.outlen : sizeof(out) - 1;
	memcpy(out, fx->s.out, n);
	out[n] = '\0';
	smtp_session_consumed(&fx->s, fx->s.outlen);
	return out;
}

static const char *
say(struct fx *fx, const char *in)
{
	return feed(fx, in, strlen(in));
}

static void
greets_and_offers_extensions(void **state)
{
	struct fx	*fx = *state;
	const char	*r;

	assert_string_equal(say(fx, ""), "220 hub.example ESMTP mtad\r\n");
	r = say(fx, "EHLO client.example\r\n");
	assert_non_null(strstr(r, "250-hub.example Hello client.example"));
	assert_non_null(strstr(r, "250-PIPELINING\r\n"));
	assert_non_null(strstr(r, "250-8BITMIME\r\n"));
	assert_non_null(strstr(r, "250-SIZE 4096\r\n"));
	assert_non_null(strstr(r, "250-ENHANCEDSTATUSCODES\r\n"));
	assert_null(strstr(r, "STARTTLS"));
	assert_string_equal(say(fx, "EHLO\r\n"),
	    "501 5.5.4 Syntax: EHLO hostname\r\n");
}

static void
refuses_malformed_commands(void **state)
{
	struct fx	*fx = *state;
	char		 longline[700];

	say(fx, "");
	assert_string_equal(say(fx, "MAIL FROM:<a@b.example>\r\n"),
	    "503 5.5.1 Send HELO/EHLO first\r\n");
	say(fx, "HELO c.example\r\n");
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "NOOP ", 5);
	assert_string_equal(feed(fx, longline, sizeof(longline)),
	    "500 5.5.2 Line too long\r\n");
	/* The rest of that line is dropped, not read as a command. */
	assert_string_equal(say(fx, "xxx\r\nNOOP\r\n"), "250 2.0.0 OK\r\n");
	assert_string_equal(feed(fx, "NO\0OP\r\n", 7),
	    "500 5.5.2 NUL in command\r\n");
	/* fuzz_smtp_session: a bare CR came back inside the HELO reply */
	assert_string_equal(say(fx, "HELO c\r(\r\n"),
	    "500 5.5.2 Bare CR in command\r\n");
	assert_string_equal(say(fx, "\r\n"),
	    "500 5.5.2 Syntax error, empty command\r\n");
	assert_string_equal(say(fx, "MAIL TO:<a@b.example>\r\n"),
	    "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
	assert_string_equal(say(fx, "MAIL FROM:<a@@b>\r\n"),
	    "501 5.1.7 Bad sender address syntax\r\n");
	assert_string_equal(say(fx, "MAIL FROM:<a@b.example>\r\n"),
	    "250 2.1.0 Sender <a@b.example> ok\r\n");
	assert_string_equal(say(fx, "RCPT TO:<>\r\n"),
	    "501 5.1.3 Bad recipient address syntax\r\n");
	assert_string_equal(say(fx, "RCPT TO:<x@remote.example> NOTIFY=NEVER\r\n"),
	    "555 5.5.4 Unsupported RCPT parameter\r\n");
	assert_string_equal(say(fx, "RCPT TO:<x@remote.example>\r\n"),
	    "554 5.7.1 <x@remote.example>: Relaying denied\r\n");
	assert_string_equal(say(fx, "RCPT TO:<nosuchuser.zz@hub.example>\r\n"),
	    "550 5.1.1 <nosuchuser.zz@hub.example>: User unknown\r\n");
	assert_string_equal(say(fx, "DATA\r\n"),
	    "554 5.5.1 No valid recipients\r\n");
	assert_string_equal(say(fx, "VRFY root\r\n"),
	    "252 2.5.0 Cannot verify, but will accept and attempt delivery\r\n");
}

static void
limits_recipients(void **state)
{
	struct fx	*fx = *state;
	char		 cmd[64];
	int		 i;

	say(fx, "");
	say(fx, "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n");
	for (i = 0; i < SMTP_RCPT_MAX; i++) {
		/* Repeats count once: all 100 are the same two users. */
		snprintf(cmd, sizeof(cmd), "RCPT TO:<%s@hub.example>\r\n",
		    i % 2 ? "root" : "list");
		assert_non_null(strstr(say(fx, cmd), "250 2.1.5"));
	}
	assert_int_equal(fx->s.msg.nrcpts, 2);
	assert_string_equal(say(fx, "RSET\r\n"), "250 2.0.0 Reset\r\n");
	assert_int_equal(fx->s.msg.nrcpts, 0);
}

static void
smuggled_dot_is_text(void **state)
{
	struct fx	*fx = *state;
	const char	*r;

	say(fx, "");
	r = say(fx, "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
	    "RCPT TO:<root@hub.example>\r\nDATA\r\n"
	    "Subject: x\r\n\r\nbody\n.\r\nMAIL FROM:<evil@x.example>\r\n"
	    "RCPT TO:<root@hub.example>\r\nDATA\r\nsmuggled\r\n.\r\n");
	assert_non_null(strstr(r, "354 "));
	assert_non_null(strstr(r, "550 5.6.0"));
	assert_null(strstr(r, "2.1.0 Sender <evil"));
	assert_int_equal(fx->s.state, SS_HELO);
	/* And a bare CR before the dot. */
	r = say(fx, "MAIL FROM:<a@b.example>\r\nRCPT TO:<root@hub.example>\r\n"
	    "DATA\r\nx\r.\r\nNOOP\r\n.\r\n");
	assert_non_null(strstr(r, "550 5.6.0"));
	assert_null(strstr(r, "250 2.0.0 OK"));
}

static void
commits_then_answers(void **state)
{
	struct fx	*fx = *state;
	struct qwriter	*w;
	struct qmsg	 m;
	const char	*r;
	char		 id[QID_SIZE];
	int		 res;

	say(fx, "");
	r = say(fx, "EHLO c.example\r\nMAIL FROM:<a@b.example> BODY=8BITMIME\r\n"
	    "RCPT TO:<root@hub.example>\r\nDATA\r\n"
	    "Message-ID: <1@c.example>\r\n\r\n..dot\r\n.\r\nNOOP\r\n");
	/* Nothing after the dot is answered before the commit. */
	assert_null(strstr(r, "250 2.0.0"));
	assert_int_equal(fx->s.state, SS_COMMIT);
	w = &fx->s.w;
	queue_commit(&fx->q, &w, 1, &res);
	assert_int_equal(res, 0);
	assert_int_equal(smtp_session_committed(&fx->s, res, id), 1);
	/* The reply, then what was pipelined behind the dot. */
	r = say(fx, "");
	assert_non_null(strstr(r, "250 2.0.0 queued as "));
	assert_non_null(strstr(r, id));
	assert_non_null(strstr(r, "\r\n250 2.0.0 OK\r\n"));
	assert_int_equal(queue_load(&fx->q, id, &m), 0);
	assert_string_equal(m.sender, "a@b.example");
	assert_int_equal(m.nrcpts, 1);
	assert_int_equal(m.rcpts[0].local, 1);
	assert_int_equal(m.body8bit, 1);
	assert_string_equal(m.msgid, "<1@c.example>");
	qmsg_free(&m);
}

static void
oversized_message_refused(void **state)
{
	struct fx	*fx = *state;
	char		*big;
	const char	*r;
	size_t		 i, n = 8000;

	say(fx, "");
	assert_non_null(strstr(say(fx, "EHLO c.example\r\n"
	    "MAIL FROM:<a@b.example> SIZE=5000\r\n"), "552 5.3.4"));
	say(fx, "MAIL FROM:<a@b.example>\r\nRCPT TO:<root@hub.example>\r\n"
	    "DATA\r\n");
	assert_non_null(big = malloc(n));
	for (i = 0; i < n; i++)
		big[i] = (i % 80 == 79) ? '\n' : (i % 80 == 78 ? '\r' : 'a');
	feed(fx, big, n);
	free(big);
	r = say(fx, ".\r\n");
	assert_non_null(strstr(r, "552 5.3.4"));
	assert_int_equal(fx->s.state, SS_HELO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(greets_and_offers_extensions,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(refuses_malformed_commands,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(limits_recipients, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(smuggled_dot_is_text, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(commits_then_answers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(oversized_message_refused,
		    setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("smtp_session", tests, NULL, NULL);
}
