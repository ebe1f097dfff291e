/*
 * --configdump: the configuration printed back in rc-file syntax, one option
 * a line, passwords as "****", so that the output is itself an rc file.
 */
#include <stdio.h>

#include "rcfile.h"

/* A string in rc syntax: quoted, with fetchmail escapes for the rest. */
static void
put_str(FILE *fp, const char *s)
{
	const unsigned char	*c;

	fputc('"', fp);
	for (c = (const unsigned char *)s; *c != '\0'; c++) {
		if (*c == '\\')
			fputs("\\\\", fp);
		else if (*c == '"' || *c == '\'' || *c < 0x20 || *c >= 0x7f)
			fprintf(fp, "\\x%02x", *c);
		else
			fputc(*c, fp);
	}
	fputc('"', fp);
}

static void
put_kv(FILE *fp, const char *indent, const char *key, const char *val)
{
	if (val == NULL)
		return;
	fprintf(fp, "%s%s ", indent, key);
	put_str(fp, val);
	fputc('\n', fp);
}

static void
put_list(FILE *fp, const char *indent, const char *key,
    const struct rc_list *l)
{
	size_t	 i;

	if (l->n == 0)
		return;
	fprintf(fp, "%s%s", indent, key);
	for (i = 0; i < l->n; i++) {
		fputc(' ', fp);
		put_str(fp, l->v[i]);
	}
	fputc('\n', fp);
}

static void
put_flag(FILE *fp, const char *indent, const char *key, enum rc_flag f)
{
	if (f != RC_UNSET)
		fprintf(fp, "%s%s%s\n", indent, f == RC_NO ? "no " : "", key);
}

static void
dump_user(FILE *fp, const struct rc_user *u)
{
	const char	*in = "\t\t";
	size_t		 i;

	char		 hp[300];

	if (u->remotename != NULL) {
		fputs("\tuser ", fp);
		put_str(fp, u->remotename);
		fputs(" there\n", fp);
	}
	if (u->password != NULL)
		fprintf(fp, "%spassword \"****\"\n", in);
	if (u->nnames > 0 || u->wildcard) {
		fprintf(fp, "%s%s", in, rc_user_multidrop(u) ? "to" : "is");
		for (i = 0; i < u->nnames; i++) {
			fputc(' ', fp);
			put_str(fp, u->names[i].remote);
			if (u->names[i].local != NULL) {
				fputc('=', fp);
				put_str(fp, u->names[i].local);
			}
		}
		if (u->wildcard)
			fputs(" \"*\"", fp);
		fprintf(fp, " here%s\n", u->names_default ?
		    "\t# the invoking user" : "");
	}
	for (i = 0; i < u->nsmtphosts; i++) {
		snprintf(hp, sizeof(hp), "%s/%d", u->smtphosts[i].host,
		    u->smtphosts[i].port);
		put_kv(fp, in, "smtphost", hp);
	}
	put_kv(fp, in, "smtpname", u->smtpname);
	put_kv(fp, in, "mda", u->mda);
	put_list(fp, in, "folder", &u->folders);
	put_kv(fp, in, "oauth2file", u->oauth2file);
	put_kv(fp, in, "sslcertfile", u->sslcertfile);
	put_kv(fp, in, "sslcertpath", u->sslcertpath);
	put_kv(fp, in, "sslproto", u->sslproto);
	if (u->limit > 0)
		fprintf(fp, "%slimit %ld\n", in, u->limit);
	if (u->fetchlimit > 0)
		fprintf(fp, "%sfetchlimit %ld\n", in, u->fetchlimit);
	put_kv(fp, in, "properties", u->properties);
	put_flag(fp, in, "keep", u->keep);
	put_flag(fp, in, "flush", u->flush);
	put_flag(fp, in, "fetchall", u->fetchall);
	put_flag(fp, in, "ssl", u->ssl);
	put_flag(fp, in, "sslcertck", u->sslcertck);
	put_flag(fp, in, "idle", u->idle);
	put_flag(fp, in, "dropdelivered", u->dropdelivered);
	put_flag(fp, in, "stripcr", u->stripcr);
}

static void
dump_poll(FILE *fp, const struct rc_poll *p, int is_defaults)
{
	const char	*in = "\t";
	size_t		 i;

	if (is_defaults)
		fputs("defaults", fp);
	else {
		fputs(p->skip ? "skip " : "poll ", fp);
		put_str(fp, p->name);
	}
	fputc('\n', fp);
	put_kv(fp, in, "via", p->via);
	if (p->proto != RC_PROTO_UNSET)
		fprintf(fp, "%sproto %s\n", in, rc_proto_name(p->proto));
	if (p->port != 0)
		fprintf(fp, "%sport %d\n", in, p->port);
	if (p->auth != RC_AUTH_UNSET)
		fprintf(fp, "%sauth %s\n", in, rc_auth_name(p->auth));
	if (p->timeout > 0)
		fprintf(fp, "%stimeout %ld\n", in, p->timeout);
	if (p->interval > 0)
		fprintf(fp, "%sinterval %ld\n", in, p->interval);
	put_list(fp, in, "aka", &p->akas);
	put_list(fp, in, "localdomains", &p->localdomains);
	if (p->envelope_on == RC_NO)
		fprintf(fp, "%sno envelope\n", in);
	else if (p->envelope_on == RC_YES) {
		fprintf(fp, "%senvelope ", in);
		if (p->envskip > 0)
			fprintf(fp, "%ld ", p->envskip);
		put_str(fp, p->envelope);
		fputc('\n', fp);
	}
	put_kv(fp, in, "qvirtual", p->qvirtual);
	if (p->uidl == RC_YES)
		fprintf(fp, "%suidl\n", in);
	for (i = 0; i < p->nusers; i++)
		dump_user(fp, &p->users[i]);
}

void
rc_dump(FILE *fp, const struct rc_config *cfg)
{
	const struct rc_run	*run = &cfg->run;
	size_t			 i;

	fprintf(fp, "# fetchd configuration from %s\n",
	    cfg->path != NULL ? cfg->path : "(none)");
	if (run->daemon >= 0)
		fprintf(fp, "set daemon %ld\n", run->daemon);
	put_kv(fp, "", "set postmaster", run->postmaster);
	put_flag(fp, "set ", "bouncemail", run->bouncemail);
	put_flag(fp, "set ", "syslog", run->syslog);
	put_kv(fp, "", "set logfile", run->logfile);
	put_kv(fp, "", "set idfile", run->idfile);
	put_kv(fp, "", "set pidfile", run->pidfile);
	put_kv(fp, "", "set properties", run->properties);
	if (cfg->defaults != NULL) {
		fputc('\n', fp);
		dump_poll(fp, cfg->defaults, 1);
	}
	for (i = 0; i < cfg->npolls; i++) {
		fputc('\n', fp);
		dump_poll(fp, &cfg->polls[i], 0);
	}
}
