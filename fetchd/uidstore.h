/*
 * What fetchd remembers about mailbox messages between polls, per account
 * ("remotename@server", plus "/folder" for IMAP folders other than INBOX):
 *
 * - the idfile (~/.fetchids or --idfile): uids seen in "keep" mode, so the
 *   next poll does not fetch them again.  Rewritten whole and atomically
 *   (common/atomic) by uidstore_save().
 * - the journal (the idfile's name + ".journal"): each uid whose message
 *   the SMTP server accepted for every recipient, appended and fsync'd by
 *   uidstore_journal() BEFORE the DELE / \Deleted is sent.  At the next
 *   poll a journaled uid still on the server is deleted (or, in keep mode,
 *   counted as seen) without being delivered again: exactly once across
 *   crashes and dropped links.  Entries go once the server confirmed the
 *   deletion (uidstore_clear + uidstore_save).
 *
 * - partial multi-drop deliveries: when the SMTP server accepted a message
 *   for some recipients and deferred the others, each accepted recipient
 *   is journaled as "ACCOUNT UID RCPT" (uidstore_journal_rcpt), so that the
 *   retry goes only to the rest and nobody gets two copies.  They go with
 *   the uid's entry.
 *
 * Files: one "ACCOUNT UID" a line, both fields %XX-escaped for blanks,
 * controls and '%'; the idfile also holds facts (uidstore_fact) as
 * "ACCOUNT %20KEY VALUE".  A torn last line (crash mid-append) is ignored.
 */
#ifndef FETCHD_UIDSTORE_H
#define FETCHD_UIDSTORE_H

#include <stddef.h>

#define UID_SEEN	0x01
#define UID_JOURNAL	0x02
#define UID_RCPTS	0x04		/* some recipients journaled */

#define UIDSTORE_LINE_MAX	4096
#define UIDSTORE_MAX_ENTRIES	4000000

struct uid_entry;

struct uidstore {
	char			*path;		/* idfile */
	char			*jpath;		/* journal */
	struct uid_entry	**tab;		/* hash buckets */
	size_t			 nbuckets;
	size_t			 n;
	int			 dirty;		/* idfile needs writing */
	int			 jdirty;	/* journal needs compacting */
	int			 jfd;		/* open for appending, or -1 */
	int			 junsynced;	/* written, not yet fsync'd */
};

/* Load both files (missing = empty).  0, or -1 with err (unreadable). */
int	uidstore_open(struct uidstore *us, const char *idfile, char *err,
	    size_t errlen);
void	uidstore_close(struct uidstore *us);

/* UID_SEEN | UID_JOURNAL bits for this uid, 0 if unknown. */
int	uidstore_get(struct uidstore *us, const char *acct, const char *uid);
/* Set / clear bits in memory (uidstore_save writes the idfile). */
int	uidstore_set(struct uidstore *us, const char *acct, const char *uid,
	    int bits);
void	uidstore_clear(struct uidstore *us, const char *acct, const char *uid,
	    int bits);
/* Forget every entry of acct whose uid is not in uids[0..n-1] (the
 * server's current list). */
void	uidstore_prune(struct uidstore *us, const char *acct,
	    const char *const *uids, size_t n);

/*
 * Append uids to the journal: write(2) at once, so that a killed process
 * loses nothing already accepted (the page cache has it), and fsync with
 * uidstore_sync() before the deletions go out, so that a power cut does not
 * either: one fsync per batch.  0, or -1 (errno).
 */
int	uidstore_journal(struct uidstore *us, const char *acct,
	    const char *const *uids, size_t n);
int	uidstore_sync(struct uidstore *us);
/*
 * Partial delivery: journal rcpt as accepted for uid (appended at once,
 * durable at uidstore_sync(), like uidstore_journal).  0 or -1 (errno).
 */
int	uidstore_journal_rcpt(struct uidstore *us, const char *acct,
	    const char *uid, const char *rcpt);
/* 1 when rcpt (any case) was journaled as accepted for uid, else 0. */
int	uidstore_rcpt_done(struct uidstore *us, const char *acct,
	    const char *uid, const char *rcpt);
/*
 * Facts about an account kept in the idfile beside its uids: "proto" (the
 * protocol whose uids it holds), "uidvalidity" (an IMAP folder's).  key
 * has no blank; value is printable.  uidstore_fact: NULL when unknown.
 */
const char *uidstore_fact(struct uidstore *us, const char *acct,
	    const char *key);
int	uidstore_set_fact(struct uidstore *us, const char *acct,
	    const char *key, const char *value);
/* The uids remembered for acct (no facts), pointers valid until the next
 * change: *vp is the caller's to free.  0, or -1 (out of memory). */
int	uidstore_uids(struct uidstore *us, const char *acct, const char ***vp,
	    size_t *np);
/* Messages remembered (seen or journaled) for acct and its folders
 * ("acct/..."), facts not counted. */
size_t	uidstore_count(struct uidstore *us, const char *acct);
/* Write the idfile and compact the journal (atomically) if they changed.
 * 0 or -1 (errno). */
int	uidstore_save(struct uidstore *us);

#endif
