/*
 * Delivery through an MDA command (see mda.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic.h"
#include "log.h"
#include "mda.h"

#define MDA_BUF		65536
#define EX_TEMPFAIL_	75

static int
put_quoted(FILE *fp, const char *s)
{
	fputc('\'', fp);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", fp);
		else
			fputc(*s, fp);
	}
	return fputc('\'', fp) == EOF ? -1 : 0;
}

char *
fmda_expand(const char *cmd, const char *sender, const char *rcpt)
{
	FILE	*fp;
	char	*out = NULL;
	size_t	 len;

	if ((fp = open_memstream(&out, &len)) == NULL)
		return NULL;
	for (; *cmd != '\0'; cmd++) {
		if (*cmd != '%' || (cmd[1] != 'T' && cmd[1] != 'F' &&
		    cmd[1] != '%')) {
			fputc(*cmd, fp);
			continue;
		}
		cmd++;
		if (*cmd == 'T')
			put_quoted(fp, rcpt);
		else if (*cmd == 'F')
			put_quoted(fp, sender);
		else
			fputc('%', fp);
	}
	if (fclose(fp) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Copy buf to the pipe, CR LF made LF when strip; *cr carries a CR that
 * ended the previous buffer. */
static int
put(int pfd, const char *buf, size_t len, int strip, int *cr)
{
	char	 out[MDA_BUF + 1];
	size_t	 i, o = 0;

	if (!strip)
		return write_all(pfd, buf, len);
	for (i = 0; i < len; i++) {
		if (*cr && buf[i] != '\n')
			out[o++] = '\r';
		*cr = 0;
		if (buf[i] == '\r') {
			*cr = 1;
			continue;
		}
		out[o++] = buf[i];
		if (o >= MDA_BUF) {
			if (write_all(pfd, out, o) == -1)
				return -1;
			o = 0;
		}
	}
	return write_all(pfd, out, o);
}

static void
reply(struct smtp_reply *r, int code, const char *enh, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
reply(struct smtp_reply *r, int code, const char *enh, const char *fmt, ...)
{
	va_list	 ap;

	smtp_reply_init(r);
	r->code = code;
	r->local = 1;
	r->nlines = 1;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enh);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

void
fmda_deliver(const char *cmd, int stripcr, const char *sender,
    const char *rcpt, const char *prefix, size_t prefixlen, int fd,
    off_t off, struct smtp_reply *r)
{
	char	 buf[MDA_BUF], *line;
	int	 p[2], status, cr = 0, werr = 0;
	ssize_t	 n;
	pid_t	 pid;

	if ((line = fmda_expand(cmd, sender, rcpt)) == NULL) {
		reply(r, 450, "4.3.0", "mda: out of memory");
		return;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		reply(r, 450, "4.3.0", "mda: pipe: %s", strerror(errno));
		free(line);
		return;
	}
	if ((pid = fork()) == -1) {
		reply(r, 450, "4.3.0", "mda: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		free(line);
		return;
	}
	if (pid == 0) {
		signal(SIGPIPE, SIG_DFL);
		if (dup2(p[0], STDIN_FILENO) == -1)
			_exit(EX_TEMPFAIL_);
		execl("/bin/sh", "sh", "-c", line, (char *)NULL);
		_exit(EX_TEMPFAIL_);
	}
	close(p[0]);
	/* The MDA may stop reading early (EPIPE): its exit status decides. */
	if (put(p[1], prefix, prefixlen, stripcr, &cr) == -1)
		werr = errno;
	while (werr == 0 && (n = pread(fd, buf, sizeof(buf), off)) > 0) {
		off += n;
		if (put(p[1], buf, (size_t)n, stripcr, &cr) == -1)
			werr = errno;
	}
	if (werr == 0 && cr && write_all(p[1], "\r", 1) == -1)
		werr = errno;
	close(p[1]);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR) {
			reply(r, 450, "4.3.0", "mda: waitpid: %s",
			    strerror(errno));
			free(line);
			return;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && werr == 0)
		reply(r, 250, "2.0.0", "delivered by mda");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		reply(r, 450, "4.3.0", "mda: writing the message: %s",
		    strerror(werr));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL_)
		reply(r, 450, "4.3.0", "mda exited 75 (temporary failure)");
	else if (WIFEXITED(status))
		reply(r, 554, "5.3.0", "mda exited %d", WEXITSTATUS(status));
	else
		reply(r, 450, "4.3.0", "mda killed by signal %d",
		    WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	log_info("mda for <%s>: %s", rcpt, r->text);
	free(line);
}
