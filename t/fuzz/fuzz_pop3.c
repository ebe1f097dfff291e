/*
 * libFuzzer: what fetchd's POP3 command layer reads from a server after
 * login -- the LIST and UIDL listings, RETR replies streamed through the
 * dot-unstuffing, DELE and QUIT replies -- pipelined or not (first input
 * byte).  Checks, beyond "no crash": every uid the list accepts is within
 * RFC 1939's 70 printable characters, message numbers strictly increase,
 * and the sink never sees more octets than the server sent plus the CR LF
 * the layer restores.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../fetchd/fetch.c"
#include "../../fetchd/fetch_pop3.c"

const struct fetcher fetch_imap = { .name = "IMAP" };

const char *
rc_auth_name(enum rc_auth a)
{
	(void)a;
	return "auth";
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct count {
	size_t	 octets;
	size_t	 msgs;
};

static int
c_data(void *arg, struct fetch_msg *m, const char *buf, size_t len)
{
	struct count	*c = arg;

	(void)m;
	if (memchr(buf, '\0', len) == buf + len)	/* touch it all */
		abort();
	c->octets += len;
	return 0;
}

static void
c_end(void *arg, struct fetch_msg *m, int complete)
{
	struct count	*c = arg;

	(void)m;
	c->msgs += complete != 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct fetch_server srv = { .host = "fuzz" };
	struct fetch_conn	 fc;
	struct fetch_list	 ml = { NULL, 0 };
	struct fetch_msg	*v[64];
	struct count		 c = { 0, 0 };
	struct fetch_sink	 sink = { NULL, c_data, c_end, &c };
	struct pop3		*p;
	char			 err[256];
	size_t			 i, n;
	int			 sv[2], buf = 1 << 20;

	if (size < 1 || size > 65536)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1) ||
	    shutdown(sv[1], SHUT_WR) == -1) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	memset(&fc, 0, sizeof(fc));
	fc.ops = &fetch_pop3;
	fc.srv = &srv;
	p = calloc(1, sizeof(*p));
	p->pipelining = data[0] & 1;
	p->st = stream_socket(sv[0], 1000, err, sizeof(err));
	fc.priv = p;
	if (p->st != NULL && pop3_list(&fc, &ml) == PS_SUCCESS) {
		for (i = 0; i < ml.n; i++) {
			if (ml.v[i].uid[0] != '\0' && (strlen(ml.v[i].uid) >
			    POP3_UIDL_MAX || fetch_uid_ok(ml.v[i].uid,
			    strlen(ml.v[i].uid)) == -1))
				abort();
			if (i > 0 && ml.v[i].num <= ml.v[i - 1].num)
				abort();
		}
		n = ml.n < 64 ? ml.n : 64;
		for (i = 0; i < n; i++)
			v[i] = &ml.v[i];
		if (pop3_fetch(&fc, v, n, &sink) == PS_SUCCESS &&
		    pop3_delete(&fc, v, n) == PS_SUCCESS)
			pop3_commit(&fc);
		/* each line at most gains the CR LF it lost */
		if (c.octets > 2 * size)
			abort();
	}
	fetch_list_free(&ml);
	pop3_close(&fc);	/* closes sv[0] through the stream */
	if (p != NULL && fc.priv != NULL)
		free(p);
	close(sv[1]);
	return 0;
}
