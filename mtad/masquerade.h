/*
 * Masquerading for mail leaving for the smart host: the envelope sender and
 * (masquerade-headers yes) the From:, Sender: and Reply-To: addresses whose
 * domain is in masquerade-domains (subdomains included) or that are bare
 * names.  The generics map is tried first, then `masquerade`:
 *
 *   user@		that user at `hostname`
 *   domain		the same user at domain
 *   user@domain	everything as that address
 *
 * `<>` is never rewritten; exposed-users keep their address under
 * `masquerade` (an explicit generics entry still applies to them, as in
 * sendmail).  The queued message itself is never changed: the relay sends a
 * rewritten copy of the header section.
 */
#ifndef MTAD_MASQUERADE_H
#define MTAD_MASQUERADE_H

#include <stddef.h>

struct mtad_config;

#define MASQ_MAX_HEADER	(1024 * 1024)	/* larger header sections pass as is */

struct masq_generic {
	char	*key;		/* "user" or "user@domain" */
	char	*value;		/* "user@domain" */
};

struct masq {
	const char	 *hostname;
	char		 *user;		/* from `masquerade`, or NULL */
	char		 *domain;	/* from `masquerade`, or NULL */
	char *const	 *domains;
	size_t		  ndomains;
	char *const	 *exposed;
	size_t		  nexposed;
	int		  headers;
	struct masq_generic *gen;
	size_t		  ngen;
};

/*
 * Build the rules from cf (pointers into cf stay in use) and load the
 * generics file.  0, or -1 with "file:line: message" in err.
 */
int	masq_init(struct masq *m, const struct mtad_config *cf, char *err,
	    size_t errlen);
void	masq_free(struct masq *m);

/* Parse a generics map ("key value" lines, # comments) into m. */
int	masq_load_generics(struct masq *m, const char *path, char *err,
	    size_t errlen);
int	masq_load_generics_mem(struct masq *m, const char *name,
	    const char *buf, size_t len, char *err, size_t errlen);

/*
 * Rewrite an envelope address ("local@domain" or a bare "local", as the
 * queue holds it; "" is <>).  1: the new address is in out; 0: keep it;
 * -1: out was too small.
 */
int	masq_address(const struct masq *m, const char *addr, char *out,
	    size_t outlen);

/*
 * Rewrite the header section hdr[0..len) (the lines before the empty line,
 * LF or CRLF ends): only the addr-spec spans of From:, Sender: and Reply-To:
 * change; display names, comments, folding and every other byte are kept.
 * A field that does not parse is left alone.  *out is a malloc'd copy (the
 * same bytes when nothing applies).  0, or -1 when out of memory.
 */
int	masq_headers(const struct masq *m, const char *hdr, size_t len,
	    char **out, size_t *outlen);

/* Length of the header section of a message, up to and including the empty
 * line that ends it (or all of len when there is none). */
size_t	masq_header_length(const char *msg, size_t len);

#endif
