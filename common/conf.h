/*
 * Lexer for mtad.conf-style files: one "keyword value ..." statement per line.
 *
 *   - '#' outside quotes starts a comment to the end of the line;
 *   - words are separated by blanks; "double quotes" keep blanks and '#',
 *     and inside them a backslash escapes the next character (\" \\ \n \t);
 *   - a backslash as the last character of a line joins the next line;
 *   - blank and comment-only lines are skipped.
 *
 * Errors are formatted "file:line: message" into the reader's err buffer.
 * Lines are bounded (CONF_MAX_LINE octets after joining, CONF_MAX_WORDS words).
 */
#ifndef MAILHUB_CONF_H
#define MAILHUB_CONF_H

#include <stdio.h>
#include <stdint.h>
#include <time.h>

#define CONF_MAX_LINE	8192
#define CONF_MAX_WORDS	256

struct conf_reader {
	FILE	*fp;
	char	*path;
	int	 lineno;	/* line where the current statement starts */
	int	 nextline;
	int	 argc;
	char	*argv[CONF_MAX_WORDS];
	char	 buf[CONF_MAX_LINE + 1];
	char	 words[CONF_MAX_LINE + 1];
	char	 err[512];
};

/* 0 on success; -1 with r->err set ("path: strerror"). */
int	conf_open(struct conf_reader *r, const char *path);
/* The same over an in-memory buffer (tests, fuzzing); name is used in errors. */
int	conf_open_mem(struct conf_reader *r, const char *name, const char *buf,
	    size_t len);
/* 1: a statement is in r->argc/argv; 0: end of file; -1: r->err is set. */
int	conf_next(struct conf_reader *r);
void	conf_close(struct conf_reader *r);

/* Set r->err to "file:line: <fmt>" and return -1, for the caller's checks. */
int	conf_error(struct conf_reader *r, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Value parsers: 0 on success, -1 on a bad value.
 * Sizes: N, NK, NM, NG (powers of 1024).  Durations: N (seconds), Ns, Nm, Nh,
 * Nd, Nw.  Booleans: yes/no, true/false, on/off.
 */
int	conf_parse_size(const char *s, uint64_t *out);
int	conf_parse_duration(const char *s, time_t *out);
int	conf_parse_bool(const char *s, int *out);
int	conf_parse_uint(const char *s, unsigned long max, unsigned long *out);

/*
 * Check a credentials file's mode: refused (-1, err set) when it grants any
 * permission to others or write permission to its group, or is not a regular
 * file.  Used for mtad's auth file and OAuth2 account files.
 */
int	conf_check_secret_file(int fd, const char *path, char *err, size_t errlen);

#endif
