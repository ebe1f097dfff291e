/*
 * What happens to a parsed rc file before polling: the server selection of
 * the command line, the merge of "defaults", of the command-line options and
 * of the built-in defaults (fetchmail's load_params() and optmerge()).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "oauth2.h"
#include "rcfile.h"
#include "rcfile_lex.h"

#define RC_DEFAULT_TIMEOUT	300	/* fetchmail's CLIENT_TIMEOUT */
#define RC_SMTP_PORT		25

void *
rc_xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n ? n : 1, size ? size : 1)) == NULL)
		fatal("calloc");
	return p;
}

void *
rc_xreallocarray(void *p, size_t n, size_t size)
{
	void	*q;

	if ((q = reallocarray(p, n ? n : 1, size ? size : 1)) == NULL)
		fatal("reallocarray");
	return q;
}

char *
rc_xstrdup(const char *s)
{
	char	*d;

	if ((d = strdup(s)) == NULL)
		fatal("strdup");
	return d;
}

static void
wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void
rc_setstr(char **dst, const char *s)
{
	char	*old = *dst;

	*dst = s != NULL ? rc_xstrdup(s) : NULL;
	wipe_free(old);
}

void
rc_list_add(struct rc_list *l, const char *s)
{
	l->v = rc_xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n++] = rc_xstrdup(s);
}

void
rc_list_free(struct rc_list *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
rc_list_copy(struct rc_list *dst, const struct rc_list *src)
{
	size_t	 i;

	for (i = 0; i < src->n; i++)
		rc_list_add(dst, src->v[i]);
}

void
rc_user_free(struct rc_user *u)
{
	size_t	 i;

	free(u->remotename);
	wipe_free(u->password);
	for (i = 0; i < u->nnames; i++) {
		free(u->names[i].remote);
		free(u->names[i].local);
	}
	free(u->names);
	rc_list_free(&u->folders);
	for (i = 0; i < u->nsmtphosts; i++)
		free(u->smtphosts[i].host);
	free(u->smtphosts);
	free(u->smtpname);
	free(u->mda);
	free(u->oauth2file);
	if (u->oauth2 != NULL) {
		oauth2_free(u->oauth2);		/* wipes the tokens */
		free(u->oauth2);
	}
	free(u->properties);
	free(u->sslcertfile);
	free(u->sslcertpath);
	free(u->sslproto);
	memset(u, 0, sizeof(*u));
}

void
rc_poll_free(struct rc_poll *p)
{
	size_t	 i;

	free(p->name);
	free(p->via);
	rc_list_free(&p->akas);
	rc_list_free(&p->localdomains);
	free(p->service);
	free(p->envelope);
	free(p->qvirtual);
	for (i = 0; i < p->nusers; i++)
		rc_user_free(&p->users[i]);
	free(p->users);
	memset(p, 0, sizeof(*p));
}

void
rc_init(struct rc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->run.daemon = -1;
}

void
rc_free(struct rc_config *cfg)
{
	size_t	 i;

	free(cfg->path);
	free(cfg->run.postmaster);
	free(cfg->run.logfile);
	free(cfg->run.idfile);
	free(cfg->run.pidfile);
	free(cfg->run.properties);
	if (cfg->defaults != NULL) {
		rc_poll_free(cfg->defaults);
		free(cfg->defaults);
	}
	for (i = 0; i < cfg->npolls; i++)
		rc_poll_free(&cfg->polls[i]);
	free(cfg->polls);
	rc_init(cfg);
}

int
rc_smtphost_parse(const char *s, struct rc_smtphost *h)
{
	const char	*slash;
	char		*end;
	long		 port = RC_SMTP_PORT;
	size_t		 len;

	if ((slash = strrchr(s, '/')) != NULL) {
		errno = 0;
		port = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || errno != 0 ||
		    port < 1 || port > 65535)
			return -1;
		len = (size_t)(slash - s);
	} else
		len = strlen(s);
	if (len == 0 || len > 255 || s[0] == '/')
		return -1;
	h->host = rc_xcalloc(1, len + 1);
	memcpy(h->host, s, len);
	h->port = (int)port;
	return 0;
}

int
rc_user_multidrop(const struct rc_user *u)
{
	return u->wildcard || u->nnames > 1;
}

const char *
rc_poll_host(const struct rc_poll *p)
{
	return p->via != NULL ? p->via : p->name;
}

const char *
rc_proto_name(enum rc_proto p)
{
	switch (p) {
	case RC_PROTO_AUTO:	return "AUTO";
	case RC_PROTO_POP3:	return "POP3";
	case RC_PROTO_IMAP:	return "IMAP";
	case RC_PROTO_APOP:	return "APOP";
	default:		return "unset";
	}
}

const char *
rc_auth_name(enum rc_auth a)
{
	switch (a) {
	case RC_AUTH_ANY:		return "any";
	case RC_AUTH_PASSWORD:		return "password";
	case RC_AUTH_APOP:		return "apop";
	case RC_AUTH_XOAUTH2:		return "xoauth2";
	case RC_AUTH_OAUTHBEARER:	return "oauthbearer";
	default:			return "unset";
	}
}

/* ---- selection ---------------------------------------------------------- */

static int
poll_named(const struct rc_poll *p, const char *name)
{
	size_t	 i;

	if (strcmp(p->name, name) == 0)
		return 1;
	for (i = 0; i < p->akas.n; i++)
		if (strcasecmp(p->akas.v[i], name) == 0)
			return 1;
	return 0;
}

int
rc_select(struct rc_config *cfg, char *const *names, int nnames, char *err,
    size_t errlen)
{
	struct rc_poll	*p;
	size_t		 i;
	int		 n, found;

	for (i = 0; i < cfg->npolls; i++)
		cfg->polls[i].active = nnames == 0 && !cfg->polls[i].skip;
	for (n = 0; n < nnames; n++) {
		for (found = 0, i = 0; i < cfg->npolls; i++)
			if (poll_named(&cfg->polls[i], names[n]))
				cfg->polls[i].active = found = 1;
		if (found)
			continue;
		if (cfg->npolls >= RC_MAX_POLLS) {
			snprintf(err, errlen, "more than %d servers",
			    RC_MAX_POLLS);
			return PS_SYNTAX;
		}
		/* a server the rc file does not know: polled with defaults */
		cfg->polls = rc_xreallocarray(cfg->polls, cfg->npolls + 1,
		    sizeof(*cfg->polls));
		p = &cfg->polls[cfg->npolls++];
		memset(p, 0, sizeof(*p));
		p->name = rc_xstrdup(names[n]);
		p->active = 1;
	}
	return PS_SUCCESS;
}

/* ---- merging ------------------------------------------------------------ */

/*
 * fetchmail's optmerge(): without force, dst takes src's value where it has
 * none; with force (the command line), src wins wherever it has a value.
 * Lists are appended to, under the same rule.
 */
#define TAKE(fld)	(force ? !!(src->fld) : !(dst->fld))

static void
merge_str(char **dst, char *const *src, int force)
{
	if (force ? *src != NULL : (*dst == NULL && *src != NULL))
		rc_setstr(dst, *src);
}

/*
 * fetchmail appends a command-line list (--smtphost, --folder) after the rc
 * file's, so its hosts are tried last; fetchd lets it replace the list, as
 * every other command-line option replaces the rc value.
 */
static void
merge_list(struct rc_list *dst, const struct rc_list *src, int force)
{
	if (src->n > 0 && (force || dst->n == 0)) {
		rc_list_free(dst);
		rc_list_copy(dst, src);
	}
}

static void
merge_user(struct rc_user *dst, const struct rc_user *src, int force)
{
	size_t	 i;

	if (src->nnames > 0 && (force || dst->nnames == 0)) {
		dst->names = rc_xreallocarray(dst->names,
		    dst->nnames + src->nnames, sizeof(*dst->names));
		for (i = 0; i < src->nnames; i++) {
			dst->names[dst->nnames].remote =
			    rc_xstrdup(src->names[i].remote);
			dst->names[dst->nnames++].local =
			    src->names[i].local != NULL ?
			    rc_xstrdup(src->names[i].local) : NULL;
		}
	}
	if (src->nsmtphosts > 0 && (force || dst->nsmtphosts == 0)) {
		for (i = 0; i < dst->nsmtphosts; i++)
			free(dst->smtphosts[i].host);
		dst->nsmtphosts = 0;
		dst->smtphosts = rc_xreallocarray(dst->smtphosts,
		    dst->nsmtphosts + src->nsmtphosts, sizeof(*dst->smtphosts));
		for (i = 0; i < src->nsmtphosts; i++) {
			dst->smtphosts[dst->nsmtphosts].host =
			    rc_xstrdup(src->smtphosts[i].host);
			dst->smtphosts[dst->nsmtphosts++].port =
			    src->smtphosts[i].port;
		}
	}
	merge_list(&dst->folders, &src->folders, force);
	if (TAKE(wildcard))
		dst->wildcard = src->wildcard;
	merge_str(&dst->remotename, &src->remotename, force);
	merge_str(&dst->password, &src->password, force);
	merge_str(&dst->smtpname, &src->smtpname, force);
	merge_str(&dst->mda, &src->mda, force);
	merge_str(&dst->oauth2file, &src->oauth2file, force);
	merge_str(&dst->properties, &src->properties, force);
	merge_str(&dst->sslcertfile, &src->sslcertfile, force);
	merge_str(&dst->sslcertpath, &src->sslcertpath, force);
	merge_str(&dst->sslproto, &src->sslproto, force);
	if (TAKE(limit))
		dst->limit = src->limit;
	if (TAKE(fetchlimit))
		dst->fetchlimit = src->fetchlimit;
#define FLAG(f)	if (TAKE(f)) dst->f = src->f
	FLAG(keep);
	FLAG(flush);
	FLAG(fetchall);
	FLAG(ssl);
	FLAG(sslcertck);
	FLAG(idle);
	FLAG(dropdelivered);
	FLAG(stripcr);
#undef FLAG
}

static void
merge_poll(struct rc_poll *dst, const struct rc_poll *src, int force)
{
	size_t	 i;

	/* the aka list is the server's own: fetchmail never merges it */
	merge_list(&dst->localdomains, &src->localdomains, force);
	merge_str(&dst->via, &src->via, force);
	if (TAKE(proto))
		dst->proto = src->proto;
	if (TAKE(port)) {
		dst->port = src->port;
		rc_setstr(&dst->service, src->service);
	}
	if (TAKE(auth))
		dst->auth = src->auth;
	if (TAKE(interval))
		dst->interval = src->interval;
	if (TAKE(timeout))
		dst->timeout = src->timeout;
	if (TAKE(envelope_on)) {
		dst->envelope_on = src->envelope_on;
		rc_setstr(&dst->envelope, src->envelope);
		dst->envskip = src->envskip;
	}
	merge_str(&dst->qvirtual, &src->qvirtual, force);
	if (TAKE(uidl))
		dst->uidl = src->uidl;
	if (src->nusers > 0)
		for (i = 0; i < dst->nusers; i++)
			merge_user(&dst->users[i], &src->users[0], force);
}

#undef TAKE

static void
finish_user(struct rc_user *u, const struct rc_env *env)
{
	if (u->remotename == NULL)
		rc_setstr(&u->remotename, env->user);
	if (u->nnames == 0 && !u->wildcard) {
		/* the user running fetchd gets the mail (fetchmail's rule) */
		u->names = rc_xcalloc(1, sizeof(*u->names));
		u->names[0].remote = rc_xstrdup(env->user);
		u->nnames = 1;
		u->names_default = 1;
	}
	if (u->nsmtphosts == 0) {
		u->smtphosts = rc_xcalloc(1, sizeof(*u->smtphosts));
		u->smtphosts[0].host = rc_xstrdup("localhost");
		u->smtphosts[0].port = RC_SMTP_PORT;
		u->nsmtphosts = 1;
	}
#define DEFAULT(f, v)	if (u->f == RC_UNSET) u->f = (v)
	DEFAULT(keep, RC_NO);
	DEFAULT(flush, RC_NO);
	DEFAULT(fetchall, RC_NO);
	DEFAULT(ssl, RC_NO);
	DEFAULT(sslcertck, RC_YES);	/* fetchmail 6.4 */
	DEFAULT(idle, RC_NO);
	DEFAULT(dropdelivered, RC_NO);
	DEFAULT(stripcr, u->mda != NULL ? RC_YES : RC_NO);
#undef DEFAULT
}

static void
finish_poll(struct rc_poll *p, const struct rc_env *env)
{
	size_t	 i;

	if (p->proto == RC_PROTO_UNSET)
		p->proto = RC_PROTO_AUTO;
	if (p->proto == RC_PROTO_APOP) {
		p->proto = RC_PROTO_POP3;
		p->auth = RC_AUTH_APOP;
	}
	if (p->auth == RC_AUTH_UNSET)
		p->auth = RC_AUTH_ANY;
	if (p->timeout == 0)
		p->timeout = RC_DEFAULT_TIMEOUT;
	if (p->envelope_on == RC_UNSET) {
		p->envelope_on = RC_YES;
		rc_setstr(&p->envelope, "Received");
	}
	if (p->uidl == RC_UNSET)
		p->uidl = RC_NO;
	for (i = 0; i < p->nusers; i++)
		finish_user(&p->users[i], env);
}

static void
finish_run(struct rc_run *run, const struct rc_run *cmd,
    const struct rc_env *env)
{
	char	 path[PATH_MAX];

	if (cmd != NULL) {
		if (cmd->daemon >= 0)
			run->daemon = cmd->daemon;
		merge_str(&run->logfile, &cmd->logfile, 1);
		merge_str(&run->idfile, &cmd->idfile, 1);
		merge_str(&run->pidfile, &cmd->pidfile, 1);
		merge_str(&run->postmaster, &cmd->postmaster, 1);
		if (cmd->syslog != RC_UNSET)
			run->syslog = cmd->syslog;
		if (cmd->bouncemail != RC_UNSET)
			run->bouncemail = cmd->bouncemail;
	}
	if (run->daemon < 0)
		run->daemon = 0;
	if (run->postmaster == NULL)
		rc_setstr(&run->postmaster, env->is_root ? "postmaster" :
		    env->user);
	if (run->bouncemail == RC_UNSET)
		run->bouncemail = RC_YES;
	if (run->syslog == RC_UNSET)
		run->syslog = RC_NO;
	if (run->idfile == NULL && env->home != NULL &&
	    (size_t)snprintf(path, sizeof(path), "%s/.fetchids", env->home) <
	    sizeof(path))
		rc_setstr(&run->idfile, path);
	if (run->pidfile == NULL) {
		if (env->is_root || env->home == NULL)
			rc_setstr(&run->pidfile, "/run/fetchd.pid");
		else if ((size_t)snprintf(path, sizeof(path), "%s/.fetchd.pid",
		    env->home) < sizeof(path))
			rc_setstr(&run->pidfile, path);
	}
}

static int
oauth_auth(enum rc_auth a)
{
	return a == RC_AUTH_XOAUTH2 || a == RC_AUTH_OAUTHBEARER;
}

/*
 * OAuth2 needs its account file and TLS; an oauth2file with another auth
 * would be silently unused.  Checked on the merged entry, since "defaults"
 * or the command line may give auth and the user block the file.
 */
static int
check_oauth(const struct rc_config *cfg, struct rc_poll *p, char *err,
    size_t errlen)
{
	struct rc_user	*u;
	const char	*what;
	char		 where[64];
	size_t		 i;
	int		 line, oauth = oauth_auth(p->auth);

	for (i = 0; i < p->nusers; i++) {
		u = &p->users[i];
		what = NULL;
		if (oauth && u->oauth2file == NULL)
			what = "needs an oauth2file \"/path/file\" in the "
			    "user options";
		else if (oauth && u->sslproto != NULL && u->sslproto[0] == '\0')
			what = "needs TLS (sslproto '' turns it off)";
		else if (!oauth && u->oauth2file != NULL)
			what = "does not use an oauth2file (auth xoauth2 or "
			    "oauthbearer does)";
		if (what != NULL) {
			line = u->line != 0 ? u->line : p->line;
			if (line != 0)
				snprintf(where, sizeof(where), ":%d", line);
			else
				snprintf(where, sizeof(where), " (poll %.40s)",
				    p->name);
			snprintf(err, errlen, "%s%s: auth %s %s",
			    cfg->path != NULL ? cfg->path : "fetchd", where,
			    rc_auth_name(p->auth), what);
			return -1;
		}
		if (oauth && u->oauth2 == NULL)
			u->oauth2 = rc_xcalloc(1, sizeof(*u->oauth2));
	}
	return 0;
}

int
rc_finish(struct rc_config *cfg, const struct rc_poll *cmd,
    const struct rc_run *cmdrun, const struct rc_env *env, char *err,
    size_t errlen)
{
	struct rc_poll	*p;
	size_t		 i;

	for (i = 0; i < cfg->npolls; i++) {
		p = &cfg->polls[i];
		/* a poll without user options is one user: the invoker */
		if (p->nusers == 0) {
			p->users = rc_xcalloc(1, sizeof(*p->users));
			p->users[0].line = p->line;
			p->nusers = 1;
		}
		if (cfg->defaults != NULL)
			merge_poll(p, cfg->defaults, 0);
		if (cmd != NULL)
			merge_poll(p, cmd, 1);
		finish_poll(p, env);
		if (check_oauth(cfg, p, err, errlen) == -1)
			return PS_SYNTAX;
	}
	if (cfg->defaults != NULL) {
		rc_poll_free(cfg->defaults);
		free(cfg->defaults);
		cfg->defaults = NULL;
	}
	finish_run(&cfg->run, cmdrun, env);
	return PS_SUCCESS;
}
