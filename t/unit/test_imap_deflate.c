/*
 * imap_deflate: RFC 4978 DEFLATE stacked on common/stream over a socket
 * pair, the test playing the server with zlib itself: lines both ways, a
 * 1 MB literal in pieces, a flush marker with nothing in it, corrupt and
 * truncated input (an error, never a crash), input already buffered past
 * the COMPRESS reply refused, and everything freed by stream_close().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "stream.h"
#include "../../fetchd/imap_deflate.h"

struct pair {
	struct stream		*st;
	struct imap_deflate	*d;
	int			 peer;
	z_stream		 zin, zout;	/* the server's side */
};

static void
pair_open(struct pair *p, int start)
{
	int	 sv[2];
	char	 err[256];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->peer = sv[1];
	p->st = stream_socket(sv[0], 5000, err, sizeof(err));
	assert_non_null(p->st);
	memset(&p->zin, 0, sizeof(p->zin));
	memset(&p->zout, 0, sizeof(p->zout));
	assert_int_equal(inflateInit2(&p->zin, -15), Z_OK);
	assert_int_equal(deflateInit2(&p->zout, 6, Z_DEFLATED, -15, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	p->d = NULL;
	if (start) {
		p->d = imap_deflate_start(stream_mailstream(p->st), err,
		    sizeof(err));
		assert_non_null(p->d);
	}
}

static void
pair_close(struct pair *p)
{
	stream_close(p->st);
	close(p->peer);
	inflateEnd(&p->zin);
	deflateEnd(&p->zout);
}

/* The server compresses and sends, sync-flushed as Dovecot does. */
static void
server_send(struct pair *p, const void *buf, size_t len)
{
	unsigned char	 out[65536];
	size_t		 have, off;
	ssize_t		 n;

	p->zout.next_in = (unsigned char *)(uintptr_t)buf;
	p->zout.avail_in = (uInt)len;
	do {
		p->zout.next_out = out;
		p->zout.avail_out = sizeof(out);
		assert_true(deflate(&p->zout, Z_SYNC_FLUSH) != Z_STREAM_ERROR);
		have = sizeof(out) - p->zout.avail_out;
		for (off = 0; off < have; off += (size_t)n) {
			n = write(p->peer, out + off, have - off);
			assert_true(n > 0);
		}
	} while (p->zout.avail_out == 0);
}

/* What the server reads, inflated: at least want octets into buf. */
static size_t
server_recv(struct pair *p, char *buf, size_t size, size_t want)
{
	unsigned char	 in[4096];
	size_t		 got = 0;
	ssize_t		 n;

	while (got < want) {
		n = read(p->peer, in, sizeof(in));
		assert_true(n > 0);
		p->zin.next_in = in;
		p->zin.avail_in = (uInt)n;
		do {
			p->zin.next_out = (unsigned char *)buf + got;
			p->zin.avail_out = (uInt)(size - got);
			assert_true(inflate(&p->zin, Z_SYNC_FLUSH) >= 0);
			got = size - p->zin.avail_out;
		} while (p->zin.avail_in > 0 && got < size);
	}
	return got;
}

static void
lines_both_ways(void **state)
{
	struct pair	 p;
	char		 line[256], buf[256];
	unsigned long long wi, pi, wo, po;

	pair_open(&p, 1);
	assert_int_equal(stream_printf(p.st, "a1 SELECT INBOX\r\n"), 0);
	assert_int_equal(stream_flush(p.st), 0);
	assert_int_equal(server_recv(&p, buf, sizeof(buf), 17), 17);
	assert_memory_equal(buf, "a1 SELECT INBOX\r\n", 17);

	server_send(&p, "* 3 EXISTS\r\na1 OK done\r\n", 24);
	assert_int_equal(stream_getline(p.st, line, sizeof(line)), 10);
	assert_string_equal(line, "* 3 EXISTS");
	assert_int_equal(stream_getline(p.st, line, sizeof(line)), 10);
	assert_string_equal(line, "a1 OK done");
	assert_int_equal(imap_deflate_pending(p.d), 0);
	imap_deflate_counts(p.d, &wi, &pi, &wo, &po);
	assert_true(pi == 24 && po == 17 && wi > 0 && wo > 0);
	pair_close(&p);
}

static void
big_literal(void **state)
{
	struct pair	 p;
	size_t		 len = 1024 * 1024, got = 0, i;
	char		*msg, *back;
	ssize_t		 n;
	pid_t		 pid;
	int		 status;

	pair_open(&p, 1);
	msg = malloc(len);
	back = malloc(len);
	assert_non_null(msg);
	assert_non_null(back);
	for (i = 0; i < len; i++)	/* text-like, not all one byte */
		msg[i] = (char)(i % 78 == 77 ? '\n' : 'a' + (i * 7 + i / 78)
		    % 26);
	/* The peer writes while we read: more than a socket buffer. */
	if ((pid = fork()) == 0) {
		server_send(&p, msg, len);
		_exit(0);
	}
	assert_true(pid > 0);
	while (got < len) {
		n = stream_read(p.st, back + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(msg, back, len);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	free(msg);
	free(back);
	pair_close(&p);
}

static void
empty_flush_then_data(void **state)
{
	struct pair	 p;
	char		 line[64];

	pair_open(&p, 1);
	server_send(&p, "", 0);		/* a sync marker alone */
	server_send(&p, "* OK still here\r\n", 17);
	assert_int_equal(stream_getline(p.st, line, sizeof(line)), 15);
	assert_string_equal(line, "* OK still here");
	pair_close(&p);
}

static void
corrupt_input(void **state)
{
	struct pair	 p;
	char		 line[64];
	/* A stored block whose length and complement disagree. */
	static const unsigned char junk[] = { 0x00, 0x05, 0x00, 0x05, 0x00,
	    'h', 'e', 'l', 'l', 'o', '\r', '\n' };

	pair_open(&p, 1);
	assert_int_equal(write(p.peer, junk, sizeof(junk)),
	    (ssize_t)sizeof(junk));
	assert_int_equal(stream_getline(p.st, line, sizeof(line)),
	    STREAM_ERROR);
	pair_close(&p);
}

static void
truncated_input_then_eof(void **state)
{
	struct pair	 p;
	char		 line[64];

	pair_open(&p, 1);
	server_send(&p, "* partial line", 14);
	shutdown(p.peer, SHUT_WR);
	assert_true(stream_getline(p.st, line, sizeof(line)) < 0);
	pair_close(&p);
}

static void
plaintext_after_ok_refused(void **state)
{
	struct pair	 p;
	char		 line[64], err[256];

	pair_open(&p, 0);
	assert_int_equal(write(p.peer, "a1 OK go\r\nXX", 12), 12);
	assert_int_equal(stream_getline(p.st, line, sizeof(line)), 8);
	/* "XX" sits in the buffer, read before the switch. */
	assert_null(imap_deflate_start(stream_mailstream(p.st), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "right after"));
	pair_close(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_both_ways),
		cmocka_unit_test(big_literal),
		cmocka_unit_test(empty_flush_then_data),
		cmocka_unit_test(corrupt_input),
		cmocka_unit_test(truncated_input_then_eof),
		cmocka_unit_test(plaintext_after_ok_refused),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("imap_deflate", tests, NULL, NULL);
}
