/*
 * `mtad-sendmail -bs`: the daemon's SMTP session on stdin/stdout, one
 * message at a time into the maildrop, each durable before its 250.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "smtp_session.h"

static int
flush_out(struct smtp_session *s)
{
	if (s->outlen == 0)
		return 0;
	ssize_t	n;

	while (s->outlen > 0) {
		n = write(STDOUT_FILENO, s->out, s->outlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		smtp_session_consumed(s, n);
	}
	return 0;
}

int
smtp_session_stdio(const struct mtad_config *cf, struct queue *q)
{
	struct smtp_session	*s;
	struct qwriter		*w;
	char			 id[QID_SIZE];
	ssize_t			 n;
	int			 res, rc = 0;

	/* The session carries its buffers: keep it off the stack. */
	if ((s = malloc(sizeof(*s))) == NULL)
		return -1;
	/* A local user typing SMTP is a local submission: it may relay. */
	if (smtp_session_init(s, cf, q, QDEST_MAILDROP, "127.0.0.1",
	    "localhost", 1, 0) == -1) {
		free(s);
		return -1;
	}
	for (;;) {
		smtp_session_feed(s);
		if (s->state == SS_COMMIT) {
			w = &s->w;
			queue_commit(q, &w, 1, &res);
			smtp_session_committed(s, res, id);
			continue;
		}
		if (flush_out(s) == -1) {
			rc = -1;
			break;
		}
		if (s->closing)
			break;
		if (!smtp_session_wants_input(s))
			continue;
		n = read(STDIN_FILENO, s->in + s->inlen,
		    sizeof(s->in) - s->inlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			smtp_session_eof(s);
			if (n == -1)
				rc = -1;
			break;
		}
		s->inlen += n;
	}
	if (rc == 0)
		rc = s->nqueued;
	smtp_session_free(s);
	free(s);
	return rc;
}
