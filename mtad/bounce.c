/*
 * RFC 3464 bounces.  The DSN is an ordinary queued message from <>, so it
 * is as durable as any other and is delivered (locally or through the
 * smart host) by the same code.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "log.h"

static void
rfc5322_date(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", localtime_r(&t, &tm));
}

/* "550 5.1.1 text": the enhanced status code, or a default by class. */
static void
status_of(const char *reason, char *buf, size_t len)
{
	const char	*p = reason;
	int		 a, b, c, n = 0;

	if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
	    isdigit((unsigned char)p[2]) && (p[3] == ' ' || p[3] == '-'))
		p += 4;
	if (sscanf(p, "%1d.%3d.%3d%n", &a, &b, &c, &n) == 3 && n > 0 &&
	    (a == 2 || a == 4 || a == 5) && (p[n] == '\0' || p[n] == ' ')) {
		snprintf(buf, len, "%d.%d.%d", a, b, c);
		return;
	}
	snprintf(buf, len, "%s", reason[0] == '4' ? "4.0.0" : "5.0.0");
}

static int
is_smtp_reply(const char *s)
{
	return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
	    isdigit((unsigned char)s[2]) && (s[3] == ' ' || s[3] == '\0');
}

/* A header field value must stay one line of printable text. */
static void
put_clean(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, out);
}

/* The original's header, up to the blank line, bounded, whole lines. */
static int
copy_headers(FILE *out, int datafd, int *eightbit)
{
	char	*buf, *end;
	ssize_t	 n;
	size_t	 len = 0;

	if ((buf = malloc(BOUNCE_MAX_HEADERS)) == NULL)
		return -1;
	while (len < BOUNCE_MAX_HEADERS) {
		n = pread(datafd, buf + len, BOUNCE_MAX_HEADERS - len, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += n;
	}
	if ((end = memmem(buf, len, "\n\n", 2)) != NULL)
		len = end - buf + 1;
	else if (len > 0 && buf[0] == '\n')
		len = 0;
	else if (len == BOUNCE_MAX_HEADERS && (end = memrchr(buf, '\n', len))
	    != NULL)
		len = end - buf + 1;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] >= 0x80)
			*eightbit = 1;
	fwrite(buf, 1, len, out);
	if (len > 0 && buf[len - 1] != '\n')
		fputc('\n', out);
	free(buf);
	return 0;
}

int
bounce_format(FILE *out, const struct mtad_config *cf,
    const struct qmsg *orig, int datafd, const char *to,
    const struct bounce_rcpt *r, size_t n, const char *id, int *eightbit)
{
	const char	*host = cf->hostname ? cf->hostname : "localhost";
	char		 now[64], arrived[64], status[16];
	size_t		 i;

	*eightbit = 0;
	rfc5322_date(time(NULL), now, sizeof(now));
	rfc5322_date(orig->arrival, arrived, sizeof(arrived));

	fprintf(out, "From: Mail Delivery Subsystem <MAILER-DAEMON@%s>\n",
	    host);
	fprintf(out, "To: <%s>\n", to);
	fprintf(out, "Subject: Returned mail: see transcript for details\n");
	fprintf(out, "Date: %s\n", now);
	fprintf(out, "Message-ID: <%s@%s>\n", id, host);
	fprintf(out, "Auto-Submitted: auto-replied\n");
	fprintf(out, "MIME-Version: 1.0\n");
	fprintf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\n\tboundary=\"%s/%s\"\n", id, host);
	fprintf(out, "\nThis is a MIME-encapsulated message.\n\n");

	fprintf(out, "--%s/%s\n", id, host);
	fprintf(out, "Content-Type: text/plain; charset=us-ascii\n");
	fprintf(out, "Content-Description: Notification\n\n");
	fprintf(out, "This is the mail system at %s.\n\n", host);
	fprintf(out, "Your message could not be delivered to one or more "
	    "recipients.\n");
	fprintf(out, "It was received at %s\nfrom ", arrived);
	put_clean(out, orig->client ? orig->client : "localhost");
	fprintf(out, " with queue ID %s.\n\n", orig->id);
	fprintf(out, "   ----- The following addresses had permanent fatal "
	    "errors -----\n");
	for (i = 0; i < n; i++) {
		fputc('<', out);
		put_clean(out, r[i].final ? r[i].final : r[i].orig);
		fputs(">\n    (reason: ", out);
		put_clean(out, r[i].reason);
		fputs(")\n", out);
		if (r[i].final != NULL && strcmp(r[i].final, r[i].orig) != 0) {
			fputs("    (expanded from: <", out);
			put_clean(out, r[i].orig);
			fputs(">)\n", out);
		}
	}
	fputc('\n', out);

	fprintf(out, "--%s/%s\n", id, host);
	fprintf(out, "Content-Type: message/delivery-status\n\n");
	fprintf(out, "Reporting-MTA: dns; %s\n", host);
	if (orig->helo != NULL && *orig->helo != '\0') {
		fputs("Received-From-MTA: dns; ", out);
		put_clean(out, orig->helo);
		fputc('\n', out);
	}
	fprintf(out, "Arrival-Date: %s\n", arrived);
	for (i = 0; i < n; i++) {
		const char *final = r[i].final ? r[i].final : r[i].orig;

		fputc('\n', out);
		if (strcmp(final, r[i].orig) != 0) {
			fputs("Original-Recipient: rfc822; ", out);
			put_clean(out, r[i].orig);
			fputc('\n', out);
		}
		fputs("Final-Recipient: rfc822; ", out);
		put_clean(out, final);
		status_of(r[i].reason, status, sizeof(status));
		fprintf(out, "\nAction: failed\nStatus: %s\n", status);
		fprintf(out, "Diagnostic-Code: %s; ", is_smtp_reply(r[i].reason)
		    ? "smtp" : "x-unix");
		put_clean(out, r[i].reason);
		fprintf(out, "\nLast-Attempt-Date: %s\n", now);
	}
	fputc('\n', out);

	fprintf(out, "--%s/%s\n", id, host);
	fprintf(out, "Content-Type: text/rfc822-headers\n");
	fprintf(out, "Content-Description: Undelivered Message Headers\n\n");
	if (copy_headers(out, datafd, eightbit) == -1)
		return -1;
	fprintf(out, "\n--%s/%s--\n", id, host);
	return ferror(out) ? -1 : 0;
}

static const char *
local_part_end(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at : addr + strlen(addr);
}

static int
is_postmaster(const struct mtad_config *cf, const char *addr)
{
	const char	*pm = cf->postmaster ? cf->postmaster : "postmaster";
	size_t		 len;

	if (addr == NULL)
		return 0;
	len = local_part_end(addr) - addr;
	if (len == 10 && strncasecmp(addr, "postmaster", 10) == 0)
		return 1;
	return strcasecmp(addr, pm) == 0 || (strchr(pm, '@') == NULL &&
	    strlen(pm) == len && strncasecmp(addr, pm, len) == 0);
}

int
bounce_queue(const struct mtad_config *cf, struct queue *q,
    const struct qmsg *orig, int datafd, const struct bounce_rcpt *r,
    size_t n, char newid[QID_SIZE], int *local)
{
	struct qwriter	 w, *wp = &w;
	struct qmsg	 m;
	struct qrcpt	 rc;
	char		 to[1024], msgid[QID_SIZE + 300];
	const char	*host = cf->hostname ? cf->hostname : "localhost";
	const char	*at, *pm;
	char		*buf = NULL;
	size_t		 len = 0;
	FILE		*out;
	int		 res, eightbit;

	if (n == 0)
		return 0;
	if (orig->sender == NULL || *orig->sender == '\0') {
		/* Never bounce a bounce; tell the postmaster instead. */
		for (size_t i = 0; i < n; i++) {
			if (is_postmaster(cf, r[i].orig) ||
			    (r[i].final && is_postmaster(cf, r[i].final))) {
				log_warnx("%s: DSN not sent for a message from "
				    "<>: <%s>: %s", orig->id, r[i].orig,
				    r[i].reason);
				return 0;
			}
		}
		pm = cf->postmaster ? cf->postmaster : "postmaster";
		if (strchr(pm, '@') != NULL)
			snprintf(to, sizeof(to), "%s", pm);
		else
			snprintf(to, sizeof(to), "%s@%s", pm, host);
	} else
		snprintf(to, sizeof(to), "%s", orig->sender);

	if (qwriter_open(q, QDEST_QUEUE, &w) == -1)
		return -1;
	if ((out = open_memstream(&buf, &len)) == NULL) {
		qwriter_abort(&w);
		return -1;
	}
	res = bounce_format(out, cf, orig, datafd, to, r, n, w.id, &eightbit);
	if (fclose(out) != 0 || res == -1) {
		free(buf);
		qwriter_abort(&w);
		errno = errno ? errno : EIO;
		return -1;
	}
	qwriter_write(&w, buf, len);
	free(buf);

	memset(&m, 0, sizeof(m));
	memset(&rc, 0, sizeof(rc));
	at = strrchr(to, '@');
	rc.addr = to;
	rc.local = at == NULL || config_is_local_domain(cf, at + 1);
	rc.state = QR_PENDING;
	snprintf(msgid, sizeof(msgid), "<%s@%s>", w.id, host);
	m.arrival = time(NULL);
	m.sender = "";
	m.helo = (char *)host;
	m.client = "localhost";
	m.proto = "local";
	m.msgid = msgid;
	m.body8bit = eightbit;
	m.rcpts = &rc;
	m.nrcpts = 1;
	if (qwriter_finish(&w, &m) == -1)
		return -1;
	queue_commit(q, &wp, 1, &res);
	if (res != 0) {
		errno = res;
		return -1;
	}
	memcpy(newid, m.id, QID_SIZE);
	if (local != NULL)
		*local = rc.local;
	log_info("%s: %s: %sDSN: %s", orig->id, newid, *orig->sender ?
	    "" : "postmaster notify: ", r[0].reason);
	log_info("%s: from=<>, size=%llu, nrcpts=1, msgid=%s, proto=local, "
	    "relay=localhost", newid, (unsigned long long)m.size, msgid);
	return 1;
}
