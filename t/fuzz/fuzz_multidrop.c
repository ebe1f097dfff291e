/*
 * libFuzzer: multi-drop recipients from untrusted message headers.  Always
 * at least one recipient (the postmaster), never more than MD_MAX_RCPTS,
 * each a bounded string.  Then the reinjection's envelope sender from the
 * same headers (Return-Path, else From): empty or one bounded line with no
 * line break.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../fetchd/rcfile_lex.c"
#include "../../fetchd/rcfile.c"
#include "../../fetchd/rcfile_conf.c"
#include "../../fetchd/rcfile_dump.c"
#include "../../fetchd/multidrop.c"
#include "../../fetchd/mda.c"
#include "../../fetchd/inject.c"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char rc[] =
    "poll mail.example.net aka shofar.example.net localdomains lan.example\n"
    "  qvirtual shofar- user a there to eddy nelug=eddy x@y.org=root * here\n"
    "poll b.example.net envelope 1 X-Envelope-To user b there to c d here\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct rc_env env = { "fuzz", "/home/fuzz", 0 };
	static struct rc_config	 cfg;
	static int		 loaded;
	struct md_rcpts		 r;
	char			 err[512], from[ADDR_MAX + 1];
	size_t			 i, k;

	if (!loaded) {
		rc_init(&cfg);
		if (rc_parse_buf(&cfg, "rc", rc, strlen(rc), err,
		    sizeof(err)) != PS_SUCCESS ||
		    rc_select(&cfg, NULL, 0, err, sizeof(err)) != PS_SUCCESS ||
		    rc_finish(&cfg, NULL, NULL, &env, err, sizeof(err)) !=
		    PS_SUCCESS)
			abort();
		loaded = 1;
	}
	for (i = 0; i < cfg.npolls; i++) {
		if (multidrop_rcpts((const char *)data, size, &cfg.polls[i],
		    &cfg.polls[i].users[0], "postmaster", &r) == -1)
			abort();
		if (r.n < 1 || r.n > MD_MAX_RCPTS)
			abort();
		for (k = 0; k < r.n; k++)
			if (r.v[k][0] == '\0' || strlen(r.v[k]) > MD_MAX_ADDR)
				abort();
		md_rcpts_free(&r);
	}
	memset(from, 'x', sizeof(from));
	inject_sender((const char *)data, size, from, sizeof(from));
	if (memchr(from, '\0', sizeof(from)) == NULL ||
	    strpbrk(from, "\r\n") != NULL)
		abort();
	return 0;
}
