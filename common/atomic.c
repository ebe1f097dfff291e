/*
 * Durable file replacement.  The temp file lives beside the target so the
 * rename stays within one file system (atomic); the directory is fsync'd
 * after the rename so the new name itself survives a crash.
 *
 * The temp file gets exactly the requested mode (fchmod, not subject to the
 * umask): spool and state files must not depend on the caller's umask.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "atomic.h"

int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

size_t
read_full(int fd, void *buf, size_t len)
{
	char	*p = buf;
	size_t	 got = 0;
	ssize_t	 n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Split path into its directory ("." when it has none) in dir[len]. */
static int
dir_of(const char *path, char *dir, size_t len)
{
	const char	*slash;
	size_t		 n;

	if ((slash = strrchr(path, '/')) == NULL) {
		snprintf(dir, len, ".");
		return 0;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

int
fsync_dir(const char *path)
{
	char	dir[PATH_MAX];
	int	fd, rv, saved;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 && (errno == ENOTDIR || errno == ENOENT)) {
		/* Not a directory (or gone): the directory that holds it. */
		if (dir_of(path, dir, sizeof(dir)) == -1)
			return -1;
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd == -1)
		return -1;
	rv = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rv;
}

int
atomic_open(struct atomic_file *af, const char *path, mode_t mode)
{
	const char	*base;
	size_t		 dirlen;
	int		 n, saved;

	af->fd = -1;
	af->tmp[0] = '\0';
	af->path[0] = '\0';
	if (strlen(path) >= sizeof(af->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((base = strrchr(path, '/')) != NULL)
		base++;
	else
		base = path;
	if (*base == '\0') {
		errno = EISDIR;
		return -1;
	}
	dirlen = (size_t)(base - path);
	n = snprintf(af->tmp, sizeof(af->tmp), "%.*s.%s.XXXXXX", (int)dirlen,
	    path, base);
	if (n < 0 || (size_t)n >= sizeof(af->tmp)) {
		af->tmp[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((af->fd = mkostemp(af->tmp, O_CLOEXEC)) == -1) {
		af->tmp[0] = '\0';
		return -1;
	}
	if (fchmod(af->fd, mode & 07777) == -1) {
		saved = errno;
		atomic_abort(af);
		errno = saved;
		return -1;
	}
	memcpy(af->path, path, strlen(path) + 1);
	return 0;
}

int
atomic_write(struct atomic_file *af, const void *buf, size_t len)
{
	if (af->fd == -1) {
		errno = EBADF;
		return -1;
	}
	return write_all(af->fd, buf, len);
}

int
atomic_commit(struct atomic_file *af)
{
	int	saved, fd = af->fd;

	if (fd == -1) {
		errno = EBADF;
		return -1;
	}
	af->fd = -1;
	/* close() can report a write error (NFS): it counts as a failure. */
	if (fsync(fd) == -1) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd) == -1) {
		saved = errno;
		goto fail;
	}
	if (rename(af->tmp, af->path) == -1) {
		saved = errno;
		goto fail;
	}
	af->tmp[0] = '\0';
	/*
	 * The new content is in place; if the directory fsync fails the
	 * caller must not promise durability, so that is still an error.
	 */
	return fsync_dir(af->path);
fail:
	unlink(af->tmp);
	af->tmp[0] = '\0';
	errno = saved;
	return -1;
}

void
atomic_abort(struct atomic_file *af)
{
	int	saved = errno;

	if (af->fd != -1)
		close(af->fd);
	af->fd = -1;
	if (af->tmp[0] != '\0')
		unlink(af->tmp);
	af->tmp[0] = '\0';
	errno = saved;
}

int
atomic_write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	struct atomic_file	af;
	int			saved;

	if (atomic_open(&af, path, mode) == -1)
		return -1;
	if (atomic_write(&af, buf, len) == -1) {
		saved = errno;
		atomic_abort(&af);
		errno = saved;
		return -1;
	}
	return atomic_commit(&af);
}
