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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <pwd.h>
#include <libetpan/libetpan.h>

#include "../../mtad/bounce.h"
#include "../../mtad/deliver.h"
#include "../../mtad/privsep.h"
#include "log.h"

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
mbox_waits_for_a_reader_lock(void **state)
{
	struct fixture	*f = *state;
	struct dresult	 r;
	struct flock	 fl;
	char		 path[128], lock[140];
	struct timespec	 t0, t1;
	pid_t		 pid;
	int		 fd, p[2], status;

	snprintf(path, sizeof(path), "%s/bob", f->dir);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	message(f, "Subject: locked\n\nx\n", 19);

	/* A MUA holds the fcntl lock for a second. */
	assert_int_equal(pipe(p), 0);
	if ((pid = fork()) == 0) {
		fd = open(path, O_RDWR | O_CREAT, 0600);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) == -1)
			_exit(1);
		(void)write(p[1], "x", 1);
		sleep(1);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], lock + sizeof(lock) - 1, 1), 1);
	close(p[0]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	deliver_mbox.deliver(&f->d, &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(r.status, DELIVER_OK);
	/* It waited for the lock rather than writing under the MUA. */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec -
	    t0.tv_nsec) / 1000000 >= 500);
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(slurp(path, NULL), "Subject: locked"));

	/* And a fresh dotlock, removed after a second. */
	snprintf(lock, sizeof(lock), "%s.lock", path);
	close(open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600));
	if ((pid = fork()) == 0) {
		sleep(1);
		unlink(lock);
		_exit(0);
	}
	message(f, "Subject: dotlocked\n\nx\n", 22);
	deliver_mbox.deliver(&f->d, &r);
	waitpid(pid, &status, 0);
	assert_int_equal(r.status, DELIVER_OK);
	assert_non_null(strstr(slurp(path, NULL), "Subject: dotlocked"));
	assert_int_equal(access(lock, F_OK), -1);

	/* A stale dotlock (a crashed MUA) is broken. */
	close(open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600));
	{
		struct timespec old[2] = { { time(NULL) - 3600, 0 },
		    { time(NULL) - 3600, 0 } };

		assert_int_equal(utimensat(AT_FDCWD, lock, old, 0), 0);
	}
	message(f, "Subject: stale\n\nx\n", 18);
	deliver_mbox.deliver(&f->d, &r);
	assert_int_equal(r.status, DELIVER_OK);
	assert_non_null(strstr(slurp(path, NULL), "Subject: stale"));
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


/* --- whole messages through the queue ------------------------------------- */

struct qfix {
	char			 dir[64];
	char			 spool[128], mail[128], aliases[128], log[128];
	char			*domains[1];
	struct mtad_config	 cf;
	struct queue		 q;
	char			 me[64];
};

static int
qsetup(void **state)
{
	struct qfix	*f = calloc(1, sizeof(*f));
	struct passwd	*pw = getpwuid(getuid());
	char		 err[256];

	strcpy(f->dir, "/tmp/test_deliverq.XXXXXX");
	if (mkdtemp(f->dir) == NULL || pw == NULL)
		return -1;
	snprintf(f->me, sizeof(f->me), "%s", pw->pw_name);
	snprintf(f->spool, sizeof(f->spool), "%s/spool", f->dir);
	snprintf(f->mail, sizeof(f->mail), "%s/mail", f->dir);
	snprintf(f->aliases, sizeof(f->aliases), "%s/aliases", f->dir);
	snprintf(f->log, sizeof(f->log), "%s/log", f->dir);
	mkdir(f->mail, 01777);
	chmod(f->mail, 01777);
	f->domains[0] = "hub.lan";
	f->cf.hostname = "hub.lan";
	f->cf.local_domains.v = f->domains;
	f->cf.local_domains.n = 1;
	f->cf.spool = f->spool;
	f->cf.user = f->me;
	f->cf.aliases = f->aliases;
	f->cf.mailbox = MAILBOX_MBOX;
	f->cf.mailbox_arg = f->mail;
	f->cf.queue_lifetime = 5 * 24 * 3600;
	f->cf.postmaster = "postmaster";
	if (queue_open(&f->q, f->spool, err, sizeof(err)) == -1)
		return -1;
	log_set_file(f->log);
	*state = f;
	return 0;
}

static int
qteardown(void **state)
{
	struct qfix	*f = *state;
	char		 cmd[128];

	log_set_file(NULL);
	queue_close(&f->q);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
enqueue(struct qfix *f, const char *sender, const char *text,
    const char **rcpts, size_t n, char id[QID_SIZE])
{
	struct qwriter	 w, *wp = &w;
	struct qmsg	 m;
	struct qrcpt	 rc[16];
	int		 res;

	memset(&m, 0, sizeof(m));
	memset(rc, 0, sizeof(rc));
	assert_int_equal(qwriter_open(&f->q, QDEST_QUEUE, &w), 0);
	qwriter_write(&w, text, strlen(text));
	for (size_t i = 0; i < n; i++) {
		rc[i].addr = (char *)rcpts[i];
		rc[i].local = strstr(rcpts[i], "@hub.lan") != NULL;
	}
	m.arrival = time(NULL);
	m.sender = (char *)sender;
	m.helo = "lanhost";
	m.client = "lanhost [192.168.1.5]";
	m.proto = "ESMTP";
	m.rcpts = rc;
	m.nrcpts = n;
	assert_int_equal(qwriter_finish(&w, &m), 0);
	queue_commit(&f->q, &wp, 1, &res);
	assert_int_equal(res, 0);
	memcpy(id, m.id, QID_SIZE);
}

static int
count_cb(const char *id, void *arg)
{
	(void)id;
	++*(int *)arg;
	return 0;
}

static int
queued(struct qfix *f)
{
	int n = 0;

	queue_scan(&f->q, count_cb, &n);
	return n;
}


/* The DSN's MIME structure, as a MUA's parser (libetpan) sees it. */
static void
check_dsn_mime(const char *dsn, size_t len)
{
	static const char *const want[] = { "plain", "delivery-status",
	    "rfc822-headers" };
	struct mailmime	*mime = NULL;
	clistiter	*it;
	size_t		 idx = 0;
	int		 n = 0;

	assert_int_equal(mailmime_parse(dsn, len, &idx, &mime),
	    MAILIMF_NO_ERROR);
	assert_int_equal(mime->mm_type, MAILMIME_MESSAGE);
	mime = mime->mm_data.mm_message.mm_msg_mime;
	assert_non_null(mime);
	assert_int_equal(mime->mm_type, MAILMIME_MULTIPLE);
	assert_string_equal(mime->mm_content_type->ct_subtype, "report");
	for (it = clist_begin(mime->mm_data.mm_multipart.mm_mp_list);
	    it != NULL; it = clist_next(it), n++) {
		struct mailmime *part = clist_content(it);

		assert_true(n < 3);
		assert_string_equal(part->mm_content_type->ct_subtype,
		    want[n]);
	}
	assert_int_equal(n, 3);
	while (mime->mm_parent != NULL)
		mime = mime->mm_parent;
	mailmime_free(mime);
}

static const char orig_msg[] =
    "Received: from lanhost by hub.lan\n"
    "From: Eddy <eddy@hub.lan>\n"
    "Subject: caf\xc3\xa9 tonight\n"
    "\n"
    "From the kitchen\n"
    "body text\n";

static void
aliases_users_files_pipes_and_bounces(void **state)
{
	struct qfix	*f = *state;
	struct qmsg	 m;
	char		 id[QID_SIZE], text[1024], path[256], want[512];
	const char	*rcpts[6];
	char		 me_rcpt[128], sender[128];
	const char	*mbox, *dsn;
	size_t		 len;

	snprintf(text, sizeof(text),
	    "list: \\%s, \"|cat > %s/pipe.out\", %s/file.mbox,\n"
	    "  far@remote.example, ghost\n"
	    "loop: loop2\n"
	    "loop2: loop\n", f->me, f->dir, f->dir);
	{
		FILE *fp = fopen(f->aliases, "w");

		fputs(text, fp);
		fclose(fp);
	}
	snprintf(me_rcpt, sizeof(me_rcpt), "%s@hub.lan", f->me);
	snprintf(sender, sizeof(sender), "%s@hub.lan", f->me);
	rcpts[0] = me_rcpt;
	rcpts[1] = "LIST@hub.lan";
	rcpts[2] = "nosuch@hub.lan";
	rcpts[3] = "loop@hub.lan";
	rcpts[4] = "someone@remote.example";
	assert_true(local_rcpt_known(&f->cf, "list"));
	assert_true(local_rcpt_known(&f->cf, "Postmaster"));
	assert_true(local_rcpt_known(&f->cf, f->me));
	assert_false(local_rcpt_known(&f->cf, "nosuch"));
	assert_false(local_rcpt_known(&f->cf, "../etc"));

	enqueue(f, sender, orig_msg, rcpts, 5, id);
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);

	/* The remote recipient still waits; its alias target got a clone. */
	assert_int_equal(queue_load(&f->q, id, &m), 0);
	assert_int_equal(m.rcpts[0].state, QR_SENT);
	assert_int_equal(m.rcpts[1].state, QR_SENT);
	assert_int_equal(m.rcpts[2].state, QR_BOUNCED);
	assert_int_equal(m.rcpts[3].state, QR_BOUNCED);
	assert_int_equal(m.rcpts[4].state, QR_PENDING);
	qmsg_free(&m);
	assert_int_equal(queued(f), 2);

	/* The pipe and the file got the message as it is. */
	snprintf(path, sizeof(path), "%s/pipe.out", f->dir);
	assert_string_equal(slurp(path, &len), orig_msg);
	snprintf(path, sizeof(path), "%s/file.mbox", f->dir);
	assert_non_null(strstr(slurp(path, NULL), "\n>From the kitchen\n"));

	/* Mine: the message twice (direct and through the list, which is a
	 * separate recipient), then the DSN about ghost, nosuch and loop. */
	snprintf(path, sizeof(path), "%s/%s", f->mail, f->me);
	mbox = slurp(path, NULL);
	dsn = strstr(mbox, "\nFrom MAILER-DAEMON ");
	assert_non_null(dsn);
	assert_non_null(strstr(dsn, "\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\n"));
	snprintf(want, sizeof(want), "\nTo: <%s>\n", sender);
	assert_non_null(strstr(dsn, want));
	assert_non_null(strstr(dsn, "\nAuto-Submitted: auto-replied\n"));
	assert_non_null(strstr(dsn, "\nContent-Type: message/delivery-status"
	    "\n\nReporting-MTA: dns; hub.lan\nReceived-From-MTA: dns; "
	    "lanhost\nArrival-Date: "));
	assert_non_null(strstr(dsn, "\nOriginal-Recipient: rfc822; "
	    "LIST@hub.lan\nFinal-Recipient: rfc822; ghost@hub.lan\nAction: failed\n"
	    "Status: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 <ghost>... "
	    "User unknown\n"));
	assert_non_null(strstr(dsn, "\nFinal-Recipient: rfc822; "
	    "nosuch@hub.lan\nAction: failed\nStatus: 5.1.1\n"));
	assert_non_null(strstr(dsn, "\nFinal-Recipient: rfc822; "
	    "loop@hub.lan\nAction: failed\nStatus: 5.4.6\nDiagnostic-Code: "
	    "smtp; 554 5.4.6 alias loop: loop -> loop2 -> loop\n"));
	assert_non_null(strstr(dsn, "\nContent-Type: text/rfc822-headers\n"
	    "Content-Description: Undelivered Message Headers\n\n"
	    "Received: from lanhost by hub.lan\nFrom: Eddy <eddy@hub.lan>\n"
	    "Subject: caf\xc3\xa9 tonight\n\n--"));
	{
		const char	*end = strstr(dsn + 1, "\nFrom ");
		const char	*start = strchr(dsn + 1, '\n') + 1;

		check_dsn_mime(start, end ? (size_t)(end - start) :
		    strlen(start));
	}
	/* Headers only: the body stays with the sender. */
	assert_null(strstr(dsn, "body text"));
	assert_int_equal(strstr(mbox, "Subject: caf") != dsn ? 1 : 0, 1);

	/* sendmail-shaped log lines. */
	mbox = slurp(f->log, NULL);
	snprintf(want, sizeof(want), "%s: to=<nosuch@hub.lan>, delay=00:00:0",
	    id);
	assert_non_null(strstr(mbox, want));
	assert_non_null(strstr(mbox, ", mailer=local, stat=Bounced (550 5.1.1"
	    " <nosuch>... User unknown)"));
	snprintf(want, sizeof(want), "%s: to=<%s>, delay=", id, me_rcpt);
	assert_non_null(strstr(mbox, want));
	assert_non_null(strstr(mbox, "mailer=local, stat=Sent\n"));
	assert_non_null(strstr(mbox, ": DSN: "));
}

static void
failing_mda_bounces_once_and_stops(void **state)
{
	struct qfix	*f = *state;
	char		 id[QID_SIZE], cmd[256], path[256];
	const char	*rcpts[1] = { "bob@hub.lan" }, *out;
	struct passwd	*pw = getpwuid(getuid());

	/* Everything the MDA sees fails, DSNs included: the DSN to the
	 * sender fails, goes to the postmaster, whose failure is logged. */
	snprintf(cmd, sizeof(cmd), "cat >> %s/seen; echo no way; exit 1",
	    f->dir);
	f->cf.mailbox = MAILBOX_MDA;
	f->cf.mailbox_arg = cmd;
	rcpts[0] = pw->pw_name;
	{
		char	r[128];

		snprintf(r, sizeof(r), "%s@hub.lan", pw->pw_name);
		rcpts[0] = r;
		enqueue(f, r, orig_msg, rcpts, 1, id);
	}
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
	assert_int_equal(queued(f), 0);
	snprintf(path, sizeof(path), "%s/seen", f->dir);
	out = slurp(path, NULL);
	/* The message, its DSN, the postmaster's notice: three, no more. */
	assert_non_null(strstr(out, "Subject: caf"));
	assert_non_null(out = strstr(out, "This is the mail system at"));
	assert_non_null(out = strstr(out + 1, "This is the mail system at"));
	assert_null(strstr(out + 1, "This is the mail system at"));
	out = slurp(f->log, NULL);
	assert_non_null(strstr(out, "stat=Bounced (554 5.3.0 command exited "
	    "1: no way)"));
	assert_non_null(strstr(out, "DSN not sent for a message from <>"));
}

static void
deferred_rcpt_waits_with_backoff(void **state)
{
	struct qfix	*f = *state;
	struct qmsg	 m;
	char		 id[QID_SIZE], r[128];
	const char	*rcpts[1];
	time_t		 before = time(NULL);

	f->cf.mailbox = MAILBOX_MDA;
	f->cf.mailbox_arg = "exit 75";
	snprintf(r, sizeof(r), "%s@hub.lan", f->me);
	rcpts[0] = r;
	enqueue(f, "eddy@remote.example", orig_msg, rcpts, 1, id);
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
	assert_int_equal(queue_load(&f->q, id, &m), 0);
	assert_int_equal(m.rcpts[0].state, QR_PENDING);
	assert_int_equal(m.rcpts[0].tries, 1);
	assert_true(m.rcpts[0].next_try >= before + 300);
	assert_string_equal(m.rcpts[0].last_error, "451 4.3.0 command exited "
	    "75 (temporary failure)");
	qmsg_free(&m);
	assert_non_null(strstr(slurp(f->log, NULL), "stat=Deferred (451 "
	    "4.3.0 command exited 75 (temporary failure))"));
	/* Not due yet: nothing happens. */
	f->cf.mailbox_arg = "exit 1";
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
	assert_int_equal(queue_load(&f->q, id, &m), 0);
	assert_int_equal(m.rcpts[0].tries, 1);
	qmsg_free(&m);
}

static void
dsn_of_a_null_sender_goes_to_postmaster(void **state)
{
	struct qfix		*f = *state;
	struct qmsg		 orig;
	struct bounce_rcpt	 br = { "x@hub.lan", NULL, "550 5.1.1 gone" };
	char			 newid[QID_SIZE], buf[8192];
	int			 fd, local = -1, eightbit;
	FILE			*out;

	memset(&orig, 0, sizeof(orig));
	strcpy(orig.id, "0000000000001000001");
	orig.sender = "";
	fd = open(f->log, O_RDONLY);
	assert_int_equal(bounce_queue(&f->cf, &f->q, &orig, fd, &br, 1, newid,
	    &local), 1);
	assert_int_equal(local, 1);
	assert_int_equal(queued(f), 1);
	br.orig = "Postmaster@hub.lan";
	assert_int_equal(bounce_queue(&f->cf, &f->q, &orig, fd, &br, 1, newid,
	    &local), 0);
	assert_int_equal(queued(f), 1);
	close(fd);

	/* A message without a body separator: all its lines are headers;
	 * reasons without an enhanced code get a class default. */
	fd = open(f->log, O_RDWR | O_TRUNC);
	assert_int_equal(write(fd, "Subject: x", 10), 10);
	orig.sender = "a@b";
	br.orig = "x@y";
	br.reason = "mailbox full";
	memset(buf, 0, sizeof(buf));
	out = fmemopen(buf, sizeof(buf) - 1, "w");
	assert_int_equal(bounce_format(out, &f->cf, &orig, fd, "a@b", &br, 1,
	    "ID", &eightbit), 0);
	fclose(out);
	close(fd);
	assert_int_equal(eightbit, 0);
	assert_non_null(strstr(buf, "Status: 5.0.0\nDiagnostic-Code: x-unix; "
	    "mailbox full\n"));
	assert_non_null(strstr(buf, "\n\nSubject: x\n\n--ID/hub.lan--\n"));
}

static void
as_root_each_delivery_runs_as_its_user(void **state)
{
	struct qfix	*f = *state;
	struct passwd	*pw = getpwnam("nobody");
	struct stat	 st;
	char		 id[QID_SIZE], path[256], text[512], env[300];
	const char	*rcpts[3] = { "nobody@hub.lan", "pipeme@hub.lan",
			    "far@remote.example" };
	static const char *const sub[] = { "", "/queue", "/tmp", "/maildrop" };

	if (getuid() != 0 || pw == NULL)
		skip();
	/* The daemon's spool belongs to its unprivileged user. */
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", f->spool, sub[i]);
		assert_int_equal(chown(path, pw->pw_uid, pw->pw_gid), 0);
	}
	f->cf.user = "nobody";
	chmod(f->dir, 0755);
	snprintf(path, sizeof(path), "%s/out", f->dir);
	mkdir(path, 01777);
	chmod(path, 01777);
	snprintf(text, sizeof(text), "pipeme: \"|id -u > %s/out/pipe.uid\"\n",
	    f->dir);
	{
		FILE *fp = fopen(f->aliases, "w");

		fputs(text, fp);
		fclose(fp);
	}
	/* Queued by the daemon, as its user. */
	assert_int_equal(setresgid(-1, pw->pw_gid, -1), 0);
	assert_int_equal(setresuid(-1, pw->pw_uid, -1), 0);
	enqueue(f, "eddy@remote.example", orig_msg, rcpts, 3, id);
	assert_int_equal(setresuid(-1, 0, -1), 0);
	assert_int_equal(setresgid(-1, 0, -1), 0);
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
	assert_int_equal(geteuid(), 0);
	assert_int_equal(getegid(), 0);

	snprintf(path, sizeof(path), "%s/nobody", f->mail);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, pw->pw_uid);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/out/pipe.uid", f->dir);
	snprintf(text, sizeof(text), "%u\n", (unsigned)pw->pw_uid);
	assert_string_equal(slurp(path, NULL), text);
	/* The rewritten envelope is still readable by the daemon. */
	snprintf(env, sizeof(env), "%s/queue/%s.env", f->spool, id);
	assert_int_equal(stat(env, &st), 0);
	assert_int_equal(st.st_uid, pw->pw_uid);
}

struct clone_scan {
	const char	*orig;
	char		 id[QID_SIZE];
};

static int
find_clone(const char *id, void *arg)
{
	struct clone_scan *cs = arg;

	if (strcmp(id, cs->orig) != 0)
		memcpy(cs->id, id, QID_SIZE);
	return 0;
}

static void
partly_delivered_list_retries_only_the_rest(void **state)
{
	struct qfix		*f = *state;
	struct clone_scan	 cs;
	struct qmsg		 m;
	char			 id[QID_SIZE], cmd[256], text[256], path[256];
	const char		*rcpts[1] = { "both@hub.lan" };
	time_t			 now = time(NULL);

	chmod(f->dir, 0755);
	snprintf(text, sizeof(text), "both: %s, nobody\n", f->me);
	{
		FILE *fp = fopen(f->aliases, "w");

		fputs(text, fp);
		fclose(fp);
	}
	snprintf(path, sizeof(path), "%s/out", f->dir);
	mkdir(path, 01777);
	chmod(path, 01777);
	snprintf(cmd, sizeof(cmd), "case %%u in nobody) exit 75;; esac; "
	    "cat >> %s/out/seen", f->dir);
	f->cf.mailbox = MAILBOX_MDA;
	f->cf.mailbox_arg = cmd;
	enqueue(f, "eddy@remote.example", orig_msg, rcpts, 1, id);
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);

	/* The list is done; nobody waits in a clone, the other member
	 * has the message once. */
	assert_int_equal(queue_load(&f->q, id, &m), -1);
	assert_int_equal(queued(f), 1);
	memset(&cs, 0, sizeof(cs));
	cs.orig = id;
	queue_scan(&f->q, find_clone, &cs);
	assert_int_equal(queue_load(&f->q, cs.id, &m), 0);
	assert_int_equal(m.nrcpts, 1);
	assert_string_equal(m.rcpts[0].addr, "nobody@hub.lan");
	assert_int_equal(m.rcpts[0].local, 1);
	assert_true(m.rcpts[0].next_try >= now + 300);
	assert_string_equal(m.sender, "eddy@remote.example");
	qmsg_free(&m);
	snprintf(path, sizeof(path), "%s/out/seen", f->dir);
	assert_string_equal(slurp(path, NULL), orig_msg);
}

static void
loop_found_late_delivers_nothing(void **state)
{
	struct qfix	*f = *state;
	char		 id[QID_SIZE], cmd[256], text[256], path[256], r[128];
	const char	*rcpts[1] = { "mixed@hub.lan" }, *seen;

	snprintf(text, sizeof(text), "mixed: \\%s, loopa\nloopa: loopb\n"
	    "loopb: loopa\n", f->me);
	{
		FILE *fp = fopen(f->aliases, "w");

		fputs(text, fp);
		fclose(fp);
	}
	snprintf(cmd, sizeof(cmd), "cat >> %s/seen", f->dir);
	f->cf.mailbox = MAILBOX_MDA;
	f->cf.mailbox_arg = cmd;
	snprintf(r, sizeof(r), "%s@hub.lan", f->me);
	enqueue(f, r, orig_msg, rcpts, 1, id);
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
	assert_int_equal(queued(f), 0);
	/* Only the DSN: the first member did not get the message. */
	snprintf(path, sizeof(path), "%s/seen", f->dir);
	seen = slurp(path, NULL);
	assert_non_null(strstr(seen, "Status: 5.4.6"));
	assert_null(strstr(seen, "body text"));
}

static void
one_delivery_process_per_message(void **state)
{
	struct qfix	*f = *state;
	struct qmsg	 m;
	char		 id[QID_SIZE], cmd[256], r[128], path[300];
	const char	*rcpts[1];
	int		 fd;

	snprintf(cmd, sizeof(cmd), "cat >> %s/seen", f->dir);
	f->cf.mailbox = MAILBOX_MDA;
	f->cf.mailbox_arg = cmd;
	snprintf(r, sizeof(r), "%s@hub.lan", f->me);
	rcpts[0] = r;
	enqueue(f, "eddy@remote.example", orig_msg, rcpts, 1, id);

	/* Another delivery process holds the message. */
	fd = local_lock_message(&f->q, id);
	assert_true(fd >= 0);
	assert_int_equal(local_lock_message(&f->q, id), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
	assert_int_equal(queue_load(&f->q, id, &m), 0);
	assert_int_equal(m.rcpts[0].state, QR_PENDING);
	assert_int_equal(m.rcpts[0].tries, 0);
	qmsg_free(&m);
	snprintf(path, sizeof(path), "%s/seen", f->dir);
	assert_int_equal(access(path, F_OK), -1);

	close(fd);
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
	assert_int_equal(queue_load(&f->q, id, &m), -1);
	assert_string_equal(slurp(path, NULL), orig_msg);
	/* Gone: a late second call is a no-op. */
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
}

/*
 * The privileged side of a request (privsep.h): ids come from the password
 * database, a file or command never runs as root, a result is always set.
 */
static void
privsep_request_is_checked(void **state)
{
	struct qfix		*f = *state;
	struct privsep_req	*req = calloc(1, sizeof(*req));
	struct dresult		 r;
	char			 path[256], *got;
	int			 fd;

	assert_non_null(req);
	snprintf(path, sizeof(path), "%s/msg", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, orig_msg, strlen(orig_msg)),
	    (ssize_t)strlen(orig_msg));

	/* A command as root: refused, whoever asks. */
	req->kind = PS_PIPE;
	req->uid = 0;
	req->gid = 0;
	snprintf(req->what, sizeof(req->what), "touch %s/pwned", f->dir);
	local_deliver_as(&f->cf, req, fd, &r);
	assert_int_equal(r.status, DELIVER_DEFER);
	assert_non_null(strstr(r.text, "refusing"));
	snprintf(path, sizeof(path), "%s/pwned", f->dir);
	assert_int_equal(access(path, F_OK), -1);

	/* A user the password database does not know. */
	memset(req, 0, sizeof(*req));
	req->kind = PS_USER;
	snprintf(req->user, sizeof(req->user), "no-such-user-mh");
	local_deliver_as(&f->cf, req, fd, &r);
	assert_int_equal(r.status, DELIVER_DEFER);
	assert_non_null(strstr(r.text, "no such user"));

	/* A file as an ordinary user (ourselves when not root). */
	if (getuid() != 0) {
		memset(req, 0, sizeof(*req));
		req->kind = PS_FILE;
		req->uid = getuid();
		req->gid = getgid();
		snprintf(req->what, sizeof(req->what), "%s/file.mbox", f->dir);
		snprintf(req->sender, sizeof(req->sender), "eddy@remote.example");
		local_deliver_as(&f->cf, req, fd, &r);
		assert_int_equal(r.status, DELIVER_OK);
		snprintf(path, sizeof(path), "%s/file.mbox", f->dir);
		got = slurp(path, NULL);
		assert_non_null(strstr(got, "From eddy@remote.example "));
	}
	close(fd);
	free(req);
}

/* A mail loop: every pending recipient, local or not, bounced at once
 * with one DSN to the sender; nothing left to deliver. */
static void
too_many_hops_bounces_every_recipient(void **state)
{
	struct qfix	*f = *state;
	struct qmsg	 m;
	char		 id[QID_SIZE], newid[QID_SIZE], r[128];
	const char	*rcpts[2];
	int		 local = -1;

	snprintf(r, sizeof(r), "%s@hub.lan", f->me);
	rcpts[0] = r;
	rcpts[1] = "far@remote.example";
	enqueue(f, "eddy@remote.example", orig_msg, rcpts, 2, id);
	assert_int_equal(local_bounce_loop(&f->cf, &f->q, id, 31, 30, newid,
	    &local), 1);
	assert_int_equal(local, 0);	/* the DSN goes to eddy@remote */
	/* The original is settled (gone); the DSN waits for the smart host. */
	assert_int_equal(queue_load(&f->q, id, &m), -1);
	assert_int_equal(queue_load(&f->q, newid, &m), 0);
	assert_int_equal(m.nrcpts, 1);
	assert_string_equal(m.rcpts[0].addr, "eddy@remote.example");
	assert_string_equal(m.sender, "");
	qmsg_free(&m);
	assert_int_equal(queued(f), 1);
	/* Nothing pending any more: a second call queues nothing. */
	assert_int_equal(local_bounce_loop(&f->cf, &f->q, id, 31, 30, newid,
	    &local), 0);
	/* Malformed ID. */
	assert_int_equal(local_bounce_loop(&f->cf, &f->q, "../x", 31, 30,
	    newid, &local), -1);
}

static void
deferred_past_queue_lifetime_bounces(void **state)
{
	struct qfix	*f = *state;
	struct qmsg	 m;
	char		 id[QID_SIZE], r[128];
	const char	*rcpts[1];
	int		 n = 0;

	f->cf.mailbox = MAILBOX_MDA;
	f->cf.mailbox_arg = "exit 75";
	f->cf.queue_lifetime = 1;
	snprintf(r, sizeof(r), "%s@hub.lan", f->me);
	rcpts[0] = r;
	enqueue(f, "eddy@remote.example", orig_msg, rcpts, 1, id);
	sleep(1);
	assert_int_equal(local_deliver_message(&f->cf, &f->q, id, -1), 0);
	/* Settled as bounced; the DSN waits for the smart host. */
	assert_int_equal(queue_load(&f->q, id, &m), -1);
	queue_scan(&f->q, count_cb, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(slurp(f->log, NULL), "stat=Bounced (451 4.3.0 "
	    "command exited 75 (temporary failure) (queue lifetime "
	    "exceeded))"));
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
		cmocka_unit_test_setup_teardown(mbox_waits_for_a_reader_lock,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(maildir_writes_tmp_then_new,
		    setup, teardown),
		cmocka_unit_test(maildir_path_expansion),
		cmocka_unit_test_setup_teardown(mda_exit_codes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    mda_quotes_what_the_sender_controls, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    aliases_users_files_pipes_and_bounces, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    failing_mda_bounces_once_and_stops, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    deferred_rcpt_waits_with_backoff, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    dsn_of_a_null_sender_goes_to_postmaster, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    as_root_each_delivery_runs_as_its_user, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    partly_delivered_list_retries_only_the_rest, qsetup,
		    qteardown),
		cmocka_unit_test_setup_teardown(
		    loop_found_late_delivers_nothing, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    one_delivery_process_per_message, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    deferred_past_queue_lifetime_bounces, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    too_many_hops_bounces_every_recipient, qsetup, qteardown),
		cmocka_unit_test_setup_teardown(
		    privsep_request_is_checked, qsetup, qteardown),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("deliver", tests, NULL, NULL);
}
