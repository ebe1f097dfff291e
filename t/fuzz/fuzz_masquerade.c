/* Header masquerading over arbitrary header sections and envelope paths.
 * masquerade.c lives in mtad/, outside the common/ objects this Makefile
 * links, so it is compiled into the harness. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../mtad/config.h"
#include "../../mtad/masquerade.c"
#include "quietlog.h"

static char *domains[] = { "shofar.lan" };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtad_config	 cf;
	struct masq		 m;
	char			 err[256], out[600], addr[600];
	char			*hdr;
	size_t			 len, hl;

	memset(&cf, 0, sizeof(cf));
	cf.hostname = "hub.shofar.lan";
	cf.local_domains.v = domains;
	cf.local_domains.n = 1;
	cf.masquerade = "isp.example";
	cf.masquerade_headers = 1;
	if (masq_init(&m, &cf, err, sizeof(err)) == -1)
		return 0;
	/* The first line doubles as a generics file and an envelope path. */
	hl = masq_header_length((const char *)data, size);
	(void)masq_load_generics_mem(&m, "fuzz", (const char *)data,
	    hl < 1024 ? hl : 1024, err, sizeof(err));
	len = size < sizeof(addr) - 1 ? size : sizeof(addr) - 1;
	memcpy(addr, data, len);
	addr[len] = '\0';
	(void)masq_address(&m, addr, out, sizeof(out));
	if (masq_headers(&m, (const char *)data, hl, &hdr, &len) == 0)
		free(hdr);
	masq_free(&m);
	return 0;
}
