/*
 * libFuzzer: mtad.conf keywords and their values (config.c is in mtad/:
 * compiled in), through config_load() on a memfd.  Beyond "no crash": a
 * refusal names the file; an accepted file has a host name, at least one
 * local domain (the host name's own domain counts as local) and the tls
 * pair set together or not at all.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../mtad/config.c"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mtad_config	 cf;
	char			 path[64], err[1024];
	int			 fd, rv;

	if ((fd = memfd_create("mtad.conf", 0)) == -1)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	rv = config_load(path, &cf, err, sizeof(err));
	if (rv == -1) {
		if (strncmp(err, path, strlen(path)) != 0)
			abort();
	} else {
		if (cf.hostname == NULL || cf.local_domains.n == 0 ||
		    cf.spool == NULL || cf.max_clients == 0)
			abort();
		if ((cf.tls_cert == NULL) != (cf.tls_key == NULL))
			abort();
		for (size_t i = 0; i < cf.local_domains.n; i++)
			if (!config_is_local_domain(&cf,
			    cf.local_domains.v[i]))
				abort();
	}
	config_free(&cf);
	close(fd);
	return 0;
}
