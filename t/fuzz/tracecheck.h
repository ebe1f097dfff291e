/*
 * For the protocol harnesses: everything the code under test logs, the
 * protocol trace included (verbose, so the masking code runs), goes to a
 * memory file instead of stderr; after each input fuzz_log_check() fails
 * the run if a line we sent ("POP3> ...", "IMAP> ...") shows a credential
 * -- the password or an access token, in clear, in the base64 forms SASL
 * sends them in, or inside any base64 word of the line -- and empties the
 * file.  Lines the server sent are not checked: a script may
 * echo anything.
 */
#ifndef FUZZ_TRACECHECK_H
#define FUZZ_TRACECHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"

#define FUZZ_PASSWORD	"Pa55.fuzz"

/* The password alone (AUTH LOGIN) and in SASL PLAIN with and without an
 * authorisation id equal to the user "fuzz"; oauthstub.h's two access
 * tokens alone and in the XOAUTH2 and OAUTHBEARER responses (host "fuzz",
 * port 110 or 143). */
static const char *const fuzz_secrets[] = {
	FUZZ_PASSWORD, "UGE1NS5mdXp6", "AGZ1enoAUGE1NS5mdXp6",
	"ZnV6egBmdXp6AFBhNTUuZnV6eg",
	"FuzzT0ken.one", "FuzzT0ken.two",
	"dXNlcj1mdXp6AWF1dGg9QmVhcmVyIEZ1enpUMGtlbi5vbmUBAQ==",
	"bixhPWZ1enosAWhvc3Q9ZnV6egFwb3J0PTExMAFhdXRoPUJlYXJlciBGdXp6VDBrZW4ub25lAQE=",
	"bixhPWZ1enosAWhvc3Q9ZnV6egFwb3J0PTE0MwFhdXRoPUJlYXJlciBGdXp6VDBrZW4ub25lAQE=",
	"dXNlcj1mdXp6AWF1dGg9QmVhcmVyIEZ1enpUMGtlbi50d28BAQ==",
	"bixhPWZ1enosAWhvc3Q9ZnV6egFwb3J0PTExMAFhdXRoPUJlYXJlciBGdXp6VDBrZW4udHdvAQE=",
	"bixhPWZ1enosAWhvc3Q9ZnV6egFwb3J0PTE0MwFhdXRoPUJlYXJlciBGdXp6VDBrZW4udHdvAQE=",
};

/* The same in clear, looked for inside every base64 word of a line too,
 * whatever SASL framing surrounds them. */
static const char *const fuzz_clear[] = {
	FUZZ_PASSWORD, "FuzzT0ken.one", "FuzzT0ken.two",
};

static int	fuzz_logfd = -1;

static void
fuzz_log_init(void)
{
	char	path[64];

	if (fuzz_logfd != -1)
		return;
	if ((fuzz_logfd = memfd_create("fuzzlog", 0)) == -1)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fuzz_logfd);
	log_init("fuzz", 0, 1);
	if (log_set_file(path) == -1)
		abort();
}

/* Is this log line ("stamp fuzz: PROTO> text") one we sent? */
static int
fuzz_log_sent(const char *line, const char *end)
{
	const char	*p, *sp;

	if ((p = memmem(line, (size_t)(end - line), ": ", 2)) == NULL)
		return 0;
	p += 2;
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL || sp == p)
		return 0;
	return sp[-1] == '>';
}

/* A blank-separated word of the line that decodes as base64 (its whole
 * quads: a trace line cut short may end in part of one) to text holding
 * a credential. */
static int
fuzz_b64_leaks(const char *s, size_t len)
{
	unsigned char	 dec[3 * 1024 + 3];
	const char	*w, *e, *end = s + len;
	size_t		 q, i;
	int		 n;

	for (w = s; w < end; w = e) {
		while (w < end && *w == ' ')
			w++;
		for (e = w; e < end && *e != ' '; e++)
			;
		q = (size_t)(e - w) / 4 * 4;
		if (q > 4 * 1024)
			q = 4 * 1024;
		if (q < 4 || (n = EVP_DecodeBlock(dec,
		    (const unsigned char *)w, (int)q)) <= 0)
			continue;
		for (i = 0; i < sizeof(fuzz_clear) / sizeof(fuzz_clear[0]);
		    i++)
			if (memmem(dec, (size_t)n, fuzz_clear[i],
			    strlen(fuzz_clear[i])) != NULL)
				return 1;
	}
	return 0;
}

static void
fuzz_log_check(void)
{
	struct stat	 st;
	char		*buf, *line, *nl, *end;
	size_t		 i;

	if (fuzz_logfd == -1 || fstat(fuzz_logfd, &st) == -1 ||
	    st.st_size == 0)
		return;
	if ((buf = malloc((size_t)st.st_size)) == NULL)
		abort();
	if (pread(fuzz_logfd, buf, (size_t)st.st_size, 0) != st.st_size)
		abort();
	end = buf + st.st_size;
	/* FUZZ_DEBUG=1: the log too, for writing seeds */
	if (getenv("FUZZ_DEBUG") != NULL)
		fprintf(stderr, "%.*s", (int)st.st_size, buf);
	for (line = buf; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if (!fuzz_log_sent(line, nl))
			continue;
		for (i = 0; i < sizeof(fuzz_secrets) /
		    sizeof(fuzz_secrets[0]); i++)
			if (memmem(line, (size_t)(nl - line), fuzz_secrets[i],
			    strlen(fuzz_secrets[i])) != NULL) {
				fprintf(stderr, "credential in the trace: "
				    "%.*s\n", (int)(nl - line), line);
				abort();
			}
		if (fuzz_b64_leaks(line, (size_t)(nl - line))) {
			fprintf(stderr, "credential in base64 in the trace: "
			    "%.*s\n", (int)(nl - line), line);
			abort();
		}
	}
	free(buf);
	if (ftruncate(fuzz_logfd, 0) == -1)
		abort();
}

#endif
