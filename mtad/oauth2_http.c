/*
 * The helper's one HTTP request: a form POST over HTTPS with libcurl.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "oauth2_grant.h"

#define CONNECT_TIMEOUT	30L
#define TOTAL_TIMEOUT	60L

struct body {
	char	*buf;
	size_t	 len;
	int	 overflow;
};

static size_t
on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body	*b = arg;
	size_t		 n = size * nmemb;

	if (b->len + n > OAUTH2_RESPONSE_MAX) {
		b->overflow = 1;
		return 0;	/* aborts the transfer */
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return n;
}

int
oauth2_form_add(struct oauth2_form *f, const char *key, const char *value)
{
	char	*esc, *nf;
	size_t	 need;

	/* curl_easy_escape needs no handle since 7.82 (bookworm has 7.88). */
	if ((esc = curl_easy_escape(NULL, value, 0)) == NULL)
		return -1;
	need = f->len + strlen(key) + strlen(esc) + 3;
	if ((nf = malloc(need)) == NULL) {
		explicit_bzero(esc, strlen(esc));
		curl_free(esc);
		return -1;
	}
	snprintf(nf, need, "%s%s%s=%s", f->buf != NULL ? f->buf : "",
	    f->len > 0 ? "&" : "", key, esc);
	explicit_bzero(esc, strlen(esc));
	curl_free(esc);
	oauth2_form_free(f);
	f->buf = nf;
	f->len = strlen(nf);
	return 0;
}

void
oauth2_form_free(struct oauth2_form *f)
{
	if (f->buf != NULL) {
		explicit_bzero(f->buf, f->len);
		free(f->buf);
	}
	f->buf = NULL;
	f->len = 0;
}

int
oauth2_http_post(const char *url, const char *ca, const struct oauth2_form *f,
    long *status, char **body, size_t *len, char *err, size_t errlen)
{
	CURL		*h;
	CURLcode	 cc;
	struct body	 b = { NULL, 0, 0 };
	char		 cerr[CURL_ERROR_SIZE];
	int		 rv = -1;

	*body = NULL;
	*len = 0;
	*status = 0;
	if ((h = curl_easy_init()) == NULL ||
	    (b.buf = malloc(OAUTH2_RESPONSE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "cannot set up libcurl");
		goto out;
	}
	cerr[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* Always explicit: Debian's libcurl-gnutls ignores SSL_CERT_FILE. */
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, TOTAL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, f->buf != NULL ? f->buf : "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)f->len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mailhub");
	if ((cc = curl_easy_perform(h)) != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, b.overflow ?
		    "response too large" : cerr[0] != '\0' ? cerr :
		    curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	b.buf[b.len] = '\0';
	*body = b.buf;
	*len = b.len;
	b.buf = NULL;
	rv = 0;
out:
	if (b.buf != NULL) {
		explicit_bzero(b.buf, b.len);
		free(b.buf);
	}
	if (h != NULL)
		curl_easy_cleanup(h);
	return rv;
}
