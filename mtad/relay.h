/*
 * Smart-host delivery: one flush is one connection to the smart host
 * carrying every due message, run in a child of the runner.  Each
 * recipient's result is written to the queue (queue_set_rcpt) right after
 * the server's reply, so a crash never sends it twice.
 *
 * The child reports to the runner over a pipe, one line per message:
 *   "sent ID", "deferred ID", "bounced ID", and "connfail REASON" when the
 *   connection, TLS or AUTH failed (every due message then counts deferred).
 * After a login with an OAuth2 access token the runner did not hand in,
 * "oauth2 EXPIRES TOKEN PATH" (the token stays on this pipe, never logged):
 * the runner keeps it for the next flushes until shortly before it expires.
 */
#ifndef MTAD_RELAY_H
#define MTAD_RELAY_H

#include <signal.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "oauth2.h"
#include "queue.h"

/* The longest report line: an OAuth2 token line. */
#define RELAY_REPORT_MAX	(OAUTH2_TOKEN_MAX + 4096 + 64)

/* Backoff after the n-th failed try (1, 5, 15, 30 min, then hourly). */
time_t	relay_backoff(unsigned tries);

/* What a flush would do now: messages with a remote recipient due (all
 * pending ones when forced), and the earliest next try of the rest
 * (0 when none).  Returns the number due, -1 on a queue error. */
long	relay_due(struct queue *q, time_t now, int forced, time_t *next);

/*
 * Bounce (DSN) every remote recipient older than queue-lifetime, link up
 * or down; the runner calls it while no flush runs.  *next is when the
 * next one expires (0: none waits).  Returns the number of messages
 * bounced, -1 on a queue error.
 */
long	relay_expire(const struct mtad_config *cf, struct queue *q,
	    time_t now, time_t *next);

/*
 * A flush reports "unrecorded ID IDX..." when the queue would not take
 * what the smart host accepted.  The runner keeps the line and calls this
 * before it flushes again, so the message is not sent twice while the
 * write keeps failing: 1 recorded (or the message is gone), 0 the write
 * failed again, -1 a malformed line.
 */
#define RELAY_LATE_RCPTS	100
int	relay_record_late(struct queue *q, const char *line);

/* Check the parts of the config only the relay uses (auth file mode and
 * syntax, generics, masquerade).  0, or -1 with err set. */
int	relay_check_config(const struct mtad_config *cf, char *err,
	    size_t errlen);

/*
 * The flush itself (in the child).  *cancel turns non-zero on SIGTERM
 * (link down, shutdown): no new message starts, and those already sent
 * have their replies read and recorded for up to RELAY_FINISH_SECS (then,
 * or on a second SIGTERM, they are abandoned and stay queued as they
 * were).  token: the runner's cached access token (path, access_token,
 * expires; NULL or empty for none), used when it belongs to the account
 * the flush logs in with.  Returns the child's exit status.
 */
int	relay_flush(const struct mtad_config *cf, struct queue *q, int forced,
	    int reportfd, volatile sig_atomic_t *cancel,
	    const struct oauth2_account *token);

/* An "oauth2 ..." report line into the runner's cache: 1 taken, 0 not
 * such a line, -1 malformed. */
int	relay_token_line(const char *line, struct oauth2_account *cache);

#endif
