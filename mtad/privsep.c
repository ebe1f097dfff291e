/*
 * Privilege separation: the split, the privileged parent's loop and the
 * worker's side of a delivery request (see privsep.h).
 *
 * The parent keeps nothing the worker uses: no listener, no spool
 * directory, no queue file, no TLS key.  It reads fixed-size requests from
 * one socket, forks, and reaps; every other byte from outside is parsed in
 * the worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic.h"
#include "log.h"
#include "mtad.h"
#include "privsep.h"

#define PRIVSEP_MAXCHILD	32	/* deliveries in flight at once */

struct parent {
	struct mtad	*d;
	int		 fd;		/* to the worker; -1 after EOF */
	int		 sigfd;
	pid_t		 worker;
	int		 wstatus;
	int		 worker_done;
	unsigned	 nchild;
};

static void
reply(int resfd, enum dstatus st, const char *text)
{
	struct dresult	r;

	memset(&r, 0, sizeof(r));
	r.status = st;
	snprintf(r.text, sizeof(r.text), "%s", text);
	(void)write_all(resfd, &r, sizeof(r));
}

static void	reload(struct parent *);

static int
terminated(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

static void
spawn(struct parent *p, const struct privsep_req *req, int datafd, int resfd)
{
	struct dresult	r;
	sigset_t	all;
	pid_t		pid;

	if (p->nchild >= PRIVSEP_MAXCHILD) {
		reply(resfd, DELIVER_DEFER, "451 4.3.0 too many deliveries at "
		    "once");
		return;
	}
	if ((pid = fork()) == -1) {
		reply(resfd, DELIVER_DEFER, "451 4.3.0 fork failed");
		return;
	}
	if (pid == 0) {
		close(p->fd);
		close(p->sigfd);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		local_deliver_as(&p->d->cf, req, datafd, &r);
		(void)write_all(resfd, &r, sizeof(r));
		_exit(0);
	}
	p->nchild++;
}

/* One request: exactly one struct and two descriptors, else dropped. */
static void
on_request(struct parent *p)
{
	struct privsep_req	*req;
	struct msghdr		 msg;
	struct iovec		 iov;
	struct cmsghdr		*cm;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(4 * sizeof(int))];
	}			 cbuf;
	int			 fds[4], nfds = 0, i;
	ssize_t			 n;

	if ((req = malloc(sizeof(*req) + 1)) == NULL)
		fatal("privsep: malloc");
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = req;
	iov.iov_len = sizeof(*req) + 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	n = recvmsg(p->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
		p->fd = -1;	/* the worker is gone; its exit is reaped */
		free(req);
		return;
	}
	for (cm = CMSG_FIRSTHDR(&msg); n > 0 && cm != NULL;
	    cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; (size_t)i < (cm->cmsg_len - CMSG_LEN(0)) /
		    sizeof(int) && nfds < 4; i++)
			memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int),
			    sizeof(int));
	}
	if (n == (ssize_t)sizeof(*req) && nfds == 0 &&
	    !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    req->kind == PS_RELOAD)
		reload(p);
	else if (n == (ssize_t)sizeof(*req) && nfds == 2 &&
	    !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
	    terminated(req->user, sizeof(req->user)) &&
	    terminated(req->what, sizeof(req->what)) &&
	    terminated(req->sender, sizeof(req->sender)) &&
	    terminated(req->rcpt, sizeof(req->rcpt)) &&
	    req->kind >= PS_USER && req->kind <= PS_PIPE)
		spawn(p, req, fds[0], fds[1]);
	else if (n > 0)
		log_warnx("privsep: malformed request from the worker "
		    "(%zd bytes, %d descriptors) dropped", n, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	free(req);
}

static void
reap(struct parent *p)
{
	pid_t	pid;
	int	st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		if (pid == p->worker) {
			p->worker_done = 1;
			p->wstatus = st;
			continue;
		}
		if (p->nchild > 0)
			p->nchild--;
		if (WIFSIGNALED(st))
			log_warnx("delivery process %d killed by signal %d",
			    (int)pid, WTERMSIG(st));
	}
}

static void
reload(struct parent *p)
{
	struct mtad_config	ncf;
	char			err[512];

	/* The worker read this file a moment ago and found it good. */
	if (config_load(p->d->confpath, &ncf, err, sizeof(err)) == -1) {
		config_free(&ncf);
		return;
	}
	config_free(&p->d->cf);
	p->d->cf = ncf;
}

static void
on_signal(struct parent *p)
{
	struct signalfd_siginfo	si;

	while (read(p->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(p);
			break;
		default:
			/* SIGHUP too: the worker reloads and, if the new
			 * file is good, has us reread it (PS_RELOAD). */
			if (!p->worker_done)
				kill(p->worker, si.ssi_signo);
			break;
		}
	}
}

static void __attribute__((__noreturn__))
parent_loop(struct mtad *d, int fd, pid_t worker)
{
	struct parent	 p = { .d = d, .fd = fd, .worker = worker };
	struct pollfd	 pfd[2];
	sigset_t	 set;
	int		 st;

	/* Nothing of the worker's stays open here. */
	for (size_t i = 0; i < d->nlisteners; i++)
		close(d->listeners[i].h.fd);
	if (d->pickup.fd != -1)
		close(d->pickup.fd);
	close(d->epfd);
	queue_close(&d->q);
	if (d->tls != NULL)
		SSL_CTX_free(d->tls);
	d->tls = NULL;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (p.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("privsep: signalfd");
	reap(&p);	/* a worker that died before the signalfd existed */

	while (!p.worker_done) {
		pfd[0].fd = p.sigfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = p.fd;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("privsep: poll");
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
			on_request(&p);
		if (pfd[0].revents & POLLIN)
			on_signal(&p);
	}
	/* Deliveries in flight finish: their results may be lost with the
	 * worker, the queue then still holds those recipients. */
	while (p.nchild > 0 && waitpid(-1, &st, 0) > 0)
		p.nchild--;
	if (WIFSIGNALED(p.wstatus)) {
		log_warnx("worker process %d killed by signal %d", (int)worker,
		    WTERMSIG(p.wstatus));
		exit(1);
	}
	exit(WIFEXITED(p.wstatus) ? WEXITSTATUS(p.wstatus) : 1);
}

void
privsep_split(struct mtad *d, uid_t uid, gid_t gid)
{
	pid_t	parent = getpid(), pid;
	int	sp[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		fatal("privsep: socketpair");
	if ((pid = fork()) == -1)
		fatal("privsep: fork");
	if (pid != 0) {
		close(sp[1]);
		parent_loop(d, sp[0], pid);
	}
	close(sp[0]);
	d->privfd = sp[1];
	if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		fatal("dropping privileges to %s", d->cf.user);
	if (uid != 0 && (setuid(0) != -1 || geteuid() == 0))
		fatalx("could regain root after dropping it");
	/* Set after the drop, which clears it; a parent gone (killed) takes
	 * the worker with it, so that a restarted mtad can bind again. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		log_warn("prctl PR_SET_PDEATHSIG");
	if (getppid() != parent)
		_exit(1);
}

void
privsep_deliver(int privfd, const struct privsep_req *req, int datafd,
    struct dresult *r)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(2 * sizeof(int))];
	}		 cbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*cm;
	int		 p[2], fds[2];
	size_t		 got;
	ssize_t		 n;

	memset(r, 0, sizeof(*r));
	if (pipe2(p, O_CLOEXEC) == -1) {
		r->status = DELIVER_DEFER;
		snprintf(r->text, sizeof(r->text), "451 4.3.0 pipe: %s",
		    strerror(errno));
		return;
	}
	fds[0] = datafd;
	fds[1] = p[1];
	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = (void *)req;
	iov.iov_len = sizeof(*req);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof(cbuf.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	while ((n = sendmsg(privfd, &msg, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		;
	close(p[1]);
	if (n != (ssize_t)sizeof(*req)) {
		close(p[0]);
		r->status = DELIVER_DEFER;
		snprintf(r->text, sizeof(r->text), "451 4.3.0 privileged "
		    "process unreachable: %s", n == -1 ? strerror(errno) :
		    "short write");
		return;
	}
	got = read_full(p[0], r, sizeof(*r));
	close(p[0]);
	if (got != sizeof(*r) || (unsigned)r->status > DELIVER_BOUNCE) {
		memset(r, 0, sizeof(*r));
		r->status = DELIVER_DEFER;
		snprintf(r->text, sizeof(r->text), "451 4.3.0 delivery process "
		    "failed");
	}
	r->text[sizeof(r->text) - 1] = '\0';
}

void
privsep_reload(int privfd)
{
	struct privsep_req	*req;

	if ((req = calloc(1, sizeof(*req))) == NULL) {
		log_warn("privsep: reload");
		return;
	}
	req->kind = PS_RELOAD;
	if (send(privfd, req, sizeof(*req), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(*req))
		log_warn("privsep: cannot pass the reload on");
	free(req);
}
