/*
 * mailq: list what waits in the queue (format in mailq.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mailq.h"

#define INDENT_ERR	"                 "
#define INDENT_RCPT	"                                              "

struct mailq_ids {
	char	(*v)[QID_SIZE];
	size_t	  n, cap;
};

static int
collect(const char *id, void *arg)
{
	struct mailq_ids	*l = arg;
	void			*p;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 32;
		if ((p = reallocarray(l->v, l->cap, QID_SIZE)) == NULL)
			return -1;
		l->v = p;
	}
	memcpy(l->v[l->n++], id, QID_SIZE);
	return 0;
}

static void
print_msg(FILE *out, const struct qmsg *m, int in_maildrop)
{
	struct tm	 tm;
	char		 when[32];
	size_t		 i;

	strftime(when, sizeof(when), "%a %b %d %H:%M",
	    localtime_r(&m->arrival, &tm));
	fprintf(out, "%s %8" PRIu64 " %s <%s>\n", m->id, m->size, when,
	    m->sender);
	if (in_maildrop)
		fprintf(out, INDENT_ERR "(waiting for pickup)\n");
	for (i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].state != QR_PENDING)
			continue;
		if (m->rcpts[i].last_error != NULL)
			fprintf(out, INDENT_ERR "(%s)\n",
			    m->rcpts[i].last_error);
		fprintf(out, INDENT_RCPT "<%s>\n", m->rcpts[i].addr);
	}
}

int
mailq_print(struct queue *q, FILE *out)
{
	struct mailq_ids	 queued = { NULL, 0, 0 }, dropped = { NULL, 0, 0 };
	struct qmsg		 m;
	size_t			 i, total;
	int			 n = 0;

	if (queue_scan(q, collect, &queued) == -1) {
		free(queued.v);
		return -1;
	}
	/* The maildrop is not listable for ordinary users: skip it then. */
	(void)queue_scan_maildrop(q, collect, &dropped);
	total = queued.n + dropped.n;
	if (total == 0) {
		fprintf(out, "\t\t%s/queue is empty\n\t\tTotal requests: 0\n",
		    q->spool);
		goto done;
	}
	fprintf(out, "\t\t%s/queue (%zu request%s)\n", q->spool, total,
	    total == 1 ? "" : "s");
	fprintf(out, "-----Q-ID---------- --Size-- -----Q-Time----- "
	    "---------Sender/Recipient---------\n");
	for (i = 0; i < queued.n; i++) {
		/* Delivered and removed since the scan: not an error. */
		if (queue_load(q, queued.v[i], &m) == -1)
			continue;
		print_msg(out, &m, 0);
		qmsg_free(&m);
		n++;
	}
	for (i = 0; i < dropped.n; i++) {
		if (queue_load_maildrop(q, dropped.v[i], &m) == -1) {
			/* Picked up meanwhile: it is in queue/ now. */
			if (errno != ENOENT || queue_load(q, dropped.v[i],
			    &m) == -1)
				continue;
			print_msg(out, &m, 0);
		} else
			print_msg(out, &m, 1);
		qmsg_free(&m);
		n++;
	}
	fprintf(out, "\t\tTotal requests: %d\n", n);
done:
	free(queued.v);
	free(dropped.v);
	return n;
}
