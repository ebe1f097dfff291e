/*
 * Durable file replacement: write a temp file beside the target, fsync it,
 * rename it over the target, fsync the directory.  A crash at any instant
 * leaves either the old file or the complete new one, never a part.
 */
#ifndef MAILHUB_ATOMIC_H
#define MAILHUB_ATOMIC_H

#include <stddef.h>
#include <sys/types.h>

struct atomic_file {
	int	 fd;
	char	 tmp[4096];
	char	 path[4096];
};

/* Open a temp file "<dir>/.<base>.XXXXXX" for path; 0 or -1 (errno). */
int	atomic_open(struct atomic_file *af, const char *path, mode_t mode);
/* Write all of buf (retrying short writes); 0 or -1 (errno). */
int	atomic_write(struct atomic_file *af, const void *buf, size_t len);
/* fsync, close, rename, fsync dir; on failure the temp is removed, -1. */
int	atomic_commit(struct atomic_file *af);
/* Close and remove the temp file. */
void	atomic_abort(struct atomic_file *af);

/* The whole sequence for a buffer. */
int	atomic_write_file(const char *path, const void *buf, size_t len,
	    mode_t mode);

/* fsync the directory that holds path (or the directory path itself). */
int	fsync_dir(const char *dir);
/* write(2) until done or error (EINTR retried); 0 or -1. */
int	write_all(int fd, const void *buf, size_t len);
/* read(2) until len bytes, EOF or an error (EINTR retried); what it got. */
size_t	read_full(int fd, void *buf, size_t len);

#endif
