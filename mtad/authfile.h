/*
 * The smart-host credentials file, dma's format: one "user|host:password"
 * per line (the password is the rest of the line, colons and blanks
 * included), or "user|host:oauth2:/path/account" for XOAUTH2.  '#' starts a
 * comment line; host "*" matches any smart host.  The file must grant
 * nothing to others and no write to its group, else it is refused.
 * Passwords are wiped from memory when the table is freed and never logged.
 */
#ifndef MTAD_AUTHFILE_H
#define MTAD_AUTHFILE_H

#include <stddef.h>

#define AUTHFILE_LINE_MAX	1024

enum auth_kind { AUTH_PASSWORD, AUTH_OAUTH2 };

struct auth_entry {
	char		*user;
	char		*host;
	enum auth_kind	 kind;
	char		*secret;	/* the password, or the account file */
};

struct authfile {
	struct auth_entry	*v;
	size_t			 n;
};

/* 0, or -1 with "file:line: message" (or "file: reason") in err. */
int	authfile_load(const char *path, struct authfile *af, char *err,
	    size_t errlen);
/* The same over a buffer; no permission check (tests, fuzzing). */
int	authfile_parse(const char *name, const char *buf, size_t len,
	    struct authfile *af, char *err, size_t errlen);
/* The entry for a smart host (case-insensitive; an exact host beats "*"),
 * or NULL. */
const struct auth_entry *authfile_lookup(const struct authfile *af,
	    const char *host);
void	authfile_free(struct authfile *af);

#endif
