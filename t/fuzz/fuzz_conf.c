/* libFuzzer: the mtad.conf lexer and the value parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf_reader	 r;	/* 16 KB: keep it off the stack */
	uint64_t			 sz;
	time_t				 t;
	unsigned long			 u;
	int				 rv, b, i, rounds = 0;

	if (conf_open_mem(&r, "fuzz.conf", (const char *)data, size) == -1)
		return 0;
	while ((rv = conf_next(&r)) != 0) {
		/* Each call consumes at least one byte; more is a loop bug. */
		if (++rounds > (int)size + 1)
			abort();
		if (rv == -1) {
			if (strncmp(r.err, "fuzz.conf:", 10) != 0)
				abort();
			continue;
		}
		if (r.argc < 1 || r.argc > CONF_MAX_WORDS)
			abort();
		for (i = 0; i < r.argc; i++) {
			if (r.argv[i] < r.words ||
			    r.argv[i] >= r.words + sizeof(r.words) ||
			    strlen(r.argv[i]) > CONF_MAX_LINE)
				abort();
			(void)conf_parse_size(r.argv[i], &sz);
			(void)conf_parse_duration(r.argv[i], &t);
			(void)conf_parse_bool(r.argv[i], &b);
			(void)conf_parse_uint(r.argv[i], 65535, &u);
		}
		conf_error(&r, "unknown keyword \"%s\"", r.argv[0]);
	}
	conf_close(&r);
	return 0;
}
