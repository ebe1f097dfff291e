/*
 * libFuzzer: the SMTP server state machine, a whole session as input: the
 * first byte picks the owner's choices (relaying allowed, STARTTLS offered,
 * commits failing, a shutdown midway, the read size), the rest is what the
 * client sends.  Messages really go through the queue writer, into a spool
 * under $TMPDIR (else /tmp) emptied after every input; `make fuzz-smoke`
 * points TMPDIR at a directory of its own and removes it after the run,
 * since a crash or a kill skips the atexit clean-up.  Checks, beyond "no crash": every
 * reply line is "ddd" + ' ' or '-', ends in CR LF, and fits RFC 5321's 512
 * octets; the session stops reading whenever it asks to.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mtad/ is not in the fuzz link: take the session and the queue whole. */
#include "../../mtad/queue.c"
#include "../../mtad/queue_env.c"
#include "../../mtad/smtp_session.c"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The two outside answers the session asks for, as mtad's would give them
 * for a hub with one local domain and a few users. */
int
config_is_local_domain(const struct mtad_config *cf, const char *domain)
{
	return domain[0] == '\0' || strcasecmp(domain, cf->hostname) == 0 ||
	    strcasecmp(domain, "lan.example") == 0;
}

int
local_rcpt_known(const struct mtad_config *cf, const char *local)
{
	return strcasecmp(local, "nobody") != 0;
}

static char		 spool[512];
static struct queue	 q;

static int
rm_file(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	if (flag == FTW_F || flag == FTW_SL)
		unlink(p);
	return 0;
}

static int
rm_any(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void
cleanup(void)
{
	queue_close(&q);
	nftw(spool, rm_any, 8, FTW_DEPTH | FTW_PHYS);
}

static int
setup(void)
{
	const char	*tmp;
	char		 err[256];
	int		 n;

	log_init("fuzz", 0, 0);
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	n = snprintf(spool, sizeof(spool), "%s/fuzz_smtp_session.XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof(spool) || mkdtemp(spool) == NULL) {
		fprintf(stderr, "%s: cannot make a spool\n", tmp);
		abort();
	}
	if (queue_open(&q, spool, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	atexit(cleanup);
	return 0;
}

/* Take the replies out of out[] and check their shape. */
static void
drain(struct smtp_session *s)
{
	const char	*p = s->out, *end = s->out + s->outlen, *nl;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			abort();	/* a reply cut short */
		if (nl - p < 5 || nl[-1] != '\r' || nl - p + 1 > 512)
			abort();
		if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
		    p[2] < '0' || p[2] > '9' || (p[3] != ' ' && p[3] != '-'))
			abort();
		if (memchr(p, '\r', (size_t)(nl - p - 1)) != NULL)
			abort();	/* a bare CR inside a reply */
		p = nl + 1;
	}
	if (s->outlen > 0)
		smtp_session_consumed(s, s->outlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct smtp_session	 s;	/* 100 KB of buffers */
	static int			 ready;
	static char			 host[] = "hub.lan.example";
	static char			*domains[] = { host };
	struct mtad_config		 cf;
	struct qwriter			*w;
	char				 id[QID_SIZE];
	const char			*p, *end;
	size_t				 chunk, n, rounds = 0;
	int				 flags, res;

	if (!ready) {
		if (setup() == -1)
			return 0;
		ready = 1;
	}
	if (size == 0)
		return 0;
	flags = data[0];
	p = (const char *)data + 1;
	end = (const char *)data + size;
	chunk = (flags >> 4) == 0 ? SMTP_IN_SIZE : (size_t)(flags >> 4) * 3;

	memset(&cf, 0, sizeof(cf));
	cf.hostname = host;
	cf.local_domains.v = domains;
	cf.local_domains.n = 1;
	cf.max_message_size = (flags & 0x08) ? 2048 : 0;
	if (smtp_session_init(&s, &cf, &q, (flags & 0x01) ? QDEST_MAILDROP :
	    QDEST_QUEUE, "192.0.2.7", "client.example [192.0.2.7]",
	    flags & 0x01, flags & 0x02) == -1)
		abort();
	for (;;) {
		if (++rounds > size * 4 + 64)
			abort();	/* no progress: a loop bug */
		smtp_session_feed(&s);
		if (s.state == SS_COMMIT) {
			w = &s.w;
			queue_commit(&q, &w, 1, &res);
			if (flags & 0x04)
				res = EIO;	/* as if fsync had failed */
			smtp_session_committed(&s, res, id);
			continue;
		}
		drain(&s);
		if (s.want_tls)
			smtp_session_tls_started(&s);
		if (s.closing)
			break;
		if (!smtp_session_wants_input(&s))
			continue;
		if (p == end) {
			smtp_session_eof(&s);
			break;
		}
		n = (size_t)(end - p);
		if (n > chunk)
			n = chunk;
		if (n > sizeof(s.in) - s.inlen)
			n = sizeof(s.in) - s.inlen;
		memcpy(s.in + s.inlen, p, n);
		s.inlen += n;
		p += n;
		/* Half way through, mtad gets SIGTERM. */
		if ((flags & 0x01) && (flags & 0x08) &&
		    p - (const char *)data > (ptrdiff_t)size / 2 &&
		    !s.draining)
			smtp_session_shutdown(&s);
	}
	drain(&s);
	smtp_session_free(&s);
	nftw(spool, rm_file, 8, FTW_PHYS);
	return 0;
}
