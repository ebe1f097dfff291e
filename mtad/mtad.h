/*
 * The mtad daemon: one struct holds all of its state, one epoll loop drives
 * it.  Every file descriptor the loop watches has a struct handler; adding a
 * socket (a control socket, a runner's pipe) is adding a handler, not
 * editing the loop.
 */
#ifndef MTAD_MTAD_H
#define MTAD_MTAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "commit.h"
#include "config.h"
#include "queue.h"

#define MTAD_DELIVER_CHILDREN	4		/* concurrent local deliveries */

struct mtad;
struct handler;

typedef void (*handler_fn)(struct mtad *, struct handler *, uint32_t events);

struct handler {
	int		 fd;
	handler_fn	 fn;
	void		*arg;
	uint32_t	 events;	/* as last registered */
};

struct listener {
	struct handler	 h;
	char		*addr;
};

struct smtp_conn;

struct mtad {
	struct mtad_config	 cf;
	const char		*confpath;
	int			 foreground;
	int			 verbose;
	int			 privfd;	/* to the privileged parent, or -1
						   (privsep.h) */

	struct queue		 q;
	int			 epfd;
	SSL_CTX			*tls;		/* server STARTTLS, or NULL */

	struct listener		*listeners;
	size_t			 nlisteners;
	struct handler		 sig;		/* signalfd */
	struct handler		 pickup;	/* unix datagram poke */
	time_t			 last_pickup;

	struct smtp_conn	*conns;		/* doubly linked */
	unsigned		 nconns;
	struct smtp_conn	**committing;	/* finished DATA, waiting */
	size_t			 ncommitting;
	size_t			 commitcap;
	/* The group the commit thread has (commit.h), or none. */
	struct committer	 commit;
	struct handler		 commit_h;
	struct smtp_conn	**inflight;
	size_t			 ninflight;
	struct qwriter		**inflight_ws;
	int			*inflight_res;

	/* Local delivery: IDs waiting and the children running them. */
	char			(*dq)[QID_SIZE];
	size_t			 ndq;
	size_t			 dqcap;
	pid_t			 children[MTAD_DELIVER_CHILDREN];

	/* The runner (runner.h): link state, flushes, the control socket. */
	pid_t			 runner;
	time_t			 runner_started;
	int			 remote_new;	/* queued remote mail to announce */

	int			 terminating;
	int			 reload;
};

/* The loop's handler table. */
int	mtad_watch(struct mtad *, struct handler *, uint32_t events);
int	mtad_rewatch(struct mtad *, struct handler *, uint32_t events);
void	mtad_unwatch(struct mtad *, struct handler *);

/* smtp_server.c: listeners, connections, group commit. */
int	smtp_server_listen(struct mtad *, char *err, size_t errlen);
int	smtp_server_tls(struct mtad *, char *err, size_t errlen);
void	smtp_server_close_listeners(struct mtad *);
int	smtp_server_commit_init(struct mtad *);
void	smtp_server_commit(struct mtad *);
void	smtp_server_commit_fini(struct mtad *);
void	smtp_server_tick(struct mtad *, time_t now);
void	smtp_server_shutdown(struct mtad *);
/* Close every fd the server holds (in a forked child). */
void	smtp_server_closefrom_child(struct mtad *);

/* local_spawn.c: local delivery in children the loop reaps. */
int	local_spawn_add(struct mtad *, const char *id);
void	local_spawn_run(struct mtad *);
void	local_spawn_reap(struct mtad *);
/* Queue every message with a pending local recipient (start-up). */
void	local_spawn_scan(struct mtad *);
/* Move the maildrop into the queue, local deliveries for what came. */
void	local_spawn_pickup(struct mtad *);
/* Queue messages whose deferred local recipients are due (every tick). */
void	local_spawn_retry(struct mtad *);
/* A message that came through too many hops: bounce it, deliver the DSN. */
void	local_spawn_loop(struct mtad *, const char *id, unsigned hops);

/* mtad.c: (re)start the runner; tell it about new remote mail. */
void	mtad_runner_start(struct mtad *);
void	mtad_runner_notify(struct mtad *);

#endif
