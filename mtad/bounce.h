/*
 * Delivery status notifications (RFC 3464) for recipients that failed,
 * queued like any other message: from <> to the envelope sender.  Used by
 * local delivery and by the smart-host runner alike.
 */
#ifndef MTAD_BOUNCE_H
#define MTAD_BOUNCE_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "queue.h"

#define BOUNCE_MAX_HEADERS	(64 * 1024)	/* of the original, returned */

struct bounce_rcpt {
	const char	*orig;		/* the recipient as accepted */
	const char	*final;		/* where it failed (an alias target),
					   NULL: orig itself */
	const char	*reason;	/* "550 5.1.1 user unknown"; an enhanced
					   status code gives the Status: */
};

/*
 * Write the DSN for orig (its header read from datafd with pread) to out,
 * LF line ends: headers From MAILER-DAEMON, To <to>, then multipart/report
 * with a human-readable part, message/delivery-status and
 * text/rfc822-headers.  id is the DSN's own queue ID (Message-ID, boundary).
 * *eightbit is set when the returned headers carry 8-bit octets.  0 or -1.
 */
int	bounce_format(FILE *out, const struct mtad_config *cf,
	    const struct qmsg *orig, int datafd, const char *to,
	    const struct bounce_rcpt *r, size_t n, const char *id,
	    int *eightbit);

/*
 * Queue a DSN for the n failed recipients of orig and log it
 * ("ORIGID: NEWID: DSN: reason").  A message from <> is never bounced: its
 * failure goes to cf->postmaster instead (the double bounce), unless the
 * failed recipient is the postmaster, in which case it is only logged.
 * Returns 1 with newid set (and *local set when the DSN's recipient is
 * local, so the caller can deliver it at once), 0 when nothing needed to
 * be queued, -1 (errno) when the DSN could not be queued: the caller must
 * keep the recipients and try again later.
 */
int	bounce_queue(const struct mtad_config *cf, struct queue *q,
	    const struct qmsg *orig, int datafd, const struct bounce_rcpt *r,
	    size_t n, char newid[QID_SIZE], int *local);

#endif
