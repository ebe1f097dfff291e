/*
 * maildir PATH: write tmp/UNIQUE, fsync, rename into new/, fsync new/.
 * Readers never see a partial message; a crash leaves at most a file in
 * tmp/, which MUAs clean up.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
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

int
maildir_path(const char *tmpl, const char *user, const char *home,
    char *out, size_t outlen)
{
	size_t	off = 0;

	if (tmpl[0] == '~' && (tmpl[1] == '/' || tmpl[1] == '\0')) {
		if (home == NULL || *home == '\0')
			return -1;
		if ((off = strlen(home)) >= outlen)
			return -1;
		memcpy(out, home, off);
		tmpl++;
	}
	for (; *tmpl; tmpl++) {
		const char	*add = NULL;
		char		 c[2] = { *tmpl, '\0' };
		size_t		 n;

		if (*tmpl == '%' && tmpl[1] == 'u') {
			add = user;
			tmpl++;
		} else if (*tmpl == '%' && tmpl[1] == '%') {
			add = "%";
			tmpl++;
		} else
			add = c;
		n = strlen(add);
		if (off + n >= outlen)
			return -1;
		memcpy(out + off, add, n);
		off += n;
	}
	out[off] = '\0';
	return 0;
}

/* mkdir -p, each new directory 0700. */
static int
mkdirs(char *path)
{
	struct stat	st;

	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static int
copy_raw(int datafd, int fd)
{
	char	buf[65536];
	off_t	off = 0;

	for (;;) {
		ssize_t	n = pread(datafd, buf, sizeof(buf), off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		off += n;
		for (ssize_t done = 0; done < n; ) {
			ssize_t w = write(fd, buf + done, n - done);

			if (w == -1 && errno == EINTR)
				continue;
			if (w <= 0) {
				if (w == 0)
					errno = EIO;
				return -1;
			}
			done += w;
		}
	}
}

/* time.M<usec>P<pid>R<random>.host, as the Maildir spec recommends. */
static void
unique_name(const char *host, char *buf, size_t len)
{
	struct timeval	 tv;
	unsigned	 rnd = 0;
	size_t		 off;

	gettimeofday(&tv, NULL);
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd ^= (unsigned)tv.tv_usec * 2654435761u;
	off = snprintf(buf, len, "%lld.M%06ldP%dR%08x.", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (int)getpid(), rnd);
	for (; host && *host && off + 5 < len; host++) {
		if (*host == '/')
			off += snprintf(buf + off, len - off, "\\057");
		else if (*host == ':')
			off += snprintf(buf + off, len - off, "\\072");
		else
			buf[off++] = *host;
	}
	buf[off] = '\0';
}

static void
maildir_deliver(const struct delivery *d, struct dresult *r)
{
	static const char *const subs[] = { "", "/tmp", "/new", "/cur" };
	char	 dir[PATH_MAX], sub[PATH_MAX + 8], name[256];
	char	 tmp[PATH_MAX + 272], new[PATH_MAX + 272];
	int	 fd = -1, dfd = -1;

	memset(r, 0, sizeof(*r));
	if (maildir_path(d->cf->mailbox_arg ? d->cf->mailbox_arg : "~/Maildir",
	    d->user, d->home, dir, sizeof(dir)) == -1) {
		set(r, DELIVER_BOUNCE, "550 5.3.5 maildir path for %s "
		    "(home %s) does not fit", d->user, d->home ? d->home : "-");
		return;
	}
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (snprintf(sub, sizeof(sub), "%s%s", dir, subs[i]) >=
		    (int)sizeof(sub) || mkdirs(sub) == -1) {
			set(r, DELIVER_DEFER, "451 4.3.0 %s: %s", sub,
			    strerror(errno));
			return;
		}
	}
	unique_name(d->cf->hostname, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
	snprintf(new, sizeof(new), "%s/new/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		set(r, DELIVER_DEFER, "451 4.3.0 %s: %s", tmp, strerror(errno));
		return;
	}
	if (copy_raw(d->datafd, fd) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, new) == -1)
		goto fail;
	snprintf(sub, sizeof(sub), "%s/new", dir);
	if ((dfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dfd) == -1) {
		/* Renamed but perhaps not durable: take it back and retry. */
		int	err = errno;

		if (dfd != -1)
			close(dfd);
		unlink(new);
		set(r, DELIVER_DEFER, "451 4.3.0 %s: %s", sub, strerror(err));
		return;
	}
	close(dfd);
	set(r, DELIVER_OK, "250 2.0.0 %s", new);
	return;
fail:
	{
		int	err = errno;

		if (fd != -1)
			close(fd);
		unlink(tmp);
		set(r, DELIVER_DEFER, "%s %s: %s", err == ENOSPC ||
		    err == EDQUOT ? "452 4.2.2" : "451 4.3.0", tmp,
		    strerror(err));
	}
}

const struct deliverer deliver_maildir = { "local", maildir_deliver };
