/*
 * The daemons' side of the mtad-oauth2 helper: fork+exec it with a pipe,
 * read the access token it prints, log what it says on stderr.
 *
 * Why a separate process: the token endpoint is HTTPS through libcurl, and
 * Debian's libcurl-gnutls brings some thirty shared libraries (GnuTLS,
 * nettle, Kerberos, LDAP, libssh2, ...) into every process that links it:
 * megabytes resident for the life of a long-running root daemon that needs
 * a token once an hour, and a large body of code parsing a remote server's
 * bytes inside it.  The helper loads all that for a second and exits; the
 * daemons keep this pipe reader, and a crash or hang in the HTTP stack
 * costs one token fetch, bounded by OAUTH2_HELPER_TIMEOUT.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "oauth2.h"

#ifndef MAILHUB_BINDIR
#define MAILHUB_BINDIR	"/usr/local/bin"
#endif

#define EX_NOPERM	77
#define ERR_MAX		2048

/*
 * Beside the running program (installed: fetchd and the helper share
 * BINDIR), then the build tree's mtad/ (for fetchd/fetchd and the t/common
 * programs; also under build-san/), then the BINDIR compiled in (mtad
 * lives in SBINDIR).  No PATH search and no environment override: mtad
 * runs as root.
 */
static int
helper_path(char *buf, size_t len)
{
	static const char *const rel[] = { "", "/../mtad", "/../../mtad" };
	char	exe[PATH_MAX];
	ssize_t	n;
	size_t	i;
	char	*slash;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				if ((size_t)snprintf(buf, len, "%s%s/%s", exe,
				    rel[i], OAUTH2_HELPER) < len &&
				    access(buf, X_OK) == 0)
					return 0;
			}
		}
	}
	if ((size_t)snprintf(buf, len, "%s/%s", MAILHUB_BINDIR,
	    OAUTH2_HELPER) < len && access(buf, X_OK) == 0)
		return 0;
	return -1;
}

static pid_t
spawn(const char *helper, const char *path, int force, const char *ca,
    int *outfd, int *errfd)
{
	char	*argv[8];
	int	 out[2], ep[2], argc = 0, nul;
	pid_t	 pid;

	if (pipe2(out, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(ep, O_CLOEXEC) == -1) {
		close(out[0]);
		close(out[1]);
		return -1;
	}
	argv[argc++] = (char *)OAUTH2_HELPER;
	argv[argc++] = (char *)"token";
	if (force)
		argv[argc++] = (char *)"-f";
	if (ca != NULL) {
		argv[argc++] = (char *)"-c";
		argv[argc++] = (char *)ca;
	}
	argv[argc++] = (char *)"--";
	argv[argc++] = (char *)path;
	argv[argc] = NULL;
	if ((pid = fork()) == 0) {
		sigset_t	none;

		/* A daemon's blocked signals and ignored SIGPIPE are its own. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if ((nul = open("/dev/null", O_RDONLY)) != -1)
			dup2(nul, 0);
		dup2(out[1], 1);
		dup2(ep[1], 2);
		/* Nothing of the daemon's (sockets, the report pipe). */
		close_range(3, ~0U, 0);
		execv(helper, argv);
		dprintf(2, "cannot run %s: %s\n", helper, strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(ep[1]);
	if (pid == -1) {
		close(out[0]);
		close(ep[0]);
		return -1;
	}
	*outfd = out[0];
	*errfd = ep[0];
	return pid;
}

/*
 * Both pipes to EOF or the deadline: 0, -1 on a timeout, -2 when the
 * caller's cancel flag turned on.  What does not fit is dropped (the
 * helper never prints that much).
 */
static int
collect(int outfd, int errfd, const volatile sig_atomic_t *cancel, char *out,
    size_t outsz, size_t *outlen, char *errb, size_t errsz, size_t *errlen)
{
	struct pollfd	 pfd[2];
	struct timespec	 now, end;
	char		 scratch[512];
	char		*buf;
	size_t		*len, sz;
	ssize_t		 n;
	int		 i, ms;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += OAUTH2_HELPER_TIMEOUT;
	pfd[0].fd = outfd;
	pfd[1].fd = errfd;
	pfd[0].events = pfd[1].events = POLLIN;
	while (pfd[0].fd != -1 || pfd[1].fd != -1) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (int)((end.tv_sec - now.tv_sec) * 1000 +
		    (end.tv_nsec - now.tv_nsec) / 1000000);
		if (ms <= 0)
			return -1;
		if (cancel != NULL && *cancel)
			return -2;
		/* A signal between the check and poll() is seen a second
		 * later at most. */
		if (cancel != NULL && ms > 1000)
			ms = 1000;
		if (poll(pfd, 2, ms) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			buf = i == 0 ? out : errb;
			len = i == 0 ? outlen : errlen;
			sz = i == 0 ? outsz : errsz;
			if (*len + 1 < sz)
				n = read(pfd[i].fd, buf + *len, sz - 1 - *len);
			else
				n = read(pfd[i].fd, scratch, sizeof(scratch));
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				pfd[i].fd = -1;
				continue;
			}
			if (*len + 1 < sz)
				*len += n;
			buf[*len] = '\0';
		}
	}
	return 0;
}

/* "access-token T" and "expires-in N"; the token printable, no spaces. */
static int
parse_output(char *out, char **token, long long *expires_in)
{
	char		*line, *save = NULL, *end;
	int		 have_exp = 0;

	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "access-token ", 13) == 0 && *token == NULL) {
			if (!oauth2_token_ok(line + 13))
				return -1;
			if ((*token = strdup(line + 13)) == NULL)
				return -1;
		} else if (strncmp(line, "expires-in ", 11) == 0) {
			errno = 0;
			*expires_in = strtoll(line + 11, &end, 10);
			if (errno != 0 || *end != '\0' || *expires_in < 0)
				return -1;
			have_exp = 1;
		}
	}
	return *token != NULL && have_exp ? 0 : -1;
}

/* Every line of the helper's stderr to the log, but the last one on
 * failure, which becomes the error. */
static void
log_helper_stderr(char *errb, int failed, char *err, size_t errlen)
{
	char	*line, *next, *last = NULL;

	for (line = errb; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (*line == '\0')
			continue;
		if (last != NULL)
			log_warnx("%s: %s", OAUTH2_HELPER, last);
		last = line;
	}
	if (last == NULL)
		return;
	if (failed)
		snprintf(err, errlen, "%s", last);
	else
		log_warnx("%s: %s", OAUTH2_HELPER, last);
}

enum oauth2_result
oauth2_helper_token(const char *path, int force, const char *ca_default,
    const volatile sig_atomic_t *cancel, char **token, long long *expires_in,
    char *err, size_t errlen)
{
	char			 helper[PATH_MAX], errb[ERR_MAX];
	char			*out;
	size_t			 outsz = OAUTH2_TOKEN_MAX + 256, outlen = 0;
	size_t			 elen = 0;
	int			 outfd, errfd, status = -1, stopped;
	pid_t			 pid;
	enum oauth2_result	 rv = OAUTH2_TEMPFAIL;

	*token = NULL;
	*expires_in = 0;
	errb[0] = '\0';
	if (helper_path(helper, sizeof(helper)) == -1) {
		snprintf(err, errlen, "%s: cannot find %s (beside this program "
		    "or in %s)", path, OAUTH2_HELPER, MAILHUB_BINDIR);
		return OAUTH2_TEMPFAIL;
	}
	if ((out = malloc(outsz)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return OAUTH2_TEMPFAIL;
	}
	out[0] = '\0';
	if ((pid = spawn(helper, path, force, ca_default, &outfd,
	    &errfd)) == -1) {
		snprintf(err, errlen, "%s: cannot run %s: %s", path, helper,
		    strerror(errno));
		free(out);
		return OAUTH2_TEMPFAIL;
	}
	stopped = collect(outfd, errfd, cancel, out, outsz, &outlen, errb,
	    sizeof(errb), &elen);
	close(outfd);
	close(errfd);
	if (stopped != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	/* status stays -1 if a SIGCHLD handler reaped the helper first: the
	 * output alone decides then. */
	if (stopped != 0) {
		log_helper_stderr(errb, 0, err, errlen);
		if (stopped == -2)
			snprintf(err, errlen, "%s: token fetch interrupted",
			    path);
		else
			snprintf(err, errlen, "%s: %s did not answer within "
			    "%d s", path, OAUTH2_HELPER, OAUTH2_HELPER_TIMEOUT);
	} else if ((status == -1 || (WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0)) &&
	    parse_output(out, token, expires_in) == 0) {
		log_helper_stderr(errb, 0, err, errlen);
		rv = OAUTH2_OK;
	} else {
		oauth2_wipe_free(token);
		snprintf(err, errlen, "%s: %s %s", path, OAUTH2_HELPER,
		    status != -1 && WIFSIGNALED(status) ? "was killed" :
		    "gave no token");
		/* Its own reason, unless it claimed success. */
		log_helper_stderr(errb, status != -1 && status != 0, err,
		    errlen);
		if (WIFEXITED(status) && WEXITSTATUS(status) == EX_NOPERM)
			rv = OAUTH2_REJECTED;
	}
	explicit_bzero(out, outsz);
	free(out);
	return rv;
}
