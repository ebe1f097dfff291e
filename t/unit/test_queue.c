/* The on-disk queue: what is committed is there, what is not leaves nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mtad/queue.h"
#include "../../mtad/queue_env.h"

struct fx {
	char		dir[64];
	char		spool[96];
	struct queue	q;
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
	char		 err[256];

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/test_queue.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->spool, sizeof(fx->spool), "%s/spool", fx->dir);
	assert_int_equal(queue_open(&fx->q, fx->spool, err, sizeof(err)), 0);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;

	queue_close(&fx->q);
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Count entries of spool/sub (not . and ..). */
static int
count(struct fx *fx, const char *sub)
{
	char		 cmd[256];
	FILE		*fp;
	int		 n = 0, c;

	snprintf(cmd, sizeof(cmd), "ls -A %s/%s", fx->spool, sub);
	assert_non_null(fp = popen(cmd, "r"));
	while ((c = fgetc(fp)) != EOF)
		if (c == '\n')
			n++;
	pclose(fp);
	return n;
}

static int
exists(struct fx *fx, const char *sub, const char *id, const char *suffix)
{
	char		path[256];
	struct stat	sb;

	snprintf(path, sizeof(path), "%s/%s/%s%s", fx->spool, sub, id, suffix);
	return stat(path, &sb) == 0;
}

static void
touch(struct fx *fx, const char *sub, const char *name, const char *text)
{
	char	path[256];
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s/%s", fx->spool, sub, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

/* A message with two recipients, as smtpd would fill it in. */
static void
fill(struct qmsg *m, struct qrcpt r[2])
{
	memset(m, 0, sizeof(*m));
	memset(r, 0, 2 * sizeof(*r));
	m->arrival = 1763782452;
	m->sender = "eddy@shofar.lan";
	m->helo = "shofar.lan";
	m->client = "shofar.lan [192.168.1.2]";
	m->proto = "ESMTP";
	m->msgid = "<1@shofar.lan>";
	r[0].addr = "alice@shofar.lan";
	r[0].local = 1;
	r[1].addr = "bob@example.org";
	m->rcpts = r;
	m->nrcpts = 2;
}

static void
write_one(struct fx *fx, enum qdest dest, const char *body, char id[QID_SIZE])
{
	struct qwriter	 w, *wp = &w;
	struct qmsg	 m;
	struct qrcpt	 r[2];
	int		 res = -1;

	fill(&m, r);
	assert_int_equal(qwriter_open(&fx->q, dest, &w), 0);
	qwriter_write(&w, body, strlen(body));
	assert_int_equal(qwriter_finish(&w, &m), 0);
	queue_commit(&fx->q, &wp, 1, &res);
	assert_int_equal(res, 0);
	memcpy(id, m.id, QID_SIZE);
}

static void
ids_sort_by_arrival_and_are_unique(void **state)
{
	char	prev[QID_SIZE] = "", id[QID_SIZE], pid[8];
	int	i;

	snprintf(pid, sizeof(pid), "%06X", (unsigned)getpid());
	for (i = 0; i < 5000; i++) {
		queue_new_id(id);
		assert_int_equal(strlen(id), QID_LEN);
		assert_true(queue_valid_id(id));
		assert_string_equal(id + 13, pid);
		assert_true(strcmp(prev, id) < 0);
		memcpy(prev, id, QID_SIZE);
	}
	assert_false(queue_valid_id("../../etc/passwd00"));
	assert_false(queue_valid_id("0019a2b3c4d5e000123"));
	assert_false(queue_valid_id(""));
}

static void
open_creates_layout_with_modes(void **state)
{
	struct fx	*fx = *state;
	struct stat	 sb;
	char		 p[256];

	snprintf(p, sizeof(p), "%s/maildrop", fx->spool);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 01733);
	snprintf(p, sizeof(p), "%s/queue", fx->spool);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
	snprintf(p, sizeof(p), "%s/tmp", fx->spool);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0700);
}

static void
write_commit_load_remove(void **state)
{
	struct fx	*fx = *state;
	struct qmsg	 m;
	char		 id[QID_SIZE], buf[64];
	const char	*body = "Subject: hi\n\nhello\n";
	ssize_t		 n;
	int		 fd;

	write_one(fx, QDEST_QUEUE, body, id);
	assert_int_equal(count(fx, "tmp"), 0);
	assert_int_equal(queue_load(&fx->q, id, &m), 0);
	assert_string_equal(m.id, id);
	assert_int_equal(m.arrival, 1763782452);
	assert_string_equal(m.sender, "eddy@shofar.lan");
	assert_string_equal(m.helo, "shofar.lan");
	assert_string_equal(m.client, "shofar.lan [192.168.1.2]");
	assert_string_equal(m.proto, "ESMTP");
	assert_string_equal(m.msgid, "<1@shofar.lan>");
	assert_int_equal(m.size, strlen(body));
	assert_int_equal(m.nrcpts, 2);
	assert_string_equal(m.rcpts[0].addr, "alice@shofar.lan");
	assert_int_equal(m.rcpts[0].local, 1);
	assert_int_equal(m.rcpts[1].local, 0);
	assert_int_equal(m.rcpts[1].state, QR_PENDING);
	assert_null(m.rcpts[1].last_error);
	qmsg_free(&m);

	assert_true((fd = queue_open_data(&fx->q, id)) >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, strlen(body));
	assert_memory_equal(buf, body, n);

	assert_int_equal(queue_remove(&fx->q, id), 0);
	assert_int_equal(queue_load(&fx->q, id, &m), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count(fx, "queue"), 0);
}

static void
null_sender_round_trips(void **state)
{
	struct fx	*fx = *state;
	struct qwriter	 w, *wp = &w;
	struct qmsg	 m;
	struct qrcpt	 r[2];
	int		 res;

	fill(&m, r);
	m.sender = "";
	m.helo = m.client = m.msgid = NULL;
	assert_int_equal(qwriter_open(&fx->q, QDEST_QUEUE, &w), 0);
	qwriter_write(&w, "x\n", 2);
	assert_int_equal(qwriter_finish(&w, &m), 0);
	queue_commit(&fx->q, &wp, 1, &res);
	assert_int_equal(res, 0);
	assert_int_equal(queue_load(&fx->q, m.id, &m), 0);
	assert_string_equal(m.sender, "");
	assert_null(m.helo);
	assert_null(m.msgid);
	qmsg_free(&m);
}

static int
collect(const char *id, void *arg)
{
	char	(*ids)[QID_SIZE] = arg;
	int	i;

	for (i = 0; ids[i][0] != '\0'; i++)
		;
	memcpy(ids[i], id, QID_SIZE);
	return 0;
}

static void
group_commit_of_several_writers(void **state)
{
	struct fx	*fx = *state;
	struct qwriter	 w[6], *wp[6];
	struct qmsg	 m[6];
	struct qrcpt	 r[6][2];
	char		 got[8][QID_SIZE];
	int		 res[6], i;

	for (i = 0; i < 6; i++) {
		fill(&m[i], r[i]);
		assert_int_equal(qwriter_open(&fx->q, QDEST_QUEUE, &w[i]), 0);
		qwriter_write(&w[i], "body\n", 5);
		wp[i] = &w[i];
	}
	for (i = 0; i < 6; i++)
		if (i != 3)
			assert_int_equal(qwriter_finish(&w[i], &m[i]), 0);
	/* Writer 3 was aborted (client went away): it is refused, the rest
	 * commit, and it leaves nothing. */
	qwriter_abort(&w[3]);
	queue_commit(&fx->q, wp, 6, res);
	for (i = 0; i < 6; i++)
		assert_int_equal(res[i], i == 3 ? EINVAL : 0);
	assert_int_equal(count(fx, "tmp"), 0);
	assert_int_equal(count(fx, "queue"), 10);

	memset(got, 0, sizeof(got));
	assert_int_equal(queue_scan(&fx->q, collect, got), 0);
	for (i = 0; i < 5; i++) {
		assert_true(queue_valid_id(got[i]));
		if (i > 0)
			assert_true(strcmp(got[i - 1], got[i]) < 0);
	}
	assert_int_equal(got[5][0], '\0');
	assert_string_equal(got[0], m[0].id);
	assert_string_equal(got[4], m[5].id);
}

static void
aborted_writer_leaves_nothing(void **state)
{
	struct fx	*fx = *state;
	struct qwriter	 w, *wp = &w;
	struct qmsg	 m;
	struct qrcpt	 r[2];
	int		 res;

	assert_int_equal(qwriter_open(&fx->q, QDEST_QUEUE, &w), 0);
	qwriter_write(&w, "half a mess", 11);
	assert_int_equal(count(fx, "tmp"), 1);
	qwriter_abort(&w);
	assert_int_equal(count(fx, "tmp"), 0);

	/* A write error is remembered and fails finish; nothing stays. */
	fill(&m, r);
	assert_int_equal(qwriter_open(&fx->q, QDEST_QUEUE, &w), 0);
	qwriter_write(&w, "data", 4);
	w.failed = ENOSPC;
	qwriter_write(&w, "more", 4);
	assert_int_equal(w.size, 4);
	assert_int_equal(qwriter_finish(&w, &m), -1);
	assert_int_equal(errno, ENOSPC);
	queue_commit(&fx->q, &wp, 1, &res);
	assert_int_not_equal(res, 0);
	assert_int_equal(count(fx, "tmp"), 0);
	assert_int_equal(count(fx, "queue"), 0);

	/* Same in the maildrop. */
	assert_int_equal(qwriter_open(&fx->q, QDEST_MAILDROP, &w), 0);
	qwriter_write(&w, "x", 1);
	assert_int_equal(count(fx, "maildrop"), 1);
	qwriter_abort(&w);
	assert_int_equal(count(fx, "maildrop"), 0);
}

static void
set_rcpt_updates_then_removes(void **state)
{
	struct fx	*fx = *state;
	struct qmsg	 m, again;
	char		 id[QID_SIZE];

	write_one(fx, QDEST_QUEUE, "hi\n", id);
	assert_int_equal(queue_load(&fx->q, id, &m), 0);

	assert_int_equal(queue_set_rcpt(&fx->q, &m, 1, QR_PENDING,
	    "451 4.4.1 no answer\r\nfrom host", 1763786052), 0);
	assert_int_equal(m.rcpts[1].tries, 1);
	assert_string_equal(m.rcpts[1].last_error,
	    "451 4.4.1 no answer??from host");
	assert_int_equal(queue_load(&fx->q, id, &again), 0);
	assert_int_equal(again.rcpts[1].next_try, 1763786052);
	assert_int_equal(again.rcpts[1].tries, 1);
	assert_string_equal(again.rcpts[1].last_error,
	    "451 4.4.1 no answer??from host");

	/* A second handle that is stale still settles its own recipient
	 * without undoing the first update. */
	assert_int_equal(queue_set_rcpt(&fx->q, &again, 0, QR_SENT, NULL, 0), 0);
	assert_int_equal(again.rcpts[0].state, QR_SENT);
	assert_int_equal(again.rcpts[1].tries, 1);
	qmsg_free(&again);

	assert_int_equal(queue_set_rcpt(&fx->q, &m, 5, QR_SENT, NULL, 0), -1);
	assert_int_equal(errno, EINVAL);

	assert_int_equal(queue_set_rcpt(&fx->q, &m, 1, QR_BOUNCED,
	    "550 5.1.1 no such user", 0), 0);
	qmsg_free(&m);
	assert_int_equal(queue_load(&fx->q, id, &m), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count(fx, "queue"), 0);
	assert_int_equal(count(fx, "tmp"), 0);
}

static void
update_several_at_once(void **state)
{
	struct fx	*fx = *state;
	struct qmsg	 m;
	char		 id[QID_SIZE];
	struct qrcpt_update u[2] = {
		{ 0, QR_SENT, "250 ok", 0 },
		{ 1, QR_PENDING, "451 later", 1763786052 },
	};

	write_one(fx, QDEST_QUEUE, "hi\n", id);
	assert_int_equal(queue_load(&fx->q, id, &m), 0);
	/* A bad index changes nothing. */
	u[1].idx = 7;
	assert_int_equal(queue_update(&fx->q, &m, u, 2), -1);
	assert_int_equal(errno, EINVAL);
	qmsg_free(&m);
	assert_int_equal(queue_load(&fx->q, id, &m), 0);
	assert_int_equal(m.rcpts[0].state, QR_PENDING);
	assert_int_equal(m.rcpts[0].tries, 0);

	u[1].idx = 1;
	assert_int_equal(queue_update(&fx->q, &m, u, 2), 0);
	qmsg_free(&m);
	assert_int_equal(queue_load(&fx->q, id, &m), 0);
	assert_int_equal(m.rcpts[0].state, QR_SENT);
	assert_string_equal(m.rcpts[1].last_error, "451 later");
	assert_int_equal(m.rcpts[1].tries, 1);

	u[0].idx = 1;
	u[0].state = QR_SENT;
	assert_int_equal(queue_update(&fx->q, &m, u, 1), 0);
	qmsg_free(&m);
	assert_int_equal(queue_load(&fx->q, id, &m), -1);
	assert_int_equal(errno, ENOENT);
}

/* Deferred syncs: the change is visible at once, the sync is counted. */
static void
deferred_sync_groups_settlements(void **state)
{
	struct fx	*fx = *state;
	struct qmsg	 m;
	char		 a[QID_SIZE], b[QID_SIZE];
	struct qrcpt_update u[2] = {
		{ 0, QR_SENT, "250 ok", 0 },
		{ 1, QR_SENT, "250 ok", 0 },
	};

	write_one(fx, QDEST_QUEUE, "one\n", a);
	write_one(fx, QDEST_QUEUE, "two\n", b);
	fx->q.defer_sync = 1;
	assert_int_equal(queue_sync(&fx->q), 0);	/* nothing waits */

	assert_int_equal(queue_load(&fx->q, a, &m), 0);
	assert_int_equal(queue_update(&fx->q, &m, u, 1), 0);	/* rewrite */
	assert_int_equal(fx->q.unsynced, 1);
	qmsg_free(&m);
	assert_int_equal(queue_load(&fx->q, a, &m), 0);
	assert_int_equal(m.rcpts[0].state, QR_SENT);
	assert_int_equal(queue_update(&fx->q, &m, u + 1, 1), 0);	/* removal */
	qmsg_free(&m);
	assert_int_equal(queue_load(&fx->q, b, &m), 0);
	assert_int_equal(queue_update(&fx->q, &m, u, 2), 0);
	qmsg_free(&m);
	assert_int_equal(fx->q.unsynced, 3);
	/* Gone for every reader before the sync: a crashed process never
	 * sends them again. */
	assert_int_equal(queue_load(&fx->q, a, &m), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count(fx, "queue"), 0);
	assert_int_equal(queue_sync(&fx->q), 0);
	assert_int_equal(fx->q.unsynced, 0);

	/* Bad input leaves the count alone. */
	write_one(fx, QDEST_QUEUE, "three\n", a);
	assert_int_equal(queue_load(&fx->q, a, &m), 0);
	u[1].idx = 9;
	assert_int_equal(queue_update(&fx->q, &m, u, 2), -1);
	assert_int_equal(fx->q.unsynced, 0);
	qmsg_free(&m);
}

static void
maildrop_pickup(void **state)
{
	struct fx	*fx = *state;
	char		 id[QID_SIZE], got[4][QID_SIZE];
	struct stat	 sb;
	char		 p[256];
	struct qmsg	 m;

	write_one(fx, QDEST_MAILDROP, "from sendmail\n", id);
	assert_true(exists(fx, "maildrop", id, ".env"));
	assert_true(exists(fx, "maildrop", id, ".msg"));
	snprintf(p, sizeof(p), "%s/maildrop/%s.msg", fx->spool, id);
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	assert_int_equal(count(fx, "maildrop"), 2);

	/* A writer still busy in the maildrop is left alone. */
	struct qwriter busy;
	assert_int_equal(qwriter_open(&fx->q, QDEST_MAILDROP, &busy), 0);

	memset(got, 0, sizeof(got));
	assert_int_equal(queue_pickup(&fx->q, collect, got), 0);
	assert_string_equal(got[0], id);
	assert_int_equal(got[1][0], '\0');
	assert_int_equal(count(fx, "maildrop"), 1);
	assert_int_equal(queue_load(&fx->q, id, &m), 0);
	assert_int_equal(m.size, 14);
	qmsg_free(&m);
	qwriter_abort(&busy);
	assert_int_equal(count(fx, "maildrop"), 0);
}

static void
crash_leftovers_cleaned(void **state)
{
	struct fx	*fx = *state;
	char		 id[QID_SIZE], orphan[QID_SIZE], pick[QID_SIZE];
	char		 name[256], err[256];
	struct qmsg	 m;

	write_one(fx, QDEST_QUEUE, "kept\n", id);
	/* Crash after the .msg rename, before the .env one. */
	queue_new_id(orphan);
	snprintf(name, sizeof(name), "%s.msg", orphan);
	touch(fx, "queue", name, "never acknowledged\n");
	/* Crash while writing. */
	touch(fx, "tmp", "0000000000000000001.msg", "partial");
	touch(fx, "tmp", "0000000000000000001.env", "version 1\n");
	/* Crash in the middle of a pickup: .msg moved, .env not yet. */
	write_one(fx, QDEST_MAILDROP, "picked\n", pick);
	snprintf(name, sizeof(name), "%s/maildrop/%s.msg", fx->spool, pick);
	{
		char to[256];

		snprintf(to, sizeof(to), "%s/queue/%s.msg", fx->spool, pick);
		assert_int_equal(rename(name, to), 0);
	}

	queue_close(&fx->q);
	assert_int_equal(queue_open(&fx->q, fx->spool, err, sizeof(err)), 0);
	assert_int_equal(count(fx, "tmp"), 0);
	assert_false(exists(fx, "queue", orphan, ".msg"));
	assert_true(exists(fx, "queue", id, ".msg"));
	assert_int_equal(queue_load(&fx->q, id, &m), 0);
	qmsg_free(&m);
	assert_int_equal(queue_load(&fx->q, pick, &m), 0);
	qmsg_free(&m);
	assert_int_equal(count(fx, "maildrop"), 0);
	assert_int_equal(count(fx, "queue"), 4);
}

static void
attach_does_not_recover(void **state)
{
	struct fx	*fx = *state;
	struct queue	 q2;
	char		 err[256];

	/* mtad may be writing in tmp/ while mtad-sendmail attaches. */
	touch(fx, "tmp", "0000000000000000001.msg", "in flight");
	assert_int_equal(queue_attach(&q2, fx->spool, err, sizeof(err)), 0);
	assert_int_equal(count(fx, "tmp"), 1);
	queue_close(&q2);
	assert_int_equal(queue_attach(&q2, "/nonexistent/dir/spool", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/dir/spool"));
}

static const char good_env[] =
    "version 1\n"
    "id 0019A2B3C4D5E000123\n"
    "arrival 1763782452\n"
    "size 42\n"
    "body8bit 1\n"
    "sender <>\n"
    "proto local\n"
    "rcpt pending remote 2 1763786052 <\"a b\"@example.org>\n"
    "error 451 4.4.1 no answer\n"
    "rcpt sent local 1 0 <eddy@shofar.lan>\n"
    "end\n";

static void
env_parses_good(void **state)
{
	struct qmsg	m;
	char		err[128];
	char		*buf;
	size_t		len;

	assert_int_equal(env_parse(good_env, strlen(good_env), &m, err,
	    sizeof(err)), 0);
	assert_string_equal(m.sender, "");
	assert_int_equal(m.body8bit, 1);
	assert_int_equal(m.nrcpts, 2);
	assert_string_equal(m.rcpts[0].addr, "\"a b\"@example.org");
	assert_string_equal(m.rcpts[0].last_error, "451 4.4.1 no answer");
	assert_int_equal(m.rcpts[0].tries, 2);
	assert_int_equal(m.rcpts[1].state, QR_SENT);
	assert_null(m.rcpts[1].last_error);
	/* Formatting what was parsed gives the same text back. */
	assert_int_equal(env_format(&m, &buf, &len), 0);
	assert_int_equal(len, strlen(good_env));
	assert_memory_equal(buf, good_env, len);
	free(buf);
	qmsg_free(&m);
}

static void
env_rejects_malformed(void **state)
{
	static const struct {
		const char *text, *err;
	} bad[] = {
		{ "", "truncated (no end line)" },
		{ "id 0019A2B3C4D5E000123\nend\n", "line 1: not an envelope" },
		{ "version 2\nend\n", "line 1: unsupported version" },
		{ "version 1\nid 0019A2B3C4D5E000123\narrival 1\nsize 1\n"
		  "sender <>\nrcpt pending remote 0 0 <a@b>\n",
		  "truncated (no end line)" },
		{ "version 1\nid 0019A2B3C4D5E000123\narrival 1\nsize 1\n"
		  "sender <>\nrcpt pending remote 0 0 <a@b>\nend",
		  "line 7: truncated (no newline)" },
		{ "version 1\nid ../../etc/passwd\nend\n",
		  "line 2: bad queue id" },
		{ "version 1\narrival -5\nend\n", "line 2: bad arrival" },
		{ "version 1\narrival 99999999999999999999999\nend\n",
		  "line 2: bad arrival" },
		{ "version 1\nsize 12x\nend\n", "line 2: bad size" },
		{ "version 1\nsender eddy\nend\n", "line 2: sender must be" },
		{ "version 1\nsender <a>\nsender <b>\nend\n",
		  "line 3: duplicate sender" },
		{ "version 1\nfrobnicate yes\nend\n",
		  "line 2: unknown keyword \"frobnicate\"" },
		{ "version 1\nrcpt pending remote 0 0\nend\n",
		  "line 2: rcpt without address" },
		{ "version 1\nrcpt maybe remote 0 0 <a@b>\nend\n",
		  "line 2: bad recipient state" },
		{ "version 1\nrcpt sent far 0 0 <a@b>\nend\n",
		  "line 2: expected local or remote" },
		{ "version 1\nrcpt sent local -1 0 <a@b>\nend\n",
		  "line 2: bad tries" },
		{ "version 1\nrcpt sent\nend\n", "line 2: rcpt needs" },
		{ "version 1\nerror 451 x\nend\n",
		  "line 2: error line not after a rcpt" },
		{ "version 1\nend\nsize 3\n", "line 3: data after end" },
		{ "version 1\nend\n", "missing version, id" },
		{ "version 1\nid 0019A2B3C4D5E000123\narrival 1\nsize 1\n"
		  "sender <>\nend\n", "no recipients" },
		{ "version 1\nhelo\nend\n", "line 2: helo without a value" },
		{ "version 1\nrcpt sent local 0 0 <a\x19" "b@c>\nend\n",
		  "line 2: control character" },
		{ "version 1\nhelo a\tb\nend\n", "line 2: control character" },
		{ "version 1\r\nend\r\n", "line 1: control character" },
	};
	struct qmsg	m;
	char		err[128];
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(env_parse(bad[i].text, strlen(bad[i].text),
		    &m, err, sizeof(err)), -1);
		if (strstr(err, bad[i].err) == NULL)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err,
			    bad[i].err);
		assert_null(m.rcpts);
		assert_null(m.sender);
	}
	/* Embedded NUL and an overlong line. */
	assert_int_equal(env_parse("version 1\nhelo a\0b\nend\n", 22, &m, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "line 2: NUL"));
	{
		char	*big = malloc(10000);

		memset(big, 'a', 9999);
		memcpy(big, "version 1\nhelo ", 15);
		big[9998] = '\n';
		assert_int_equal(env_parse(big, 9999, &m, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "line 2: line too long"));
		free(big);
	}
}

static void
malformed_env_on_disk_is_refused(void **state)
{
	struct fx	*fx = *state;
	struct qmsg	 m;
	char		 id[QID_SIZE], name[64];

	write_one(fx, QDEST_QUEUE, "x\n", id);
	snprintf(name, sizeof(name), "%s.env", id);
	touch(fx, "queue", name, "version 1\nsize banana\nend\n");
	assert_int_equal(queue_load(&fx->q, id, &m), -1);
	assert_int_equal(errno, EINVAL);
	/* An envelope copied under another message's name. */
	{
		char text[512];

		snprintf(text, sizeof(text), "%s", good_env);
		touch(fx, "queue", name, text);
	}
	assert_int_equal(queue_load(&fx->q, id, &m), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(queue_load(&fx->q, "../tmp/whatever0000", &m), -1);
	assert_int_equal(errno, EINVAL);
}

static void
format_refuses_unstorable(void **state)
{
	struct qmsg	 m;
	struct qrcpt	 r[2];
	char		*buf;
	size_t		 len;

	fill(&m, r);
	memcpy(m.id, "0019A2B3C4D5E000123", QID_SIZE);
	r[1].addr = "bob@example.org>\nrcpt sent local 0 0 <x@y";
	assert_int_equal(env_format(&m, &buf, &len), -1);
	assert_int_equal(errno, EINVAL);
	r[1].addr = "bob@example.org";
	m.helo = "evil\nrcpt pending local 0 0 <root@x>";
	assert_int_equal(env_format(&m, &buf, &len), 0);
	assert_non_null(strstr(buf, "helo evil?rcpt pending"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_sort_by_arrival_and_are_unique),
		cmocka_unit_test_setup_teardown(open_creates_layout_with_modes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(write_commit_load_remove,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(null_sender_round_trips,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(group_commit_of_several_writers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(aborted_writer_leaves_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(set_rcpt_updates_then_removes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(update_several_at_once,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(maildrop_pickup,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(crash_leftovers_cleaned,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(attach_does_not_recover,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    deferred_sync_groups_settlements, setup, teardown),
		cmocka_unit_test(env_parses_good),
		cmocka_unit_test(env_rejects_malformed),
		cmocka_unit_test_setup_teardown(malformed_env_on_disk_is_refused,
		    setup, teardown),
		cmocka_unit_test(format_refuses_unstorable),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
