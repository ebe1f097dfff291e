/*
 * /etc/aliases and :include: files (alias.c is in mtad/: compiled in):
 * parse, then expand every alias and a few plain names.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../mtad/alias.c"
#include "quietlog.h"

static int
count(const struct alias_target *t, void *arg)
{
	(void)t;
	++*(size_t *)arg;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct alias_table	*t;
	char			 path[64], err[512];
	size_t			 n = 0;
	int			 fd, nerr;

	if ((fd = memfd_create("aliases", 0)) == -1)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((t = alias_load(path, NULL, &nerr)) != NULL) {
		for (size_t i = 0; i < t->n; i++)
			(void)alias_expand(t, NULL, t->e[i].name, count, &n,
			    err, sizeof(err));
		(void)alias_expand(t, NULL, "root", count, &n, err,
		    sizeof(err));
		alias_free(t);
	}
	close(fd);
	return 0;
}
