/*
 * Pieces shared by the fetchers: TLS policy and context, default ports,
 * error lines, uid bounds.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "log.h"
#include "tls.h"

const struct fetcher *
fetch_select(enum rc_proto proto)
{
	switch (proto) {
	case RC_PROTO_POP3:
	case RC_PROTO_APOP:
		return &fetch_pop3;
	case RC_PROTO_IMAP:
	case RC_PROTO_AUTO:	/* fetchmail tries IMAP first */
		return &fetch_imap;
	default:
		return NULL;
	}
}

enum fetch_tls
fetch_tls_mode(const struct rc_user *u)
{
	if (u->ssl == RC_YES)
		return FETCH_TLS_IMPLICIT;
	if (u->sslproto != NULL && u->sslproto[0] == '\0')
		return FETCH_TLS_NONE;
	return FETCH_TLS_STARTTLS;
}

SSL_CTX *
fetch_tls_ctx(const struct rc_user *u, char *err, size_t errlen)
{
	int	 verify = u->sslcertck != RC_NO;

	if (!verify)
		log_warnx("warning: certificate verification disabled for "
		    "%s (no sslcertck)", u->remotename);
	return tls_client_ctx(u->sslcertfile, verify, err, errlen);
}

void
fetch_port(const struct rc_poll *p, enum rc_proto proto, enum fetch_tls tls,
    char *buf, size_t len)
{
	int	 port = p->port;

	if (port == 0) {
		if (proto == RC_PROTO_IMAP || proto == RC_PROTO_AUTO)
			port = tls == FETCH_TLS_IMPLICIT ? 993 : 143;
		else
			port = tls == FETCH_TLS_IMPLICIT ? 995 : 110;
	}
	snprintf(buf, len, "%d", port);
}

int
fetch_fail(struct fetch_conn *fc, int code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(fc->err, sizeof(fc->err), fmt, ap);
	va_end(ap);
	return code;
}

int
fetch_uid_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > FETCH_UID_MAX)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return -1;
	return 0;
}

void
fetch_list_free(struct fetch_list *ml)
{
	free(ml->v);
	ml->v = NULL;
	ml->n = 0;
}
