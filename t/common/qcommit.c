/*
 * Queue commit driver for t/bench/queue_commit: write N messages of SIZE
 * octets into SPOOL's queue, committing them in groups of BATCH with
 * queue_commit(), and print "N messages in S seconds".
 *
 *	qcommit SPOOL N SIZE BATCH
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../mtad/queue.h"

int
main(int argc, char **argv)
{
	struct queue	 q;
	struct qwriter	*w, **wp;
	struct qmsg	 m;
	struct qrcpt	 r;
	struct timespec	 t0, t1;
	char		 err[256], *body;
	int		*res;
	long		 n, size, batch, i, j, k;

	if (argc != 5 || (n = atol(argv[2])) <= 0 || (size = atol(argv[3])) <= 0 ||
	    (batch = atol(argv[4])) <= 0 || batch > 1000) {
		fprintf(stderr, "usage: qcommit spool n size batch\n");
		return 2;
	}
	if (queue_open(&q, argv[1], err, sizeof(err)) == -1) {
		fprintf(stderr, "qcommit: %s\n", err);
		return 1;
	}
	w = calloc(batch, sizeof(*w));
	wp = calloc(batch, sizeof(*wp));
	res = calloc(batch, sizeof(*res));
	body = malloc(size);
	if (w == NULL || wp == NULL || res == NULL || body == NULL)
		return 1;
	memset(body, 'x', size);
	memset(&r, 0, sizeof(r));
	r.addr = "bob@example.org";
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i += batch) {
		k = n - i < batch ? n - i : batch;
		for (j = 0; j < k; j++) {
			memset(&m, 0, sizeof(m));
			m.sender = "eddy@shofar.lan";
			m.proto = "ESMTP";
			m.rcpts = &r;
			m.nrcpts = 1;
			m.arrival = time(NULL);
			if (qwriter_open(&q, QDEST_QUEUE, &w[j]) == -1)
				return 1;
			qwriter_write(&w[j], body, size);
			if (qwriter_finish(&w[j], &m) == -1)
				return 1;
			wp[j] = &w[j];
		}
		queue_commit(&q, wp, k, res);
		for (j = 0; j < k; j++)
			if (res[j] != 0) {
				fprintf(stderr, "qcommit: %s\n", strerror(res[j]));
				return 1;
			}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%ld messages in %.3f seconds\n", n, (t1.tv_sec - t0.tv_sec) +
	    (t1.tv_nsec - t0.tv_nsec) / 1e9);
	queue_close(&q);
	free(w);
	free(wp);
	free(res);
	free(body);
	return 0;
}
