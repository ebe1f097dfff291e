/*
 * mtad.conf: the parsed configuration shared by mtad, mtactl and
 * mtad-sendmail.  Keywords as ../shared/DESIGN.md lists them.
 */
#ifndef MTAD_CONFIG_H
#define MTAD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define MTAD_DEFAULT_CONF	"/etc/mtad/mtad.conf"

enum mailbox_kind { MAILBOX_MBOX, MAILBOX_MAILDIR, MAILBOX_MDA };
enum smarthost_tls { SMARTHOST_STARTTLS, SMARTHOST_SMTPS, SMARTHOST_NONE };
enum link_mode { LINK_DOWN, LINK_UP, LINK_ALWAYS };

struct strlist {
	char	**v;
	size_t	  n;
};

struct mtad_config {
	char		*path;
	char		*hostname;		/* default: gethostname() */
	struct strlist	 listen;		/* default 127.0.0.1:25 */
	struct strlist	 relay_from;		/* CIDRs */
	struct strlist	 local_domains;		/* default: hostname */
	char		*spool;			/* default /var/spool/mtad */
	char		*user;			/* default mtad */
	char		*aliases;		/* default /etc/aliases */
	enum mailbox_kind mailbox;		/* default mbox /var/mail */
	char		*mailbox_arg;
	char		*smarthost;		/* HOST[:PORT] */
	char		*smarthost_command;
	enum smarthost_tls smarthost_tls;
	char		*tls_ca_file;
	char		*tls_cert;
	char		*tls_key;
	char		*auth;
	char		*masquerade;
	struct strlist	 masquerade_domains;	/* default: local_domains */
	int		 masquerade_headers;	/* default yes */
	char		*generics;
	struct strlist	 exposed_users;		/* default root */
	enum link_mode	 link;			/* default down */
	time_t		 queue_lifetime;	/* default 5d */
	uint64_t	 max_message_size;	/* default 10M; 0 = none */
	unsigned	 max_clients;		/* default 100 */
	time_t		 idle_timeout;		/* default 300s */
	time_t		 smarthost_timeout;	/* default 300s */
	char		*postmaster;		/* default postmaster */
};

/*
 * Parse path into cf (defaults filled in).  Returns 0, or -1 with
 * "file:line: message" in err.  cf is left freeable either way.
 */
int	config_load(const char *path, struct mtad_config *cf, char *err,
	    size_t errlen);
void	config_free(struct mtad_config *cf);

/* domain is one of local_domains (exactly), localhost, or "" (a bare name). */
int	config_is_local_domain(const struct mtad_config *cf, const char *domain);

#endif
