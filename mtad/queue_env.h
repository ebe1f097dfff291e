/*
 * The envelope file (queue/ID.env): one "keyword value" per line, so an
 * administrator can read it and a crash can never leave a half-parsable one
 * behind unnoticed (the last line is "end").
 *
 *   version 1
 *   id 0019A2B3C4D5E000123
 *   arrival 1763782452
 *   size 4242
 *   body8bit 0
 *   sender <eddy@shofar.lan>		("<>" for the null sender)
 *   helo shofar.lan
 *   client shofar.lan [192.168.1.2]
 *   proto ESMTP
 *   msgid <20261122.1@shofar.lan>
 *   rcpt pending local 0 0 <eddy@shofar.lan>
 *   rcpt pending remote 2 1763786052 <bob@example.org>
 *   error 451 4.4.1 no answer		(the last error of the rcpt above)
 *   end
 *
 * rcpt fields: state (pending|sent|bounced), local|remote, tries, next try
 * (epoch seconds), address.  Free text (helo, client, msgid, errors) has
 * control characters replaced by '?'; addresses with them are refused.
 */
#ifndef MTAD_QUEUE_ENV_H
#define MTAD_QUEUE_ENV_H

#include <stddef.h>

#include "queue.h"

#define ENV_VERSION	1

/* Serialise m into a malloc'd buffer.  0, or -1 (errno EINVAL for an
 * address that cannot be stored, ENOMEM). */
int	env_format(const struct qmsg *m, char **buf, size_t *len);

/* Parse len bytes into m (zeroed first; freed on error).  0, or -1 with
 * "line N: what" in err. */
int	env_parse(const char *buf, size_t len, struct qmsg *m, char *err,
	    size_t errlen);

#endif
