/*
 * Both ends of the control socket.  The daemon's side of a conversation
 * lives in runner.c; this file only opens the socket and speaks the
 * client's half for mtactl and mtad-sendmail.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

static int
socket_path(const char *spool, struct sockaddr_un *sun, char *err,
    size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s",
	    spool, CONTROL_SOCKET) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "%s/%s: path too long for a socket",
		    spool, CONTROL_SOCKET);
		return -1;
	}
	return 0;
}

int
control_listen(const char *spool, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	mode_t			old;
	int			fd;

	if (socket_path(spool, &sun, err, errlen) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* The spool lock guarantees no other mtad owns a socket here. */
	if (unlink(sun.sun_path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(sun.sun_path, 0660) == -1 || listen(fd, 16) == -1) {
		snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int
read_some(int fd, char *buf, size_t len, int timeout_ms)
{
	struct pollfd	pfd = { fd, POLLIN, 0 };
	int		n;

	for (;;) {
		n = poll(&pfd, 1, timeout_ms);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? -2 : -1;
		n = read(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		return n;
	}
}

int
control_request(const char *spool, const char *cmd, int timeout_ms,
    void (*out)(const char *line, void *arg), void *arg, char *err,
    size_t errlen)
{
	struct sockaddr_un	 sun;
	char			 buf[4096], line[CONTROL_LINE_MAX + 2];
	size_t			 len = 0;
	int			 fd, n, status = -1;
	char			*nl;

	if (socket_path(spool, &sun, err, errlen) == -1)
		return -2;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -2;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int	e = errno;

		close(fd);
		if (e == ENOENT || e == ECONNREFUSED) {
			snprintf(err, errlen, "mtad is not running (no one "
			    "listens on %s)", sun.sun_path);
			return -1;
		}
		snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(e));
		return -2;
	}
	n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    write(fd, line, n) != n) {
		snprintf(err, errlen, "%s: cannot send the request",
		    sun.sun_path);
		close(fd);
		return -2;
	}
	for (;;) {
		while ((nl = memchr(buf, '\n', len)) != NULL) {
			*nl = '\0';
			if (strncmp(buf, "exit ", 5) == 0)
				status = atoi(buf + 5);
			else if (out != NULL)
				out(buf, arg);
			len -= nl + 1 - buf;
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf)) {	/* an over-long line: show it */
			buf[len - 1] = '\0';
			if (out != NULL)
				out(buf, arg);
			len = 0;
		}
		n = read_some(fd, buf + len, sizeof(buf) - len, timeout_ms);
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	if (status < 0) {
		snprintf(err, errlen, n == -2 ? "no answer from mtad within "
		    "%d s" : "mtad closed the connection without an answer",
		    timeout_ms / 1000);
		return -2;
	}
	return status;
}
