/*
 * OpenSSL contexts for both daemons.  A client context verifies the peer
 * chain and, per connection, the host name or IP literal; failures are
 * turned into one readable line that names the verify result.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "tls.h"

/* Append the OpenSSL error queue (emptied) to buf after prefix. */
static void
errq(const char *prefix, char *err, size_t errlen)
{
	unsigned long	 e;
	size_t		 n;
	char		 one[256];

	if (err == NULL || errlen == 0)
		return;
	n = (size_t)snprintf(err, errlen, "%s", prefix);
	while ((e = ERR_get_error()) != 0) {
		if (n >= errlen)
			continue;
		ERR_error_string_n(e, one, sizeof(one));
		n += (size_t)snprintf(err + n, errlen - n, "%s%s",
		    n > 0 ? ": " : "", one);
	}
}

SSL_CTX *
tls_client_ctx(const char *ca_file, int verify, char *err, size_t errlen)
{
	SSL_CTX	*ctx;
	char	 what[512];

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		errq("SSL_CTX_new", err, errlen);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			snprintf(what, sizeof(what), "CA file %s", ca_file);
			errq(what, err, errlen);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		errq("system certificate store", err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (verify)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	else {
		log_warnx("TLS certificate verification disabled by "
		    "configuration");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

SSL_CTX *
tls_server_ctx(const char *cert_file, const char *key_file, char *err,
    size_t errlen)
{
	SSL_CTX	*ctx;
	char	 what[512];

	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		errq("SSL_CTX_new", err, errlen);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(what, sizeof(what), "certificate %s", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		snprintf(what, sizeof(what), "key %s", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(what, sizeof(what), "key %s does not match %s",
		    key_file, cert_file);
		goto fail;
	}
	return ctx;
fail:
	errq(what, err, errlen);
	SSL_CTX_free(ctx);
	return NULL;
}

static int
is_ip_literal(const char *host)
{
	unsigned char	 buf[16];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

SSL *
tls_client_ssl(SSL_CTX *ctx, int fd, const char *host, char *err,
    size_t errlen)
{
	X509_VERIFY_PARAM	*param;
	SSL			*ssl;
	int			 ok;

	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL) {
		errq("SSL_new", err, errlen);
		return NULL;
	}
	if (SSL_set_fd(ssl, fd) != 1) {
		errq("SSL_set_fd", err, errlen);
		SSL_free(ssl);
		return NULL;
	}
	if (host != NULL && *host != '\0') {
		param = SSL_get0_param(ssl);
		if (is_ip_literal(host))
			ok = X509_VERIFY_PARAM_set1_ip_asc(param, host);
		else {
			X509_VERIFY_PARAM_set_hostflags(param,
			    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			ok = X509_VERIFY_PARAM_set1_host(param, host, 0) &&
			    SSL_set_tlsext_host_name(ssl, host);
		}
		if (ok != 1) {
			errq("setting the expected host name", err, errlen);
			SSL_free(ssl);
			return NULL;
		}
	}
	SSL_set_connect_state(ssl);
	return ssl;
}

void
tls_error(SSL *ssl, int ret, char *err, size_t errlen)
{
	char	 prefix[300];
	long	 vr;
	int	 e;

	if (err == NULL || errlen == 0)
		return;
	prefix[0] = '\0';
	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(prefix, sizeof(prefix), "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
		snprintf(err, errlen, "%s", prefix);
		ERR_clear_error();
		return;
	}
	e = ssl != NULL ? SSL_get_error(ssl, ret) : SSL_ERROR_SSL;
	switch (e) {
	case SSL_ERROR_ZERO_RETURN:
		snprintf(err, errlen, "TLS connection closed by peer");
		break;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() != 0)
			errq("TLS", err, errlen);
		else if (ret == 0 || errno == 0)
			snprintf(err, errlen, "connection closed by peer "
			    "during TLS");
		else
			snprintf(err, errlen, "TLS: %s", strerror(errno));
		break;
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		snprintf(err, errlen, "TLS: operation would block");
		break;
	default:
		errq("TLS", err, errlen);
		break;
	}
	ERR_clear_error();
}
