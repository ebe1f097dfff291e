/*
 * OAuth2 account files and token-endpoint responses (oauth2.c compiled in
 * for its static response parser).  The first byte picks the input: even,
 * an account file; odd, a response body with HTTP status 200, 400 or 503.
 */
#include <stdint.h>
#include <string.h>

#include "../../common/oauth2.c"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long	 statuses[] = { 200, 400, 503 };
	struct oauth2_account	 a;
	char			 err[512];

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0) {
		if (oauth2_parse("fuzz", (const char *)data + 1, size - 1, &a,
		    err, sizeof(err)) == 0)
			oauth2_free(&a);
		return 0;
	}
	memset(&a, 0, sizeof(a));
	/* No file: a rotated refresh token cannot be written anywhere. */
	a.path = strdup("/nonexistent/fuzz.oauth2");
	a.refresh_token = strdup("old");
	if (a.path != NULL && a.refresh_token != NULL)
		(void)parse_response(&a, statuses[(data[0] >> 1) % 3],
		    (const char *)data + 1, size - 1, err, sizeof(err));
	oauth2_free(&a);
	return 0;
}
