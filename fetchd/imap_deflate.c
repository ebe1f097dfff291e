/*
 * RFC 4978 DEFLATE under libetpan's mailstream: raw deflate (no zlib
 * header), each write sync-flushed so the server sees a whole command at
 * once.  Reads bypass the inner driver's logging: the trace shows the
 * protocol, not the compressed octets.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <libetpan/mailstream_low.h>

#include "imap_deflate.h"

#define DEFLATE_BUF	16384

struct imap_deflate {
	mailstream_low		*inner;
	z_stream		 in, out;
	int			 in_ok, out_ok, eof;
	unsigned char		 ibuf[DEFLATE_BUF];
	unsigned char		 obuf[DEFLATE_BUF];
	unsigned long long	 wire_in, plain_in, wire_out, plain_out;
};

static ssize_t
inner_read(struct imap_deflate *d, void *buf, size_t len)
{
	return d->inner->driver->mailstream_read(d->inner, buf, len);
}

static int
inner_write_all(struct imap_deflate *d, const unsigned char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = d->inner->driver->mailstream_write(d->inner, p,
		    len)) <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		d->wire_out += (unsigned long long)n;
	}
	return 0;
}

static ssize_t
dfl_read(mailstream_low *low, void *buf, size_t count)
{
	struct imap_deflate	*d = low->data;
	ssize_t			 n;
	size_t			 got;
	int			 r;

	if (count > (size_t)UINT32_MAX)
		count = UINT32_MAX;
	for (;;) {
		if (d->eof)
			return 0;
		if (d->in.avail_in == 0) {
			if ((n = inner_read(d, d->ibuf, sizeof(d->ibuf))) <= 0)
				return n;
			d->wire_in += (unsigned long long)n;
			d->in.next_in = d->ibuf;
			d->in.avail_in = (uInt)n;
		}
		d->in.next_out = buf;
		d->in.avail_out = (uInt)count;
		r = inflate(&d->in, Z_SYNC_FLUSH);
		if (r == Z_STREAM_END)
			d->eof = 1;
		else if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;	/* corrupt stream: the session is over */
		got = count - d->in.avail_out;
		if (got > 0) {
			d->plain_in += got;
			return (ssize_t)got;
		}
		if (r == Z_BUF_ERROR && d->in.avail_in > 0)
			return -1;	/* no progress possible */
		/* A flush marker alone, or input that yields nothing yet. */
	}
}

static ssize_t
dfl_write(mailstream_low *low, const void *buf, size_t count)
{
	struct imap_deflate	*d = low->data;
	size_t			 have;
	int			 r;

	if (count > (size_t)UINT32_MAX)
		count = UINT32_MAX;
	d->out.next_in = (unsigned char *)(uintptr_t)buf;
	d->out.avail_in = (uInt)count;
	do {
		d->out.next_out = d->obuf;
		d->out.avail_out = sizeof(d->obuf);
		r = deflate(&d->out, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
		have = sizeof(d->obuf) - d->out.avail_out;
		if (have > 0 && inner_write_all(d, d->obuf, have) == -1)
			return -1;
	} while (d->out.avail_out == 0 || d->out.avail_in > 0);
	d->plain_out += count;
	return (ssize_t)count;
}

static int
dfl_close(mailstream_low *low)
{
	struct imap_deflate	*d = low->data;

	return mailstream_low_close(d->inner);
}

static int
dfl_get_fd(mailstream_low *low)
{
	struct imap_deflate	*d = low->data;

	return mailstream_low_get_fd(d->inner);
}

static void
dfl_free(mailstream_low *low)
{
	struct imap_deflate	*d = low->data;

	if (d != NULL) {
		if (d->in_ok)
			inflateEnd(&d->in);
		if (d->out_ok)
			deflateEnd(&d->out);
		mailstream_low_free(d->inner);
		free(d);
	}
	low->data = NULL;
	free(low);
}

static struct mailstream_cancel *
dfl_get_cancel(mailstream_low *low)
{
	return NULL;
}

static carray *
dfl_get_certificate_chain(mailstream_low *low)
{
	return NULL;
}

static int
dfl_no_idle(mailstream_low *low)
{
	return -1;
}

static mailstream_low_driver deflate_driver = {
	.mailstream_read = dfl_read,
	.mailstream_write = dfl_write,
	.mailstream_close = dfl_close,
	.mailstream_get_fd = dfl_get_fd,
	.mailstream_free = dfl_free,
	.mailstream_cancel = NULL,
	.mailstream_get_cancel = dfl_get_cancel,
	.mailstream_get_certificate_chain = dfl_get_certificate_chain,
	.mailstream_setup_idle = dfl_no_idle,
	.mailstream_unsetup_idle = dfl_no_idle,
	.mailstream_interrupt_idle = dfl_no_idle,
};

struct imap_deflate *
imap_deflate_start(mailstream *ms, char *err, size_t errlen)
{
	struct imap_deflate	*d;
	mailstream_low		*low, *inner = mailstream_get_low(ms);

	/* Octets after the OK were compressed by the server, but libetpan
	 * has read them as plaintext: nothing sane can be done with them. */
	if (ms->read_buffer_len > 0) {
		snprintf(err, errlen, "server sent data right after the "
		    "COMPRESS reply");
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto nomem;
	if (inflateInit2(&d->in, -15) != Z_OK)
		goto nomem;
	d->in_ok = 1;
	if (deflateInit2(&d->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		goto nomem;
	d->out_ok = 1;
	if ((low = mailstream_low_new(d, &deflate_driver)) == NULL)
		goto nomem;
	d->inner = inner;
	/* The trace belongs on the layer that sees the protocol. */
	mailstream_low_set_logger(low, inner->logger, inner->logger_context);
	mailstream_low_set_logger(inner, NULL, NULL);
	low->timeout = inner->timeout;
	mailstream_set_low(ms, low);
	return d;
nomem:
	if (d != NULL) {
		if (d->in_ok)
			inflateEnd(&d->in);
		if (d->out_ok)
			deflateEnd(&d->out);
		free(d);
	}
	snprintf(err, errlen, "COMPRESS: out of memory");
	return NULL;
}

size_t
imap_deflate_pending(const struct imap_deflate *d)
{
	return d->in.avail_in;
}

void
imap_deflate_counts(const struct imap_deflate *d, unsigned long long *wire_in,
    unsigned long long *plain_in, unsigned long long *wire_out,
    unsigned long long *plain_out)
{
	*wire_in = d->wire_in;
	*plain_in = d->plain_in;
	*wire_out = d->wire_out;
	*plain_out = d->plain_out;
}
