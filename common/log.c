/*
 * Logging: syslog plus optional stderr and file, one line per call.  The
 * state is the log module's own (ident, destinations), set once at start-up.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static struct {
	const char	*ident;
	int		 dest;
	int		 verbose;
	FILE		*file;
} logstate = { "mailhub", LOG_TO_STDERR, 0, NULL };

void
log_init(const char *ident, int dest, int verbose)
{
	logstate.ident = ident;
	logstate.dest = dest;
	logstate.verbose = verbose;
	if (dest & LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
	tzset();
}

void
log_set_verbose(int verbose)
{
	logstate.verbose = verbose;
}

int
log_verbose(void)
{
	return logstate.verbose;
}

int
log_set_file(const char *path)
{
	if (logstate.file != NULL) {
		fclose(logstate.file);
		logstate.file = NULL;
	}
	if (path == NULL)
		return 0;
	if ((logstate.file = fopen(path, "ae")) == NULL)
		return -1;
	setvbuf(logstate.file, NULL, _IOLBF, 0);
	return 0;
}

void
log_vwrite(int prio, const char *fmt, va_list ap)
{
	char	 line[2048];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (logstate.dest & LOG_TO_SYSLOG)
		syslog(prio, "%s", line);
	if (logstate.dest & LOG_TO_STDERR)
		fprintf(stderr, "%s: %s\n", logstate.ident, line);
	if (logstate.file != NULL) {
		char		 stamp[32];
		time_t		 now = time(NULL);
		struct tm	 tm;

		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S",
		    localtime_r(&now, &tm));
		fprintf(logstate.file, "%s %s: %s\n", stamp, logstate.ident,
		    line);
	}
}

#define LOG_FN(name, prio)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list	ap;					\
	va_start(ap, fmt);				\
	log_vwrite(prio, fmt, ap);			\
	va_end(ap);					\
}
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_notice, LOG_NOTICE)
LOG_FN(log_warnx, LOG_WARNING)

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!logstate.verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

static void
log_plain(int prio, const char *fmt, ...) PRINTFLIKE(2, 3);

static void
log_plain(int prio, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(prio, fmt, ap);
	va_end(ap);
}

static void
log_verrno(int prio, int saved, const char *fmt, va_list ap)
{
	char	 msg[1900];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_plain(prio, "%s: %s", msg, strerror(saved));
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_verrno(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_verrno(LOG_CRIT, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Length of the word starting at s (up to a space or the end). */
static size_t
wordlen(const char *s, size_t len)
{
	size_t	n = 0;

	while (n < len && s[n] != ' ')
		n++;
	return n;
}

/* Skip the word at *pos and the spaces after it; 0 if nothing follows. */
static int
skip_word(const char *s, size_t len, size_t *pos)
{
	*pos += wordlen(s + *pos, len - *pos);
	while (*pos < len && s[*pos] == ' ')
		(*pos)++;
	return *pos < len;
}

static int
word_is(const char *s, size_t len, size_t pos, const char *w)
{
	size_t	n = strlen(w);

	return wordlen(s + pos, len - pos) == n && strncasecmp(s + pos, w, n) == 0;
}

/*
 * Where the secret starts in a command line, or len when there is none.
 * SMTP/POP3 commands come first on the line; IMAP commands follow a tag.
 */
static size_t
secret_offset(const char *s, size_t len)
{
	size_t	pos = 0;

	if (word_is(s, len, 0, "PASS"))
		return skip_word(s, len, &pos) ? pos : len;
	if (word_is(s, len, 0, "APOP")) {
		/* APOP user digest: the digest is replayable within a session. */
		if (skip_word(s, len, &pos) && skip_word(s, len, &pos))
			return pos;
		return len;
	}
	if (word_is(s, len, 0, "AUTH")) {
		/* AUTH MECH [initial-response] */
		if (skip_word(s, len, &pos) && skip_word(s, len, &pos))
			return pos;
		return len;
	}
	/* IMAP: tag LOGIN user pass | tag AUTHENTICATE mech [ir] */
	if (!skip_word(s, len, &pos))
		return len;
	if (word_is(s, len, pos, "LOGIN")) {
		if (skip_word(s, len, &pos) && skip_word(s, len, &pos))
			return pos;
		return len;
	}
	if (word_is(s, len, pos, "AUTHENTICATE")) {
		if (skip_word(s, len, &pos) && skip_word(s, len, &pos))
			return pos;
		return len;
	}
	return len;
}

size_t
trace_mask(const char *line, size_t len, char *out, size_t outsz)
{
	size_t	 i, n = 0, cut;

	if (outsz == 0)
		return 0;
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	cut = secret_offset(line, len);
	for (i = 0; i < cut && n + 1 < outsz; i++) {
		unsigned char c = (unsigned char)line[i];
		out[n++] = (isprint(c) || c == '\t') ? (char)c : '?';
	}
	if (cut < len)
		for (const char *m = "****"; *m != '\0' && n + 1 < outsz; m++)
			out[n++] = *m;
	out[n] = '\0';
	return n;
}

void
log_trace(const char *proto, char dir, int flags, const char *line,
    size_t len)
{
	char	 buf[1024];

	if (!logstate.verbose)
		return;
	if (flags & TRACE_SECRET)
		snprintf(buf, sizeof(buf), "****");
	else
		trace_mask(line, len, buf, sizeof(buf));
	log_plain(LOG_DEBUG, "%s%c %s", proto, dir, buf);
}
