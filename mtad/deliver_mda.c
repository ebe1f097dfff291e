/*
 * mailbox mda "CMD" and |command alias targets: the message goes to
 * /bin/sh -c CMD on stdin.  The exit status decides, as sendmail's prog
 * mailer: 0 delivered, EX_TEMPFAIL (75) or death by a signal deferred,
 * anything else bounced with the command's first words of output.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "deliver.h"
#include "log.h"

static void PRINTFLIKE(3, 4)
set(struct dresult *r, enum dstatus st, const char *fmt, ...)
{
	va_list	ap;

	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* Append s as one single-quoted shell word. */
static int
put_quoted(const char *s, char *out, size_t outlen, size_t *off)
{
	if (*off + 1 >= outlen)
		return -1;
	out[(*off)++] = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			if (*off + 4 >= outlen)
				return -1;
			memcpy(out + *off, "'\\''", 4);
			*off += 4;
		} else {
			if (*off + 1 >= outlen)
				return -1;
			out[(*off)++] = *s;
		}
	}
	if (*off + 1 >= outlen)
		return -1;
	out[(*off)++] = '\'';
	return 0;
}

int
mda_expand(const char *tmpl, const char *user, const char *sender,
    char *out, size_t outlen)
{
	size_t	off = 0;

	for (; *tmpl; tmpl++) {
		if (*tmpl == '%' && (tmpl[1] == 'u' || tmpl[1] == 's')) {
			if (put_quoted(tmpl[1] == 'u' ? user : sender, out,
			    outlen, &off) == -1)
				return -1;
			tmpl++;
			continue;
		}
		if (*tmpl == '%' && tmpl[1] == '%')
			tmpl++;
		if (off + 1 >= outlen)
			return -1;
		out[off++] = *tmpl;
	}
	out[off] = '\0';
	return 0;
}

static void
on_alarm(int sig)
{
	(void)sig;
}

/* The first line or so of what the command said, printable. */
static void
read_output(int fd, char *buf, size_t len)
{
	ssize_t	n;
	size_t	j = 0;

	buf[0] = '\0';
	if ((n = pread(fd, buf, len - 1, 0)) <= 0)
		return;
	for (ssize_t i = 0; i < n && j + 1 < len; i++) {
		unsigned char c = buf[i];

		if (c == '\n' || c == '\r') {
			if (j > 0 && buf[j - 1] != ' ')
				buf[j++] = ' ';
			continue;
		}
		buf[j++] = (c < 0x20 || c == 0x7f) ? '?' : c;
	}
	while (j > 0 && buf[j - 1] == ' ')
		j--;
	buf[j] = '\0';
}

static void
child(const char *cmd, const struct delivery *d, int in, int out)
{
	const char *sender = d->msg && d->msg->sender ? d->msg->sender : "";

	if (dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
		_exit(EX_OSERR);
	closefrom(3);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	clearenv();
	setenv("PATH", "/usr/local/bin:/usr/bin:/bin", 1);
	setenv("SHELL", "/bin/sh", 1);
	if (d->user != NULL) {
		setenv("USER", d->user, 1);
		setenv("LOGNAME", d->user, 1);
	}
	if (d->home != NULL)
		setenv("HOME", d->home, 1);
	setenv("SENDER", sender, 1);
	if (d->rcpt != NULL)
		setenv("RECIPIENT", d->rcpt, 1);
	if (d->home == NULL || chdir(d->home) == -1)
		(void)chdir("/");
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(EX_OSERR);
}

/* Feed the message to fd; a command may stop reading early (EPIPE). */
static int
feed(int datafd, int fd)
{
	char	buf[65536];
	off_t	off = 0;

	for (;;) {
		ssize_t	n = pread(datafd, buf, sizeof(buf), off);

		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		off += n;
		for (ssize_t done = 0; done < n; ) {
			ssize_t w = write(fd, buf + done, n - done);

			if (w == -1 && errno == EPIPE)
				return 0;
			if (w == -1)
				return -1;	/* EINTR here is the timeout */
			done += w;
		}
	}
}

void
pipe_deliver(const char *cmd, const struct delivery *d, struct dresult *r)
{
	struct sigaction sa, oldpipe, oldalrm;
	char		 said[200];
	int		 p[2] = { -1, -1 }, out, status, timedout = 0;
	pid_t		 pid;

	memset(r, 0, sizeof(*r));
	if ((out = memfd_create("mtad-pipe", MFD_CLOEXEC)) == -1) {
		set(r, DELIVER_DEFER, "451 4.3.0 memfd: %s", strerror(errno));
		return;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		set(r, DELIVER_DEFER, "451 4.3.0 pipe: %s", strerror(errno));
		close(out);
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &oldpipe);
	sa.sa_handler = on_alarm;	/* no SA_RESTART: write() returns */
	sigaction(SIGALRM, &sa, &oldalrm);

	if ((pid = fork()) == -1) {
		set(r, DELIVER_DEFER, "451 4.3.0 fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		close(out);
		goto restore;
	}
	if (pid == 0)
		child(cmd, d, p[0], out);
	close(p[0]);
	alarm(PIPE_TIMEOUT);
	if (feed(d->datafd, p[1]) == -1 && errno == EINTR)
		timedout = 1;
	close(p[1]);
	if (timedout)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
		timedout = 1;
		kill(pid, SIGKILL);
	}
	alarm(0);
	read_output(out, said, sizeof(said));
	close(out);

	if (timedout)
		set(r, DELIVER_DEFER, "451 4.4.7 command timed out after %ds",
		    PIPE_TIMEOUT);
	else if (status == -1)
		set(r, DELIVER_DEFER, "451 4.3.0 wait: %s", strerror(errno));
	else if (WIFSIGNALED(status))
		set(r, DELIVER_DEFER, "451 4.3.0 command killed by signal %d%s"
		    "%s", WTERMSIG(status), *said ? ": " : "", said);
	else if (WEXITSTATUS(status) == 0)
		set(r, DELIVER_OK, "250 2.0.0 delivered to command");
	else if (WEXITSTATUS(status) == EX_TEMPFAIL)
		set(r, DELIVER_DEFER, "451 4.3.0 command exited 75 (temporary "
		    "failure)%s%s", *said ? ": " : "", said);
	else if (WEXITSTATUS(status) == EX_NOUSER)
		set(r, DELIVER_BOUNCE, "550 5.1.1 command exited 67 (user "
		    "unknown)%s%s", *said ? ": " : "", said);
	else
		set(r, DELIVER_BOUNCE, "554 5.3.0 command exited %d%s%s",
		    WEXITSTATUS(status), *said ? ": " : "", said);
restore:
	sigaction(SIGPIPE, &oldpipe, NULL);
	sigaction(SIGALRM, &oldalrm, NULL);
}

static void
mda_deliver(const struct delivery *d, struct dresult *r)
{
	char	cmd[8192];

	if (d->cf->mailbox_arg == NULL || mda_expand(d->cf->mailbox_arg,
	    d->user, d->msg && d->msg->sender ? d->msg->sender : "", cmd,
	    sizeof(cmd)) == -1) {
		set(r, DELIVER_DEFER, "451 4.3.5 mda command for %s does not "
		    "fit", d->user);
		return;
	}
	pipe_deliver(cmd, d, r);
}

const struct deliverer deliver_mda = { "local", mda_deliver };
