/*
 * libFuzzer: the SMTP client both daemons use (mtad's smart-host flush,
 * fetchd's reinjection), a whole scripted server reply stream as input:
 * greeting, EHLO (HELO fallback), STARTTLS, AUTH and its challenges, then a
 * batch of three messages -- MAIL, RCPT, DATA or BDAT, pipelined when the
 * server says PIPELINING -- and QUIT.  The first byte picks the client's
 * side: bit 0 credentials (password), bit 1 an OAuth2 token instead,
 * bits 2-4 a forced mechanism, bit 5 STARTTLS required (the handshake then
 * fails on the script's bytes), bit 6 a null sender with 8BITMIME data.
 *
 * Checks, beyond "no crash": every message handed out comes back once and
 * in order, whatever happens to the connection; each recipient ends with
 * 2xx, 4xx, 5xx or 0 (no verdict); and, since that is what losing mail
 * would take, no recipient is reported sent (2xx) unless its RCPT and the
 * message's data were accepted with 2xx; no line we send shows the
 * password or the token, in clear or base64, in the trace.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "smtp_client.h"
#include "stream.h"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NMSG	3

struct run {
	struct smtp_msg	 m[NMSG];
	struct smtp_rcpt r[NMSG][3];
	size_t		 given, back;
};

static const char body[] = "From: a@lan.example\r\nSubject: fuzz\r\n\r\n"
    ".a line that needs stuffing\r\n.\r\nbare\nend";

static struct smtp_msg *
next(void *arg)
{
	struct run	*run = arg;

	return run->given < NMSG ? &run->m[run->given++] : NULL;
}

#define PASSWORD	"Pa55.fuzz"
#define TOKEN		"ya29.fuzz-token"

static int
secret_in(const char *s, size_t len)
{
	return memmem(s, len, PASSWORD, strlen(PASSWORD)) != NULL ||
	    memmem(s, len, TOKEN, strlen(TOKEN)) != NULL;
}

/* A line we send may show no credential, in clear or in base64 (SASL). */
static void
check_sent(char dir, const char *line)
{
	unsigned char	 dec[1024];
	const char	*w, *e;
	int		 n;

	if (dir != '>')
		return;
	if (secret_in(line, strlen(line)))
		abort();
	for (w = line; *w != '\0'; w = e) {
		while (*w == ' ')
			w++;
		for (e = w; *e != '\0' && *e != ' '; e++)
			;
		if (e - w >= 4 && (e - w) % 4 == 0 && (e - w) / 4 * 3 <
		    (long)sizeof(dec) && (n = EVP_DecodeBlock(dec,
		    (const unsigned char *)w, (int)(e - w))) > 0 &&
		    secret_in((const char *)dec, (size_t)n))
			abort();
	}
}

static void
quiet(void *arg, char dir, const char *line)
{
	(void)arg;
	check_sent(dir, line);
}

static void
trace(void *arg, char dir, const char *line)
{
	(void)arg;
	fprintf(stderr, "%c %s\n", dir, line);
	check_sent(dir, line);
}

static void
check(const struct smtp_msg *m)
{
	size_t	 i;
	int	 code, nsent = 0;

	for (i = 0; i < m->nrcpts; i++) {
		code = m->rcpts[i].reply.code;
		if (code != 0 && (code < 200 || code > 599 ||
		    (code >= 300 && code < 400)))
			abort();
		if (code / 100 != 2)
			continue;
		nsent++;
		if (!m->rcpts[i].accepted || m->mail_reply.code / 100 != 2 ||
		    m->data_reply.code / 100 != 2)
			abort();	/* "sent", but the server never said so */
	}
	if (nsent != m->nsent)
		abort();
}

static void
done(void *arg, struct smtp_msg *m)
{
	struct run	*run = arg;

	if (run->back >= run->given || m != &run->m[run->back])
		abort();	/* out of order, twice, or never handed out */
	run->back++;
	check(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char	*mechs[8] = { NULL, "PLAIN", "LOGIN",
				    "CRAM-MD5", "XOAUTH2", "OAUTHBEARER", NULL,
				    "BOGUS" };
	static const char	*addrs[3] = { "one@example.net",
				    "two@example.org", "three@example.com" };
	static SSL_CTX		*ctx;
	struct smtp_creds	 cr = { .user = "fuzz" };
	struct smtp_params	 p = { .helo = "hub.lan.example",
				    .host = "smarthost.example",
				    .tls = SMTP_TLS_NONE, .plain_auth_ok = 1,
				    .timeout_ms = 1000 };
	struct smtp_batch	 b;
	struct smtp_client	*c;
	struct stream		*st;
	struct run		 run;
	char			 err[256];
	size_t			 i, j;
	int			 sv[2], buf = 1 << 20, flags, rv;

	if (size < 1 || size > 65536)
		return 0;
	flags = data[0];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return 0;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1) ||
	    shutdown(sv[1], SHUT_WR) == -1 ||
	    (st = stream_socket(sv[0], 1000, err, sizeof(err))) == NULL) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	if (flags & 0x03) {
		if (flags & 0x01)
			cr.password = PASSWORD;
		if (flags & 0x02)
			cr.token = TOKEN;
		cr.mech = mechs[(flags >> 2) & 7];
		p.creds = &cr;
	}
	if (flags & 0x20) {
		if (ctx == NULL && (ctx = SSL_CTX_new(TLS_client_method())) ==
		    NULL)
			abort();
		p.tls = SMTP_TLS_STARTTLS;
		p.ssl_ctx = ctx;
	}
	/* FUZZ_DEBUG=1: the dialogue and how it ended, for writing seeds */
	if (getenv("FUZZ_DEBUG") != NULL)
		p.trace = trace;
	else
		p.trace = quiet;
	if ((c = smtp_client_new(st, &p)) == NULL)
		abort();
	if (smtp_hello(c) == 0) {
		memset(&run, 0, sizeof(run));
		for (i = 0; i < NMSG; i++) {
			for (j = 0; j <= i; j++)
				run.r[i][j].addr = addrs[j];
			run.m[i].sender = (flags & 0x40) ? "" :
			    "fuzz@lan.example";
			run.m[i].rcpts = run.r[i];
			run.m[i].nrcpts = i + 1;
			run.m[i].prefix = body;
			run.m[i].prefixlen = sizeof(body) - 1;
			run.m[i].fd = -1;
			run.m[i].eightbit = (flags & 0x40) != 0;
		}
		b.next = next;
		b.done = done;
		b.arg = &run;
		rv = smtp_send_batch(c, &b);
		if (run.back != run.given || (rv == 0 && run.given != NMSG))
			abort();	/* a message never given back */
		if (rv == 0)
			smtp_quit(c);
	} else if (strcmp(smtp_error(c), "no error") == 0)
		abort();		/* a failure must say why */
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "error: %s\n", smtp_error(c));
	smtp_client_free(c);	/* closes sv[0] through the stream */
	close(sv[1]);
	return 0;
}
