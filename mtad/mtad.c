/*
 * mtad: the queueing MTA daemon.  Start-up (config, queue recovery,
 * listeners, privileges), the epoll loop and its signals.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mtad.h"
#include "privsep.h"
#include "relay.h"
#include "runner.h"
#include "submit.h"

#define PICKUP_INTERVAL	30	/* seconds; a lost poke costs at most this */
#define MTAD_RUNNER_WAIT	8	/* s: relay.c RELAY_FINISH_SECS and a margin */

int
mtad_watch(struct mtad *d, struct handler *h, uint32_t events)
{
	struct epoll_event	ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, h->fd, &ev) == -1)
		return -1;
	h->events = events;
	return 0;
}

int
mtad_rewatch(struct mtad *d, struct handler *h, uint32_t events)
{
	struct epoll_event	ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, h->fd, &ev) == -1)
		return -1;
	h->events = events;
	return 0;
}

void
mtad_unwatch(struct mtad *d, struct handler *h)
{
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->events = 0;
}

static void
runner_child_init(void *arg)
{
	struct mtad	*d = arg;

	smtp_server_closefrom_child(d);
	if (d->privfd != -1)
		close(d->privfd);
}

void
mtad_runner_start(struct mtad *d)
{
	char	err[512];
	pid_t	pid;

	d->runner_started = time(NULL);
	pid = runner_start(d->confpath, &d->cf, &d->q, runner_child_init, d,
	    err, sizeof(err));
	if (pid == -1) {
		log_warnx("runner: %s", err);
		return;
	}
	d->runner = pid;
	d->remote_new = 1;	/* have it look at what is queued */
	mtad_runner_notify(d);
}

void
mtad_runner_notify(struct mtad *d)
{
	if (d->remote_new && d->runner > 0) {
		runner_notify(d->runner);
		d->remote_new = 0;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: mtad [-C conf] [-F] [-v] [-n]\n");
	exit(EX_USAGE);
}

static void
on_signal(struct mtad *d, struct handler *h, uint32_t events)
{
	struct signalfd_siginfo	si;

	while (read(h->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			d->reload = 1;
			if (d->runner > 0)
				kill(d->runner, SIGHUP);
			break;
		case SIGTERM:
		case SIGINT:
			d->terminating = 1;
			if (d->runner > 0)
				kill(d->runner, SIGTERM);
			break;
		case SIGCHLD:
			local_spawn_reap(d);
			break;
		}
	}
}

static void
on_pickup(struct mtad *d, struct handler *h, uint32_t events)
{
	char	buf[64];
	ssize_t	n;

	while ((n = recv(h->fd, buf, sizeof(buf) - 1, 0)) >= 0) {
		/* The runner's DSNs for local senders: "deliver ID". */
		buf[n] = '\0';
		if (strncmp(buf, "deliver ", 8) == 0 &&
		    queue_valid_id(buf + 8))
			local_spawn_add(d, buf + 8);
	}
	local_spawn_pickup(d);
	d->last_pickup = time(NULL);
}

static int
pickup_socket(struct mtad *d, char *err, size_t errlen)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	mode_t			mask;
	int			fd;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    d->cf.spool, SUBMIT_PICKUP_SOCK) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: spool path too long", d->cf.spool);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		goto fail;
	unlink(sun.sun_path);
	/* Any local user's mtad-sendmail may poke: made 0666 by bind itself,
	 * not chmod'd by name afterwards (a path root would follow). */
	mask = umask(0111);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(mask);
		goto fail;
	}
	umask(mask);
	d->pickup.fd = fd;
	d->pickup.fn = on_pickup;
	d->pickup.arg = d;
	if (mtad_watch(d, &d->pickup, EPOLLIN) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

static void
chown_spool(const struct mtad_config *cf, uid_t uid, gid_t gid)
{
	static const char *const sub[] = { "", "/queue", "/tmp", "/maildrop",
	    "/deliver.lock" };
	char		 path[4096];
	size_t		 i;

	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", cf->spool, sub[i]);
		/* Never through a symbolic link: the spool belongs to the
		 * unprivileged user, who could plant one for root to follow. */
		if (lchown(path, uid, gid) == -1 && errno != ENOENT)
			log_warn("chown %s", path);
	}
}

/*
 * Run as cf->user from here on, with no way back: a root parent stays
 * behind only to fork local deliveries as their recipients (privsep.h).
 * Started as another user, or with user root, there is nothing to drop.
 */
static void
drop_privileges(struct mtad *d)
{
	struct passwd	*pw;

	if (geteuid() != 0 || strcmp(d->cf.user, "root") == 0)
		return;
	if ((pw = getpwnam(d->cf.user)) == NULL)
		fatalx("user %s: no such user", d->cf.user);
	chown_spool(&d->cf, pw->pw_uid, pw->pw_gid);
	privsep_split(d, pw->pw_uid, pw->pw_gid);
}

static void
daemonise(void)
{
	pid_t	pid;
	int	fd;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0)
		_exit(0);
	if (setsid() == -1)
		fatal("setsid");
	if (chdir("/") == -1)
		fatal("chdir /");
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

static void
signals(struct mtad *d)
{
	sigset_t	set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (d->sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	d->sig.fn = on_signal;
	d->sig.arg = d;
	if (mtad_watch(d, &d->sig, EPOLLIN) == -1)
		fatal("epoll");
}

static void
reload(struct mtad *d)
{
	struct mtad_config	ncf;
	char			err[512];

	d->reload = 0;
	if (config_load(d->confpath, &ncf, err, sizeof(err)) == -1) {
		log_warnx("reload failed, keeping the old configuration: %s",
		    err);
		config_free(&ncf);
		return;
	}
	/* Listeners and the spool were set up as root: those need a
	 * restart; everything a session reads takes effect now. */
	if (strcmp(ncf.spool, d->cf.spool) != 0)
		log_warnx("reload: a new spool needs a restart");
	config_free(&d->cf);
	d->cf = ncf;
	if (d->privfd != -1)
		privsep_reload(d->privfd);	/* its mailbox settings */
	if (smtp_server_tls(d, err, sizeof(err)) == -1)
		log_warnx("reload: STARTTLS unchanged: %s", err);
	log_info("configuration reloaded");
}

static void
loop(struct mtad *d)
{
	struct epoll_event	 ev[64];
	struct handler		*h;
	time_t			 now, last = 0, shut_at = 0;
	int			 n, i, shutting = 0;

	for (;;) {
		if (d->terminating && !shutting) {
			log_info("shutting down");
			smtp_server_shutdown(d);
			shutting = 1;
			shut_at = time(NULL);
		}
		/* The runner's flush finishes its messages in hand first
		 * (RELAY_FINISH_SECS); a restart must not race it. */
		if (shutting && d->nconns == 0 && d->ncommitting == 0 &&
		    d->ninflight == 0 &&
		    (d->runner <= 0 || time(NULL) - shut_at > MTAD_RUNNER_WAIT))
			break;
		n = epoll_wait(d->epfd, ev, 64, 1000);
		if (n == -1 && errno != EINTR)
			fatal("epoll_wait");
		for (i = 0; i < n; i++) {
			h = ev[i].data.ptr;
			h->fn(d, h, ev[i].events);
		}
		smtp_server_commit(d);
		if (d->reload)
			reload(d);
		now = time(NULL);
		if (now != last) {
			last = now;
			smtp_server_tick(d, now);
			if (!shutting && now - d->last_pickup >= PICKUP_INTERVAL) {
				local_spawn_pickup(d);
				local_spawn_retry(d);
				d->last_pickup = now;
			}
			local_spawn_run(d);
			/* A runner that died comes back, at most every 10s. */
			if (!shutting && d->runner == 0 &&
			    now - d->runner_started >= 10)
				mtad_runner_start(d);
		}
	}
}

int
main(int argc, char *argv[])
{
	struct mtad	*d;
	char		 err[512];
	int		 ch, check = 0;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return EX_OSERR;
	d->confpath = MTAD_DEFAULT_CONF;
	d->pickup.fd = -1;
	d->privfd = -1;
	while ((ch = getopt(argc, argv, "C:Fvn")) != -1) {
		switch (ch) {
		case 'C':
			d->confpath = optarg;
			break;
		case 'F':
			d->foreground = 1;
			break;
		case 'v':
			d->verbose = 1;
			break;
		case 'n':
			check = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	log_init("mtad", LOG_TO_STDERR, d->verbose);
	/* The files the config names (auth, generics) are checked here too:
	 * an auth file others can read must stop mtad before it runs. */
	if (config_load(d->confpath, &d->cf, err, sizeof(err)) == -1 ||
	    relay_check_config(&d->cf, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		config_free(&d->cf);
		free(d);
		return EX_CONFIG;
	}
	if (check) {
		config_free(&d->cf);
		free(d);
		return 0;
	}
	log_init("mtad", LOG_TO_SYSLOG | (d->foreground ? LOG_TO_STDERR : 0),
	    d->verbose);

	if (smtp_server_tls(d, err, sizeof(err)) == -1) {
		log_warnx("STARTTLS: %s", err);
		return EX_CONFIG;
	}
	if (queue_open(&d->q, d->cf.spool, err, sizeof(err)) == -1)
		fatalx("queue: %s", err);
	if ((d->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	if (smtp_server_listen(d, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (pickup_socket(d, err, sizeof(err)) == -1)
		fatalx("pickup socket: %s", err);
	if (!d->foreground)
		daemonise();
	drop_privileges(d);
	signals(d);
	if (smtp_server_commit_init(d) == -1)
		log_warn("commit thread, committing in the loop instead");

	mtad_runner_start(d);
	local_spawn_scan(d);
	local_spawn_pickup(d);
	d->last_pickup = time(NULL);
	log_info("started, %zu listener%s, spool %s", d->nlisteners,
	    d->nlisteners == 1 ? "" : "s", d->cf.spool);

	loop(d);

	log_info("exiting");
	smtp_server_commit_fini(d);
	mtad_unwatch(d, &d->pickup);
	close(d->pickup.fd);
	close(d->sig.fd);
	close(d->epfd);
	if (d->tls != NULL)
		SSL_CTX_free(d->tls);
	queue_close(&d->q);
	config_free(&d->cf);
	free(d->committing);
	free(d->dq);
	free(d);
	return 0;
}
