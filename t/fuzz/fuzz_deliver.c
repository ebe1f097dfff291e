/*
 * libFuzzer: what mtad does with a message's own bytes when it delivers or
 * returns it -- a message as input:
 *
 * - mbox delivery (deliver_mbox.c): the From_ line, then the message with
 *   mboxrd quoting.  The input is written 1 to 8 times over (first byte)
 *   so that lines fall across the 64 KB read buffer and its look-ahead.
 *   Checked exactly: the mailbox holds "From " + one line, then the
 *   message with one more '>' before every line matching ^>*From , then
 *   the LF (if missing) and the blank line that end it.
 * - a DSN (bounce.c) returning the message's header: it ends with the
 *   closing boundary, and every line we generated (reasons, the client's
 *   name) is one line of printable text.
 *
 * The mailbox lives under $TMPDIR (else /tmp), one file per process,
 * emptied before each input and removed at exit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* mtad/ is not in the fuzz link: take what the two need. */
#include "../../mtad/queue.c"
#include "../../mtad/queue_env.c"
#include "../../mtad/bounce.c"
#include "../../mtad/deliver_mbox.c"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* bounce_queue()'s question, unused by bounce_format() */
int
config_is_local_domain(const struct mtad_config *cf, const char *domain)
{
	(void)cf, (void)domain;
	return 0;
}

static char	mbox[512];

static void
cleanup(void)
{
	char	lock[600];

	unlink(mbox);
	snprintf(lock, sizeof(lock), "%s.lock", mbox);
	unlink(lock);
}

static void
setup(void)
{
	const char	*tmp;
	int		 n;

	log_init("fuzz", 0, 0);
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	n = snprintf(mbox, sizeof(mbox), "%s/fuzz_deliver.%ld.mbox", tmp,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(mbox))
		abort();
	atexit(cleanup);
}

/* The message as mboxrd should store it. */
static char *
quoted(const char *m, size_t len, size_t *outlen)
{
	char	*out, *o;
	size_t	 i, j;
	int	 bol = 1;

	if ((out = malloc(len + len / 5 + 8)) == NULL)
		abort();
	o = out;
	for (i = 0; i < len; i++) {
		if (bol) {
			for (j = i; j < len && m[j] == '>'; j++)
				;
			if (len - j >= 5 && memcmp(m + j, "From ", 5) == 0)
				*o++ = '>';
		}
		*o++ = m[i];
		bol = m[i] == '\n';
	}
	/* (an empty message: the From_ line's LF is the last one) */
	if (len > 0 && m[len - 1] != '\n')
		*o++ = '\n';
	*o++ = '\n';
	*outlen = (size_t)(o - out);
	return out;
}

static void
check_mbox(const char *msg, size_t len)
{
	FILE	*fp;
	char	*got, *want, *nl;
	size_t	 glen, wlen;
	long	 sz;

	if ((fp = fopen(mbox, "r")) == NULL)
		abort();
	if (fseek(fp, 0, SEEK_END) == -1 || (sz = ftell(fp)) < 0)
		abort();
	rewind(fp);
	if ((got = malloc((size_t)sz + 1)) == NULL)
		abort();
	glen = fread(got, 1, (size_t)sz, fp);
	fclose(fp);
	if (glen < 6 || memcmp(got, "From ", 5) != 0 ||
	    (nl = memchr(got, '\n', glen)) == NULL)
		abort();
	want = quoted(msg, len, &wlen);
	nl++;
	if ((size_t)(got + glen - nl) != wlen || memcmp(nl, want, wlen) != 0) {
		fprintf(stderr, "mbox differs from the mboxrd quoting\n");
		abort();
	}
	free(want);
	free(got);
}

static void
check_dsn(const char *dsn, size_t len)
{
	static const char	 end[] = "\n--QID0fuzz/hub.lan.example--\n";
	const char		*p;

	if (len < sizeof(end) - 1 ||
	    memcmp(dsn + len - (sizeof(end) - 1), end, sizeof(end) - 1) != 0)
		abort();
	/* the parts we wrote from the reason come out one line each */
	if ((p = memmem(dsn, len, "(reason: ", 9)) == NULL ||
	    memchr(p, '\n', len - (size_t)(p - dsn)) == NULL ||
	    (p = memmem(dsn, len, "Diagnostic-Code: ", 17)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 ready;
	static char		 host[] = "hub.lan.example";
	struct mtad_config	 cf;
	struct qmsg		 m;
	struct delivery		 d;
	struct dresult		 r;
	struct bounce_rcpt	 br[2];
	char			 reason[300], *msg, *dsn = NULL;
	size_t			 len, i, copies, dlen = 0;
	FILE			*out;
	int			 fd, eightbit;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size == 0)
		return 0;
	copies = (data[0] & 7) + 1;
	len = (size - 1) * copies;
	if ((msg = malloc(len + 1)) == NULL)
		abort();
	for (i = 0; i < copies; i++)
		memcpy(msg + i * (size - 1), data + 1, size - 1);
	if ((fd = memfd_create("msg", 0)) == -1 ||
	    write(fd, msg, len) != (ssize_t)len)
		abort();

	memset(&cf, 0, sizeof(cf));
	cf.hostname = host;
	memset(&m, 0, sizeof(m));
	snprintf(m.id, sizeof(m.id), "QID0fuzz");
	/* the message's first line doubles as the envelope's outside words */
	for (i = 0; i < size - 1 && i < 200 && data[1 + i] != '\n' &&
	    data[1 + i] != '\0'; i++)
		;
	snprintf(reason, sizeof(reason), "550 5.1.1 %.*s", (int)i,
	    (const char *)data + 1);
	m.sender = reason + 10;
	m.client = reason + 4;
	m.helo = reason;

	/* mbox */
	unlink(mbox);
	memset(&d, 0, sizeof(d));
	d.cf = &cf;
	d.msg = &m;
	d.datafd = fd;
	d.user = "fuzz";
	mbox_append(mbox, &d, &r);
	if (r.status != DELIVER_OK) {
		fprintf(stderr, "mbox_append: %s\n", r.text);
		abort();
	}
	check_mbox(msg, len);

	/* DSN */
	br[0].orig = "fuzz@hub.lan.example";
	br[0].final = reason + 4;
	br[0].reason = reason;
	br[1].orig = reason + 10;
	br[1].final = NULL;
	br[1].reason = reason + 4;
	if ((out = open_memstream(&dsn, &dlen)) == NULL)
		abort();
	if (bounce_format(out, &cf, &m, fd, "sender@example.net", br, 2,
	    m.id, &eightbit) == -1)
		abort();
	fclose(out);
	check_dsn(dsn, dlen);
	free(dsn);
	close(fd);
	free(msg);
	return 0;
}
