/*
 * mailbox mbox DIR: append to DIR/USER.  The same append serves /file
 * alias targets.  Locking is both a dotlock (for MUAs that only know that)
 * and an fcntl lock; a failed write cuts the mailbox back to where it was,
 * so a reader never sees half a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "atomic.h"
#include "deliver.h"
#include "log.h"

#define LOCK_WAIT	30	/* seconds to wait for a busy mailbox */
#define LOCK_STALE	300	/* a dotlock older than this is removed */
#define MBOX_BUFSZ	65536
#define FROM_LOOKAHEAD	256	/* refill below this much unread */

struct obuf {
	int	 fd;
	char	 buf[MBOX_BUFSZ];
	size_t	 len;
	int	 err;		/* errno of the first failure */
	char	 last[2];	/* the last two bytes written */
};

static void
ob_flush(struct obuf *ob)
{
	size_t	off = 0;

	while (off < ob->len && ob->err == 0) {
		ssize_t n = write(ob->fd, ob->buf + off, ob->len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			ob->err = n == 0 ? EIO : errno;
		else
			off += n;
	}
	ob->len = 0;
}

static void
ob_put(struct obuf *ob, const char *p, size_t n)
{
	if (n == 0)
		return;
	if (n >= 2) {
		ob->last[0] = p[n - 2];
		ob->last[1] = p[n - 1];
	} else {
		ob->last[0] = ob->last[1];
		ob->last[1] = p[0];
	}
	while (n > 0 && ob->err == 0) {
		size_t k = sizeof(ob->buf) - ob->len;

		if (k > n)
			k = n;
		memcpy(ob->buf + ob->len, p, k);
		ob->len += k;
		p += k;
		n -= k;
		if (ob->len == sizeof(ob->buf))
			ob_flush(ob);
	}
}

/*
 * Copy the message with mboxrd quoting: a line matching ^>*From  gets one
 * more '>'.  A line's leading '>'s are counted, not kept, until what
 * follows them shows whether the line needs it, so a run of them can cross
 * the read buffer (t/fuzz/fuzz_deliver found a long run near its end left
 * unquoted).  0, or -1 (errno).
 */
static int
copy_quoted(int datafd, struct obuf *ob)
{
	static const char	 gt[] = ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>";
	char			*in;
	size_t			 len = 0, pos = 0, gts = 0;
	off_t			 off = 0;
	int			 eof = 0, bol = 1;

	if ((in = malloc(MBOX_BUFSZ)) == NULL)
		return -1;
	for (;;) {
		char	*nl;
		size_t	 n;

		if (!eof && len - pos < FROM_LOOKAHEAD) {
			ssize_t	r;

			memmove(in, in + pos, len - pos);
			len -= pos;
			pos = 0;
			r = pread(datafd, in + len, MBOX_BUFSZ - len, off);
			if (r == -1 && errno == EINTR)
				continue;
			if (r == -1) {
				free(in);
				return -1;
			}
			if (r == 0)
				eof = 1;
			len += r;
			off += r;
		}
		if (bol) {
			while (pos < len && in[pos] == '>')
				gts++, pos++;
			if (!eof && len - pos < 5)
				continue;	/* read on before deciding */
			if (len - pos >= 5 && memcmp(in + pos, "From ", 5) == 0)
				ob_put(ob, gt, 1);
			for (; gts > 0; gts -= n) {
				n = gts < sizeof(gt) - 1 ? gts : sizeof(gt) - 1;
				ob_put(ob, gt, n);
			}
			bol = 0;
		}
		if (pos == len)
			break;
		nl = memchr(in + pos, '\n', len - pos);
		n = nl ? (size_t)(nl - (in + pos)) + 1 : len - pos;
		ob_put(ob, in + pos, n);
		pos += n;
		bol = nl != NULL;
	}
	free(in);
	return 0;
}

static void PRINTFLIKE(3, 4)
set(struct dresult *r, enum dstatus st, const char *fmt, ...)
{
	va_list	ap;

	r->status = st;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

static void
write_error(struct dresult *r, const char *path, int err)
{
	if (err == ENOSPC || err == EDQUOT)
		set(r, DELIVER_DEFER, "452 4.2.2 %s: %s", path, strerror(err));
	else
		set(r, DELIVER_DEFER, "451 4.3.0 %s: %s", path, strerror(err));
}

/*
 * A dotlock is stale when its holder is gone: it names a process of this
 * host that no longer exists (we write our pid into ours, as liblockfile
 * does), or, naming none, it is older than LOCK_STALE.  Without the pid
 * check a crashed delivery would hold the mailbox for minutes.
 */
static int
dotlock_stale(const char *lock)
{
	struct stat	 st, now;
	char		 buf[32], *end;
	ssize_t		 n;
	long		 pid;
	int		 fd, stale = 0;

	if ((fd = open(lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return 0;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, &end, 10);
	/* Only a whole "PID\n": a lock being written may show part of it. */
	if (n > 0 && end != buf && *end == '\n' && pid > 0 && pid <= INT_MAX)
		stale = kill((pid_t)pid, 0) == -1 && errno == ESRCH;
	else
		stale = st.st_mtime + LOCK_STALE < time(NULL);
	/* Still the file we judged (not one just taken by someone else)? */
	return stale && lstat(lock, &now) == 0 && now.st_ino == st.st_ino &&
	    now.st_dev == st.st_dev;
}

/*
 * Make the lock appear with our pid already in it: written to a file of
 * our own, then linked to the lock's name (atomic, EEXIST when taken), as
 * liblockfile does.  A lock created empty and written after would, if
 * we were killed in between, hold the mailbox until LOCK_STALE.
 */
static int
dotlock_create(const char *lock)
{
	char	tmp[PATH_MAX], pid[32];
	int	fd, n, rv, err;

	if (snprintf(tmp, sizeof(tmp), "%s.%d", lock, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return -1;
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	rv = write_all(fd, pid, (size_t)n);
	err = errno;
	close(fd);
	if (rv != -1) {
		rv = link(tmp, lock);
		err = errno;
	}
	unlink(tmp);
	errno = err;
	return rv == -1 ? -1 : 0;
}

/*
 * Take the dotlock.  1 taken, 0 not possible here (directory not writable
 * by us: the fcntl lock must do), -1 busy or failed (errno).
 */
static int
dotlock(const char *lock)
{
	time_t	deadline = time(NULL) + LOCK_WAIT;

	for (;;) {
		if (dotlock_create(lock) == 0)
			return 1;
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return 0;
		if (errno != EEXIST)
			return -1;
		if (dotlock_stale(lock)) {
			log_warnx("removing stale lock %s", lock);
			unlink(lock);
			continue;
		}
		if (time(NULL) >= deadline) {
			errno = EWOULDBLOCK;
			return -1;
		}
		usleep(100 * 1000);
	}
}

static int
fcntl_lock(int fd)
{
	time_t		deadline = time(NULL) + LOCK_WAIT;
	struct flock	fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	while (fcntl(fd, F_SETLK, &fl) == -1) {
		if ((errno != EAGAIN && errno != EACCES && errno != EINTR) ||
		    time(NULL) >= deadline)
			return -1;
		usleep(100 * 1000);
	}
	return 0;
}

static void
from_line(const struct delivery *d, char *buf, size_t len)
{
	const char	*s = d->msg->sender;
	char		 date[64];
	struct tm	 tm;
	time_t		 now = time(NULL);
	size_t		 off;

	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y",
	    localtime_r(&now, &tm));
	off = snprintf(buf, len, "From ");
	if (s == NULL || *s == '\0')
		s = "MAILER-DAEMON";
	/* The From_ line is split at spaces by readers: keep it one word. */
	for (; *s && off + 2 < len - 64; s++)
		buf[off++] = (*s == ' ' || *s == '\t' || (unsigned char)*s <
		    0x20) ? '_' : *s;
	snprintf(buf + off, len - off, " %s\n", date);
}

void
mbox_append(const char *path, const struct delivery *d, struct dresult *r)
{
	struct obuf	*ob = NULL;
	struct stat	 st;
	char		 lock[PATH_MAX], hdr[1024], tail[2];
	int		 fd = -1, locked = 0, err;
	off_t		 orig;

	memset(r, 0, sizeof(*r));
	if (snprintf(lock, sizeof(lock), "%s.lock", path) >=
	    (int)sizeof(lock)) {
		set(r, DELIVER_BOUNCE, "554 5.3.5 %s: %s",
		    path, strerror(ENAMETOOLONG));
		return;
	}
	if ((locked = dotlock(lock)) == -1) {
		if (errno == EWOULDBLOCK)
			set(r, DELIVER_DEFER, "450 4.2.0 %s: %s (locked)",
			    lock, strerror(errno));
		else
			set(r, DELIVER_DEFER, "451 4.3.0 %s: %s",
			    lock, strerror(errno));
		return;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY, 0600);
	if (fd == -1) {
		set(r, DELIVER_DEFER, "451 4.3.0 %s: %s",
		    path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		set(r, DELIVER_DEFER, "451 4.3.0 %s: %s",
		    path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		/* A hard link or a device is someone's trap, not a mailbox. */
		r->status = DELIVER_DEFER;
		snprintf(r->text, sizeof(r->text), "451 4.3.0 %s: not a "
		    "regular file with one link", path);
		goto out;
	}
	if (fcntl_lock(fd) == -1) {
		set(r, DELIVER_DEFER, "450 4.2.0 %s: %s (locked)",
		    path, strerror(errno));
		goto out;
	}
	if ((orig = lseek(fd, 0, SEEK_END)) == -1 ||
	    (ob = calloc(1, sizeof(*ob))) == NULL) {
		set(r, DELIVER_DEFER, "451 4.3.0 %s: %s",
		    path, strerror(errno));
		goto out;
	}
	ob->fd = fd;
	/* Messages are separated by a blank line, even after a foreign one. */
	if (orig > 0 && pread(fd, tail, orig >= 2 ? 2 : 1, orig >= 2 ?
	    orig - 2 : 0) > 0) {
		if (orig >= 2 && tail[1] != '\n')
			ob_put(ob, "\n\n", 2);
		else if (orig >= 2 && tail[0] != '\n')
			ob_put(ob, "\n", 1);
	}
	from_line(d, hdr, sizeof(hdr));
	ob_put(ob, hdr, strlen(hdr));
	if (copy_quoted(d->datafd, ob) == -1 && ob->err == 0)
		ob->err = errno;
	if (ob->last[1] != '\n')
		ob_put(ob, "\n", 1);
	ob_put(ob, "\n", 1);
	ob_flush(ob);
	if (ob->err == 0 && fsync(fd) == -1)
		ob->err = errno;
	if ((err = ob->err) != 0) {
		if (ftruncate(fd, orig) == -1 || fsync(fd) == -1)
			log_warn("%s: cannot roll back to %lld bytes", path,
			    (long long)orig);
		write_error(r, path, err);
		goto out;
	}
	r->status = DELIVER_OK;
	snprintf(r->text, sizeof(r->text), "250 2.0.0 %s", path);
out:
	free(ob);
	if (fd != -1)
		close(fd);	/* drops the fcntl lock */
	if (locked == 1)
		unlink(lock);
}

static void
mbox_deliver(const struct delivery *d, struct dresult *r)
{
	char	path[PATH_MAX];
	int	n;

	n = snprintf(path, sizeof(path), "%s/%s", d->cf->mailbox_arg ?
	    d->cf->mailbox_arg : "/var/mail", d->user);
	if (n < 0 || n >= (int)sizeof(path) || strchr(d->user, '/') != NULL) {
		r->status = DELIVER_BOUNCE;
		snprintf(r->text, sizeof(r->text), "550 5.1.3 bad mailbox "
		    "name for %s", d->user);
		return;
	}
	mbox_append(path, d, r);
}

const struct deliverer deliver_mbox = { "local", mbox_deliver };
