/*
 * A run of fetchd: one poll of every active server (the default), or the
 * daemon (-d SECS / set daemon) polling every SECS until --quit (SIGTERM),
 * woken early by SIGUSR1 (what a second "fetchd" sends it), rereading the
 * rc file on SIGHUP.
 *
 * The pid file holds "PID\nINTERVAL\n" under a write lock for as long as a
 * run lasts (foreground runs too), so there is never more than one fetchd
 * per pid file: the lock holder is the one that runs.
 */
#ifndef FETCHD_RUN_H
#define FETCHD_RUN_H

#include "rcfile.h"

struct run_opts {
	int		 check;		/* -c */
	int		 nodetach;	/* -N */
	int		 cmd_daemon;	/* -d on the command line */
	/* Parse the rc file again (SIGHUP) into cfg: PS_SUCCESS or not. */
	int		(*reload)(struct rc_config *cfg, void *arg);
	void		*reload_arg;
};

/* The lock holder's pid and interval (0: foreground run); pid 0: none. */
pid_t	run_lock_holder(const char *pidfile, long *interval);

/*
 * Poll (or run the daemon) with cfg after rc_finish.  Returns the exit
 * code: fetchmail's PS_*.  While a daemon runs, a run without -d wakes it
 * (even with "set daemon" in the rc file, as fetchmail); "-d N" gets
 * PS_EXCLUDE, and so does anything while a foreground run holds the lock.
 */
int	fetchd_run(struct rc_config *cfg, const struct run_opts *ro);

#endif
