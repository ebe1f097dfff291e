/*
 * libFuzzer: fetchd's idfile and delivery journal as it reads them back
 * (uidstore.c), whatever a crash, a full disk or an editor left in them.
 * Input: the idfile, then after the first NUL the journal.  Beyond "no
 * crash": the files open (a malformed line is skipped, never fatal); then
 * entries of our own -- with blanks, '%' and non-ASCII in them, so the
 * escaping runs -- are seen, journaled (whole and per recipient), saved,
 * read back after a reopen exactly as they were set, and survive a prune
 * that keeps them.  The files live under $TMPDIR (else /tmp), one pair
 * per process, removed at exit.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../fetchd/uidstore.c"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char	idfile[512], journal[600], scratch[600];

static void
cleanup(void)
{
	unlink(idfile);
	unlink(journal);
}

static void
setup(void)
{
	const char	*tmp;
	int		 n;

	log_init("fuzz", 0, 0);
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	n = snprintf(idfile, sizeof(idfile), "%s/fuzz_uidstore.%ld", tmp,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(idfile))
		abort();
	snprintf(journal, sizeof(journal), "%s.journal", idfile);
	snprintf(scratch, sizeof(scratch), "%s.new", idfile);
	atexit(cleanup);
}

static void
put(const char *path, const uint8_t *p, size_t n)
{
	FILE	*fp;

	if ((fp = fopen(path, "w")) == NULL || fwrite(p, 1, n, fp) != n ||
	    fclose(fp) != 0)
		abort();
}

static const char	*account = "fuzz user@pop.example/Lists/x y%";
static const char	*uids[] = { "0a%20b", "uid with blanks", "\xc3\xa9t\xc3\xa9",
			    "1/42" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 ready;
	struct uidstore	 us;
	const uint8_t	*nul;
	char		 err[600];
	size_t		 idlen;

	if (!ready) {
		setup();
		ready = 1;
	}
	nul = memchr(data, '\0', size);
	idlen = nul != NULL ? (size_t)(nul - data) : size;
	put(idfile, data, idlen);
	if (nul != NULL)
		put(journal, nul + 1, size - idlen - 1);
	else
		unlink(journal);

	if (uidstore_open(&us, idfile, err, sizeof(err)) == -1) {
		fprintf(stderr, "uidstore_open: %s\n", err);
		abort();	/* bad lines are skipped, never fatal */
	}
	if (uidstore_set(&us, account, uids[0], UID_SEEN) == -1 ||
	    uidstore_set(&us, account, uids[1], UID_SEEN) == -1 ||
	    uidstore_journal(&us, account, &uids[2], 1) == -1 ||
	    uidstore_journal_rcpt(&us, account, uids[3], "Eddy@LAN.example") ==
	    -1 || uidstore_sync(&us) == -1 || uidstore_save(&us) == -1)
		abort();
	uidstore_close(&us);

	if (uidstore_open(&us, idfile, err, sizeof(err)) == -1)
		abort();
	if (!(uidstore_get(&us, account, uids[0]) & UID_SEEN) ||
	    !(uidstore_get(&us, account, uids[1]) & UID_SEEN) ||
	    !(uidstore_get(&us, account, uids[2]) & UID_JOURNAL) ||
	    !uidstore_rcpt_done(&us, account, uids[3], "eddy@lan.example") ||
	    uidstore_rcpt_done(&us, account, uids[3], "other@lan.example"))
		abort();	/* lost, or changed, by the round trip */
	uidstore_prune(&us, account, uids, 4);
	if (!(uidstore_get(&us, account, uids[0]) & UID_SEEN) ||
	    !(uidstore_get(&us, account, uids[2]) & UID_JOURNAL))
		abort();
	uidstore_clear(&us, account, uids[2], UID_JOURNAL);
	if (uidstore_save(&us) == -1)
		abort();
	uidstore_close(&us);
	return 0;
}
