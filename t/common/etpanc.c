/*
 * etpanc: a test-only check that libetpan's POP3 and IMAP clients run over
 * common/stream (plain, STLS/STARTTLS switched in place, implicit TLS)
 * against a real Dovecot, as fetchd will use them:
 *
 *   etpanc pop3|imap ADDR PORT none|starttls|ssl CAFILE CERTHOST USER PASS
 *
 * Prints "greeting", "tls", "login", "messages N" as each step works, or
 * "fail STEP: reason"; exit 0 only when every step worked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "net.h"
#include "stream.h"
#include "tls.h"

static int
fail(const char *step, const char *why)
{
	printf("fail %s: %s\n", step, why);
	return 1;
}

static int
pop3(struct stream *st, int stls, SSL_CTX *ctx, const char *host,
    const char *user, const char *pass)
{
	struct mailpop3_stat_response	*stat;
	mailpop3			*p;
	char				 err[512];
	int				 rv = 1;

	p = mailpop3_new(0, NULL);
	if (mailpop3_connect(p, stream_mailstream(st)) != MAILPOP3_NO_ERROR) {
		mailpop3_free(p);	/* closes the stream */
		return fail("greeting", "mailpop3_connect");
	}
	printf("greeting\n");
	if (stls) {
		/*
		 * libetpan itself fails STLS (MAILPOP3_ERROR_SSL) when bytes
		 * follow the +OK in its buffer (CVE-2020-15953).
		 */
		int r = mailpop3_stls(p);

		if (r != MAILPOP3_NO_ERROR) {
			fail("tls", r == MAILPOP3_ERROR_SSL ? "data after the "
			    "STLS reply" : "STLS refused");
			goto out;
		}
		if (stream_starttls(st, ctx, host, NULL, err,
		    sizeof(err)) == -1) {
			fail("tls", err);
			goto out;
		}
		printf("tls\n");
	}
	if (mailpop3_user(p, user) != MAILPOP3_NO_ERROR ||
	    mailpop3_pass(p, pass) != MAILPOP3_NO_ERROR) {
		fail("login", "USER/PASS refused");
		goto out;
	}
	printf("login\n");
	if (mailpop3_stat(p, &stat) != MAILPOP3_NO_ERROR) {
		fail("stat", "STAT failed");
		goto out;
	}
	printf("messages %u\n", stat->msgs_count);
	mailpop3_stat_resp_free(stat);
	mailpop3_quit(p);
	rv = 0;
out:
	mailpop3_free(p);
	return rv;
}

static int
imap(struct stream *st, int starttls, SSL_CTX *ctx, const char *host,
    const char *user, const char *pass)
{
	mailimap	*m;
	char		 err[512];
	int		 r, rv = 1;

	m = mailimap_new(0, NULL);
	r = mailimap_connect(m, stream_mailstream(st));
	if (r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		mailimap_free(m);
		return fail("greeting", "mailimap_connect");
	}
	printf("greeting\n");
	if (starttls) {
		int r2 = mailimap_starttls(m);

		if (r2 != MAILIMAP_NO_ERROR) {
			fail("tls", r2 == MAILIMAP_ERROR_SSL ? "data after the "
			    "STARTTLS reply" : "STARTTLS refused");
			goto out;
		}
		if (stream_starttls(st, ctx, host, NULL, err,
		    sizeof(err)) == -1) {
			fail("tls", err);
			goto out;
		}
		printf("tls\n");
	}
	if (mailimap_login(m, user, pass) != MAILIMAP_NO_ERROR) {
		fail("login", "LOGIN refused");
		goto out;
	}
	printf("login\n");
	if (mailimap_select(m, "INBOX") != MAILIMAP_NO_ERROR) {
		fail("select", "SELECT failed");
		goto out;
	}
	printf("messages %u\n", m->imap_selection_info->sel_exists);
	mailimap_logout(m);
	rv = 0;
out:
	mailimap_free(m);
	return rv;
}

int
main(int argc, char **argv)
{
	struct stream	*st;
	SSL_CTX		*ctx;
	char		 err[512];
	int		 fd, rv, tls_mode;

	if (argc != 9)
		return fail("usage", "etpanc proto addr port tls ca host user pass");
	tls_mode = strcmp(argv[4], "starttls") == 0 ? 1 :
	    strcmp(argv[4], "ssl") == 0 ? 2 : 0;
	if ((ctx = tls_client_ctx(argv[5], 1, err, sizeof(err))) == NULL)
		return fail("ctx", err);
	if ((fd = net_connect(argv[2], argv[3], NULL, 5000, NULL, 0, err,
	    sizeof(err))) == -1)
		return fail("connect", err);
	if ((st = stream_socket(fd, 10000, err, sizeof(err))) == NULL)
		return fail("stream", err);
	if (tls_mode == 2 && stream_starttls(st, ctx, argv[6], NULL, err,
	    sizeof(err)) == -1) {
		stream_close(st);
		SSL_CTX_free(ctx);
		return fail("tls", err);
	}
	if (tls_mode == 2)
		printf("tls\n");
	if (strcmp(argv[1], "pop3") == 0)
		rv = pop3(st, tls_mode == 1, ctx, argv[6], argv[7], argv[8]);
	else
		rv = imap(st, tls_mode == 1, ctx, argv[6], argv[7], argv[8]);
	SSL_CTX_free(ctx);
	return rv;
}
