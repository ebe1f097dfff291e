/*
 * libFuzzer: what fetchd's POP3 fetcher reads from a server, a scripted
 * reply stream as input.  The first byte picks the model:
 *
 *   bit 7 clear: the command layer after login -- the LIST and UIDL
 *     listings, RETR replies streamed through the dot-unstuffing, DELE and
 *     QUIT replies -- pipelined or not (bit 0);
 *   bit 7 set: the whole session through the fetcher's own open(): the
 *     greeting (APOP timestamp), CAPA, USER/PASS, APOP or the pipelined
 *     login, then the same listing, fetch, delete and QUIT.  Bits 0-2 pick
 *     the rc file's "auth" (any, password, apop, xoauth2, oauthbearer:
 *     AUTH with oauthstub.h's tokens, a -ERR answered by one retry with a
 *     fresh token), bit 3 a user with no password.
 *
 * net_connect() is the harness's: it hands fetch_pop3.c its end of a socket
 * pair that already holds the whole script, so the code under test is the
 * real pop3_open(), not a copy of it.  Checks, beyond "no crash": every uid
 * the list accepts is within RFC 1939's 70 printable characters, message
 * numbers strictly increase, and the sink never sees more octets than the
 * server sent plus the CR LF the layer restores; the trace (verbose) never
 * shows the password (tracecheck.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* net.c whole, but its net_connect() renamed out of the way. */
#define net_connect	net_connect_real
#include "../../common/net.c"
#undef net_connect
int	net_connect(const char *, const char *, const char *, int, char *,
	    size_t, char *, size_t);

/* OAuth2 tokens from oauthstub.h, not from a token endpoint. */
#define oauth2_token	fuzz_oauth2_token
#include "../../fetchd/fetch.c"
#include "../../fetchd/fetch_pop3.c"

#include "oauthstub.h"
#include "tracecheck.h"

const struct fetcher fetch_imap = { .name = "IMAP" };

const char *
rc_auth_name(enum rc_auth a)
{
	(void)a;
	return "auth";
}

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The server end of the next connection, taken by net_connect(). */
static int	script_fd = -1;

int
net_connect(const char *host, const char *port, const char *bindaddr,
    int timeout_ms, char *peer, size_t peerlen, char *err, size_t errlen)
{
	int	fd = script_fd;

	(void)host, (void)port, (void)bindaddr, (void)timeout_ms;
	script_fd = -1;
	if (peer != NULL && peerlen > 0)
		snprintf(peer, peerlen, "192.0.2.110");
	if (fd == -1)
		snprintf(err, errlen, "connection refused");
	return fd;
}

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

/* After login: the transaction as fetchd's poll loop drives it. */
static void
transact(struct fetch_conn *fc, size_t size)
{
	struct fetch_list	 ml = { 0 };
	struct fetch_msg	*v[64];
	struct count		 c = { 0, 0 };
	struct fetch_sink	 sink = { NULL, c_data, c_end, &c };
	size_t			 i, n;

	if (pop3_list(fc, &ml) == PS_SUCCESS) {
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
		if (pop3_fetch(fc, v, n, &sink) == PS_SUCCESS &&
		    pop3_delete(fc, v, n) == PS_SUCCESS)
			pop3_commit(fc);
		/* each line at most gains the CR LF it lost */
		if (c.octets > 2 * size)
			abort();
	}
	/* FUZZ_DEBUG=1: how far a seed got, for writing seeds */
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "listed %zu, fetched %zu (%zu octets): %s\n",
		    ml.n, c.msgs, c.octets, fc->err);
	fetch_list_free(&ml);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rc_user	 user = { .remotename = "fuzz" };
	static struct rc_poll	 poll = { .name = "fuzz" };
	static const enum rc_auth auths[8] = { RC_AUTH_UNSET, RC_AUTH_ANY,
				    RC_AUTH_PASSWORD, RC_AUTH_APOP,
				    RC_AUTH_XOAUTH2, RC_AUTH_OAUTHBEARER,
				    RC_AUTH_APOP, RC_AUTH_UNSET };
	struct fetch_server	 srv = { .host = "fuzz", .port = "110",
				    .poll = &poll, .user = &user,
				    .tls = FETCH_TLS_NONE,
				    .timeout_ms = 1000 };
	struct fetch_conn	 fc;
	struct pop3		*p;
	char			 err[256];
	int			 sv[2], buf = 1 << 20;

	if (size < 1 || size > 65536)
		return 0;
	fuzz_log_init();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1) ||
	    shutdown(sv[1], SHUT_WR) == -1) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	memset(&fc, 0, sizeof(fc));
	fc.ops = &fetch_pop3;
	if (data[0] & 0x80) {
		poll.auth = auths[data[0] & 7];
		fuzz_oauth_user(&user);
		user.password = (data[0] & 0x08) ? NULL : FUZZ_PASSWORD;
		script_fd = sv[0];
		if (pop3_open(&fc, &srv) == PS_SUCCESS)
			transact(&fc, size);
		else if (getenv("FUZZ_DEBUG") != NULL)
			fprintf(stderr, "open: %s\n", fc.err);
		if (script_fd != -1)	/* never taken */
			close(script_fd);
		script_fd = -1;
	} else {
		fc.srv = &srv;
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			abort();
		p->pipelining = data[0] & 1;
		fc.priv = p;
		if ((p->st = stream_socket(sv[0], 1000, err,
		    sizeof(err))) == NULL)
			close(sv[0]);
		else
			transact(&fc, size);
	}
	pop3_close(&fc);	/* closes sv[0] through the stream */
	close(sv[1]);
	fuzz_log_check();
	return 0;
}
