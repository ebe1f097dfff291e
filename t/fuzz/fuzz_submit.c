/*
 * libFuzzer: mtad-sendmail's reading of a message (header block, folding,
 * "." and CRLF handling, -t recipient extraction, Bcc removal, added
 * fields), without the disk: the message goes to /dev/null.  Beyond "no
 * crash": every kept field starts "name:", every recipient is one line.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* mtad/ is not in the fuzz link: take what submission needs. */
#include "../../mtad/queue.c"
#include "../../mtad/queue_env.c"
#include "../../mtad/submit.c"
#include "quietlog.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The two outside functions submission calls, as mtad's would answer. */
int
config_is_local_domain(const struct mtad_config *cf, const char *domain)
{
	return domain[0] == '\0' || strcasecmp(domain, cf->hostname) == 0;
}

int
alias_exists(const struct alias_table *t, const char *name)
{
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mtad_config cf;
	struct submit	 s;
	struct reader	*r;
	struct qwriter	 w;
	enum hdr_end	 how;
	char		 err[256];
	FILE		*fp;
	size_t		 i;

	if (size < 1)
		return 0;
	cf.hostname = "shofar.lan";
	memset(&s, 0, sizeof(s));
	s.cf = &cf;
	s.extract = data[0] & 1;
	s.ignore_dots = (data[0] >> 1) & 1;
	s.user = strdup("eddy");
	s.from = strdup("eddy@shofar.lan");
	s.sender = strdup("eddy@shofar.lan");
	if ((fp = fmemopen((void *)(data + 1), size - 1, "r")) == NULL ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		abort();
	r->fp = fp;
	if (read_header(&s, r, &how) == 0 && (!s.extract ||
	    extract_rcpts(&s, err, sizeof(err)) == 0)) {
		for (i = 0; i < s.nrcpts; i++)
			if (s.rcpts[i].addr == NULL || strchr(s.rcpts[i].addr,
			    '\n') != NULL)
				abort();
		find_msgid(&s);
		memset(&w, 0, sizeof(w));
		memcpy(w.id, "0019A2B3C4D5E000123", QID_SIZE);
		w.fd = open("/dev/null", O_WRONLY);
		write_header(&s, &w, 0);
		close(w.fd);
		for (i = 0; i < s.nhdrs; i++)
			if (s.hdrs[i].namelen == 0 || s.hdrs[i].namelen >=
			    s.hdrs[i].len || s.hdrs[i].text[s.hdrs[i].namelen] !=
			    ':')
				abort();
		while (next_chunk(r, s.ignore_dots) == 1)
			;
	}
	fclose(fp);
	free(r);
	submit_free(&s);
	return 0;
}
