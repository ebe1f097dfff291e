/*
 * OAuth2 account files and the JSON the mtad-oauth2 helper parses
 * (mtad/oauth2_json.c compiled in).  The first byte picks the input: even,
 * an account file; odd, a token endpoint response with HTTP status 200,
 * 400 or 503, or a device authorization response with 200, 400 or 500.
 */
#include <stdint.h>
#include <string.h>

#include "../../mtad/oauth2_json.c"
#include "quietlog.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long	 statuses[] = { 200, 400, 503, 200, 400, 500 };
	struct oauth2_account	 a;
	struct oauth2_grant	 g;
	struct oauth2_device	 d;
	char			 err[512];
	unsigned		 pick;

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		if (oauth2_parse("fuzz", (const char *)data + 1, size - 1, &a,
		    err, sizeof(err)) == 0)
			oauth2_free(&a);
		return 0;
	}
	pick = (data[0] >> 1) % 6;
	if (pick < 3) {
		if (oauth2_parse_token("fuzz", statuses[pick],
		    (const char *)data + 1, size - 1, &g, err,
		    sizeof(err)) == OAUTH2_OK)
			oauth2_grant_free(&g);
	} else if (oauth2_parse_device("fuzz", statuses[pick],
	    (const char *)data + 1, size - 1, &d, err, sizeof(err)) == 0)
		oauth2_device_free(&d);
	return 0;
}
