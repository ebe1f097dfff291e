/*
 * libFuzzer: what fetchd's IMAP fetcher reads from a server, a scripted
 * reply stream as input -- greeting, CAPABILITY, LOGIN (or AUTHENTICATE
 * PLAIN under LOGINDISABLED), COMPRESS, SELECT, the UID FETCH listing, the
 * body batches, STORE and (UID) EXPUNGE -- through libetpan's parser and
 * fetch_imap.c's reading of its results.  The session runs over a socket
 * pair holding the whole script, handed to the real imap_open() by the
 * harness's net_connect(); the tags libetpan expects are in the seeds.
 * First byte: bit 0 a folder other than INBOX, bit 1 STARTTLS required,
 * bit 2 auth xoauth2, bit 3 auth oauthbearer (AUTHENTICATE with the tokens
 * of oauthstub.h, a NO answered by one retry with a fresh token), bit 4
 * daemon mode: IDLE after the deletions, and the listing again when the
 * server announces new mail, bit 5 fetchall (UID FETCH 1:*, else UID
 * SEARCH UNSEEN, pipelined with SEARCHRES), bit 6 uids the idfile
 * remembers (looked up whatever their flags), bit 7 keep.
 * Checks, beyond "no crash": every listed uid is printable and bounded,
 * message numbers strictly increase, and the sink never sees more octets
 * than the server sent, and the trace (verbose) never shows the password
 * (tracecheck.h).
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
#include "../../fetchd/imap_deflate.c"
#include "../../fetchd/imap_guard.c"
#include "../../fetchd/fetch_imap.c"

#include "oauthstub.h"
#include "tracecheck.h"

const struct fetcher fetch_pop3 = { .name = "POP3" };

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
		snprintf(peer, peerlen, "192.0.2.143");
	if (fd == -1)
		snprintf(err, errlen, "connection refused");
	return fd;
}

struct count {
	size_t	 octets;
	size_t	 msgs;
};

static int
c_begin(void *arg, struct fetch_msg *m)
{
	(void)arg;
	/* Refuse one in three, as a full disk or a size limit would. */
	return m->key % 3 == 2 ? -1 : 0;
}

static int
c_data(void *arg, struct fetch_msg *m, const char *buf, size_t len)
{
	struct count	*c = arg;

	(void)m;
	if (len > 0 && memchr(buf, '\0', len) == buf + len)	/* touch it */
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
	static struct rc_user	 user = { .remotename = "fuzz",
				    .password = FUZZ_PASSWORD };
	static struct rc_poll	 poll = { .name = "fuzz" };
	static SSL_CTX		*ctx;
	struct fetch_server	 srv = { .host = "fuzz", .port = "143",
				    .user = &user, .tls = FETCH_TLS_NONE,
				    .timeout_ms = 1000 };
	struct fetch_conn	 fc;
	static const char *const known[] = { "42/7", "42/9",
				    "Lists%2Fmail%20hub/42/11", "43/1" };
	struct fetch_list	 ml = { 0 };
	struct fetch_msg	*v[64];
	struct count		 c = { 0, 0 };
	struct fetch_sink	 sink = { c_begin, c_data, c_end, &c };
	size_t			 i, n;
	int			 sv[2], buf = 1 << 20;

	if (size < 1 || size > 65536)
		return 0;
	fuzz_log_init();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	/* The first byte picks the folder: INBOX or one that prefixes uids. */
	srv.folder = (data[0] & 1) ? "Lists/mail hub" : NULL;
	/* The second, STARTTLS required: the refusals before any password
	 * (no STARTTLS, PREAUTH) and the plaintext dropped at the switch;
	 * the handshake itself then fails on the script's bytes. */
	if (data[0] & 2) {
		if (ctx == NULL && (ctx = SSL_CTX_new(TLS_client_method())) ==
		    NULL)
			abort();
		srv.tls = FETCH_TLS_STARTTLS;
		srv.ssl_ctx = ctx;
	}
	/* Bit 5: fetchall (UID FETCH 1:*), else UID SEARCH UNSEEN; bit 6:
	 * uids the idfile remembers, looked up whatever their flags; bit 7:
	 * keep (STORE \Seen instead of \Deleted). */
	user.fetchall = (data[0] & 0x20) ? RC_YES : RC_UNSET;
	user.keep = (data[0] & 0x80) ? RC_YES : RC_UNSET;
	if (data[0] & 0x40) {
		ml.known = known;
		ml.nknown = sizeof(known) / sizeof(known[0]);
	}
	/* Bits 2 and 3: OAuth2 instead of the password. */
	if (data[0] & 0x0c) {
		fuzz_oauth_user(&user);
		poll.auth = (data[0] & 8) ? RC_AUTH_OAUTHBEARER :
		    RC_AUTH_XOAUTH2;
		srv.poll = &poll;
	}
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1) ||
	    shutdown(sv[1], SHUT_WR) == -1) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	memset(&fc, 0, sizeof(fc));
	fc.ops = &fetch_imap;
	script_fd = sv[0];
	if (imap_open(&fc, &srv) == PS_SUCCESS &&
	    imap_list(&fc, &ml) == PS_SUCCESS) {
		for (i = 0; i < ml.n; i++) {
			if (strlen(ml.v[i].uid) > FETCH_UID_MAX ||
			    fetch_uid_ok(ml.v[i].uid,
			    strlen(ml.v[i].uid)) == -1)
				abort();
			if (i > 0 && ml.v[i].num <= ml.v[i - 1].num)
				abort();
		}
		n = ml.n < 64 ? ml.n : 64;
		for (i = 0; i < n; i++)
			v[i] = &ml.v[i];
		if (imap_fetch(&fc, v, n, &sink) == PS_SUCCESS &&
		    ((data[0] & 0x80) ? imap_mark_seen(&fc, v, n) :
		    imap_delete(&fc, v, n)) == PS_SUCCESS) {
			/* Bit 4: daemon mode, IDLE in the same session as
			 * fetchd's poll loop does, and the listing again when
			 * the server announces new mail. */
			if ((data[0] & 0x10) && imap_idle(&fc, 1) == 1) {
				fetch_list_free(&ml);
				ml.known = NULL;
				ml.nknown = 0;
				if (imap_list(&fc, &ml) == PS_SUCCESS)
					for (i = 1; i < ml.n; i++)
						if (ml.v[i].num <= ml.v[i - 1].num)
							abort();
			}
			imap_commit(&fc);
		}
		if (c.octets > size)
			abort();
	}
	/* FUZZ_DEBUG=1: how far a seed got, for writing seeds */
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "listed %zu, fetched %zu (%zu octets): %s\n",
		    ml.n, c.msgs, c.octets, fc.err);
	fetch_list_free(&ml);
	imap_close(&fc);	/* closes sv[0] through the stream */
	if (script_fd != -1)	/* never taken */
		close(script_fd);
	script_fd = -1;
	close(sv[1]);
	fuzz_log_check();
	return 0;
}
