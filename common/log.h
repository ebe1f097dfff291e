/*
 * One logging module for both daemons and their tools: syslog (facility mail)
 * and, optionally, stderr.  One call is one line.  The protocol trace goes to
 * the same places and masks credentials before anything is written.
 */
#ifndef MAILHUB_LOG_H
#define MAILHUB_LOG_H

#include <stddef.h>
#include <stdarg.h>
#include <stdnoreturn.h>

#define LOG_TO_SYSLOG	0x01
#define LOG_TO_STDERR	0x02

#define PRINTFLIKE(a, b) __attribute__((format(printf, a, b)))

/* ident is the syslog ident (mtad, fetchd); verbose enables the trace. */
void	log_init(const char *ident, int dest, int verbose);
void	log_set_verbose(int verbose);
int	log_verbose(void);
/* Append lines to FILE too (fetchd's --logfile); NULL closes it. */
int	log_set_file(const char *path);

void	log_info(const char *fmt, ...) PRINTFLIKE(1, 2);
void	log_notice(const char *fmt, ...) PRINTFLIKE(1, 2);
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void	log_warn(const char *fmt, ...) PRINTFLIKE(1, 2);
void	log_warnx(const char *fmt, ...) PRINTFLIKE(1, 2);
void	log_debug(const char *fmt, ...) PRINTFLIKE(1, 2);
noreturn void fatal(const char *fmt, ...) PRINTFLIKE(1, 2);
noreturn void fatalx(const char *fmt, ...) PRINTFLIKE(1, 2);
void	log_vwrite(int prio, const char *fmt, va_list ap) PRINTFLIKE(2, 0);

/*
 * Protocol trace: "PROTO> line" for what we send, "PROTO< line" for what we
 * receive, only when verbose.  Lines are masked by trace_mask() first;
 * TRACE_SECRET masks the whole line (SASL continuation payloads).
 */
#define TRACE_SECRET	0x01
void	log_trace(const char *proto, char dir, int flags, const char *line,
	    size_t len);

/*
 * Copy line (len bytes, CR/LF stripped) into out with credentials replaced by
 * "****": "AUTH PLAIN x", "AUTH LOGIN x", "AUTH XOAUTH2 x", "PASS x", "APOP u d",
 * IMAP "tag LOGIN user pass" and "tag AUTHENTICATE MECH x".  Non-printable
 * bytes become '?'.  Returns the length written (always NUL-terminated).
 */
size_t	trace_mask(const char *line, size_t len, char *out, size_t outsz);

#endif
