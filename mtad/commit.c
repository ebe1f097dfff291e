/*
 * The group commit's disk work, off the event loop.  queue_commit() spends
 * most of its time waiting for the disk (syncfs, then the directory fsync):
 * done in the loop, every session stalls for it, so the next group can
 * only start forming once this one is on disk, and disk and CPU take
 * turns.  One thread runs the commits instead, one group at a time, while
 * the loop keeps reading the next group's DATA; the sessions of a group
 * still get their 250 only when it is on disk.
 *
 * The thread touches nothing but the batch it was handed (the writers'
 * files and the queue's directory descriptors, which the loop does not
 * change while it runs) and never logs (queue_commit_io); the hand-over is
 * under a mutex, and the loop learns of a finished batch through an
 * eventfd it watches.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "commit.h"

static void *
commit_thread(void *arg)
{
	struct committer	*c = arg;
	uint64_t		 one = 1;
	int			 serr;

	pthread_mutex_lock(&c->lock);
	c->started = 1;
	pthread_cond_broadcast(&c->cv);
	for (;;) {
		while (!c->todo && !c->quit)
			pthread_cond_wait(&c->cv, &c->lock);
		if (!c->todo)
			break;
		pthread_mutex_unlock(&c->lock);
		serr = queue_commit_io(c->q, c->ws, c->n, c->res);
		pthread_mutex_lock(&c->lock);
		c->serr = serr;
		c->todo = 0;
		c->done = 1;
		/* An eventfd write of 1 cannot fail short of a bad fd. */
		(void)write(c->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int
commit_init(struct committer *c, struct queue *q)
{
	sigset_t	all, old;
	int		e;

	memset(c, 0, sizeof(*c));
	c->q = q;
	if ((c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		return -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cv, NULL);
	/* Signals belong to the loop's signalfd, never to this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&c->thread, NULL, commit_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->lock);
		close(c->efd);
		c->efd = -1;
		errno = e;
		return -1;
	}
	/*
	 * Return only once the thread runs our code: a fork (the runner,
	 * a delivery child) while it still starts up could copy a lock its
	 * start-up holds (ASan's allocator does not guard fork) into a child
	 * that then hangs.  From here on the thread takes no lock but ours.
	 */
	pthread_mutex_lock(&c->lock);
	while (!c->started)
		pthread_cond_wait(&c->cv, &c->lock);
	pthread_mutex_unlock(&c->lock);
	c->running = 1;
	return 0;
}

void
commit_submit(struct committer *c, struct qwriter **ws, size_t n, int *res)
{
	pthread_mutex_lock(&c->lock);
	c->ws = ws;
	c->n = n;
	c->res = res;
	c->done = 0;
	c->todo = 1;
	c->busy = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
}

int
commit_collect(struct committer *c, int *serr)
{
	uint64_t	v;
	int		done;

	(void)read(c->efd, &v, sizeof(v));
	pthread_mutex_lock(&c->lock);
	done = c->done;
	c->done = 0;
	*serr = c->serr;
	pthread_mutex_unlock(&c->lock);
	if (done)
		c->busy = 0;
	return done;
}

void
commit_fini(struct committer *c)
{
	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->quit = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->lock);
	close(c->efd);
	c->efd = -1;
	c->running = 0;
}
