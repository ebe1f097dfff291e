/*
 * faultfs: an LD_PRELOAD shim for the fault tests.  It makes write,
 * pwrite, writev, fsync, fdatasync, syncfs, rename, renameat(2), link and
 * linkat fail (ENOSPC, EIO, ...) from the Nth call on, counting calls across
 * every process that loads it (mtad, its runner, relay and delivery
 * children, mtad-sendmail): the count lives in a shared file.
 *
 *   FAULTFS_STATE=FILE   the shared state (struct ffs_state below), written
 *                        by the test (t/lib/faultfs.py), mapped here
 *   FAULTFS_LOG=FILE     optional: one line per counted call,
 *                        "N PID CALL PATH ok|ERRNO"
 *
 * Only calls on regular files and directories count (never sockets, pipes
 * or terminals), and only under the state's directories when set.
 * The test changes the state while the processes run: which calls count,
 * the first call to fail, how many fail, with which errno.  fail_at 0 is
 * counting mode: nothing fails, the count tells how many points a path has.
 *
 *   FAULTFS_GATE=FILE    optional: a disk that stalls.  syncfs() waits
 *                        while FILE exists (60 s at most), after creating
 *                        FILE.held so the test knows a sync is held there
 *
 * An ASan program loads its runtime after a preloaded library; run it with
 * ASAN_OPTIONS=verify_asan_link_order=0.  The calls reach the sanitizer's
 * interceptors through RTLD_NEXT as they would without the shim.  The shim
 * itself is built without sanitizers and allocates nothing.
 */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define FFS_MAGIC	0x31534646u	/* "FFS1" */

enum ffs_call {
	C_WRITE, C_PWRITE, C_WRITEV, C_FSYNC, C_FDATASYNC, C_SYNCFS,
	C_RENAME, C_LINK, C_NCALLS
};

static const char *const call_names[C_NCALLS] = {
	"write", "pwrite", "writev", "fsync", "fdatasync", "syncfs",
	"rename", "link"
};

/* The layout t/lib/faultfs.py writes (little endian, 4096 bytes). */
struct ffs_state {
	uint32_t	magic;
	uint32_t	mask;		/* bit per enum ffs_call: counted */
	int64_t		count;		/* counted calls so far */
	int64_t		fail_at;	/* first call to fail, 0: none */
	int64_t		fail_n;		/* calls failing from there, 0: all */
	int32_t		err;		/* errno of a failed call */
	int32_t		pad;
	int64_t		failed;		/* calls failed so far */
	char		dir[PATH_MAX];	/* only paths under these count (a
				   ':'-separated list), "" all */
};

static struct ffs_state	*state;
static int		 inited, logfd = -1;

static void
ffs_init(void)
{
	const char	*p;
	void		*m;
	int		 fd;

	if (inited)
		return;
	inited = 1;
	if ((p = getenv("FAULTFS_STATE")) == NULL)
		return;
	if ((fd = (int)syscall(SYS_openat, AT_FDCWD, p, O_RDWR | O_CLOEXEC))
	    == -1)
		return;
	m = mmap(NULL, sizeof(*state), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0);
	syscall(SYS_close, fd);
	if (m == MAP_FAILED)
		return;
	state = m;
	if ((p = getenv("FAULTFS_LOG")) != NULL)
		logfd = (int)syscall(SYS_openat, AT_FDCWD, p, O_WRONLY |
		    O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static void *
real(const char *name)
{
	void	*f = dlsym(RTLD_NEXT, name);

	if (f == NULL) {
		static const char msg[] = "faultfs: symbol not found\n";

		syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		abort();
	}
	return f;
}

/* Is path under one of the state's directories (a ':'-separated list)? */
static int
under(const char *path)
{
	const char	*d = state->dir, *end;
	size_t		 n;

	if (d[0] == '\0')
		return 1;
	if (path == NULL)
		return 0;
	for (; *d != '\0'; d = *end ? end + 1 : end) {
		if ((end = strchr(d, ':')) == NULL)
			end = d + strlen(d);
		n = (size_t)(end - d);
		if (n > 0 && strncmp(path, d, n) == 0 &&
		    (path[n] == '/' || path[n] == '\0'))
			return 1;
	}
	return 0;
}

static int
fd_path(int fd, char *buf, size_t len)
{
	char	link[64];
	ssize_t	n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, buf, len - 1)) == -1)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* An absolute path for (dirfd, path), as well as we can. */
static void
at_path(int dirfd, const char *path, char *buf, size_t len)
{
	char	dir[PATH_MAX];

	if (path[0] == '/') {
		snprintf(buf, len, "%s", path);
		return;
	}
	if (dirfd == AT_FDCWD) {
		if (getcwd(dir, sizeof(dir)) == NULL)
			dir[0] = '\0';
	} else if (fd_path(dirfd, dir, sizeof(dir)) == -1)
		dir[0] = '\0';
	snprintf(buf, len, "%s/%s", dir, path);
}

static void
log_call(int64_t n, enum ffs_call c, const char *path, int err)
{
	char	line[PATH_MAX + 128];
	int	len;

	if (logfd == -1)
		return;
	len = snprintf(line, sizeof(line), "%lld %d %s %s %s\n", (long long)n,
	    (int)getpid(), call_names[c], path, err ? strerrorname_np(err) :
	    "ok");
	if (len > 0)
		syscall(SYS_write, logfd, line, (size_t)len < sizeof(line) ?
		    (size_t)len : sizeof(line) - 1);
}

/*
 * Count a call on path (or on fd when path is NULL).  Returns the errno it
 * must fail with, or 0 to go ahead.
 */
static int
decide(enum ffs_call c, int fd, const char *path)
{
	char		 buf[PATH_MAX];
	struct stat	 sb;
	int64_t		 n, at, cnt;
	int		 err = 0, save = errno;

	ffs_init();
	if (state == NULL || state->magic != FFS_MAGIC ||
	    !(__atomic_load_n(&state->mask, __ATOMIC_SEQ_CST) & (1u << c)))
		return 0;
	if (path == NULL) {
		if (fstat(fd, &sb) == -1 ||
		    !(S_ISREG(sb.st_mode) || S_ISDIR(sb.st_mode)))
			goto pass;
		if (fd_path(fd, buf, sizeof(buf)) == -1)
			goto pass;
		path = buf;
	}
	if (!under(path))
		goto pass;
	n = __atomic_add_fetch(&state->count, 1, __ATOMIC_SEQ_CST);
	at = __atomic_load_n(&state->fail_at, __ATOMIC_SEQ_CST);
	cnt = __atomic_load_n(&state->fail_n, __ATOMIC_SEQ_CST);
	if (at > 0 && n >= at && (cnt == 0 || n < at + cnt)) {
		err = state->err ? state->err : EIO;
		__atomic_add_fetch(&state->failed, 1, __ATOMIC_SEQ_CST);
	}
	log_call(n, c, path, err);
pass:
	errno = save;
	return err;
}

static int
decide2(enum ffs_call c, int dfd1, const char *p1, int dfd2, const char *p2)
{
	char	a[PATH_MAX], b[PATH_MAX];

	ffs_init();
	if (state == NULL || state->magic != FFS_MAGIC || p1 == NULL ||
	    p2 == NULL)
		return 0;
	at_path(dfd1, p1, a, sizeof(a));
	at_path(dfd2, p2, b, sizeof(b));
	/* Either end under the directory counts; the log names the target. */
	if (state->dir[0] != '\0' && !under(a) && under(b))
		return decide(c, -1, b);
	return decide(c, -1, under(a) ? a : b);
}

#define FAIL(e)	do { errno = (e); return -1; } while (0)

ssize_t
write(int fd, const void *buf, size_t len)
{
	static ssize_t (*f)(int, const void *, size_t);
	int	e;

	if ((e = decide(C_WRITE, fd, NULL)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("write");
	return f(fd, buf, len);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t (*f)(int, const void *, size_t, off_t);
	int	e;

	if ((e = decide(C_PWRITE, fd, NULL)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("pwrite");
	return f(fd, buf, len, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite(fd, buf, len, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	static ssize_t (*f)(int, const struct iovec *, int);
	int	e;

	if ((e = decide(C_WRITEV, fd, NULL)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("writev");
	return f(fd, iov, n);
}

int
fsync(int fd)
{
	static int (*f)(int);
	int	e;

	if ((e = decide(C_FSYNC, fd, NULL)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("fsync");
	return f(fd);
}

int
fdatasync(int fd)
{
	static int (*f)(int);
	int	e;

	if ((e = decide(C_FDATASYNC, fd, NULL)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("fdatasync");
	return f(fd);
}

/* FAULTFS_GATE: hold the caller while the gate file exists. */
static void
gate(void)
{
	const char	*g = getenv("FAULTFS_GATE");
	char		 held[PATH_MAX];
	struct stat	 sb;
	int		 i, fd, save = errno;

	if (g == NULL || stat(g, &sb) == -1)
		return;
	snprintf(held, sizeof(held), "%s.held", g);
	if ((fd = (int)syscall(SYS_openat, AT_FDCWD, held, O_WRONLY | O_CREAT |
	    O_CLOEXEC, 0644)) != -1)
		syscall(SYS_close, fd);
	for (i = 0; i < 6000 && stat(g, &sb) == 0; i++)
		usleep(10000);
	errno = save;
}

int
syncfs(int fd)
{
	static int (*f)(int);
	int	e;

	gate();
	if ((e = decide(C_SYNCFS, fd, NULL)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("syncfs");
	return f(fd);
}

int
rename(const char *from, const char *to)
{
	static int (*f)(const char *, const char *);
	int	e;

	if ((e = decide2(C_RENAME, AT_FDCWD, from, AT_FDCWD, to)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("rename");
	return f(from, to);
}

int
renameat(int fd1, const char *from, int fd2, const char *to)
{
	static int (*f)(int, const char *, int, const char *);
	int	e;

	if ((e = decide2(C_RENAME, fd1, from, fd2, to)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("renameat");
	return f(fd1, from, fd2, to);
}

int
renameat2(int fd1, const char *from, int fd2, const char *to,
    unsigned flags)
{
	static int (*f)(int, const char *, int, const char *, unsigned);
	int	e;

	if ((e = decide2(C_RENAME, fd1, from, fd2, to)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("renameat2");
	return f(fd1, from, fd2, to, flags);
}

int
link(const char *from, const char *to)
{
	static int (*f)(const char *, const char *);
	int	e;

	if ((e = decide2(C_LINK, AT_FDCWD, from, AT_FDCWD, to)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("link");
	return f(from, to);
}

int
linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
	static int (*f)(int, const char *, int, const char *, int);
	int	e;

	if ((e = decide2(C_LINK, fd1, from, fd2, to)) != 0)
		FAIL(e);
	if (f == NULL)
		f = real("linkat");
	return f(fd1, from, fd2, to, flags);
}
