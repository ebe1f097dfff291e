/*
 * IMAP COMPRESS=DEFLATE (RFC 4978) as a libetpan mailstream_low driver of
 * our own, stacked on the stream's driver.  Debian's libetpan is built
 * without zlib: its mailimap_compress() sends the command and then fails
 * to switch, leaving a session that can only be dropped.
 */
#ifndef FETCHD_IMAP_DEFLATE_H
#define FETCHD_IMAP_DEFLATE_H

#include <stddef.h>
#include <libetpan/mailstream.h>

struct imap_deflate;

/*
 * After the server's OK to "COMPRESS DEFLATE": every octet from now on, both
 * ways, is raw DEFLATE.  The new driver owns the old one (closing the
 * mailstream closes both).  NULL and err on failure (out of memory, or input
 * already buffered past the OK, which cannot be told apart from plaintext).
 */
struct imap_deflate *imap_deflate_start(mailstream *ms, char *err,
		    size_t errlen);

/* Compressed input received and not yet inflated (so a caller about to
 * poll the socket knows there may be more to read without waiting). */
size_t		 imap_deflate_pending(const struct imap_deflate *d);

/* Octets on the wire and as seen by the protocol, for the figures. */
void		 imap_deflate_counts(const struct imap_deflate *d,
		    unsigned long long *wire_in, unsigned long long *plain_in,
		    unsigned long long *wire_out,
		    unsigned long long *plain_out);

#endif
