/*
 * imapfetch: a test-only driver of fetchd's IMAP fetcher (fetch_imap.c)
 * through the fetch.h contract, in the order fetchd's poll loop calls it,
 * against a real Dovecot or a scripted server:
 *
 *   imapfetch [-v] [-f FOLDER] [-i SECS] HOST PORT none|starttls|ssl CAFILE
 *       USER PASS list|fetch|drain|seen [OUTDIR]
 *
 *   list    open, list
 *   fetch   ... and fetch every message (written to OUTDIR/N when given)
 *   drain   ... then delete them all and commit (EXPUNGE)
 *   seen    ... then mark them \Seen and commit
 *   -i SECS after the above, IDLE up to SECS and print its result
 *
 * Prints "open", "list N", "uid UID SIZE seen|unseen" per message, "msg UID SIZE OCTETS seen|unseen complete|
 * incomplete" per message, "deleted N", "commit", "idle R", "turns N", or
 * "fail STEP CODE: reason".  Exit 0 when every step worked.  -v sends the
 * IMAP trace to stderr.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../fetchd/fetch.h"
#include "log.h"
#include "tls.h"

struct out {
	const char	*dir;
	int		 fd;
	uint64_t	 octets;
	unsigned	 n;
};

static int
sink_begin(void *arg, struct fetch_msg *m)
{
	struct out	*o = arg;
	char		 path[4096];

	o->octets = 0;
	o->fd = -1;
	o->n++;
	if (o->dir == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/%u", o->dir, o->n);
	if ((o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return -1;
	return 0;
}

static int
sink_data(void *arg, struct fetch_msg *m, const char *buf, size_t len)
{
	struct out	*o = arg;

	o->octets += len;
	if (o->fd != -1 && write(o->fd, buf, len) != (ssize_t)len)
		return -1;
	return 0;
}

static void
sink_end(void *arg, struct fetch_msg *m, int complete)
{
	struct out	*o = arg;

	if (o->fd != -1)
		close(o->fd);
	o->fd = -1;
	printf("msg %s %" PRIu64 " %" PRIu64 " %s %s\n", m->uid, m->size,
	    o->octets, m->server_seen ? "seen" : "unseen",
	    complete ? "complete" : "incomplete");
}

static int
fail(struct fetch_conn *fc, const char *step, int code)
{
	printf("fail %s %d: %s\n", step, code, fc->err);
	return 1;
}

int
main(int argc, char **argv)
{
	struct fetch_server	 srv;
	struct fetch_conn	 fc;
	struct fetch_list	 ml = { 0 };
	struct fetch_msg	**v = NULL;
	struct rc_user		 u;
	struct out		 o = { NULL, -1, 0, 0 };
	struct fetch_sink	 sink = { sink_begin, sink_data, sink_end, &o };
	const char		*folder = NULL, *action;
	char			 err[512];
	int			 ch, verbose = 0, idle = -1, r, rv = 1;
	size_t			 i, ndel;

	while ((ch = getopt(argc, argv, "vf:i:")) != -1) {
		switch (ch) {
		case 'v':
			verbose = 1;
			break;
		case 'f':
			folder = optarg;
			break;
		case 'i':
			idle = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 7) {
		fprintf(stderr, "usage: imapfetch [-v] [-f folder] [-i secs] "
		    "host port none|starttls|ssl cafile user pass "
		    "list|fetch|drain|seen [outdir]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("imapfetch", LOG_TO_STDERR, verbose);
	action = argv[6];
	o.dir = argc > 7 ? argv[7] : NULL;

	memset(&u, 0, sizeof(u));
	u.remotename = argv[4];
	u.password = argv[5];
	memset(&srv, 0, sizeof(srv));
	srv.user = &u;
	srv.host = argv[0];
	srv.port = argv[1];
	srv.folder = folder;
	srv.tls = strcmp(argv[2], "ssl") == 0 ? FETCH_TLS_IMPLICIT :
	    strcmp(argv[2], "starttls") == 0 ? FETCH_TLS_STARTTLS :
	    FETCH_TLS_NONE;
	srv.timeout_ms = 10000;
	srv.daemon = idle >= 0;
	if (srv.tls != FETCH_TLS_NONE &&
	    (srv.ssl_ctx = tls_client_ctx(argv[3], 1, err, sizeof(err))) ==
	    NULL) {
		printf("fail ctx: %s\n", err);
		return 1;
	}
	memset(&fc, 0, sizeof(fc));
	fc.ops = &fetch_imap;

	if ((r = fc.ops->open(&fc, &srv)) != PS_SUCCESS) {
		fail(&fc, "open", r);
		goto out;
	}
	printf("open\n");
	if ((r = fc.ops->list(&fc, &ml)) != PS_SUCCESS) {
		fail(&fc, "list", r);
		goto out;
	}
	printf("list %zu\n", ml.n);
	for (i = 0; i < ml.n; i++)
		printf("uid %s %" PRIu64 " %s%s\n", ml.v[i].uid, ml.v[i].size,
		    ml.v[i].server_seen ? "seen" : "unseen",
		    ml.v[i].server_deleted ? " deleted" : "");
	if (strcmp(action, "list") != 0) {
		if (ml.n > 0 && (v = calloc(ml.n, sizeof(*v))) == NULL)
			goto out;
		for (i = 0; i < ml.n; i++)
			v[i] = &ml.v[i];
		if ((r = fc.ops->fetch(&fc, v, ml.n, &sink)) != PS_SUCCESS) {
			fail(&fc, "fetch", r);
			goto out;
		}
	}
	if (strcmp(action, "drain") == 0) {
		if ((r = fc.ops->delete(&fc, v, ml.n)) != PS_SUCCESS) {
			fail(&fc, "delete", r);
			goto out;
		}
		for (i = ndel = 0; i < ml.n; i++)
			ndel += ml.v[i].deleted != 0;
		printf("deleted %zu\n", ndel);
	} else if (strcmp(action, "seen") == 0 &&
	    (r = fc.ops->mark_seen(&fc, v, ml.n)) != PS_SUCCESS) {
		fail(&fc, "seen", r);
		goto out;
	}
	if (idle >= 0) {
		r = fc.ops->idle(&fc, idle);
		printf("idle %d\n", r);
		if (r == -1) {
			fail(&fc, "idle", r);
			goto out;
		}
	}
	if ((r = fc.ops->commit(&fc)) != PS_SUCCESS) {
		fail(&fc, "commit", r);
		goto out;
	}
	printf("commit\n");
	printf("turns %lu\n", fc.turns);
	rv = 0;
out:
	fc.ops->close(&fc);
	free(v);
	free(ml.v);
	if (srv.ssl_ctx != NULL)
		SSL_CTX_free(srv.ssl_ctx);
	return rv;
}
