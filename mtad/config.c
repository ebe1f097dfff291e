/*
 * mtad.conf: one table of keywords, each with its own small setter.  The
 * lexing (quotes, comments, joined lines) is common/conf.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "config.h"
#include "net.h"

struct keyword {
	const char	*name;
	int		 minargs;
	int		 maxargs;	/* -1: any number */
	int		(*set)(struct conf_reader *, struct mtad_config *);
};

static int
set_str(char **dst, const char *v)
{
	char	*s;

	if ((s = strdup(v)) == NULL)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

static int
list_add(struct strlist *l, const char *v)
{
	char	**nv;

	if ((nv = reallocarray(l->v, l->n + 2, sizeof(*nv))) == NULL)
		return -1;
	l->v = nv;
	if ((l->v[l->n] = strdup(v)) == NULL)
		return -1;
	l->n++;
	l->v[l->n] = NULL;
	return 0;
}

static void
list_free(struct strlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
list_copy(struct strlist *dst, const struct strlist *src)
{
	size_t	i;

	for (i = 0; i < src->n; i++)
		if (list_add(dst, src->v[i]) == -1)
			return -1;
	return 0;
}

static int
nomem(struct conf_reader *r)
{
	return conf_error(r, "out of memory");
}

static int
bad_value(struct conf_reader *r, const char *v)
{
	return conf_error(r, "bad value '%s' for %s", v, r->argv[0]);
}

/* Keywords whose single value is kept as it is written. */
#define STR_SETTER(fn, field)						\
static int								\
fn(struct conf_reader *r, struct mtad_config *cf)			\
{									\
	if (r->argv[1][0] == '\0')					\
		return bad_value(r, r->argv[1]);			\
	return set_str(&cf->field, r->argv[1]) == -1 ? nomem(r) : 0;	\
}
STR_SETTER(set_hostname, hostname)
STR_SETTER(set_spool, spool)
STR_SETTER(set_user, user)
STR_SETTER(set_aliases, aliases)
STR_SETTER(set_smarthost_command, smarthost_command)
STR_SETTER(set_tls_ca_file, tls_ca_file)
STR_SETTER(set_tls_cert, tls_cert)
STR_SETTER(set_tls_key, tls_key)
STR_SETTER(set_auth, auth)
STR_SETTER(set_masquerade, masquerade)
STR_SETTER(set_generics, generics)
STR_SETTER(set_postmaster, postmaster)

static int
set_list(struct conf_reader *r, struct strlist *l)
{
	int	i;

	for (i = 1; i < r->argc; i++) {
		if (r->argv[i][0] == '\0')
			return bad_value(r, r->argv[i]);
		if (list_add(l, r->argv[i]) == -1)
			return nomem(r);
	}
	return 0;
}

static int
set_listen(struct conf_reader *r, struct mtad_config *cf)
{
	char	host[256], port[32];
	int	i;

	for (i = 1; i < r->argc; i++)
		if (net_split_hostport(r->argv[i], NULL, host, sizeof(host),
		    port, sizeof(port)) == -1 || port[0] == '\0')
			return bad_value(r, r->argv[i]);
	return set_list(r, &cf->listen);
}

static int
set_relay_from(struct conf_reader *r, struct mtad_config *cf)
{
	int	i;

	for (i = 1; i < r->argc; i++)
		if (net_cidr_valid(r->argv[i]) == -1)
			return bad_value(r, r->argv[i]);
	return set_list(r, &cf->relay_from);
}

static int
set_local_domains(struct conf_reader *r, struct mtad_config *cf)
{
	return set_list(r, &cf->local_domains);
}

static int
set_masquerade_domains(struct conf_reader *r, struct mtad_config *cf)
{
	return set_list(r, &cf->masquerade_domains);
}

static int
set_exposed_users(struct conf_reader *r, struct mtad_config *cf)
{
	return set_list(r, &cf->exposed_users);
}

static int
set_mailbox(struct conf_reader *r, struct mtad_config *cf)
{
	const char	*kind = r->argv[1];

	if (strcmp(kind, "mbox") == 0)
		cf->mailbox = MAILBOX_MBOX;
	else if (strcmp(kind, "maildir") == 0)
		cf->mailbox = MAILBOX_MAILDIR;
	else if (strcmp(kind, "mda") == 0)
		cf->mailbox = MAILBOX_MDA;
	else
		return bad_value(r, kind);
	if (r->argc != 3 || r->argv[2][0] == '\0')
		return conf_error(r, "mailbox %s needs one %s", kind,
		    cf->mailbox == MAILBOX_MDA ? "command" : "path");
	return set_str(&cf->mailbox_arg, r->argv[2]) == -1 ? nomem(r) : 0;
}

static int
set_smarthost(struct conf_reader *r, struct mtad_config *cf)
{
	char	host[256], port[32];

	if (net_split_hostport(r->argv[1], "25", host, sizeof(host), port,
	    sizeof(port)) == -1 || host[0] == '\0')
		return bad_value(r, r->argv[1]);
	return set_str(&cf->smarthost, r->argv[1]) == -1 ? nomem(r) : 0;
}

static int
set_smarthost_tls(struct conf_reader *r, struct mtad_config *cf)
{
	const char	*v = r->argv[1];

	if (strcmp(v, "starttls") == 0)
		cf->smarthost_tls = SMARTHOST_STARTTLS;
	else if (strcmp(v, "smtps") == 0)
		cf->smarthost_tls = SMARTHOST_SMTPS;
	else if (strcmp(v, "none") == 0)
		cf->smarthost_tls = SMARTHOST_NONE;
	else
		return bad_value(r, v);
	return 0;
}

static int
set_masquerade_headers(struct conf_reader *r, struct mtad_config *cf)
{
	if (conf_parse_bool(r->argv[1], &cf->masquerade_headers) == -1)
		return bad_value(r, r->argv[1]);
	return 0;
}

static int
set_link(struct conf_reader *r, struct mtad_config *cf)
{
	const char	*v = r->argv[1];

	if (strcmp(v, "up") == 0)
		cf->link = LINK_UP;
	else if (strcmp(v, "down") == 0)
		cf->link = LINK_DOWN;
	else if (strcmp(v, "always") == 0)
		cf->link = LINK_ALWAYS;
	else
		return bad_value(r, v);
	return 0;
}

static int
set_duration(struct conf_reader *r, time_t *out)
{
	time_t	t;

	if (conf_parse_duration(r->argv[1], &t) == -1 || t <= 0)
		return bad_value(r, r->argv[1]);
	*out = t;
	return 0;
}

static int
set_queue_lifetime(struct conf_reader *r, struct mtad_config *cf)
{
	return set_duration(r, &cf->queue_lifetime);
}

/* Not in DESIGN's list: lets tests see the idle timeout within seconds. */
static int
set_idle_timeout(struct conf_reader *r, struct mtad_config *cf)
{
	return set_duration(r, &cf->idle_timeout);
}

/* Not in DESIGN's list either: a smart host (or smarthost-command) that
 * stays silent this long is given up on; tests need seconds. */
static int
set_smarthost_timeout(struct conf_reader *r, struct mtad_config *cf)
{
	time_t	t;

	if (conf_parse_duration(r->argv[1], &t) == -1 || t <= 0 || t > 86400)
		return bad_value(r, r->argv[1]);
	cf->smarthost_timeout = t;
	return 0;
}

static int
set_max_message_size(struct conf_reader *r, struct mtad_config *cf)
{
	if (conf_parse_size(r->argv[1], &cf->max_message_size) == -1)
		return bad_value(r, r->argv[1]);
	return 0;
}

static int
set_max_clients(struct conf_reader *r, struct mtad_config *cf)
{
	unsigned long	n;

	if (conf_parse_uint(r->argv[1], 100000, &n) == -1 || n == 0)
		return bad_value(r, r->argv[1]);
	cf->max_clients = n;
	return 0;
}

static const struct keyword keywords[] = {
	{ "hostname",		1, 1,	set_hostname },
	{ "listen",		1, -1,	set_listen },
	{ "relay-from",		1, -1,	set_relay_from },
	{ "local-domains",	1, -1,	set_local_domains },
	{ "spool",		1, 1,	set_spool },
	{ "user",		1, 1,	set_user },
	{ "aliases",		1, 1,	set_aliases },
	{ "mailbox",		1, 2,	set_mailbox },
	{ "smarthost",		1, 1,	set_smarthost },
	{ "smarthost-command",	1, 1,	set_smarthost_command },
	{ "smarthost-tls",	1, 1,	set_smarthost_tls },
	{ "tls-ca-file",	1, 1,	set_tls_ca_file },
	{ "tls-cert",		1, 1,	set_tls_cert },
	{ "tls-key",		1, 1,	set_tls_key },
	{ "auth",		1, 1,	set_auth },
	{ "masquerade",		1, 1,	set_masquerade },
	{ "masquerade-domains",	1, -1,	set_masquerade_domains },
	{ "masquerade-headers",	1, 1,	set_masquerade_headers },
	{ "generics",		1, 1,	set_generics },
	{ "exposed-users",	1, -1,	set_exposed_users },
	{ "link",		1, 1,	set_link },
	{ "queue-lifetime",	1, 1,	set_queue_lifetime },
	{ "max-message-size",	1, 1,	set_max_message_size },
	{ "max-clients",	1, 1,	set_max_clients },
	{ "idle-timeout",	1, 1,	set_idle_timeout },
	{ "smarthost-timeout",	1, 1,	set_smarthost_timeout },
	{ "postmaster",		1, 1,	set_postmaster },
};

static int
statement(struct conf_reader *r, struct mtad_config *cf)
{
	const struct keyword	*k;
	size_t			 i;
	int			 nargs = r->argc - 1;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		k = &keywords[i];
		if (strcmp(r->argv[0], k->name) != 0)
			continue;
		if (nargs < k->minargs)
			return conf_error(r, "%s needs a value", k->name);
		if (k->maxargs != -1 && nargs > k->maxargs)
			return conf_error(r, "too many values for %s",
			    k->name);
		return k->set(r, cf);
	}
	return conf_error(r, "unknown keyword '%s'", r->argv[0]);
}

static int
set_defaults(struct mtad_config *cf)
{
	char	host[256];

	if (cf->hostname == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			return -1;
		host[sizeof(host) - 1] = '\0';
		if (set_str(&cf->hostname, host) == -1)
			return -1;
	}
	if (cf->listen.n == 0 && list_add(&cf->listen, "127.0.0.1:25") == -1)
		return -1;
	if (cf->local_domains.n == 0 &&
	    list_add(&cf->local_domains, cf->hostname) == -1)
		return -1;
	if (cf->masquerade_domains.n == 0 &&
	    list_copy(&cf->masquerade_domains, &cf->local_domains) == -1)
		return -1;
	if (cf->exposed_users.n == 0 &&
	    list_add(&cf->exposed_users, "root") == -1)
		return -1;
	if ((cf->spool == NULL && set_str(&cf->spool, "/var/spool/mtad") == -1) ||
	    (cf->user == NULL && set_str(&cf->user, "mtad") == -1) ||
	    (cf->aliases == NULL && set_str(&cf->aliases, "/etc/aliases") == -1) ||
	    (cf->mailbox_arg == NULL &&
	    set_str(&cf->mailbox_arg, "/var/mail") == -1) ||
	    (cf->postmaster == NULL &&
	    set_str(&cf->postmaster, "postmaster") == -1))
		return -1;
	return 0;
}

static void
config_init(struct mtad_config *cf)
{
	memset(cf, 0, sizeof(*cf));
	cf->mailbox = MAILBOX_MBOX;
	cf->smarthost_tls = SMARTHOST_STARTTLS;
	cf->masquerade_headers = 1;
	cf->link = LINK_DOWN;
	cf->queue_lifetime = 5 * 24 * 3600;
	cf->max_message_size = 10 * 1024 * 1024;
	cf->max_clients = 100;
	cf->idle_timeout = 300;
	cf->smarthost_timeout = 300;
}

int
config_load(const char *path, struct mtad_config *cf, char *err,
    size_t errlen)
{
	struct conf_reader	*r;
	int			 rc = 0, n;

	config_init(cf);
	if (set_str(&cf->path, path) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* The reader holds two line buffers: too big for a daemon's stack
	 * frame of choice. */
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (conf_open(r, path) == -1) {
		snprintf(err, errlen, "%s", r->err);
		free(r);
		return -1;
	}
	while ((n = conf_next(r)) == 1)
		if (statement(r, cf) == -1) {
			rc = -1;
			break;
		}
	if (n == -1)
		rc = -1;
	if (rc == 0 && (cf->tls_cert == NULL) != (cf->tls_key == NULL))
		rc = conf_error(r, "tls-cert and tls-key go together");
	if (rc == -1)
		snprintf(err, errlen, "%s", r->err);
	conf_close(r);
	free(r);
	if (rc == 0 && set_defaults(cf) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

void
config_free(struct mtad_config *cf)
{
	free(cf->path);
	free(cf->hostname);
	list_free(&cf->listen);
	list_free(&cf->relay_from);
	list_free(&cf->local_domains);
	free(cf->spool);
	free(cf->user);
	free(cf->aliases);
	free(cf->mailbox_arg);
	free(cf->smarthost);
	free(cf->smarthost_command);
	free(cf->tls_ca_file);
	free(cf->tls_cert);
	free(cf->tls_key);
	free(cf->auth);
	free(cf->masquerade);
	list_free(&cf->masquerade_domains);
	free(cf->generics);
	list_free(&cf->exposed_users);
	free(cf->postmaster);
	memset(cf, 0, sizeof(*cf));
}

int
config_is_local_domain(const struct mtad_config *cf, const char *domain)
{
	size_t	i;

	/* Bare names, and localhost as sendmail's class w has it: fetchd and
	 * fetchmail reinject as user@localhost. */
	if (domain == NULL || domain[0] == '\0' ||
	    strcasecmp(domain, "localhost") == 0)
		return 1;
	for (i = 0; i < cf->local_domains.n; i++)
		if (strcasecmp(domain, cf->local_domains.v[i]) == 0)
			return 1;
	return 0;
}
