/*
 * libFuzzer: fetchd's rc file parser, the merge, and --configdump.  An rc
 * file that parses and merges must dump to an rc file that parses and
 * merges back to the same dump; one refused must say "file:line:" or name
 * the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fetchd/ is not a library here: take its sources whole */
#include "../../fetchd/rcfile_lex.c"
#include "../../fetchd/rcfile.c"
#include "../../fetchd/rcfile_conf.c"
#include "../../fetchd/rcfile_dump.c"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The comment marking a default local name is the one expected change. */
static void
strip_comments(char *s)
{
	static const char	 c[] = "\t# the invoking user";
	char			*p;

	while ((p = strstr(s, c)) != NULL)
		memmove(p, p + sizeof(c) - 1, strlen(p + sizeof(c) - 1) + 1);
}

static char *
dump(struct rc_config *cfg, size_t *len)
{
	char	*buf = NULL;
	FILE	*fp;

	if ((fp = open_memstream(&buf, len)) == NULL)
		abort();
	rc_dump(fp, cfg);
	fclose(fp);
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rc_env env = { "fuzz", "/home/fuzz", 0 };
	struct rc_config	 cfg, again;
	char			 err[1024], *d1, *d2;
	size_t			 l1, l2;
	char			*names[] = { "extra.example" };

	rc_init(&cfg);
	if (rc_parse_buf(&cfg, "fuzz.rc", (const char *)data, size, err,
	    sizeof(err)) != PS_SUCCESS) {
		if (strncmp(err, "fuzz.rc:", 8) != 0)
			abort();
		rc_free(&cfg);
		return 0;
	}
	if (rc_select(&cfg, names, size % 2, err, sizeof(err)) != PS_SUCCESS)
		abort();
	/* The merge refuses what only the merged entry shows (auth xoauth2
	 * without an oauth2file...), naming the file. */
	if (rc_finish(&cfg, NULL, NULL, &env, err, sizeof(err)) !=
	    PS_SUCCESS) {
		if (strncmp(err, "fuzz.rc", 7) != 0)
			abort();
		rc_free(&cfg);
		return 0;
	}
	d1 = dump(&cfg, &l1);
	rc_init(&again);
	if (rc_parse_buf(&again, "fuzz.rc", d1, l1, err, sizeof(err)) !=
	    PS_SUCCESS) {
		fprintf(stderr, "dump does not parse: %s\n%s", err, d1);
		abort();
	}
	if (rc_select(&again, names, size % 2, err, sizeof(err)) != PS_SUCCESS ||
	    rc_finish(&again, NULL, NULL, &env, err, sizeof(err)) !=
	    PS_SUCCESS)
		abort();
	d2 = dump(&again, &l2);
	strip_comments(d1);
	if (strcmp(d1, d2) != 0) {
		fprintf(stderr, "dump changed:\n%s---\n%s", d1, d2);
		abort();
	}
	free(d1);
	free(d2);
	rc_free(&cfg);
	rc_free(&again);
	return 0;
}
