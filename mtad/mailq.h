/*
 * The queue listing of `mailq` / `mtad-sendmail -bp` (and the daemon's
 * "mailq" control command), in sendmail's shape:
 *
 *		/var/spool/mtad/queue (2 requests)
 *	-----Q-ID---------- --Size-- -----Q-Time----- ---------Sender/Recipient---------
 *	19A2B3C4D5E00012345      412 Sun Nov 22 03:14 <eddy@shofar.lan>
 *	                 (451 4.4.1 no answer)
 *	                                              <bob@example.org>
 *			Total requests: 2
 *
 * Only recipients still pending are listed, each after its last error.
 * Messages in the maildrop not yet picked up by mtad are listed too,
 * marked "(waiting for pickup)".
 */
#ifndef MTAD_MAILQ_H
#define MTAD_MAILQ_H

#include <stdio.h>

#include "queue.h"

/* Print the listing; returns the number of messages, or -1 (errno) when
 * the queue cannot be read. */
int	mailq_print(struct queue *q, FILE *out);

#endif
