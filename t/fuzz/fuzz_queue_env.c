/*
 * libFuzzer: the queue envelope parser (queue/ID.env may be edited by hand
 * or cut short by a full disk).  Beyond "no crash": a parsed envelope
 * formats to text that parses back to the same envelope, and a refusal
 * always says why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* mtad/ is not in the fuzz link: take the two files the parser needs. */
#include "../../mtad/queue.c"
#include "../../mtad/queue_env.c"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qmsg	 m, m2;
	char		 err[256], err2[256];
	char		*buf, *buf2;
	size_t		 len, len2;

	err[0] = '\0';
	if (env_parse((const char *)data, size, &m, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || m.rcpts != NULL || m.sender != NULL)
			abort();
		return 0;
	}
	if (env_format(&m, &buf, &len) == -1)
		abort();
	if (env_parse(buf, len, &m2, err2, sizeof(err2)) == -1)
		abort();
	if (env_format(&m2, &buf2, &len2) == -1 || len != len2 ||
	    memcmp(buf, buf2, len) != 0)
		abort();
	free(buf);
	free(buf2);
	qmsg_free(&m);
	qmsg_free(&m2);
	return 0;
}
