/*
 * The runner: link state, scheduling of smart-host flushes, and the
 * control socket.  It runs as its own process beside mtad's event loop
 * (started once the daemon has dropped privileges), so a flush over a slow
 * line never holds up SMTP sessions or local delivery; each flush is a
 * child of the runner (relay.c) reporting over a pipe.
 *
 * mtad forwards SIGHUP (reload) and SIGTERM (stop) to the runner, and sends
 * SIGUSR1 when a message with remote recipients was queued.  The runner
 * dies with mtad (PR_SET_PDEATHSIG).
 *
 * Link state persists in <spool>/link ("up" or "down"); without that file
 * the config's `link` decides; `link always` overrides both.
 */
#ifndef MTAD_RUNNER_H
#define MTAD_RUNNER_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"
#include "queue.h"

#define RUNNER_LINK_FILE	"link"

/*
 * Fork the runner.  child_init (may be NULL) runs first in the child, to
 * close what it must not keep (listeners, the event loop's fds).  Returns
 * the runner's pid, or -1 with err set.
 */
pid_t	runner_start(const char *confpath, const struct mtad_config *cf,
	    struct queue *q, void (*child_init)(void *), void *arg,
	    char *err, size_t errlen);

/* New remote mail was queued: have the runner look at the queue. */
void	runner_notify(pid_t runner);

/* The effective link state for a spool: LINK_UP, LINK_DOWN or LINK_ALWAYS. */
enum link_mode	runner_link_state(const struct mtad_config *cf);

#endif
