/*
 * libFuzzer: IMAP COMPRESS=DEFLATE (fetchd/imap_deflate.c), the layer under
 * libetpan that inflates what the server sends and deflates what fetchd
 * sends.  fuzz_imap cannot reach it: with the whole script already in the
 * socket, the octets after the COMPRESS reply are read as plaintext and
 * the switch is refused.  First byte: bit 0 set, the rest goes out as a
 * server would send it, deflated with a sync flush every 1-8 octets
 * (bits 1-3) or at the end; clear, it goes out as is (a corrupt or hostile
 * stream).  Bits 4-7 pick the size of the reads.
 *
 * Checks, beyond "no crash": a well-formed stream reads back exactly what
 * was compressed, whatever the flush points and read sizes; a corrupt one
 * ends in an error or EOF, never a hang; a small input never inflates
 * past a bound without being cut off; and what we write inflates, on the
 * server's side, to what we wrote.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <libetpan/libetpan.h>

#include "../../fetchd/imap_deflate.c"
#include "stream.h"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PLAIN_MAX	(4 * 1024 * 1024)	/* read no further */

/* The input deflated as a server would send it. */
static unsigned char *
server_deflate(const uint8_t *p, size_t len, size_t every, size_t *outlen)
{
	z_stream	 z;
	unsigned char	*out;
	size_t		 cap, n, off = 0;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	cap = deflateBound(&z, len) + 6 * (len / every + 2) + 64;
	if ((out = malloc(cap)) == NULL)
		abort();
	z.next_out = out;
	z.avail_out = (uInt)cap;
	while (off < len || off == 0) {
		n = len - off < every ? len - off : every;
		z.next_in = (unsigned char *)(uintptr_t)(p + off);
		z.avail_in = (uInt)n;
		if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in != 0)
			abort();
		off += n;
		if (len == 0)
			break;
	}
	*outlen = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

/* What the server got from us, inflated. */
static size_t
server_inflate(int fd, char *buf, size_t size)
{
	unsigned char	 in[4096];
	z_stream	 z;
	ssize_t		 n;
	size_t		 got = 0;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -15) != Z_OK)
		abort();
	while ((n = recv(fd, in, sizeof(in), MSG_DONTWAIT)) > 0) {
		z.next_in = in;
		z.avail_in = (uInt)n;
		do {
			z.next_out = (unsigned char *)buf + got;
			z.avail_out = (uInt)(size - got);
			if (inflate(&z, Z_SYNC_FLUSH) < 0)
				abort();	/* we sent a corrupt stream */
			got = size - z.avail_out;
		} while (z.avail_in > 0 && got < size);
	}
	inflateEnd(&z);
	return got;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t	 reads[16] = { 1, 2, 3, 7, 16, 100, 511, 1024,
				    4096, 8192, 16383, 16384, 16385, 32768,
				    65536, 200000 };
	static char		 out[PLAIN_MAX], back[1024];
	struct stream		*st;
	mailstream		*ms;
	unsigned char		*wire;
	const uint8_t		*plain;
	char			 err[256];
	size_t			 wlen, plen, got = 0, rsz, n;
	ssize_t			 r;
	int			 sv[2], buf = 1 << 20, deflated;

	if (size < 1)
		return 0;
	deflated = data[0] & 1;
	plain = data + 1;
	plen = size - 1;
	rsz = reads[data[0] >> 4];
	if (deflated)
		wire = server_deflate(plain, plen, (data[0] & 0x0e) ?
		    (size_t)((data[0] >> 1) & 7) + 1 : plen + 1, &wlen);
	else {
		wire = NULL;
		wlen = plen;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (write(sv[1], deflated ? wire : plain, wlen) != (ssize_t)wlen ||
	    shutdown(sv[1], SHUT_WR) == -1)
		abort();
	free(wire);
	if ((st = stream_socket(sv[0], 1000, err, sizeof(err))) == NULL)
		abort();
	ms = stream_mailstream(st);
	if (imap_deflate_start(ms, err, sizeof(err)) == NULL)
		abort();	/* nothing was buffered: it must switch */

	while (got < sizeof(out)) {
		n = sizeof(out) - got < rsz ? sizeof(out) - got : rsz;
		if ((r = mailstream_read(ms, out + got, n)) <= 0)
			break;
		if ((size_t)r > n)
			abort();
		got += (size_t)r;
		if (deflated && got > plen)
			abort();	/* more than the server compressed */
	}
	if (deflated && (got != plen || memcmp(out, plain, plen) != 0)) {
		fprintf(stderr, "inflated %zu octets, %zu were sent\n", got,
		    plen);
		abort();
	}

	/* Our side: a command (and some of the input) comes out deflated. */
	n = plen < 200 ? plen : 200;
	if (mailstream_write(ms, "a1 NOOP\r\n", 9) != 9 ||
	    (n > 0 && mailstream_write(ms, plain, n) != (ssize_t)n) ||
	    mailstream_flush(ms) == -1)
		abort();
	if (server_inflate(sv[1], back, sizeof(back)) != 9 + n ||
	    memcmp(back, "a1 NOOP\r\n", 9) != 0 ||
	    memcmp(back + 9, plain, n) != 0)
		abort();
	stream_close(st);	/* closes sv[0], under the deflate layer */
	close(sv[1]);
	return 0;
}
