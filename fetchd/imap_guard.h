/*
 * An end-of-file latch under libetpan's IMAP parser.  libetpan 1.9.4 reads
 * a literal ("{31}" then 31 octets) in a loop that treats a read of 0
 * octets as "try again": a server that closes the connection in the middle
 * of a literal would keep fetchd spinning forever.  Under this driver the
 * first end of file reads as 0 and every later read as an error.
 */
#ifndef FETCHD_IMAP_GUARD_H
#define FETCHD_IMAP_GUARD_H

#include <stddef.h>
#include <libetpan/mailstream.h>

/* Stack the latch on ms's driver (which it then owns): 0, or -1 (memory). */
int	imap_guard_start(mailstream *ms);

#endif
