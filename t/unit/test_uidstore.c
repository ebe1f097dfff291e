/*
 * uidstore: the idfile and the delivery journal survive a restart, torn and
 * malformed lines are skipped (never a crash), escapes round-trip, pruning
 * forgets what left the server; inject_sender finds the envelope sender.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../fetchd/inject.h"
#include "../../fetchd/uidstore.h"

struct fixture {
	char	dir[64];
	char	idfile[128];
	char	journal[160];
};

static int
setup(void **state)
{
	struct fixture	*f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_uidstore.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->idfile, sizeof(f->idfile), "%s/ids", f->dir);
	snprintf(f->journal, sizeof(f->journal), "%s/ids.journal", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	unlink(f->idfile);
	unlink(f->journal);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
roundtrip(void **state)
{
	struct fixture	*f = *state;
	struct uidstore	 us;
	const char	*uids[] = { "U1", "U%2" };
	char		 err[256];

	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_int_equal(uidstore_get(&us, "joe@pop", "U1"), 0);
	assert_int_equal(uidstore_set(&us, "joe q@pop", "7/42", UID_SEEN), 0);
	assert_int_equal(uidstore_journal(&us, "joe@pop", uids, 2), 0);
	assert_int_equal(uidstore_sync(&us), 0);
	assert_int_equal(uidstore_save(&us), 0);
	uidstore_close(&us);

	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_int_equal(uidstore_get(&us, "joe q@pop", "7/42"), UID_SEEN);
	assert_int_equal(uidstore_get(&us, "joe@pop", "U1"), UID_JOURNAL);
	assert_int_equal(uidstore_get(&us, "joe@pop", "U%2"), UID_JOURNAL);
	assert_int_equal(uidstore_get(&us, "other@pop", "U1"), 0);
	/* deleted on the server: the journal entry goes */
	uidstore_clear(&us, "joe@pop", "U1", UID_JOURNAL);
	assert_int_equal(uidstore_save(&us), 0);
	uidstore_close(&us);

	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_int_equal(uidstore_get(&us, "joe@pop", "U1"), 0);
	assert_int_equal(uidstore_get(&us, "joe@pop", "U%2"), UID_JOURNAL);
	uidstore_close(&us);
}

static void
malformed(void **state)
{
	struct fixture	*f = *state;
	struct uidstore	 us;
	char		 err[256], longline[6000];

	memset(longline, 'x', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	write_file(f->idfile, "# comment\n\nnospace\n a b\nacct uid extra\n"
	    "bad%zz u\nnul%00 u\ngood@h u1\n");
	{
		FILE	*fp = fopen(f->idfile, "a");

		fputs(longline, fp);
		fputs("good@h u2\n", fp);
		fclose(fp);
	}
	/* a torn last line: the crash came mid-append */
	write_file(f->journal, "good@h j1\ngood@h j2");
	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_int_equal(uidstore_get(&us, "good@h", "u1"), UID_SEEN);
	assert_int_equal(uidstore_get(&us, "good@h", "u2"), UID_SEEN);
	assert_int_equal(uidstore_get(&us, "good@h", "j1"), UID_JOURNAL);
	assert_int_equal(uidstore_get(&us, "good@h", "j2"), 0);
	assert_int_equal(uidstore_get(&us, "acct", "uid"), 0);
	assert_int_equal(us.n, 3);
	uidstore_close(&us);
}

/* Partial multi-drop deliveries: recipients survive a restart, a crash
 * mid-append, malformed lines; they go with the uid (settled or pruned). */
static void
partial(void **state)
{
	struct fixture	*f = *state;
	struct uidstore	 us;
	const char	*u1 = "U1", *none[] = { "U9" };
	char		 err[256];

	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_int_equal(uidstore_journal_rcpt(&us, "a@p", "U1",
	    "ann@localhost"), 0);
	assert_int_equal(uidstore_journal_rcpt(&us, "a@p", "U1",
	    "ann@localhost"), 0);	/* once is enough */
	assert_int_equal(uidstore_journal_rcpt(&us, "a@p", "U2",
	    "o'd y@localhost"), 0);
	assert_int_equal(uidstore_sync(&us), 0);
	uidstore_close(&us);
	/* appended, not compacted: one line each, plus junk and a torn line */
	{
		FILE	*fp = fopen(f->journal, "a");

		fputs("a@p U1 x y\na@p  \na@p U1 bad%zz\na@p U1 bob@t", fp);
		fclose(fp);
	}
	write_file(f->idfile, "a@p U3 ann@localhost\n");
	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_int_equal(uidstore_rcpt_done(&us, "a@p", "U1",
	    "ANN@localhost"), 1);
	assert_int_equal(uidstore_rcpt_done(&us, "a@p", "U1", "bob@t"), 0);
	assert_int_equal(uidstore_rcpt_done(&us, "a@p", "U2",
	    "o'd y@localhost"), 1);
	assert_int_equal(uidstore_rcpt_done(&us, "a@p", "U3",
	    "ann@localhost"), 0);	/* not in the idfile */
	assert_int_equal(uidstore_get(&us, "a@p", "U1"), UID_RCPTS);
	/* settled whole: the full entry, then deleted: all gone */
	assert_int_equal(uidstore_journal(&us, "a@p", &u1, 1), 0);
	uidstore_clear(&us, "a@p", "U1", UID_JOURNAL);
	assert_int_equal(uidstore_rcpt_done(&us, "a@p", "U1",
	    "ann@localhost"), 0);
	assert_int_equal(uidstore_get(&us, "a@p", "U1"), 0);
	assert_int_equal(uidstore_save(&us), 0);
	uidstore_close(&us);
	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_int_equal(uidstore_get(&us, "a@p", "U1"), 0);
	assert_int_equal(uidstore_rcpt_done(&us, "a@p", "U2",
	    "o'd y@localhost"), 1);	/* compaction kept it */
	uidstore_prune(&us, "a@p", none, 1);
	assert_int_equal(uidstore_rcpt_done(&us, "a@p", "U2",
	    "o'd y@localhost"), 0);
	assert_int_equal(us.n, 0);
	uidstore_close(&us);
}

static void
prune(void **state)
{
	struct fixture	*f = *state;
	struct uidstore	 us;
	const char	*onserver[] = { "b", "c" };
	char		 err[256], uid[16];
	int		 i;

	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	for (i = 0; i < 2000; i++) {	/* enough to rehash a few times */
		snprintf(uid, sizeof(uid), "x%d", i);
		assert_int_equal(uidstore_set(&us, "a@h", uid, UID_SEEN), 0);
	}
	uidstore_set(&us, "a@h", "b", UID_SEEN);
	uidstore_set(&us, "a@h", "c", UID_JOURNAL);
	uidstore_set(&us, "z@h", "x1", UID_SEEN);
	uidstore_prune(&us, "a@h", onserver, 2);
	assert_int_equal(uidstore_get(&us, "a@h", "x1"), 0);
	assert_int_equal(uidstore_get(&us, "a@h", "b"), UID_SEEN);
	assert_int_equal(uidstore_get(&us, "a@h", "c"), UID_JOURNAL);
	assert_int_equal(uidstore_get(&us, "z@h", "x1"), UID_SEEN);
	assert_int_equal(us.n, 3);
	uidstore_close(&us);
}

/* Facts live beside the uids, survive a restart and pruning, and are not
 * counted as messages; a fact line without a value is malformed. */
static void
facts(void **state)
{
	struct fixture	*f = *state;
	struct uidstore	 us;
	const char	*keep[] = { "9/1" };
	char		 err[256];

	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_null(uidstore_fact(&us, "joe@imap", "proto"));
	assert_int_equal(uidstore_set_fact(&us, "joe@imap", "proto", "IMAP"),
	    0);
	assert_int_equal(uidstore_set_fact(&us, "joe@imap/Junk",
	    "uidvalidity", "9"), 0);
	assert_int_equal(uidstore_set_fact(&us, "joe@imap", "uidvalidity",
	    "7"), 0);
	assert_int_equal(uidstore_set_fact(&us, "joe@imap", "uidvalidity",
	    "8"), 0);
	assert_int_equal(uidstore_set_fact(&us, "joe@imap", "a b", "x"), -1);
	assert_int_equal(uidstore_set(&us, "joe@imap/Junk", "9/1", UID_SEEN),
	    0);
	assert_int_equal(uidstore_set(&us, "joe@imapx", "9/1", UID_SEEN), 0);
	assert_int_equal(uidstore_count(&us, "joe@imap"), 1);
	uidstore_prune(&us, "joe@imap", keep, 0);
	assert_string_equal(uidstore_fact(&us, "joe@imap", "proto"), "IMAP");
	assert_int_equal(uidstore_save(&us), 0);
	uidstore_close(&us);

	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_string_equal(uidstore_fact(&us, "joe@imap", "proto"), "IMAP");
	assert_string_equal(uidstore_fact(&us, "joe@imap", "uidvalidity"),
	    "8");
	assert_string_equal(uidstore_fact(&us, "joe@imap/Junk",
	    "uidvalidity"), "9");
	assert_int_equal(uidstore_get(&us, "joe@imap/Junk", "9/1"), UID_SEEN);
	assert_int_equal(uidstore_count(&us, "joe@imap"), 1);
	uidstore_prune(&us, "joe@imap/Junk", keep, 1);
	assert_int_equal(uidstore_count(&us, "joe@imap"), 1);
	uidstore_prune(&us, "joe@imap/Junk", keep, 0);
	assert_int_equal(uidstore_count(&us, "joe@imap"), 0);
	uidstore_close(&us);

	write_file(f->idfile, "joe@h %20proto\njoe@h u1 x\njoe@h %20proto "
	    "POP3\n");
	assert_int_equal(uidstore_open(&us, f->idfile, err, sizeof(err)), 0);
	assert_string_equal(uidstore_fact(&us, "joe@h", "proto"), "POP3");
	assert_int_equal(uidstore_count(&us, "joe@h"), 0);
	uidstore_close(&us);
}

static void
unreadable(void **state)
{
	struct uidstore	 us;
	char		 err[256];

	(void)state;
	/* a directory where the idfile should be */
	assert_int_equal(uidstore_open(&us, "/", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/"));
}

static void
sender(void **state)
{
	char	 out[ADDR_MAX + 1];
	const char *h1 = "Return-Path: <bounce@lists.example>\r\n"
	    "From: Alice <alice@example.org>\r\n\r\nbody\r\n";
	const char *h2 = "Subject: x\r\nFrom: \"A, B\" <ab@example.org>,\r\n"
	    " c@example.org\r\n\r\n";
	const char *h3 = "Return-Path: <>\r\nFrom: a@example.org\r\n\r\n";
	const char *h4 = "Subject: no from\r\n\r\nFrom: body@example.org\r\n";
	const char *h5 = "From: not an address at all\r\n\r\n";

	(void)state;
	inject_sender(h1, strlen(h1), out, sizeof(out));
	assert_string_equal(out, "bounce@lists.example");
	inject_sender(h2, strlen(h2), out, sizeof(out));
	assert_string_equal(out, "ab@example.org");
	inject_sender(h3, strlen(h3), out, sizeof(out));
	assert_string_equal(out, "");
	inject_sender(h4, strlen(h4), out, sizeof(out));
	assert_string_equal(out, "");
	inject_sender(h5, strlen(h5), out, sizeof(out));
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(partial, setup, teardown),
		cmocka_unit_test_setup_teardown(prune, setup, teardown),
		cmocka_unit_test_setup_teardown(facts, setup, teardown),
		cmocka_unit_test(unreadable),
		cmocka_unit_test(sender),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("uidstore", tests, NULL, NULL);
}
