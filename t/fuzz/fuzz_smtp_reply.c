/*
 * libFuzzer: what the SMTP client reads from a server (reply lines, EHLO
 * capability lines) and what it rewrites (message data).  Checks, beyond
 * "no crash": replies stay within their bounds, and canonicalised data has
 * no bare CR or LF and no line that is a lone "." (no smuggled end of data),
 * whatever the split between reads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_client.h"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
replies(const char *s, size_t size)
{
	struct smtp_reply	 r;
	struct smtp_caps	 caps;
	char			 err[256], line[SMTP_REPLY_LINE_MAX + 64];
	const char		*p = s, *nl, *end = s + size;
	size_t			 n;
	int			 rv;

	smtp_reply_init(&r);
	memset(&caps, 0, sizeof(caps));
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		rv = smtp_reply_parse(&r, p, n, err, sizeof(err));
		if (strlen(r.text) >= sizeof(r.text) || r.nlines >
		    SMTP_REPLY_LINES_MAX)
			abort();
		if (rv == SMTP_PARSE_BAD && err[0] == '\0')
			abort();
		if (rv != SMTP_PARSE_MORE) {
			if (rv == SMTP_PARSE_DONE && (r.code < 200 ||
			    r.code > 599))
				abort();
			smtp_reply_init(&r);
		}
		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			smtp_caps_parse_line(&caps, line);
		}
		p += n + 1;
	}
}

static void
canon(const char *s, size_t size, int dotstuff)
{
	struct smtp_canon	 cs;
	char			*out;
	size_t			 cut, o, i;

	if ((out = malloc(2 * size + 8)) == NULL)
		return;
	cut = size > 0 ? (unsigned char)s[0] % (size + 1) : 0;
	smtp_canon_init(&cs, dotstuff);
	o = smtp_canon_feed(&cs, s, cut, out);
	o += smtp_canon_feed(&cs, s + cut, size - cut, out + o);
	o += smtp_canon_end(&cs, out + o);
	if (o > 2 * size + 4)
		abort();
	for (i = 0; i < o; i++) {
		if (out[i] == '\r' && (i + 1 >= o || out[i + 1] != '\n'))
			abort();
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
		/* a line that is just "." would end DATA early */
		if (dotstuff && out[i] == '.' && (i == 0 || out[i - 1] == '\n') &&
		    i + 1 < o && out[i + 1] == '\r')
			abort();
	}
	if (o > 0 && (out[o - 1] != '\n'))
		abort();
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	replies((const char *)data, size);
	canon((const char *)data, size, 1);
	canon((const char *)data, size, 0);
	return 0;
}
