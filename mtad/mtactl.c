/*
 * mtactl: control the running mtad through its socket in the spool.
 * Exit 0 on success, 1 on failure, 2 when mtad is not running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "control.h"

static void
usage(void)
{
	fprintf(stderr, "usage: mtactl [-C conf] link up|link down|flush|"
	    "status|mailq|reload|stop\n");
	exit(1);
}

static void
print_line(const char *line, void *arg)
{
	printf("%s\n", line);
	fflush(stdout);
}

int
main(int argc, char *argv[])
{
	struct mtad_config	 cf;
	const char		*conf = MTAD_DEFAULT_CONF;
	char			 cmd[64], err[1024];
	int			 ch, rv, timeout_ms;

	while ((ch = getopt(argc, argv, "C:")) != -1) {
		switch (ch) {
		case 'C':
			conf = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 2 && strcmp(argv[0], "link") == 0 &&
	    (strcmp(argv[1], "up") == 0 || strcmp(argv[1], "down") == 0))
		snprintf(cmd, sizeof(cmd), "link %s", argv[1]);
	else if (argc == 1 && (strcmp(argv[0], "flush") == 0 ||
	    strcmp(argv[0], "status") == 0 || strcmp(argv[0], "mailq") == 0 ||
	    strcmp(argv[0], "reload") == 0 || strcmp(argv[0], "stop") == 0))
		snprintf(cmd, sizeof(cmd), "%s", argv[0]);
	else
		usage();

	if (config_load(conf, &cf, err, sizeof(err)) == -1) {
		fprintf(stderr, "mtactl: %s\n", err);
		config_free(&cf);
		return 1;
	}
	/* A flush over a slow line may take long: wait for as long as it
	 * runs; mtad answers once it ends. */
	timeout_ms = strcmp(cmd, "link up") == 0 || strcmp(cmd, "flush") == 0 ?
	    -1 : 30000;
	rv = control_request(cf.spool, cmd, timeout_ms, print_line, NULL, err,
	    sizeof(err));
	config_free(&cf);
	if (rv == -1) {
		fprintf(stderr, "mtactl: %s\n", err);
		return 2;
	}
	if (rv == -2) {
		fprintf(stderr, "mtactl: %s\n", err);
		return 1;
	}
	return rv;
}
