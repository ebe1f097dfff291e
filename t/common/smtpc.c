/*
 * smtpc: a test-only front end to common/smtp_client for the integration
 * tests in t/common/.  It connects, says hello, sends every message given
 * over the one connection and prints what the client learnt:
 *
 *   smtpc [-t none|starttls|smtps] [-C cafile] [-H certhost] [-u user]
 *         [-p password] [-o token] [-m mech] [-P] [-T timeout_ms] [-v]
 *         ADDR PORT [SENDER RCPT[,RCPT...] FILE]...
 *
 * SENDER "<>" is the null sender; FILE holds the message as is (any line
 * endings).  -P allows AUTH without TLS (loopback tests only).  -v prints
 * the protocol trace on stderr.  Output on stdout, one fact per line:
 *
 *   hello ok | hello fail KIND: message
 *   caps PIPELINING SIZE=n CHUNKING ... | auth MECH
 *   msg N mail=CODE data=CODE sent=K
 *   rcpt N ADDR CODE [ENH] text	(CODE 0: no verdict, text says why)
 *   batch ok | batch fail: message
 *   turns N
 *
 * Exit 0 when the hello and the batch worked, 2 when the hello failed, 3 when
 * the connection failed during the batch.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "net.h"
#include "smtp_client.h"
#include "stream.h"
#include "tls.h"

struct job {
	struct smtp_msg	*msgs;
	int		 n;
	int		 next;
	int		 done;
};

static const char *kinds[] = { "none", "net", "tls", "auth", "reply",
    "proto", "local" };

static void
trace(void *arg, char dir, const char *line)
{
	fprintf(stderr, "SMTP%c %s\n", dir, line);
}

static struct smtp_msg *
next_msg(void *arg)
{
	struct job	*j = arg;

	return j->next < j->n ? &j->msgs[j->next++] : NULL;
}

static void
done_msg(void *arg, struct smtp_msg *m)
{
	struct job	*j = arg;
	size_t		 i;
	int		 n = (int)(m - j->msgs) + 1;

	if (n != j->done + 1)
		printf("order broken: got %d after %d\n", n, j->done);
	j->done = n;
	printf("msg %d mail=%d data=%d sent=%d\n", n, m->mail_reply.code,
	    m->data_reply.code, m->nsent);
	for (i = 0; i < m->nrcpts; i++) {
		const struct smtp_reply *r = &m->rcpts[i].reply;

		printf("rcpt %d %s %d %s%s%s\n", n, m->rcpts[i].addr, r->code,
		    r->enhanced, r->enhanced[0] != '\0' ? " " : "", r->text);
	}
	close(m->fd);
	m->fd = -1;
	fflush(stdout);
}

static void
print_caps(const struct smtp_caps *cp)
{
	printf("caps%s%s%s%s%s%s", cp->flags & SMTP_CAP_PIPELINING ?
	    " PIPELINING" : "", cp->flags & SMTP_CAP_CHUNKING ? " CHUNKING" : "",
	    cp->flags & SMTP_CAP_8BITMIME ? " 8BITMIME" : "",
	    cp->flags & SMTP_CAP_STARTTLS ? " STARTTLS" : "",
	    cp->flags & SMTP_CAP_AUTH ? " AUTH" : "",
	    cp->flags & SMTP_CAP_ENHANCED ? " ENHANCEDSTATUSCODES" : "");
	if (cp->flags & SMTP_CAP_SIZE)
		printf(" SIZE=%llu", (unsigned long long)cp->size_max);
	printf("\n");
}

static struct smtp_msg *
parse_msgs(int argc, char **argv, int *nmsgs)
{
	struct smtp_msg	*msgs;
	int		 i, n = argc / 3;

	if (argc % 3 != 0) {
		fprintf(stderr, "messages are SENDER RCPTS FILE triples\n");
		exit(1);
	}
	if ((msgs = calloc((size_t)n + 1, sizeof(*msgs))) == NULL)
		exit(1);
	for (i = 0; i < n; i++) {
		struct smtp_msg	*m = &msgs[i];
		char		*r, *save = NULL;
		size_t		 k = 0;

		m->sender = strcmp(argv[3 * i], "<>") == 0 ? "" : argv[3 * i];
		m->rcpts = calloc(strlen(argv[3 * i + 1]) + 1,
		    sizeof(*m->rcpts));
		for (r = strtok_r(argv[3 * i + 1], ",", &save); r != NULL;
		    r = strtok_r(NULL, ",", &save))
			m->rcpts[k++].addr = r;
		m->nrcpts = k;
		if ((m->fd = open(argv[3 * i + 2], O_RDONLY)) == -1) {
			perror(argv[3 * i + 2]);
			exit(1);
		}
		m->eightbit = 1;
	}
	*nmsgs = n;
	return msgs;
}

int
main(int argc, char **argv)
{
	struct smtp_params	 p;
	struct smtp_creds	 cr;
	struct smtp_client	*c;
	struct stream		*st;
	struct smtp_batch	 b;
	struct job		 j;
	const char		*ca = NULL, *certhost = NULL;
	char			 err[512], peer[64];
	int			 ch, fd, rv = 0, i, verbose = 0, use_creds = 0;

	memset(&p, 0, sizeof(p));
	memset(&cr, 0, sizeof(cr));
	p.helo = "client.test";
	p.timeout_ms = 10000;
	while ((ch = getopt(argc, argv, "t:C:H:u:p:o:m:PT:v")) != -1) {
		switch (ch) {
		case 't':
			p.tls = strcmp(optarg, "starttls") == 0 ?
			    SMTP_TLS_STARTTLS : strcmp(optarg, "smtps") == 0 ?
			    SMTP_TLS_IMPLICIT : SMTP_TLS_NONE;
			break;
		case 'C':
			ca = optarg;
			break;
		case 'H':
			certhost = optarg;
			break;
		case 'u':
			cr.user = optarg;
			use_creds = 1;
			break;
		case 'p':
			cr.password = optarg;
			break;
		case 'o':
			cr.token = optarg;
			break;
		case 'm':
			cr.mech = optarg;
			break;
		case 'P':
			p.plain_auth_ok = 1;
			break;
		case 'T':
			p.timeout_ms = atoi(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			return 1;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2)
		return 1;
	log_init("smtpc", LOG_TO_STDERR, verbose);
	if (verbose)
		p.trace = trace;
	p.host = certhost != NULL ? certhost : argv[0];
	if (use_creds)
		p.creds = &cr;
	if (p.tls != SMTP_TLS_NONE &&
	    (p.ssl_ctx = tls_client_ctx(ca, 1, err, sizeof(err))) == NULL) {
		printf("tls ctx: %s\n", err);
		return 1;
	}
	memset(&j, 0, sizeof(j));
	j.msgs = parse_msgs(argc - 2, argv + 2, &j.n);
	fd = net_connect(argv[0], argv[1], NULL, 5000, peer, sizeof(peer),
	    err, sizeof(err));
	if (fd == -1) {
		printf("hello fail net: %s\n", err);
		return 2;
	}
	if ((st = stream_socket(fd, p.timeout_ms, err, sizeof(err))) == NULL ||
	    (c = smtp_client_new(st, &p)) == NULL)
		return 1;
	if (smtp_hello(c) == -1) {
		printf("hello fail %s: %s\n", kinds[smtp_error_kind(c)],
		    smtp_error(c));
		rv = 2;
		goto out;
	}
	printf("hello ok\n");
	print_caps(smtp_caps(c));
	if (smtp_auth_mech(c) != NULL)
		printf("auth %s\n", smtp_auth_mech(c));
	b.next = next_msg;
	b.done = done_msg;
	b.arg = &j;
	if (smtp_send_batch(c, &b) == -1) {
		printf("batch fail: %s\n", smtp_error(c));
		rv = 3;
	} else {
		printf("batch ok\n");
		smtp_quit(c);
	}
	printf("turns %lu\n", smtp_turns(c));
out:
	smtp_client_free(c);
	for (i = 0; i < j.n; i++) {
		if (j.msgs[i].fd != -1)
			close(j.msgs[i].fd);
		free(j.msgs[i].rcpts);
	}
	free(j.msgs);
	if (p.ssl_ctx != NULL)
		SSL_CTX_free(p.ssl_ctx);
	return rv;
}
