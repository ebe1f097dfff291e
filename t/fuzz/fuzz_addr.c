/*
 * libFuzzer: RFC 5321 paths and RFC 5322 address lists.  Checks, beyond
 * "no crash": a parsed path formats and parses back to the same address.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
count_cb(const char *spec, const char *display, void *arg)
{
	(*(size_t *)arg) += strlen(spec) + (display != NULL ? strlen(display) : 0);
}

static void
check_path(const char *s, int bare)
{
	struct mailaddr	 a, b;
	const char	*rest;
	char		 err[128], fmt[ADDR_MAX * 2 + 4], path[ADDR_MAX * 2 + 8];
	int		 n;

	if (addr_parse_path(s, bare, &a, &rest, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (rest < s || rest > s + strlen(s))
		abort();
	if (strlen(a.local) > ADDR_LOCAL_MAX ||
	    strlen(a.domain) > ADDR_DOMAIN_MAX)
		abort();
	if ((n = addr_format(&a, fmt, sizeof(fmt))) < 0)
		abort();
	memcpy(path, "<", 1);
	memcpy(path + 1, fmt, (size_t)n);
	memcpy(path + 1 + n, ">", 2);
	if (addr_parse_path(path, bare, &b, NULL, err, sizeof(err)) == -1 ||
	    strcmp(a.local, b.local) != 0 || strcmp(a.domain, b.domain) != 0)
		abort();
	if (a.domain[0] != '\0' && !domain_match(a.domain, a.domain))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;
	size_t	 total = 0;

	/* Exactly size bytes: any read past the end is an ASan report. */
	(void)addr_list_parse((const char *)data, size, count_cb, &total);

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_path(s, 0);
	check_path(s, 1);
	if (size > 0)
		(void)domain_match(s, s + size / 2);
	free(s);
	return 0;
}
