/*
 * OpenSSL contexts.  Client contexts verify the peer certificate against the
 * system store or ca_file and the host name (X509_VERIFY_PARAM_set1_host) by
 * default; turning verification off is an explicit, logged choice.
 */
#ifndef MAILHUB_TLS_H
#define MAILHUB_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* ca_file NULL = system store.  verify 0 only for `no sslcertck`. */
SSL_CTX	*tls_client_ctx(const char *ca_file, int verify, char *err,
	    size_t errlen);
/* Server context for STARTTLS: certificate chain and key (PEM). */
SSL_CTX	*tls_server_ctx(const char *cert_file, const char *key_file,
	    char *err, size_t errlen);
/* New client SSL on fd with SNI and host-name check set for host. */
SSL	*tls_client_ssl(SSL_CTX *ctx, int fd, const char *host, char *err,
	    size_t errlen);
/* Human-readable reason for the last failure (OpenSSL error queue plus the
 * verify result, "certificate verify failed: unable to get local issuer..."). */
void	tls_error(SSL *ssl, int ret, char *err, size_t errlen);

#endif
