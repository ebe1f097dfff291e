/*
 * mtad-sendmail: the sendmail-compatible submission program (also mailq and
 * newaliases by argv[0]).  It writes the message straight into the spool's
 * maildrop, durable before exit 0 whether or not mtad runs, then pokes the
 * daemon to pick it up.  Exit codes are sysexits.h, which every MUA and
 * cron job that calls "sendmail" understands.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alias.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "mailq.h"
#include "smtp_session.h"
#include "queue.h"
#include "submit.h"

enum mode { MODE_SUBMIT, MODE_SMTP, MODE_MAILQ, MODE_NEWALIASES, MODE_FLUSH };

struct opts {
	const char	*prog;
	const char	*conf;
	enum mode	 mode;
	int		 extract;	/* -t */
	int		 ignore_dots;	/* -i, -oi */
	int		 verbose;
	const char	*sender;	/* -f / -r */
	const char	*fullname;	/* -F */
	char	       **rcpts;
	int		 nrcpts;
};

static void
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-C conf] [-t] [-i|-oi] [-f sender] "
	    "[-F fullname] [-v] [-bs] [-bp] [-q] [-bi] [--] [rcpt ...]\n",
	    prog);
	exit(EX_USAGE);
}

noreturn static void
die(struct opts *o, int code, const char *fmt, ...) PRINTFLIKE(3, 4);

noreturn static void
die(struct opts *o, int code, const char *fmt, ...)
{
	va_list	ap;
	char	msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* With -v the log already writes to stderr. */
	log_warnx("%s", msg);
	if (!o->verbose)
		fprintf(stderr, "%s: %s\n", o->prog, msg);
	exit(code);
}

/* The value of a flag: the rest of this argument or the next one. */
static const char *
optval(struct opts *o, char **argv, int *i, const char *rest)
{
	if (*rest != '\0')
		return rest;
	if (argv[*i + 1] == NULL)
		usage(o->prog);
	return argv[++*i];
}

static void
set_mode(struct opts *o, enum mode m)
{
	if (o->mode != MODE_SUBMIT && o->mode != m)
		usage(o->prog);
	o->mode = m;
}

/*
 * sendmail's command line, by hand: flags may be grouped ("-ti"), some take
 * their value attached or separate ("-fX" or "-f X"), "-oX" and "-bX" are
 * two-letter options.  Options MUAs pass that do not apply here (-oem,
 * -odb, -B 8BITMIME, -N never ...) are accepted and ignored, as Postfix does.
 */
static void
parse_args(struct opts *o, int argc, char **argv)
{
	const char	*p;
	int		 i;

	for (i = 1; i < argc; i++) {
		p = argv[i];
		if (p[0] != '-' || p[1] == '\0')
			break;
		if (strcmp(p, "--") == 0) {
			i++;
			break;
		}
		for (p++; *p != '\0'; p++) {
			switch (*p) {
			case 't':
				o->extract = 1;
				continue;
			case 'i':
				o->ignore_dots = 1;
				continue;
			case 'v':
				o->verbose = 1;
				continue;
			case 'm':	/* me too: always */
				continue;
			case 'f':
			case 'r':
				o->sender = optval(o, argv, &i, p + 1);
				break;
			case 'F':
				o->fullname = optval(o, argv, &i, p + 1);
				break;
			case 'C':
				o->conf = optval(o, argv, &i, p + 1);
				break;
			case 'B':
			case 'N':
			case 'R':
			case 'V':
			case 'L':
				(void)optval(o, argv, &i, p + 1);
				break;
			case 'o':
				if (strcmp(p + 1, "i") == 0)
					o->ignore_dots = 1;
				else if (p[1] == '\0')
					usage(o->prog);
				/* -oem, -odb, -oQ...: not applicable. */
				break;
			case 'e':	/* -em, -eq ...: error modes */
				break;
			case 'b':
				if (strcmp(p + 1, "s") == 0)
					set_mode(o, MODE_SMTP);
				else if (strcmp(p + 1, "p") == 0)
					set_mode(o, MODE_MAILQ);
				else if (strcmp(p + 1, "i") == 0)
					set_mode(o, MODE_NEWALIASES);
				else if (strcmp(p + 1, "m") != 0)
					usage(o->prog);
				break;
			case 'q':
				if (p[1] != '\0')
					usage(o->prog);
				set_mode(o, MODE_FLUSH);
				continue;
			default:
				usage(o->prog);
			}
			break;	/* the flag took the rest of the argument */
		}
	}
	o->rcpts = argv + i;
	o->nrcpts = argc - i;
}

static const char *
basename_of(const char *s)
{
	const char	*p = strrchr(s, '/');

	return p ? p + 1 : s;
}

/* Tell a running mtad to look at the maildrop; a missing daemon is fine,
 * it picks the message up when it starts. */
static void
poke(const char *spool)
{
	struct sockaddr_un	 sun;
	static const char	 msg[] = "pickup\n";
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    spool, SUBMIT_PICKUP_SOCK) >= sizeof(sun.sun_path))
		return;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT,
	    (struct sockaddr *)&sun, sizeof(sun)) == -1)
		log_debug("poke %s: %s", sun.sun_path, strerror(errno));
	close(fd);
}

static int
exit_for_errno(int e)
{
	switch (e) {
	case EIO:
		return EX_IOERR;
	case EACCES:
	case EPERM:
		return EX_NOPERM;
	default:
		return EX_TEMPFAIL;
	}
}

static void
open_queue(struct opts *o, struct mtad_config *cf, struct queue *q)
{
	char	err[512];

	if (queue_attach(q, cf->spool, err, sizeof(err)) == -1)
		die(o, EX_TEMPFAIL, "cannot open the spool: %s", err);
}

static int
run_submit(struct opts *o, struct mtad_config *cf)
{
	struct submit	 s;
	struct queue	 q;
	char		 err[512], id[QID_SIZE];
	int		 rc, nerr;

	if (!o->extract && o->nrcpts == 0)
		die(o, EX_USAGE, "no recipients given (use -t to take them "
		    "from the message)");
	if (submit_init(&s, cf, o->sender, o->fullname, err,
	    sizeof(err)) == -1)
		die(o, EX_DATAERR, "%s", err);
	s.extract = o->extract;
	s.ignore_dots = o->ignore_dots;
	/* Unknown local users are refused at once, as at SMTP RCPT time; an
	 * unreadable aliases file leaves the decision to delivery. */
	s.aliases = alias_load(cf->aliases, NULL, &nerr);
	if (submit_add_rcpts(&s, o->rcpts, o->nrcpts, err, sizeof(err)) == -1)
		die(o, EX_DATAERR, "%s", err);
	open_queue(o, cf, &q);
	rc = submit_run(&s, &q, stdin, id, err, sizeof(err));
	if (s.aliases != NULL)
		alias_free(s.aliases);
	if (rc != EX_OK) {
		submit_free(&s);
		queue_close(&q);
		die(o, rc, "%s", err);
	}
	if (o->verbose)
		fprintf(stderr, "%s: queued as %s\n", o->prog, id);
	poke(cf->spool);
	submit_free(&s);
	queue_close(&q);
	return EX_OK;
}

static void
print_line(const char *line, void *arg)
{
	printf("%s\n", line);
	fflush(stdout);
}

static int
run_mailq(struct opts *o, struct mtad_config *cf)
{
	struct queue	q;
	char		err[512];
	int		n, rv;

	open_queue(o, cf, &q);
	if (q.dirfd == -1) {
		/* Not ours to read: the daemon may list it for us. */
		queue_close(&q);
		rv = control_request(cf->spool, "mailq", 30000, print_line,
		    NULL, err, sizeof(err));
		if (rv < 0)
			die(o, EX_NOPERM, "%s/queue: %s, and %s", cf->spool,
			    strerror(EACCES), err);
		return rv == 0 ? EX_OK : EX_TEMPFAIL;
	}
	n = mailq_print(&q, stdout);
	queue_close(&q);
	if (n == -1)
		die(o, exit_for_errno(errno), "cannot read the queue: %s",
		    strerror(errno));
	if (fflush(stdout) == EOF)
		return EX_IOERR;
	return EX_OK;
}

/* -bs: the daemon's SMTP session on stdin/stdout, into the maildrop. */
static int
run_smtp(struct opts *o, struct mtad_config *cf)
{
	struct queue	q;
	int		n;

	open_queue(o, cf, &q);
	n = smtp_session_stdio(cf, &q);
	queue_close(&q);
	if (n > 0)
		poke(cf->spool);
	return n == -1 ? EX_IOERR : EX_OK;
}

static int
run_newaliases(struct opts *o, struct mtad_config *cf)
{
	struct alias_table	*t;
	int			 n;

	/* Nothing to rebuild (the file is read as it is); check it. */
	if ((n = alias_check(cf->aliases, stderr)) == -1)
		return EX_NOINPUT;
	if (n > 0) {
		fprintf(stderr, "%s: %s: %d error%s\n", o->prog, cf->aliases,
		    n, n == 1 ? "" : "s");
		return EX_DATAERR;
	}
	if ((t = alias_load(cf->aliases, NULL, &n)) == NULL)
		die(o, EX_NOINPUT, "%s: %s", cf->aliases, strerror(errno));
	printf("%s: %zu aliases\n", cf->aliases, alias_count(t));
	alias_free(t);
	return EX_OK;
}

/* -q: the daemon runs the queue (mtactl flush does the same). */
static int
run_flush(struct opts *o, struct mtad_config *cf)
{
	char	err[512];
	int	rv;

	rv = control_request(cf->spool, "flush", -1, print_line, NULL, err,
	    sizeof(err));
	if (rv == -1)
		die(o, EX_UNAVAILABLE, "%s", err);
	if (rv == -2)
		die(o, EX_TEMPFAIL, "%s", err);
	return rv == 0 ? EX_OK : EX_TEMPFAIL;
}

int
main(int argc, char **argv)
{
	struct opts		 o;
	struct mtad_config	 cf;
	char			 err[1024];
	int			 rc;

	memset(&o, 0, sizeof(o));
	o.prog = basename_of(argv[0] ? argv[0] : "mtad-sendmail");
	o.conf = MTAD_DEFAULT_CONF;
	if (strcmp(o.prog, "mailq") == 0)
		o.mode = MODE_MAILQ;
	else if (strcmp(o.prog, "newaliases") == 0)
		o.mode = MODE_NEWALIASES;
	parse_args(&o, argc, argv);
	log_init(o.prog, LOG_TO_SYSLOG | (o.verbose ? LOG_TO_STDERR : 0),
	    o.verbose);

	if (config_load(o.conf, &cf, err, sizeof(err)) == -1)
		die(&o, EX_CONFIG, "%s", err);

	switch (o.mode) {
	case MODE_SUBMIT:
		rc = run_submit(&o, &cf);
		break;
	case MODE_MAILQ:
		rc = run_mailq(&o, &cf);
		break;
	case MODE_SMTP:
		rc = run_smtp(&o, &cf);
		break;
	case MODE_NEWALIASES:
		rc = run_newaliases(&o, &cf);
		break;
	case MODE_FLUSH:
		rc = run_flush(&o, &cf);
		break;
	default:
		rc = EX_SOFTWARE;
	}
	config_free(&cf);
	return rc;
}
