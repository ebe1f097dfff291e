/*
 * Corpus regression without libFuzzer: a main() that feeds every file under
 * the directories (or files) named on the command line to the harness's
 * LLVMFuzzerTestOneInput once.  Built with the ordinary compiler and the
 * check build's sanitizers, so `make check` replays every seed and every
 * fixed crash input in seconds; a crash or sanitizer report fails the run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libFuzzer's -max_len for these harnesses: longer seeds are cut the same */
#define DRIVER_MAX_LEN	16384

static int
run_file(const char *path, size_t *count)
{
	FILE		*fp;
	uint8_t		*buf;
	size_t		 n;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(DRIVER_MAX_LEN)) == NULL) {
		fclose(fp);
		return -1;
	}
	n = fread(buf, 1, DRIVER_MAX_LEN, fp);
	if (ferror(fp)) {
		fprintf(stderr, "%s: read error\n", path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	/* The exact size, so a read past the end is caught by ASan. */
	buf = realloc(buf, n > 0 ? n : 1);
	fprintf(stderr, "running %s (%zu bytes)\n", path, n);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	++*count;
	return 0;
}

static int
run_path(const char *path, size_t *count)
{
	struct dirent	**ents;
	struct stat	  st;
	char		  sub[4096];
	int		  i, n, rv = 0;

	if (stat(path, &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return run_file(path, count);
	if ((n = scandir(path, &ents, NULL, alphasort)) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' && rv == 0) {
			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
			    ents[i]->d_name) >= sizeof(sub))
				rv = -1;
			else
				rv = run_path(sub, count);
		}
		free(ents[i]);
	}
	free(ents);
	return rv;
}

int
main(int argc, char *argv[])
{
	size_t	count = 0;
	int	i;

	if (argc < 2) {
		fprintf(stderr, "usage: %s dir|file ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++)
		if (run_path(argv[i], &count) == -1)
			return 1;
	printf("%zu inputs ran\n", count);
	return 0;
}
