/* The smart-host auth file parser (authfile.c is in mtad/: compiled in). */
#include <stdint.h>
#include <string.h>

#include "../../mtad/authfile.c"
#include "quietlog.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct authfile	af;
	char		err[256];

	if (authfile_parse("fuzz", (const char *)data, size, &af, err,
	    sizeof(err)) == 0) {
		(void)authfile_lookup(&af, "smtp.isp.example");
		authfile_free(&af);
	}
	return 0;
}
