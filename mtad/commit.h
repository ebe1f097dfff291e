/*
 * The group commit's disk work in a thread of its own (commit.c), so the
 * event loop goes on reading while a group reaches the disk.
 */
#ifndef MTAD_COMMIT_H
#define MTAD_COMMIT_H

#include <pthread.h>
#include <stddef.h>

#include "queue.h"

struct committer {
	pthread_t	  thread;
	pthread_mutex_t	  lock;
	pthread_cond_t	  cv;
	int		  efd;		/* eventfd: readable when a batch is done */
	int		  running;	/* the thread exists */
	int		  busy;		/* the loop's view: a batch is out */
	struct queue	 *q;
	/* Under lock: */
	struct qwriter	**ws;
	int		 *res;
	size_t		  n;
	int		  started, todo, done, quit;
	int		  serr;		/* queue_commit_io's return */
};

/* Start the thread; -1 with errno if it cannot be (commit synchronously). */
int	commit_init(struct committer *, struct queue *);
/* Hand over one batch: queue_commit_io(q, ws, n, res) runs in the thread.
 * The writers and res belong to it until commit_collect() returns 1. */
void	commit_submit(struct committer *, struct qwriter **ws, size_t n,
	    int *res);
/* After the eventfd turns readable: 1 if the batch is done, and *serr is
 * what queue_commit_io returned. */
int	commit_collect(struct committer *, int *serr);
/* Finish the batch in hand, if any, and stop the thread. */
void	commit_fini(struct committer *);

#endif
