/*
 * fetchmail's run-control file (~/.fetchmailrc), read as fetchmail 6.4 reads
 * it: a free-format token stream of "set" statements and "defaults" / "poll"
 * / "skip" entries, each entry being server options followed by user blocks.
 *
 * Lexing follows fetchmail's rcfile_l.l: keywords are case-sensitive whole
 * tokens; ',' ';' ':' and the noise words "and with has wants options" are
 * skipped; '#' at the start of a token comments to the end of the line;
 * strings are bare words, "double" or 'single' quoted (quotes may span
 * lines; a backslash-newline inside one is dropped), and every string goes
 * through fetchmail's escapes (\n \t \b \r \\, \NNN decimal, \0NN octal,
 * \xHH hex, \c = c).  The word after user/is/to/pass/'=' is always a name,
 * never a keyword.
 *
 * Everything fetchmail accepts but fetchd does not implement is refused with
 * "file:line: 'KEYWORD' is not implemented by fetchd", never ignored.  A
 * "no X" whose meaning is what fetchd always does ("no rewrite", "no dns",
 * "set no invisible" ...) is accepted.
 *
 * Life cycle: rc_parse_file() (or rc_parse_buf()), rc_select() for the
 * command line's server names, rc_finish() to merge "defaults", the built-in
 * defaults and the command-line overrides, exactly as fetchmail's
 * load_params() does.  After rc_finish() every RC_UNSET flag has become
 * RC_YES or RC_NO and every user has remotename, localnames and smtphosts.
 * rc_finish() also refuses what only the merged entry shows: auth xoauth2
 * or oauthbearer without an oauth2file, or with TLS turned off.
 */
#ifndef FETCHD_RCFILE_H
#define FETCHD_RCFILE_H

#include <stdio.h>
#include <sys/stat.h>

#include "status.h"

struct oauth2_account;

#define RC_MAX_FILE	(1024 * 1024)	/* bytes in one rc file */
#define RC_MAX_TOKEN	4096		/* bytes in one word or string */
#define RC_MAX_LIST	1024		/* names after one aka/to/folder... */
#define RC_MAX_POLLS	1024		/* poll/skip entries */
#define RC_MAX_USERS	1024		/* user blocks in one entry */

/* fetchmail's three-state flags: unset until rc_finish() decides. */
enum rc_flag {
	RC_UNSET = 0,
	RC_NO,
	RC_YES
};

enum rc_proto {
	RC_PROTO_UNSET = 0,
	RC_PROTO_AUTO,		/* IMAP, then POP3 */
	RC_PROTO_POP3,
	RC_PROTO_IMAP,
	RC_PROTO_APOP		/* parse only: rc_finish() makes it POP3 + APOP */
};

enum rc_auth {
	RC_AUTH_UNSET = 0,
	RC_AUTH_ANY,
	RC_AUTH_PASSWORD,
	RC_AUTH_APOP,
	RC_AUTH_XOAUTH2,	/* token from the user's oauth2file */
	RC_AUTH_OAUTHBEARER
};

struct rc_list {
	char		**v;
	size_t		  n;
};

/* One is/to entry: "remote" alone, or "remote=local". */
struct rc_name {
	char		*remote;
	char		*local;		/* NULL: same as remote */
};

/* One smtphost entry, "HOST[/PORT]". */
struct rc_smtphost {
	char		*host;
	int		 port;		/* 25 unless given */
};

struct rc_user {
	int		 line;		/* where the block starts (0: synthesized) */
	char		*remotename;	/* login name */
	char		*password;	/* never printed: rc_dump shows **** */
	struct rc_name	*names;		/* local names (is/to) */
	size_t		 nnames;
	int		 wildcard;	/* '*' in the is/to list */
	int		 names_default;	/* names[] is the invoking user */
	struct rc_list	 folders;	/* IMAP folders; empty: INBOX */
	struct rc_smtphost *smtphosts;	/* tried in order */
	size_t		 nsmtphosts;
	char		*smtpname;	/* RCPT TO address, "user@domain" */
	char		*mda;		/* deliver through this command */
	char		*oauth2file;	/* auth xoauth2|oauthbearer account file */
	/*
	 * With auth xoauth2|oauthbearer, rc_finish() allocates this empty;
	 * the fetchers load the account into it when first needed and its
	 * access token stays cached there from poll to poll.
	 */
	struct oauth2_account *oauth2;
	char		*properties;	/* free text, kept for --configdump */
	char		*sslcertfile;	/* CA file (absolute) */
	char		*sslcertpath;	/* CA directory (absolute) */
	char		*sslproto;	/* NULL: default; "": no TLS at all */
	long		 limit;		/* max message size; 0: none */
	long		 fetchlimit;	/* max messages per poll; 0: none */
	enum rc_flag	 keep, flush, fetchall, ssl, sslcertck, idle,
			 dropdelivered, stripcr;
};

struct rc_poll {
	int		 line;		/* 0 when synthesized from argv */
	char		*name;		/* the poll label */
	char		*via;		/* real host name, if not the label */
	int		 skip;		/* "skip": polled only when named */
	int		 active;	/* chosen for this run (rc_select) */
	struct rc_list	 akas;		/* other names of the server */
	struct rc_list	 localdomains;
	enum rc_proto	 proto;
	char		*service;	/* as written ("pop3s", "995") */
	int		 port;		/* resolved; 0: protocol's default */
	enum rc_auth	 auth;
	long		 interval;	/* poll every Nth cycle; 0/1: each */
	long		 timeout;	/* seconds */
	enum rc_flag	 envelope_on;	/* RC_NO after "no envelope" */
	char		*envelope;	/* header name; "Received" by default */
	long		 envskip;	/* headers of that name to skip */
	char		*qvirtual;	/* prefix removed from local parts */
	enum rc_flag	 uidl;
	struct rc_user	*users;
	size_t		 nusers;
};

struct rc_run {
	long		 daemon;	/* seconds; -1: unset, 0: no daemon */
	char		*postmaster;
	char		*logfile;
	char		*idfile;
	char		*pidfile;
	char		*properties;
	enum rc_flag	 bouncemail, syslog;
};

struct rc_config {
	char		*path;		/* the rc file as named */
	struct rc_run	 run;
	struct rc_poll	*defaults;	/* NULL when the file has none */
	struct rc_poll	*polls;
	size_t		 npolls;
};

/* What rc_finish() needs to know about the invoking user. */
struct rc_env {
	const char	*user;		/* login name: local name, remote name */
	const char	*home;		/* for ~/.fetchids and ~/.fetchd.pid */
	int		 is_root;	/* postmaster "postmaster", /run pid file */
};

void	rc_init(struct rc_config *cfg);
/* Free everything; passwords are wiped first. */
void	rc_free(struct rc_config *cfg);
void	rc_poll_free(struct rc_poll *p);

/*
 * Check an rc file's ownership and mode as fetchmail does: a regular file
 * owned by the effective user, no permission for others and no read or
 * write for the group.  PS_SUCCESS, or PS_IOERR with fetchmail's message
 * ("File F must have no more than -rwx------ (0700) permissions.") in err.
 */
int	rc_check_mode(const char *path, const struct stat *st, char *err,
	    size_t errlen);

/*
 * Parse path ("-" reads stdin).  A file that does not exist is an empty
 * configuration, as in fetchmail.  Returns PS_SUCCESS, PS_SYNTAX (err holds
 * "file:line: what was expected") or PS_IOERR (permissions, read errors).
 */
int	rc_parse_file(struct rc_config *cfg, const char *path, char *err,
	    size_t errlen);
/* Parse an in-memory file; name is used in messages and for relative paths. */
int	rc_parse_buf(struct rc_config *cfg, const char *name, const char *buf,
	    size_t len, char *err, size_t errlen);

/*
 * Mark the polls of this run: with no names, every "poll" (not "skip");
 * otherwise those whose label or aka is named, and a new entry for each name
 * the file does not know (fetchmail polls it with defaults and options).
 * Returns PS_SUCCESS or PS_SYNTAX (err: too many entries).
 */
int	rc_select(struct rc_config *cfg, char *const *names, int nnames,
	    char *err, size_t errlen);

/*
 * Merge the "defaults" entry into every poll (fields the poll leaves unset,
 * lists it leaves empty), then the command line's options over everything
 * (cmd: server options plus at most one user; cmdrun: set-level options),
 * then the built-in defaults.  cmd and cmdrun may be NULL.  Returns
 * PS_SUCCESS or PS_SYNTAX with err set (e.g. a bad --smtphost).
 */
int	rc_finish(struct rc_config *cfg, const struct rc_poll *cmd,
	    const struct rc_run *cmdrun, const struct rc_env *env, char *err,
	    size_t errlen);

/* Parse "HOST[/PORT]" into h (host allocated).  0 or -1. */
int	rc_smtphost_parse(const char *s, struct rc_smtphost *h);

/*
 * Print the configuration in rc-file syntax, one option a line, passwords
 * as "****".  Stable: the same configuration always prints the same text.
 */
void	rc_dump(FILE *fp, const struct rc_config *cfg);

/* Multi-drop as fetchmail decides it: a '*' or more than one local name. */
int	rc_user_multidrop(const struct rc_user *u);
/* Host to connect to: via, else the poll label. */
const char *rc_poll_host(const struct rc_poll *p);

const char *rc_proto_name(enum rc_proto p);
const char *rc_auth_name(enum rc_auth a);

#endif
