/*
 * The end-of-file latch (imap_guard.h): every call but read goes straight
 * to the driver below; logging stays on the layer that libetpan set up.
 */
#include <stdlib.h>

#include <libetpan/mailstream_low.h>

#include "imap_guard.h"

struct imap_guard {
	mailstream_low	*inner;
	int		 eof;
};

static ssize_t
grd_read(mailstream_low *low, void *buf, size_t count)
{
	struct imap_guard	*g = low->data;
	ssize_t			 n;

	if (g->eof)
		return -1;
	if ((n = g->inner->driver->mailstream_read(g->inner, buf, count)) == 0)
		g->eof = 1;
	return n;
}

static ssize_t
grd_write(mailstream_low *low, const void *buf, size_t count)
{
	struct imap_guard	*g = low->data;

	return g->inner->driver->mailstream_write(g->inner, buf, count);
}

static int
grd_close(mailstream_low *low)
{
	return mailstream_low_close(((struct imap_guard *)low->data)->inner);
}

static int
grd_get_fd(mailstream_low *low)
{
	return mailstream_low_get_fd(((struct imap_guard *)low->data)->inner);
}

static void
grd_free(mailstream_low *low)
{
	struct imap_guard	*g = low->data;

	if (g != NULL) {
		mailstream_low_free(g->inner);
		free(g);
	}
	low->data = NULL;
	free(low);
}

static struct mailstream_cancel *
grd_get_cancel(mailstream_low *low)
{
	return NULL;
}

static carray *
grd_get_certificate_chain(mailstream_low *low)
{
	return NULL;
}

static int
grd_no_idle(mailstream_low *low)
{
	return -1;
}

static mailstream_low_driver guard_driver = {
	.mailstream_read = grd_read,
	.mailstream_write = grd_write,
	.mailstream_close = grd_close,
	.mailstream_get_fd = grd_get_fd,
	.mailstream_free = grd_free,
	.mailstream_cancel = NULL,
	.mailstream_get_cancel = grd_get_cancel,
	.mailstream_get_certificate_chain = grd_get_certificate_chain,
	.mailstream_setup_idle = grd_no_idle,
	.mailstream_unsetup_idle = grd_no_idle,
	.mailstream_interrupt_idle = grd_no_idle,
};

int
imap_guard_start(mailstream *ms)
{
	struct imap_guard	*g;
	mailstream_low		*low, *inner = mailstream_get_low(ms);

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return -1;
	if ((low = mailstream_low_new(g, &guard_driver)) == NULL) {
		free(g);
		return -1;
	}
	g->inner = inner;
	/* The inner driver's reads are logged by mailstream_low_read(), which
	 * we bypass: move its logger up so the trace stays whole. */
	mailstream_low_set_logger(low, inner->logger, inner->logger_context);
	mailstream_low_set_logger(inner, NULL, NULL);
	low->timeout = inner->timeout;
	mailstream_set_low(ms, low);
	return 0;
}
