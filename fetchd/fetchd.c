/*
 * fetchd: a fetchmail work-alike.  This file reads the command line as
 * fetchmail does, loads the rc file, applies the command line over it and
 * runs the run's one action: --configdump, --quit, or a poll.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "rcfile.h"
#include "rcfile_lex.h"
#include "run.h"

#define FETCHD_VERSION	"0.1"

struct options {
	const char	*rcfile;
	int		 verbose;
	int		 quit;
	int		 check;
	int		 nodetach;
	int		 configdump;
	int		 version;
	struct rc_poll	 cmd;		/* server options, users[0]: user's */
	struct rc_run	 run;
};

enum {
	OPT_SYSLOG = 256, OPT_NOSYSLOG, OPT_IDFILE, OPT_SSL, OPT_SSLCERTCK,
	OPT_NOSSLCERTCK, OPT_SSLCERTFILE, OPT_SSLPROTO, OPT_CONFIGDUMP,
	OPT_PIDFILE, OPT_IDLE, OPT_AUTH, OPT_POSTMASTER, OPT_NOBOUNCE,
	OPT_SSLCERTPATH, OPT_NOREWRITE, OPT_NOSOFTBOUNCE
};

static const struct option longopts[] = {
	{ "verbose",	no_argument,		NULL, 'v' },
	{ "keep",	no_argument,		NULL, 'k' },
	{ "nokeep",	no_argument,		NULL, 'K' },
	{ "flush",	no_argument,		NULL, 'F' },
	{ "all",	no_argument,		NULL, 'a' },
	{ "fetchall",	no_argument,		NULL, 'a' },
	{ "daemon",	required_argument,	NULL, 'd' },
	{ "quit",	no_argument,		NULL, 'q' },
	{ "nodetach",	no_argument,		NULL, 'N' },
	{ "check",	no_argument,		NULL, 'c' },
	{ "fetchmailrc", required_argument,	NULL, 'f' },
	{ "syslog",	no_argument,		NULL, OPT_SYSLOG },
	{ "nosyslog",	no_argument,		NULL, OPT_NOSYSLOG },
	{ "logfile",	required_argument,	NULL, 'L' },
	{ "idfile",	required_argument,	NULL, 'i' },
	{ "protocol",	required_argument,	NULL, 'p' },
	{ "proto",	required_argument,	NULL, 'p' },
	{ "username",	required_argument,	NULL, 'u' },
	{ "user",	required_argument,	NULL, 'u' },
	{ "ssl",	no_argument,		NULL, OPT_SSL },
	{ "sslcertck",	no_argument,		NULL, OPT_SSLCERTCK },
	{ "nosslcertck", no_argument,		NULL, OPT_NOSSLCERTCK },
	{ "sslcertfile", required_argument,	NULL, OPT_SSLCERTFILE },
	{ "sslproto",	required_argument,	NULL, OPT_SSLPROTO },
	{ "smtphost",	required_argument,	NULL, 'S' },
	{ "configdump",	no_argument,		NULL, OPT_CONFIGDUMP },
	{ "pidfile",	required_argument,	NULL, OPT_PIDFILE },
	{ "service",	required_argument,	NULL, 'P' },
	{ "timeout",	required_argument,	NULL, 't' },
	{ "limit",	required_argument,	NULL, 'l' },
	{ "fetchlimit",	required_argument,	NULL, 'B' },
	{ "folder",	required_argument,	NULL, 'r' },
	{ "mda",	required_argument,	NULL, 'm' },
	{ "idle",	no_argument,		NULL, OPT_IDLE },
	{ "auth",	required_argument,	NULL, OPT_AUTH },
	{ "postmaster",	required_argument,	NULL, OPT_POSTMASTER },
	{ "nobounce",	no_argument,		NULL, OPT_NOBOUNCE },
	{ "envelope",	required_argument,	NULL, 'E' },
	{ "qvirtual",	required_argument,	NULL, 'Q' },
	{ "uidl",	no_argument,		NULL, 'U' },
	{ "sslcertpath", required_argument,	NULL, OPT_SSLCERTPATH },
	/* what fetchd always does: accepted so fetchmail scripts keep working */
	{ "norewrite",	no_argument,		NULL, 'n' },
	{ "nosoftbounce", no_argument,		NULL, OPT_NOSOFTBOUNCE },
	{ "version",	no_argument,		NULL, 'V' },
	{ "help",	no_argument,		NULL, 'h' },
	{ NULL,		0,			NULL, 0 }
};

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: fetchd [-vkKFaqNcV] [-d SECS] [-f RCFILE] [-L LOGFILE] [-p PROTO]\n"
"              [-u USER] [-S HOST[/PORT]] [-P PORT] [-t SECS] [-l BYTES]\n"
"              [-B N] [-r FOLDER] [-m MDA] [--syslog] [--idfile FILE]\n"
"              [--ssl] [--sslcertck] [--configdump] [--pidfile FILE]\n"
"              [-E HEADER] [-Q PREFIX] [-U]\n"
"              [server ...]\n");
}

static struct rc_user *
cmd_user(struct options *o)
{
	if (o->cmd.nusers == 0) {
		o->cmd.users = rc_xcalloc(1, sizeof(*o->cmd.users));
		o->cmd.nusers = 1;
	}
	return &o->cmd.users[0];
}

static int
number_arg(const char *opt, const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max) {
		fprintf(stderr, "fetchd: invalid argument '%s' for %s\n", s,
		    opt);
		return -1;
	}
	*out = v;
	return 0;
}

static int
proto_arg(struct options *o, const char *s)
{
	if (strcasecmp(s, "pop3") == 0)
		o->cmd.proto = RC_PROTO_POP3;
	else if (strcasecmp(s, "imap") == 0)
		o->cmd.proto = RC_PROTO_IMAP;
	else if (strcasecmp(s, "auto") == 0)
		o->cmd.proto = RC_PROTO_AUTO;
	else if (strcasecmp(s, "apop") == 0)
		o->cmd.proto = RC_PROTO_APOP;
	else {
		fprintf(stderr, "fetchd: invalid protocol '%s' specified "
		    "(POP3, IMAP, AUTO)\n", s);
		return -1;
	}
	return 0;
}

static int
auth_arg(struct options *o, const char *s)
{
	static const struct { const char *name; enum rc_auth a; } t[] = {
		{ "any", RC_AUTH_ANY }, { "password", RC_AUTH_PASSWORD },
		{ "apop", RC_AUTH_APOP }, { "xoauth2", RC_AUTH_XOAUTH2 },
		{ "oauthbearer", RC_AUTH_OAUTHBEARER },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(s, t[i].name) == 0) {
			o->cmd.auth = t[i].a;
			return 0;
		}
	fprintf(stderr, "fetchd: invalid authentication '%s' (any, password, "
	    "apop, xoauth2, oauthbearer)\n", s);
	return -1;
}

/* --smtphost and --folder take comma-separated lists, as in fetchmail. */
static int
smtphost_arg(struct options *o, const char *s)
{
	struct rc_user	*u = cmd_user(o);
	char		*copy, *tok, *save = NULL;
	int		 rv = 0;

	copy = rc_xstrdup(s);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		u->smtphosts = rc_xreallocarray(u->smtphosts,
		    u->nsmtphosts + 1, sizeof(*u->smtphosts));
		if (rc_smtphost_parse(tok, &u->smtphosts[u->nsmtphosts]) ==
		    -1) {
			fprintf(stderr, "fetchd: invalid --smtphost '%s' "
			    "(HOST or HOST/PORT)\n", tok);
			rv = -1;
			break;
		}
		u->nsmtphosts++;
	}
	free(copy);
	return rv;
}

static void
folder_arg(struct options *o, const char *s)
{
	struct rc_user	*u = cmd_user(o);
	char		*copy, *tok, *save = NULL;

	copy = rc_xstrdup(s);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save))
		rc_list_add(&u->folders, tok);
	free(copy);
}

/* Returns the index of the first server name, or -1 (exit PS_SYNTAX). */
static int
parse_args(struct options *o, int argc, char **argv)
{
	long	 n;
	int	 ch;

	while ((ch = getopt_long(argc, argv, "vkKFad:qNcf:L:i:p:u:S:P:t:l:"
	    "B:r:m:E:Q:UnVh?", longopts, NULL)) != -1) {
		switch (ch) {
		case 'v':
			o->verbose++;
			break;
		case 'k':
			cmd_user(o)->keep = RC_YES;
			break;
		case 'K':
			cmd_user(o)->keep = RC_NO;
			break;
		case 'F':
			cmd_user(o)->flush = RC_YES;
			break;
		case 'a':
			cmd_user(o)->fetchall = RC_YES;
			break;
		case 'd':
			if (number_arg("--daemon", optarg, 0, INT_MAX, &n) == -1)
				return -1;
			o->run.daemon = n;
			break;
		case 'q':
			o->quit = 1;
			break;
		case 'N':
			o->nodetach = 1;
			break;
		case 'c':
			o->check = 1;
			break;
		case 'f':
			o->rcfile = optarg;
			break;
		case OPT_SYSLOG:
			o->run.syslog = RC_YES;
			break;
		case OPT_NOSYSLOG:
			o->run.syslog = RC_NO;
			break;
		case 'L':
			rc_setstr(&o->run.logfile, optarg);
			break;
		case 'i':
			rc_setstr(&o->run.idfile, optarg);
			break;
		case OPT_PIDFILE:
			rc_setstr(&o->run.pidfile, optarg);
			break;
		case OPT_POSTMASTER:
			rc_setstr(&o->run.postmaster, optarg);
			break;
		case OPT_NOBOUNCE:
			o->run.bouncemail = RC_NO;
			break;
		case 'p':
			if (proto_arg(o, optarg) == -1)
				return -1;
			break;
		case OPT_AUTH:
			if (auth_arg(o, optarg) == -1)
				return -1;
			break;
		case 'u':
			rc_setstr(&cmd_user(o)->remotename, optarg);
			break;
		case OPT_SSL:
			cmd_user(o)->ssl = RC_YES;
			break;
		case OPT_SSLCERTCK:
			cmd_user(o)->sslcertck = RC_YES;
			break;
		case OPT_NOSSLCERTCK:
			cmd_user(o)->sslcertck = RC_NO;
			break;
		case OPT_SSLCERTFILE:
			rc_setstr(&cmd_user(o)->sslcertfile, optarg);
			break;
		case OPT_SSLPROTO:
			rc_setstr(&cmd_user(o)->sslproto, optarg);
			break;
		case 'S':
			if (smtphost_arg(o, optarg) == -1)
				return -1;
			break;
		case 'P':
			if (number_arg("--service", optarg, 1, 65535, &n) == -1)
				return -1;
			o->cmd.port = (int)n;
			rc_setstr(&o->cmd.service, optarg);
			break;
		case 't':
			if (number_arg("--timeout", optarg, 0, INT_MAX, &n) == -1)
				return -1;
			o->cmd.timeout = n;
			break;
		case 'l':
			if (number_arg("--limit", optarg, 0, INT_MAX, &n) == -1)
				return -1;
			cmd_user(o)->limit = n;
			break;
		case 'B':
			if (number_arg("--fetchlimit", optarg, 0, INT_MAX, &n) ==
			    -1)
				return -1;
			cmd_user(o)->fetchlimit = n;
			break;
		case 'r':
			folder_arg(o, optarg);
			break;
		case 'm':
			rc_setstr(&cmd_user(o)->mda, optarg);
			break;
		case OPT_IDLE:
			cmd_user(o)->idle = RC_YES;
			break;
		case 'E':
			if (*optarg == '\0' || strlen(optarg) > 128 ||
			    strpbrk(optarg, " \t:") != NULL) {
				fprintf(stderr, "fetchd: invalid --envelope "
				    "'%s' (a header name)\n", optarg);
				return -1;
			}
			o->cmd.envelope_on = RC_YES;
			rc_setstr(&o->cmd.envelope, optarg);
			break;
		case 'Q':
			rc_setstr(&o->cmd.qvirtual, optarg);
			break;
		case 'U':
			o->cmd.uidl = RC_YES;
			break;
		case OPT_SSLCERTPATH:
			rc_setstr(&cmd_user(o)->sslcertpath, optarg);
			break;
		case 'n':
		case OPT_NOSOFTBOUNCE:
			break;
		case OPT_CONFIGDUMP:
			o->configdump = 1;
			break;
		case 'V':
			o->version = 1;
			break;
		case 'h':
			usage(stdout);
			exit(PS_SUCCESS);
		default:
			usage(stderr);
			return -1;
		}
	}
	return optind;
}

/* The invoking user as fetchmail finds it: $FETCHMAILUSER, else the uid's. */
static int
invoking_user(char *user, size_t ulen, char *home, size_t hlen)
{
	struct passwd	*pw;
	const char	*s;

	pw = getpwuid(getuid());
	if ((s = getenv("FETCHMAILUSER")) == NULL || *s == '\0')
		s = pw != NULL ? pw->pw_name : NULL;
	if (s == NULL || strlen(s) >= ulen) {
		fprintf(stderr, "fetchd: cannot find your user name\n");
		return -1;
	}
	strcpy(user, s);
	if ((s = getenv("HOME")) == NULL || *s == '\0')
		s = pw != NULL ? pw->pw_dir : "/";
	if (strlen(s) >= hlen) {
		fprintf(stderr, "fetchd: home directory name too long\n");
		return -1;
	}
	strcpy(home, s);
	return 0;
}

static int
quit_daemon(const char *pidfile)
{
	pid_t	 pid;
	long	 interval;

	/* The lock holder is the daemon: a stale file names nobody, and its
	 * pid is never signalled. */
	if ((pid = run_lock_holder(pidfile, &interval)) == 0) {
		fprintf(stderr, "fetchd: no other fetchd is running\n");
		return PS_EXCLUDE;
	}
	if (kill(pid, SIGTERM) == -1) {
		fprintf(stderr, "fetchd: error killing fetchd at %ld: %s\n",
		    (long)pid, strerror(errno));
		return PS_EXCLUDE;
	}
	fprintf(stderr, "fetchd: fetchd at %ld killed.\n", (long)pid);
	return PS_SUCCESS;
}

/* What SIGHUP needs to read the rc file again as at start-up. */
struct reload_ctx {
	struct options	*o;
	char *const	*names;
	int		 nnames;
	struct rc_env	*env;
};

static int
reload_rc(struct rc_config *cfg, void *arg)
{
	struct reload_ctx	*rc = arg;
	struct rc_config	 fresh;
	char			 err[1024];
	int			 rv;

	rc_init(&fresh);
	if ((rv = rc_parse_file(&fresh, rc->o->rcfile, err, sizeof(err))) ==
	    PS_SUCCESS && (rv = rc_select(&fresh, rc->names, rc->nnames, err,
	    sizeof(err))) == PS_SUCCESS)
		rv = rc_finish(&fresh, &rc->o->cmd, &rc->o->run, rc->env, err,
		    sizeof(err));
	if (rv != PS_SUCCESS) {
		log_warnx("%s", err);
		rc_free(&fresh);
		return rv;
	}
	if (rc->o->check)
		fresh.run.daemon = 0;
	rc_free(cfg);
	*cfg = fresh;
	return PS_SUCCESS;
}

static size_t
active_polls(const struct rc_config *cfg)
{
	size_t	 i, n = 0;

	for (i = 0; i < cfg->npolls; i++)
		n += cfg->polls[i].active != 0;
	return n;
}

/* Everything parse_args() allocated, on every way out of main(). */
static void
options_free(struct options *o)
{
	rc_poll_free(&o->cmd);
	free(o->run.logfile);
	free(o->run.idfile);
	free(o->run.pidfile);
	free(o->run.postmaster);
	memset(&o->run, 0, sizeof(o->run));
}

int
main(int argc, char **argv)
{
	struct options	 o;
	struct rc_config cfg;
	struct rc_env	 env;
	char		 user[256], home[PATH_MAX], rcpath[PATH_MAX];
	char		 err[1024];
	const char	*s;
	int		 first, rv;

	memset(&o, 0, sizeof(o));
	o.run.daemon = -1;
	log_init("fetchd", LOG_TO_STDERR, 0);
	if ((first = parse_args(&o, argc, argv)) == -1) {
		options_free(&o);
		return PS_SYNTAX;
	}
	if (o.version)
		printf("This is fetchd release %s (a fetchmail work-alike).\n",
		    FETCHD_VERSION);
	log_set_verbose(o.verbose);
	if (invoking_user(user, sizeof(user), home, sizeof(home)) == -1) {
		options_free(&o);
		return PS_UNDEFINED;
	}

	if (o.rcfile == NULL) {
		if ((s = getenv("FETCHMAILHOME")) != NULL && *s != '\0')
			rv = snprintf(rcpath, sizeof(rcpath), "%s/fetchmailrc",
			    s);
		else
			rv = snprintf(rcpath, sizeof(rcpath), "%s/.fetchmailrc",
			    home);
		if (rv < 0 || (size_t)rv >= sizeof(rcpath)) {
			fprintf(stderr, "fetchd: rc file name too long\n");
			options_free(&o);
			return PS_SYNTAX;
		}
		o.rcfile = rcpath;
	}

	rc_init(&cfg);
	if ((rv = rc_parse_file(&cfg, o.rcfile, err, sizeof(err))) !=
	    PS_SUCCESS) {
		fprintf(stderr, "fetchd: %s\n", err);
		rc_free(&cfg);
		options_free(&o);
		return rv;
	}
	if ((rv = rc_select(&cfg, argv + first, argc - first, err,
	    sizeof(err))) != PS_SUCCESS) {
		fprintf(stderr, "fetchd: %s\n", err);
		rc_free(&cfg);
		options_free(&o);
		return rv;
	}
	env.user = user;
	env.home = home;
	env.is_root = getuid() == 0;
	if ((rv = rc_finish(&cfg, &o.cmd, &o.run, &env, err,
	    sizeof(err))) != PS_SUCCESS) {
		fprintf(stderr, "fetchd: %s\n", err);
		rc_free(&cfg);
		options_free(&o);
		return rv;
	}
	/* check and daemon options are not compatible (fetchmail) */
	if (o.check)
		cfg.run.daemon = 0;

	if (o.configdump) {
		rc_dump(stdout, &cfg);
		rv = fflush(stdout) == 0 ? PS_SUCCESS : PS_IOERR;
	} else if (o.quit && argc - first == 0)
		rv = quit_daemon(cfg.run.pidfile);
	else if (o.version)
		rv = PS_SUCCESS;
	else if (active_polls(&cfg) == 0) {
		fprintf(stderr, "fetchd: no mailservers have been "
		    "specified.\n");
		rv = PS_SYNTAX;
	} else {
		struct reload_ctx	 rctx = { &o, argv + first, argc - first,
					    &env };
		struct run_opts		 ro = { o.check, o.nodetach,
					    o.run.daemon > 0, reload_rc, &rctx };

		rv = fetchd_run(&cfg, &ro);
	}
	rc_free(&cfg);
	options_free(&o);
	return rv;
}
