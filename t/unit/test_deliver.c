/*
 * Local delivery back ends, driven directly through struct delivery as the
 * running user: mbox framing, quoting and roll-back, Maildir tmp -> new, MDA
 * exit codes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../mtad/deliver.h"

struct fixture {
	char			 dir[64];
	struct mtad_config	 cf;
	struct qmsg		 msg;
	struct delivery		 d;
	char			 datapath[128];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/test_deliver.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->cf.hostname = "hub.lan";
	f->cf.mailbox_arg = f->dir;
	f->msg.sender = "eddy@shofar.lan";
	strcpy(f->msg.id, "0000000000001000001");
	f->d.cf = &f->cf;
	f->d.msg = &f->msg;
	f->d.user = "bob";
	f->d.home = f->dir;
	f->d.rcpt = "bob@hub.lan";
	f->d.datafd = -1;
	snprintf(f->datapath, sizeof(f->datapath), "%s/data", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;
	char		 cmd[128];

	if (f->d.datafd != -1)
		close(f->d.datafd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
message(struct fixture *f, const char *text, size_t len)
{
	int fd;

	if (f->d.datafd != -1)
		close(f->d.datafd);
	fd = open(f->datapath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	/* Back ends must not depend on (or move) the offset. */
	lseek(fd, 7, SEEK_SET);
	f->d.datafd = fd;
}

static char *
slurp(const char *path, size_t *lenp)
{
	static char	buf[1 << 20];
	int		fd = open(path, O_RDONLY);
	ssize_t		n;

	if (fd == -1)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	if (lenp)
		*lenp = n;
	return buf;
}

/* The first line, then everything after it. */
static const char *
after_from_line(const char *s, const char *sender)
{
	char	want[128];

	snprintf(want, sizeof(want), "From %s ", sender);
	assert_memory_equal(s, want, strlen(want));
	/* "From sender Sun Nov 22 03:14:11 2026\n" */
	s = strchr(s, '\n');
	assert_non_null(s);
	return s + 1;
}

static const char msg1[] =
    "Received: from x by hub.lan\n"
    "Subject: quoting\n"
    "\n"
    "From the start\n"
    ">From already quoted\n"
    "From\n"
    " From indented\n"
    "From: looks like a header\n"
    "no newline at the end";

static void
mbox_frames_and_quotes(void **state)
{
	struct fixture	*f = *state;
	struct dresult	 r;
	char		 path[128];
	const char	*s;

	message(f, msg1, sizeof(msg1) - 1);
	deliver_mbox.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_OK);
	assert_int_equal(lseek(f->d.datafd, 0, SEEK_CUR), 7);
	snprintf(path, sizeof(path), "%s/bob", f->dir);
	s = after_from_line(slurp(path, NULL), "eddy@shofar.lan");
	assert_string_equal(s,
	    "Received: from x by hub.lan\n"
	    "Subject: quoting\n"
	    "\n"
	    ">From the start\n"
	    ">>From already quoted\n"
	    "From\n"
	    " From indented\n"
	    "From: looks like a header\n"
	    "no newline at the end\n"
	    "\n");

	/* A second message, from <>, is appended after a blank line. */
	f->msg.sender = "";
	message(f, "Subject: two\n\nbody\n", 19);
	deliver_mbox.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_OK);
	s = strstr(slurp(path, NULL), "\n\nFrom MAILER-DAEMON ");
	assert_non_null(s);
	s = after_from_line(s + 2, "MAILER-DAEMON");
	assert_string_equal(s, "Subject: two\n\nbody\n\n");
	/* No dotlock left behind. */
	snprintf(path, sizeof(path), "%s/bob.lock", f->dir);
	assert_int_equal(access(path, F_OK), -1);
}

static void
mbox_rolls_back_on_write_error(void **state)
{
	struct fixture	*f = *state;
	struct dresult	 r;
	struct rlimit	 old, lim;
	struct stat	 st;
	char		 path[128], *big;
	size_t		 len;
	int		 fd;

	snprintf(path, sizeof(path), "%s/bob", f->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "From a x\n\nold\n\n", 15), 15);
	close(fd);

	big = malloc(200000);
	memset(big, 'x', 200000);
	for (int i = 80; i < 200000; i += 80)
		big[i] = '\n';
	message(f, big, 200000);
	free(big);

	/* The file size limit makes a write fail half-way (EFBIG). */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 100000;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	deliver_mbox.deliver(&f->d, &r);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(r.status, DELIVER_DEFER);
	assert_memory_equal(r.text, "451 4.3.0 ", 10);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 15);
	assert_string_equal(slurp(path, &len), "From a x\n\nold\n\n");
}

static void
mbox_refuses_links(void **state)
{
	struct fixture	*f = *state;
	struct dresult	 r;
	char		 path[128], target[128];
	struct stat	 st;

	snprintf(target, sizeof(target), "%s/target", f->dir);
	close(open(target, O_WRONLY | O_CREAT, 0600));
	snprintf(path, sizeof(path), "%s/bob", f->dir);
	assert_int_equal(symlink(target, path), 0);
	message(f, "Subject: x\n\ny\n", 15);
	deliver_mbox.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_DEFER);
	unlink(path);
	assert_int_equal(link(target, path), 0);
	deliver_mbox.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_DEFER);
	assert_non_null(strstr(r.text, "one link"));
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_size, 0);
}

static void
maildir_writes_tmp_then_new(void **state)
{
	struct fixture	*f = *state;
	struct dresult	 r;
	char		 path[256], file[512];
	struct dirent	*de;
	DIR		*dir;
	int		 n = 0;
	size_t		 len;

	f->cf.mailbox_arg = "~/Mail/%u";
	message(f, msg1, sizeof(msg1) - 1);
	deliver_maildir.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_OK);
	deliver_maildir.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_OK);

	snprintf(path, sizeof(path), "%s/Mail/bob/new", f->dir);
	assert_non_null(dir = opendir(path));
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		assert_non_null(strstr(de->d_name, ".hub.lan"));
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		/* Byte for byte, no framing, no quoting. */
		assert_string_equal(slurp(file, &len), msg1);
		assert_int_equal(len, sizeof(msg1) - 1);
	}
	closedir(dir);
	assert_int_equal(n, 2);
	snprintf(path, sizeof(path), "%s/Mail/bob/tmp", f->dir);
	assert_non_null(dir = opendir(path));
	while ((de = readdir(dir)) != NULL)
		assert_true(de->d_name[0] == '.');
	closedir(dir);
	snprintf(path, sizeof(path), "%s/Mail/bob/cur", f->dir);
	assert_int_equal(access(path, F_OK), 0);

	/* A path that cannot be made is a deferral, not a loss. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	f->cf.mailbox_arg = path;
	deliver_maildir.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_DEFER);
}

static void
maildir_path_expansion(void **state)
{
	char out[64];

	assert_int_equal(maildir_path("~/Maildir", "bob", "/home/bob", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "/home/bob/Maildir");
	assert_int_equal(maildir_path("/var/mail/%u/%%u", "bob", NULL, out,
	    sizeof(out)), 0);
	assert_string_equal(out, "/var/mail/bob/%u");
	assert_int_equal(maildir_path("~", "bob", "/h", out, sizeof(out)), 0);
	assert_string_equal(out, "/h");
	assert_int_equal(maildir_path("~/M", "bob", NULL, out, sizeof(out)),
	    -1);
	assert_int_equal(maildir_path("/%u%u%u%u%u%u%u%u%u%u%u%u", "abcdef",
	    NULL, out, sizeof(out)), -1);
}

static void
mda_exit_codes(void **state)
{
	struct fixture	*f = *state;
	struct dresult	 r;
	char		 cmd[256], path[128];
	size_t		 len;

	message(f, msg1, sizeof(msg1) - 1);
	snprintf(cmd, sizeof(cmd), "cat > %s/out.%%u; echo \"$SENDER "
	    "$RECIPIENT $USER\" > %s/env", f->dir, f->dir);
	f->cf.mailbox_arg = cmd;
	deliver_mda.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_OK);
	snprintf(path, sizeof(path), "%s/out.bob", f->dir);
	assert_string_equal(slurp(path, &len), msg1);
	snprintf(path, sizeof(path), "%s/env", f->dir);
	assert_string_equal(slurp(path, NULL),
	    "eddy@shofar.lan bob@hub.lan bob\n");

	f->cf.mailbox_arg = "cat >/dev/null; echo mailbox busy; exit 75";
	deliver_mda.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_DEFER);
	assert_string_equal(r.text, "451 4.3.0 command exited 75 (temporary "
	    "failure): mailbox busy");

	/* Not reading the message at all is fine; the status decides. */
	f->cf.mailbox_arg = "echo 'no such folder'; echo line two >&2; exit 1";
	deliver_mda.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_BOUNCE);
	assert_string_equal(r.text, "554 5.3.0 command exited 1: no such "
	    "folder line two");

	f->cf.mailbox_arg = "kill -9 $$";
	deliver_mda.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_DEFER);
	assert_non_null(strstr(r.text, "signal 9"));

	f->cf.mailbox_arg = "/nonexistent/procmail";
	deliver_mda.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_BOUNCE);
	assert_non_null(strstr(r.text, "exited 127"));
}

static void
mda_quotes_what_the_sender_controls(void **state)
{
	struct fixture	*f = *state;
	struct dresult	 r;
	char		 out[128], cmd[512], pwned[128];

	assert_int_equal(mda_expand("procmail -f %s -a %u %% %x", "bob",
	    "it's@x", out, sizeof(out)), 0);
	assert_string_equal(out, "procmail -f 'it'\\''s@x' -a 'bob' % %x");
	assert_int_equal(mda_expand("%s", "bob", "0123456789", out, 8), -1);

	snprintf(pwned, sizeof(pwned), "%s/pwned", f->dir);
	snprintf(cmd, sizeof(cmd), "x;touch %s;'$(touch %s)'@evil", pwned,
	    pwned);
	f->msg.sender = cmd;
	snprintf(out, sizeof(out), "cat >/dev/null; echo %%s");
	f->cf.mailbox_arg = out;
	message(f, "a\n", 2);
	deliver_mda.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_OK);
	assert_int_equal(access(pwned, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(mbox_frames_and_quotes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(mbox_rolls_back_on_write_error,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(mbox_refuses_links,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(maildir_writes_tmp_then_new,
		    setup, teardown),
		cmocka_unit_test(maildir_path_expansion),
		cmocka_unit_test_setup_teardown(mda_exit_codes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    mda_quotes_what_the_sender_controls, setup, teardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("deliver", tests, NULL, NULL);
}
