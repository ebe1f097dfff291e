/*
 * fetchd's run: pid-file lock, daemon loop, signals (see run.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fetch.h"
#include "log.h"
#include "poll.h"
#include "run.h"
#include "uidstore.h"

/*
 * Set by the signal handlers, read by the loop: the one piece of state a
 * handler can reach.
 */
static volatile sig_atomic_t	sig_stop, sig_cancel, sig_wake, sig_hup;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (sig_stop)
			sig_cancel = 1;	/* asked twice: stop waiting now */
		sig_stop = 1;
		break;
	case SIGHUP:
		sig_hup = 1;
		sig_wake = 1;
		break;
	case SIGUSR1:
		sig_wake = 1;
		break;
	}
}

pid_t
run_lock_holder(const char *pidfile, long *interval)
{
	struct flock	 fl;
	char		 buf[64];
	ssize_t		 n;
	int		 fd;
	long		 pid = 0, iv = 0;

	*interval = 0;
	if ((fd = open(pidfile, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) == -1 || fl.l_type == F_UNLCK) {
		close(fd);
		return 0;
	}
	if ((n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "%ld %ld", &pid, &iv) == 2)
			*interval = iv;
	}
	close(fd);
	return fl.l_pid;
}

/* Take the pid-file lock; the fd stays open for the run.  -1 if held. */
static int
take_lock(const char *pidfile, long interval)
{
	struct flock	 fl;
	char		 buf[64];
	int		 fd, n;

	if ((fd = open(pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
		log_warn("%s", pidfile);
		return -2;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) == -1) {
		close(fd);
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n%ld\n", (long)getpid(),
	    interval);
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n) {
		log_warn("%s", pidfile);
		close(fd);
		return -2;
	}
	return fd;
}

static void
release_lock(int fd, const char *pidfile)
{
	if (fd < 0)
		return;
	unlink(pidfile);
	close(fd);
}

static void
install_signals(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static int
detach(void)
{
	pid_t	 pid;
	int	 fd;

	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() == -1)
		return -1;
	if ((pid = fork()) == -1)
		return -1;
	if (pid > 0)
		_exit(0);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

static void
setup_logging(const struct rc_config *cfg, int detached)
{
	int	 dest = 0;

	if (cfg->run.syslog == RC_YES || (detached && cfg->run.logfile ==
	    NULL))
		dest |= LOG_TO_SYSLOG;
	if (!detached)
		dest |= LOG_TO_STDERR;
	log_init("fetchd", dest, log_verbose());
	if (cfg->run.logfile != NULL && log_set_file(cfg->run.logfile) == -1)
		log_warn("%s", cfg->run.logfile);
}

/* Combine two exit codes the way fetchmail reports a run. */
static int
merge_status(int acc, int rv)
{
	if (acc == -1)
		return rv;
	if (acc == PS_SUCCESS || rv == PS_SUCCESS)
		return PS_SUCCESS;
	if (acc == PS_NOMAIL)
		return rv;
	return acc;
}

static int
poll_all(const struct rc_config *cfg, struct uidstore *us,
    const struct run_opts *ro, long cycle, const char *hostname, int *idled)
{
	struct poll_run	 pr;
	size_t		 i, j;
	int		 st = -1, rv;

	memset(&pr, 0, sizeof(pr));
	pr.cfg = cfg;
	pr.us = us;
	pr.hostname = hostname;
	pr.check = ro->check;
	pr.daemon = cfg->run.daemon > 0;
	pr.stop = &sig_stop;
	pr.cancel = &sig_cancel;
	pr.wake = &sig_wake;
	for (i = 0; i < cfg->npolls && !sig_stop; i++) {
		const struct rc_poll	*p = &cfg->polls[i];

		if (!p->active)
			continue;
		if (p->interval > 1 && cycle % p->interval != 0)
			continue;
		for (j = 0; j < p->nusers && !sig_stop; j++) {
			rv = poll_user(&pr, p, &p->users[j]);
			st = merge_status(st, rv);
		}
	}
	if (log_verbose() && pr.turns > 0)
		log_debug("%lu turns toward the mail servers", pr.turns);
	*idled = pr.idled;
	return st == -1 ? PS_NOMAIL : st;
}

/* Sleep up to secs, or until a signal asks for something. */
static void
nap(long secs)
{
	struct timespec	 ts;
	sigset_t	 block, old;

	fetch_signals(&block);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (!sig_stop && !sig_wake) {
		ts.tv_sec = secs;
		ts.tv_nsec = 0;
		/* ppoll unblocks atomically: no wake-up is lost */
		ppoll(NULL, 0, &ts, &old);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
}

int
fetchd_run(struct rc_config *cfg, const struct run_opts *ro)
{
	struct uidstore	 us;
	char		 hostname[256], err[1024];
	long		 interval, cycle = 0;
	pid_t		 pid;
	int		 lockfd, rv, idled, daemon = cfg->run.daemon > 0;

	if ((pid = run_lock_holder(cfg->run.pidfile, &interval)) != 0) {
		if (ro->cmd_daemon) {
			fprintf(stderr, "fetchd: another fetchd (pid %ld) is "
			    "running\n", (long)pid);
			return PS_EXCLUDE;
		}
		if (interval > 0 && kill(pid, SIGUSR1) == 0) {
			fprintf(stderr, "fetchd: background fetchd at %ld "
			    "awakened.\n", (long)pid);
			return PS_SUCCESS;
		}
		fprintf(stderr, "fetchd: another foreground fetchd is running "
		    "at %ld.\n", (long)pid);
		return PS_EXCLUDE;
	}
	if (gethostname(hostname, sizeof(hostname)) == -1)
		strcpy(hostname, "localhost");
	hostname[sizeof(hostname) - 1] = '\0';
	if (daemon && !ro->nodetach) {
		if (detach() == -1) {
			log_warn("cannot detach");
			return PS_UNDEFINED;
		}
	}
	setup_logging(cfg, daemon && !ro->nodetach);
	lockfd = take_lock(cfg->run.pidfile, daemon ? cfg->run.daemon : 0);
	if (lockfd == -1) {
		log_warnx("another fetchd is running (%s is locked)",
		    cfg->run.pidfile);
		return PS_EXCLUDE;
	}
	if (lockfd == -2)
		return PS_IOERR;
	install_signals();
	if (uidstore_open(&us, cfg->run.idfile, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		release_lock(lockfd, cfg->run.pidfile);
		return PS_IOERR;
	}
	if (daemon)
		log_info("starting fetchd %s daemon", "0.1");
	for (;;) {
		sig_wake = 0;
		rv = poll_all(cfg, &us, ro, cycle++, hostname, &idled);
		if (!daemon || sig_stop)
			break;
		/* An IDLE that ran its course was the wait. */
		if (!idled)
			nap(cfg->run.daemon);
		if (sig_stop)
			break;
		if (sig_hup && ro->reload != NULL) {
			sig_hup = 0;
			log_info("SIGHUP: rereading the rc file");
			if (ro->reload(cfg, ro->reload_arg) != PS_SUCCESS)
				log_warnx("keeping the previous configuration");
		}
	}
	if (daemon)
		log_info("terminated");
	uidstore_close(&us);
	release_lock(lockfd, cfg->run.pidfile);
	return daemon ? PS_SUCCESS : rv;
}
