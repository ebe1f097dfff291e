/*
 * Addresses: RFC 5321 paths as they come in MAIL FROM / RCPT TO, RFC 5322
 * address lists from headers (through libetpan's mailimf), domain matching.
 */
#ifndef MAILHUB_ADDR_H
#define MAILHUB_ADDR_H

#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX	255
#define ADDR_MAX	(ADDR_LOCAL_MAX + 1 + ADDR_DOMAIN_MAX)

struct mailaddr {
	char	local[ADDR_LOCAL_MAX + 1];	/* unquoted form */
	char	domain[ADDR_DOMAIN_MAX + 1];	/* lower-cased; "" for a bare name */
};

/*
 * Parse a path: "<local@domain>", "<>" (null: local and domain empty) or a
 * source route "<@hop1,@hop2:local@domain>" (the route is dropped: only the
 * final address counts).  Quoted local parts are unquoted.  The path may be
 * followed by parameters; *rest (if not NULL) points after the '>'.
 * allow_bare accepts "<postmaster>" and bare names without a domain.
 * Returns 0, or -1 with a short reason in err ("syntax error in address").
 */
int	addr_parse_path(const char *s, int allow_bare, struct mailaddr *out,
	    const char **rest, char *err, size_t errlen);

/* "local@domain" (or "local" when domain is empty, "" for null), quoting the
 * local part when it needs it.  Returns the length or -1 if it did not fit. */
int	addr_format(const struct mailaddr *a, char *buf, size_t len);

int	addr_is_null(const struct mailaddr *a);

/* domain equals pattern or is a subdomain of it (case-insensitive). */
int	domain_match(const char *domain, const char *pattern);
/* domain matches any of the n patterns. */
int	domain_match_list(const char *domain, char *const *patterns, size_t n);

/*
 * Parse an RFC 5322 address-list header value (From:, To:, Cc: ...) with
 * mailimf; cb is called for every mailbox (groups flattened) with its
 * addr-spec and display name (may be NULL).  Returns the number of mailboxes,
 * or -1 when the value does not parse.
 */
typedef void (*addr_list_cb)(const char *addr_spec, const char *display,
    void *arg);
int	addr_list_parse(const char *value, size_t len, addr_list_cb cb, void *arg);

#endif
