/* atomic: a replaced file is the old one or the complete new one, never a part. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "atomic.h"

struct fixture {
	char	dir[64];
	char	path[128];
};

static int
setup(void **state)
{
	struct fixture	*f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_atomic.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	struct dirent	*de;
	DIR		*d;
	char		 p[512];

	if ((d = opendir(f->dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
			if (unlink(p) == -1)
				rmdir(p);
		}
		closedir(d);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Number of entries in dir other than . and .. */
static int
count_entries(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static size_t
read_file(const char *path, char *buf, size_t len)
{
	ssize_t	n;
	int	fd;

	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, len);
	assert_true(n >= 0);
	close(fd);
	return (size_t)n;
}

static void
write_and_replace(void **state)
{
	struct fixture	*f = *state;
	char		 buf[64];
	struct stat	 st;
	mode_t		 old;

	/* The mode is exactly what was asked, whatever the umask. */
	old = umask(077);
	assert_int_equal(atomic_write_file(f->path, "first\n", 6, 0644), 0);
	umask(old);
	assert_int_equal(read_file(f->path, buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "first\n", 6);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	assert_int_equal(atomic_write_file(f->path, "second, longer\n", 15,
	    0600), 0);
	assert_int_equal(read_file(f->path, buf, sizeof(buf)), 15);
	assert_memory_equal(buf, "second, longer\n", 15);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* Empty content is a valid, complete file. */
	assert_int_equal(atomic_write_file(f->path, "", 0, 0640), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(count_entries(f->dir), 1);
}

static void
abort_keeps_old_content(void **state)
{
	struct fixture		*f = *state;
	struct atomic_file	 af;
	char			 buf[64];

	assert_int_equal(atomic_write_file(f->path, "old\n", 4, 0600), 0);

	/* A failure after a partial write: the caller aborts. */
	assert_int_equal(atomic_open(&af, f->path, 0600), 0);
	assert_non_null(strstr(af.tmp, "/.state."));
	assert_int_equal(strncmp(af.tmp, f->dir, strlen(f->dir)), 0);
	assert_int_equal(atomic_write(&af, "new but in", 10), 0);
	assert_int_equal(count_entries(f->dir), 2);
	atomic_abort(&af);
	atomic_abort(&af);	/* twice is harmless */

	assert_int_equal(read_file(f->path, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "old\n", 4);
	assert_int_equal(count_entries(f->dir), 1);

	/* Writes after abort fail, they do not land anywhere. */
	assert_int_equal(atomic_write(&af, "x", 1), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(atomic_commit(&af), -1);
	assert_int_equal(read_file(f->path, buf, sizeof(buf)), 4);
}

static void
commit_failure_removes_temp(void **state)
{
	struct fixture		*f = *state;
	struct atomic_file	 af;
	char			 sub[160], inner[200];

	/* rename(2) cannot replace a non-empty directory. */
	snprintf(sub, sizeof(sub), "%s/busy", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/x", sub);
	assert_int_equal(atomic_write_file(inner, "x", 1, 0600), 0);

	assert_int_equal(atomic_open(&af, sub, 0600), 0);
	assert_int_equal(atomic_write(&af, "data", 4), 0);
	assert_int_equal(atomic_commit(&af), -1);
	assert_true(errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST);
	assert_int_equal(count_entries(f->dir), 1);	/* only busy/ */
	assert_int_equal(unlink(inner), 0);
	assert_int_equal(rmdir(sub), 0);
}

static void
open_errors(void **state)
{
	struct fixture		*f = *state;
	struct atomic_file	 af;
	char			 longpath[5000];

	assert_int_equal(atomic_open(&af, "/nonexistent/dir/file", 0600), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(af.fd, -1);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(atomic_open(&af, longpath, 0600), -1);
	assert_int_equal(errno, ENAMETOOLONG);

	/* Long enough that only the temp name overflows. */
	memset(longpath, 'a', 4090);
	longpath[0] = '/';
	longpath[4090] = '\0';
	assert_int_equal(atomic_open(&af, longpath, 0600), -1);
	assert_int_equal(errno, ENAMETOOLONG);

	assert_int_equal(atomic_open(&af, "/tmp/", 0600), -1);
	assert_int_equal(atomic_write_file("/nonexistent/x", "a", 1, 0600),
	    -1);
	assert_int_equal(count_entries(f->dir), 0);
}

static void
relative_path_and_fsync_dir(void **state)
{
	struct fixture	*f = *state;
	char		 cwd[4096], buf[16];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(atomic_write_file("rel", "r", 1, 0600), 0);
	assert_int_equal(fsync_dir("rel"), 0);
	assert_int_equal(fsync_dir("."), 0);
	assert_int_equal(chdir(cwd), 0);
	snprintf(cwd, sizeof(cwd), "%s/rel", f->dir);
	assert_int_equal(read_file(cwd, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'r');
	assert_int_equal(count_entries(f->dir), 1);
}

static void
fsync_dir_forms(void **state)
{
	struct fixture	*f = *state;

	assert_int_equal(fsync_dir(f->dir), 0);
	/* A file, or a name that is gone: the directory holding it. */
	assert_int_equal(atomic_write_file(f->path, "x", 1, 0600), 0);
	assert_int_equal(fsync_dir(f->path), 0);
	assert_int_equal(unlink(f->path), 0);
	assert_int_equal(fsync_dir(f->path), 0);
	assert_int_equal(fsync_dir("/nonexistent/dir/file"), -1);
}

/* read_full gathers short reads, and stops at EOF with what it got. */
static void
read_full_from_pipe(void **state)
{
	static char	big[256 * 1024];
	char		*in;
	pid_t		pid;
	int		p[2], status;

	(void)state;
	memset(big, 'q', sizeof(big));
	assert_non_null(in = calloc(1, sizeof(big) + 16));
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		close(p[0]);
		_exit(write_all(p[1], big, sizeof(big)) == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	close(p[1]);
	/* Asks for more than was written: all of it, then EOF. */
	assert_int_equal(read_full(p[0], in, sizeof(big) + 16), sizeof(big));
	assert_memory_equal(in, big, sizeof(big));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* A bad descriptor: nothing, no loop. */
	assert_int_equal(read_full(-1, in, 8), 0);
	free(in);
}

static void
write_all_to_pipe(void **state)
{
	static char	big[256 * 1024];
	char		buf[4096];
	size_t		got = 0;
	ssize_t		n;
	pid_t		pid;
	int		p[2], status;

	memset(big, 'z', sizeof(big));
	assert_int_equal(pipe(p), 0);
	/* More than a pipe holds: write_all must loop over short writes. */
	if ((pid = fork()) == 0) {
		close(p[0]);
		_exit(write_all(p[1], big, sizeof(big)) == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	close(p[1]);
	while ((n = read(p[0], buf, sizeof(buf))) > 0)
		got += (size_t)n;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(got, sizeof(big));

	/* Writing to a closed reader fails instead of looping. */
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(write_all(p[1], "x", 1), -1);
	assert_int_equal(errno, EPIPE);
	close(p[1]);
	signal(SIGPIPE, SIG_DFL);
	assert_int_equal(write_all(-1, "x", 1), -1);
}

/*
 * A writer killed at random instants: the target always holds one complete
 * version, never a mixture or a truncated file.
 */
#define CRASH_SIZE	(192 * 1024)
#define CRASH_ROUNDS	12

static void
crash_leaves_complete_or_absent(void **state)
{
	struct fixture	*f = *state;
	static char	 buf[CRASH_SIZE + 1], want[CRASH_SIZE];
	struct stat	 st;
	size_t		 n;
	pid_t		 pid;
	int		 round, status, seen_file = 0;

	srand((unsigned)time(NULL));
	for (round = 0; round < CRASH_ROUNDS; round++) {
		if ((pid = fork()) == 0) {
			static char	data[CRASH_SIZE];

			for (unsigned v = 0;; v++) {
				memset(data, 'A' + (int)(v % 26), sizeof(data));
				if (atomic_write_file(f->path, data,
				    sizeof(data), 0600) == -1)
					_exit(1);
			}
		}
		assert_true(pid > 0);
		/* The later rounds let the writer get going first. */
		if (round >= CRASH_ROUNDS / 2)
			for (int i = 0; i < 200 && stat(f->path, &st) == -1; i++)
				usleep(10000);
		usleep((useconds_t)(rand() % 20000));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));

		if (stat(f->path, &st) == -1) {
			assert_int_equal(errno, ENOENT);
			assert_false(seen_file);	/* never disappears */
			continue;
		}
		seen_file = 1;
		n = read_file(f->path, buf, sizeof(buf));
		assert_int_equal(n, CRASH_SIZE);
		memset(want, buf[0], sizeof(want));
		assert_memory_equal(buf, want, CRASH_SIZE);
		assert_true(buf[0] >= 'A' && buf[0] <= 'Z');
		/* Leftover temp files are the crash's; clear them. */
		{
			DIR		*d = opendir(f->dir);
			struct dirent	*de;
			char		 p[512];

			assert_non_null(d);
			while ((de = readdir(d)) != NULL) {
				if (strncmp(de->d_name, ".state.", 7) != 0)
					continue;
				snprintf(p, sizeof(p), "%s/%s", f->dir,
				    de->d_name);
				unlink(p);
			}
			closedir(d);
		}
	}
	/* The complete-file branch was exercised, not only "absent". */
	assert_true(seen_file);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(write_and_replace, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(abort_keeps_old_content, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(commit_failure_removes_temp,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(relative_path_and_fsync_dir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(fsync_dir_forms, setup,
		    teardown),
		cmocka_unit_test(write_all_to_pipe),
		cmocka_unit_test(read_full_from_pipe),
		cmocka_unit_test_setup_teardown(crash_leaves_complete_or_absent,
		    setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("atomic", tests, NULL, NULL);
}
