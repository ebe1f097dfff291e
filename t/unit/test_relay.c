/* Scheduling: the backoff steps, what a flush finds due, the link state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mtad/config.h"
#include "../../mtad/queue.h"
#include "../../mtad/relay.h"
#include "../../mtad/runner.h"

static void
backoff_steps(void **state)
{
	assert_int_equal(relay_backoff(1), 60);
	assert_int_equal(relay_backoff(2), 300);
	assert_int_equal(relay_backoff(3), 900);
	assert_int_equal(relay_backoff(4), 1800);
	assert_int_equal(relay_backoff(5), 3600);
	assert_int_equal(relay_backoff(50), 3600);
}

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void
queue_one(struct queue *q, const char *rcpt, int local, char id[QID_SIZE])
{
	struct qwriter	 w, *wp = &w;
	struct qmsg	 m;
	struct qrcpt	 r;
	int		 res;

	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	r.addr = (char *)rcpt;
	r.local = local;
	m.sender = "eddy@shofar.lan";
	m.helo = "pc1";
	m.client = "localhost";
	m.proto = "ESMTP";
	m.arrival = time(NULL);
	m.rcpts = &r;
	m.nrcpts = 1;
	assert_int_equal(qwriter_open(q, QDEST_QUEUE, &w), 0);
	qwriter_write(&w, "Subject: x\n\nbody\n", 17);
	assert_int_equal(qwriter_finish(&w, &m), 0);
	queue_commit(q, &wp, 1, &res);
	assert_int_equal(res, 0);
	memcpy(id, m.id, QID_SIZE);
}

static void
due_and_backoff(void **state)
{
	char		 dir[] = "/tmp/test_relay.XXXXXX", spool[64], err[256];
	char		 a[QID_SIZE], b[QID_SIZE], c[QID_SIZE];
	struct queue	 q;
	struct qmsg	 m;
	time_t		 now = time(NULL), next;

	assert_non_null(mkdtemp(dir));
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	assert_int_equal(queue_open(&q, spool, err, sizeof(err)), 0);
	next = 1;
	assert_int_equal(relay_due(&q, now, 0, &next), 0);
	assert_int_equal(next, 0);

	queue_one(&q, "alice@remote.example", 0, a);
	queue_one(&q, "bob@remote.example", 0, b);
	queue_one(&q, "eddy", 1, c);	/* local: never the relay's */
	assert_int_equal(relay_due(&q, now, 0, &next), 2);

	/* b deferred for 5 minutes: not due, but next says when. */
	assert_int_equal(queue_load(&q, b, &m), 0);
	assert_int_equal(queue_set_rcpt(&q, &m, 0, QR_PENDING,
	    "450 4.2.0 busy", now + 300), 0);
	qmsg_free(&m);
	assert_int_equal(relay_due(&q, now, 0, &next), 1);
	assert_int_equal(next, now + 300);
	/* A forced flush (link up, mtactl flush) takes everything. */
	assert_int_equal(relay_due(&q, now, 1, &next), 2);
	assert_int_equal(relay_due(&q, now + 300, 0, &next), 2);

	/* a sent: gone from the queue, not due any more. */
	assert_int_equal(queue_load(&q, a, &m), 0);
	assert_int_equal(queue_set_rcpt(&q, &m, 0, QR_SENT, "250 ok", 0), 0);
	qmsg_free(&m);
	assert_int_equal(relay_due(&q, now, 1, &next), 1);

	queue_close(&q);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
link_state(void **state)
{
	char			dir[] = "/tmp/test_link.XXXXXX", path[64];
	struct mtad_config	cf;
	FILE			*fp;

	assert_non_null(mkdtemp(dir));
	memset(&cf, 0, sizeof(cf));
	cf.spool = dir;
	cf.link = LINK_DOWN;
	assert_int_equal(runner_link_state(&cf), LINK_DOWN);
	cf.link = LINK_UP;
	assert_int_equal(runner_link_state(&cf), LINK_UP);

	/* What mtactl link set wins over the config... */
	snprintf(path, sizeof(path), "%s/link", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("down\n", fp);
	fclose(fp);
	assert_int_equal(runner_link_state(&cf), LINK_DOWN);
	/* ...except `link always`. */
	cf.link = LINK_ALWAYS;
	assert_int_equal(runner_link_state(&cf), LINK_ALWAYS);
	/* A damaged file: the config decides. */
	assert_non_null(fp = fopen(path, "w"));
	fputs("sideways\n", fp);
	fclose(fp);
	cf.link = LINK_UP;
	assert_int_equal(runner_link_state(&cf), LINK_UP);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(backoff_steps),
		cmocka_unit_test(due_and_backoff),
		cmocka_unit_test(link_state),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("relay", tests, NULL, NULL);
}
