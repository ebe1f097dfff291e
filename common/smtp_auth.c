/*
 * SMTP AUTH: PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER.  Credentials go
 * out only over TLS (or, for tests, to loopback when the caller allows it),
 * SASL payloads are traced as "****", and buffers that held a secret are
 * wiped.  A refusal is an error for the caller, with the server's reply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "net.h"
#include "smtp_int.h"

#define SASL_MAX	16384	/* longest credential payload we build */

static const struct {
	const char	*name;
	unsigned	 bit;
} mechs[] = {
	{ "XOAUTH2", SMTP_AUTH_XOAUTH2 },
	{ "OAUTHBEARER", SMTP_AUTH_OAUTHBEARER },
	{ "PLAIN", SMTP_AUTH_PLAIN },
	{ "LOGIN", SMTP_AUTH_LOGIN },
	{ "CRAM-MD5", SMTP_AUTH_CRAM_MD5 },
};

/* base64 of len octets into a fresh buffer (wiped and freed by the caller). */
static char *
b64(const void *in, size_t len)
{
	char	*out;

	if (len > SASL_MAX || (out = malloc(4 * ((len + 2) / 3) + 1)) == NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return out;
}

static void
wipe_free(char *s, size_t len)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, len);
		free(s);
	}
}

/* Credentials only under TLS, or to loopback/a command when allowed. */
static int
may_send_secrets(struct smtp_client *c)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);

	if (stream_is_tls(c->st))
		return 1;
	if (!c->p.plain_auth_ok)
		return 0;
	if (getpeername(stream_fd(c->st), (struct sockaddr *)&ss, &sl) == -1)
		return 1;	/* not a socket: a command's stdio */
	if (ss.ss_family == AF_UNIX)
		return 1;
	return net_cidr_match("127.0.0.0/8", (struct sockaddr *)&ss) == 1 ||
	    net_cidr_match("::1", (struct sockaddr *)&ss) == 1;
}

static int
choose(struct smtp_client *c, const struct smtp_creds *cr)
{
	size_t	 i;

	if (cr->mech != NULL) {
		for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
			if (strcasecmp(cr->mech, mechs[i].name) == 0)
				return (c->caps.auth & mechs[i].bit) ? (int)i : -1;
		return -1;
	}
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		int oauth = mechs[i].bit & (SMTP_AUTH_XOAUTH2 |
		    SMTP_AUTH_OAUTHBEARER);

		if ((c->caps.auth & mechs[i].bit) &&
		    (cr->token != NULL) == (oauth != 0))
			return (int)i;
	}
	return -1;
}

/* Send "AUTH MECH ir" (traced masked) or a SASL continuation (secret). */
static int
send_payload(struct smtp_client *c, const char *prefix, const char *b,
    int secret)
{
	size_t	 plen = strlen(prefix), blen = strlen(b), n = plen + blen;
	char	*line;
	int	 rv;

	if ((line = malloc(n + 1)) == NULL) {
		smtp_set_error(c, SMTP_ERR_LOCAL, NULL, "out of memory");
		return -1;
	}
	memcpy(line, prefix, plen);
	memcpy(line + plen, b, blen + 1);
	rv = smtp_send_line(c, secret, line, n);
	wipe_free(line, n);
	return rv;
}

/* The one-shot mechanisms: PLAIN, XOAUTH2, OAUTHBEARER. */
static int
auth_initial(struct smtp_client *c, const char *mech, const char *raw,
    size_t rawlen, const char *on334, struct smtp_reply *r)
{
	char	 prefix[32];
	char	*enc;
	int	 rv = -1;

	if ((enc = b64(raw, rawlen)) == NULL) {
		smtp_set_error(c, SMTP_ERR_AUTH, NULL, "credentials too long");
		return -1;
	}
	snprintf(prefix, sizeof(prefix), "AUTH %s ", mech);
	if (send_payload(c, prefix, enc, 0) == -1 ||
	    smtp_read_reply(c, r, NULL) == -1)
		goto out;
	if (r->code == 334) {
		/*
		 * PLAIN: a server that wants the response after an empty
		 * challenge.  OAuth: an error document; answer so that the
		 * server sends its final verdict.
		 */
		if (send_payload(c, "", on334 != NULL ? on334 : enc, 1) == -1 ||
		    smtp_read_reply(c, r, NULL) == -1)
			goto out;
	}
	rv = 0;
out:
	wipe_free(enc, strlen(enc));
	return rv;
}

static int
auth_login(struct smtp_client *c, const struct smtp_creds *cr,
    struct smtp_reply *r)
{
	const char	*step[2] = { cr->user, cr->password };
	char		*enc;
	int		 i, rv;

	if (smtp_cmd(c, "AUTH LOGIN") == -1 ||
	    smtp_read_reply(c, r, NULL) == -1)
		return -1;
	for (i = 0; i < 2 && r->code == 334; i++) {
		if ((enc = b64(step[i], strlen(step[i]))) == NULL) {
			smtp_set_error(c, SMTP_ERR_AUTH, NULL,
			    "credentials too long");
			return -1;
		}
		rv = send_payload(c, "", enc, 1);
		wipe_free(enc, strlen(enc));
		if (rv == -1 || smtp_read_reply(c, r, NULL) == -1)
			return -1;
	}
	return 0;
}

static int
auth_cram_md5(struct smtp_client *c, const struct smtp_creds *cr,
    struct smtp_reply *r)
{
	unsigned char	 chal[1024], mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0, i;
	char		*resp, *enc;
	size_t		 rlen, clen;
	int		 n, rv;

	if (smtp_cmd(c, "AUTH CRAM-MD5") == -1 ||
	    smtp_read_reply(c, r, NULL) == -1)
		return -1;
	if (r->code != 334)
		return 0;
	clen = strlen(r->text);
	if (clen == 0 || clen % 4 != 0 || clen / 4 * 3 >= sizeof(chal) ||
	    (n = EVP_DecodeBlock(chal, (unsigned char *)r->text,
	    (int)clen)) < 0) {
		smtp_set_error(c, SMTP_ERR_PROTO, r, "bad CRAM-MD5 challenge");
		return -1;
	}
	while (clen > 0 && r->text[clen - 1] == '=') {
		clen--;
		n--;
	}
	if (HMAC(EVP_md5(), cr->password, (int)strlen(cr->password), chal,
	    (size_t)n, mac, &maclen) == NULL) {
		smtp_set_error(c, SMTP_ERR_AUTH, NULL, "HMAC-MD5 unavailable");
		return -1;
	}
	rlen = strlen(cr->user) + 1 + 2 * maclen;
	if ((resp = malloc(rlen + 1)) == NULL) {
		smtp_set_error(c, SMTP_ERR_LOCAL, NULL, "out of memory");
		return -1;
	}
	n = snprintf(resp, rlen + 1, "%s ", cr->user);
	for (i = 0; i < maclen; i++)
		n += snprintf(resp + n, rlen + 1 - (size_t)n, "%02x", mac[i]);
	enc = b64(resp, rlen);
	wipe_free(resp, rlen);
	if (enc == NULL) {
		smtp_set_error(c, SMTP_ERR_AUTH, NULL, "credentials too long");
		return -1;
	}
	rv = send_payload(c, "", enc, 1);
	wipe_free(enc, strlen(enc));
	if (rv == -1 || smtp_read_reply(c, r, NULL) == -1)
		return -1;
	return 0;
}

/* Build the raw payload for the one-shot mechanisms into a fresh buffer. */
static char *
raw_payload(const char *mech, const struct smtp_creds *cr, size_t *len)
{
	size_t	 n;
	char	*buf;
	int	 w;

	n = strlen(cr->user) + (cr->password ? strlen(cr->password) : 0) +
	    (cr->token ? strlen(cr->token) : 0) + 64;
	if (n > SASL_MAX || (buf = malloc(n)) == NULL)
		return NULL;
	if (strcmp(mech, "PLAIN") == 0) {
		/* authzid empty, authcid, password */
		w = snprintf(buf, n, "%c%s%c%s", 0, cr->user, 0, cr->password);
	} else if (strcmp(mech, "XOAUTH2") == 0)
		w = snprintf(buf, n, "user=%s\001auth=Bearer %s\001\001",
		    cr->user, cr->token);
	else
		w = snprintf(buf, n, "n,a=%s,\001auth=Bearer %s\001\001",
		    cr->user, cr->token);
	*len = (size_t)w;
	return buf;
}

int
smtp_auth(struct smtp_client *c)
{
	const struct smtp_creds	*cr = c->p.creds;
	struct smtp_reply	 r;
	const char		*mech;
	char			*raw;
	size_t			 rawlen = 0;
	int			 i, rv;

	if (cr->user == NULL || (cr->password == NULL && cr->token == NULL)) {
		smtp_set_error(c, SMTP_ERR_LOCAL, NULL, "incomplete credentials");
		return -1;
	}
	if (!may_send_secrets(c)) {
		smtp_set_error(c, SMTP_ERR_AUTH, NULL, "refusing to send "
		    "credentials to %s without TLS", c->p.host);
		return -1;
	}
	if (!(c->caps.flags & SMTP_CAP_AUTH)) {
		smtp_set_error(c, SMTP_ERR_AUTH, NULL, "%s offers no AUTH",
		    c->p.host);
		return -1;
	}
	if ((i = choose(c, cr)) == -1) {
		smtp_set_error(c, SMTP_ERR_AUTH, NULL, "%s offers no usable "
		    "AUTH mechanism%s%s", c->p.host, cr->mech ? " for " : "",
		    cr->mech ? cr->mech : "");
		return -1;
	}
	mech = mechs[i].name;
	switch (mechs[i].bit) {
	case SMTP_AUTH_LOGIN:
		rv = auth_login(c, cr, &r);
		break;
	case SMTP_AUTH_CRAM_MD5:
		rv = auth_cram_md5(c, cr, &r);
		break;
	default:
		if ((raw = raw_payload(mech, cr, &rawlen)) == NULL) {
			smtp_set_error(c, SMTP_ERR_AUTH, NULL,
			    "credentials too long");
			return -1;
		}
		rv = auth_initial(c, mech, raw, rawlen,
		    mechs[i].bit == SMTP_AUTH_PLAIN ? NULL :
		    mechs[i].bit == SMTP_AUTH_XOAUTH2 ? "" : "AQ==", &r);
		wipe_free(raw, rawlen);
		break;
	}
	if (rv == -1)
		return -1;
	if (r.code != 235) {
		smtp_set_error(c, SMTP_ERR_AUTH, &r, "AUTH %s as %s refused by "
		    "%s", mech, cr->user, c->p.host);
		return -1;
	}
	c->mech = mech;
	return 0;
}
