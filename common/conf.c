/*
 * mtad.conf lexer and value parsers.
 *
 * One pass over the bytes with three states (blank/word, quoted, comment), so
 * quoting, comments and continuation interact the way a shell user expects:
 *   - a backslash-newline outside quotes counts as a blank, so
 *     "local-domains a \" + "  b" gives two values;
 *   - a backslash-newline inside quotes is removed (a quoted value may be
 *     split over lines, but never holds a raw newline);
 *   - a comment ends at the newline even when it ends in a backslash;
 *   - outside quotes a backslash not followed by a newline is an ordinary
 *     character (paths and commands are written in quotes when they need it);
 *   - '#' outside quotes starts a comment even inside a word ("a#b" is "a"),
 *     as the header and mtad.conf(5) say;
 *   - "" is an empty word, and quoted and unquoted pieces that touch form one
 *     word (ab"c d" is "abc d").
 * NUL bytes and lines longer than CONF_MAX_LINE are errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf.h"

#define TIME_T_MAX	((time_t)((sizeof(time_t) == 8) ? INT64_MAX : INT32_MAX))

static int	conf_lex(struct conf_reader *);
static void	conf_skip_line(struct conf_reader *);
static int	parse_digits(const char *, const char **, uint64_t *);

static void
conf_init(struct conf_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->lineno = 0;
	r->nextline = 1;
}

int
conf_open(struct conf_reader *r, const char *path)
{
	conf_init(r);
	if ((r->path = strdup(path)) == NULL) {
		snprintf(r->err, sizeof(r->err), "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((r->fp = fopen(path, "re")) == NULL) {
		snprintf(r->err, sizeof(r->err), "%s: %s", path, strerror(errno));
		free(r->path);
		r->path = NULL;
		return -1;
	}
	return 0;
}

int
conf_open_mem(struct conf_reader *r, const char *name, const char *buf,
    size_t len)
{
	conf_init(r);
	if ((r->path = strdup(name)) == NULL) {
		snprintf(r->err, sizeof(r->err), "%s: %s", name, strerror(errno));
		return -1;
	}
	/* An empty buffer is an empty file: fp stays NULL and reads as EOF. */
	if (len == 0)
		return 0;
	/* Read-only: fmemopen never writes through the pointer in "r" mode. */
	if ((r->fp = fmemopen((void *)(uintptr_t)buf, len, "r")) == NULL) {
		snprintf(r->err, sizeof(r->err), "%s: %s", name, strerror(errno));
		free(r->path);
		r->path = NULL;
		return -1;
	}
	return 0;
}

void
conf_close(struct conf_reader *r)
{
	if (r->fp != NULL)
		fclose(r->fp);
	r->fp = NULL;
	free(r->path);
	r->path = NULL;
	r->argc = 0;
}

static int
conf_verror(struct conf_reader *r, int line, const char *fmt, va_list ap)
{
	int	n;

	n = snprintf(r->err, sizeof(r->err), "%s:%d: ",
	    r->path != NULL ? r->path : "(config)", line);
	if (n >= 0 && (size_t)n < sizeof(r->err))
		vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	return -1;
}

int
conf_error(struct conf_reader *r, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	conf_verror(r, r->lineno, fmt, ap);
	va_end(ap);
	return -1;
}

/* An error at the physical line being read, which may follow r->lineno. */
static int
conf_lex_error(struct conf_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
conf_lex_error(struct conf_reader *r, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	conf_verror(r, r->nextline, fmt, ap);
	va_end(ap);
	return -1;
}

int
conf_next(struct conf_reader *r)
{
	int	rv;

	r->argc = 0;
	r->err[0] = '\0';
	if (r->fp == NULL)
		return 0;
	for (;;) {
		r->lineno = r->nextline;
		if ((rv = conf_lex(r)) == -1) {
			/*
			 * Leave the reader at the next line so a caller may go
			 * on and report more errors; after a read error there
			 * is nothing more to read.
			 */
			if (ferror(r->fp)) {
				fclose(r->fp);
				r->fp = NULL;
			} else
				conf_skip_line(r);
			r->argc = 0;
			return -1;
		}
		if (r->argc > 0)
			return 1;
		if (rv == 0)
			return 0;
	}
}

/* After an error: drop the rest of the physical line. */
static void
conf_skip_line(struct conf_reader *r)
{
	int	c;

	while ((c = getc(r->fp)) != EOF && c != '\n')
		;
	if (c == '\n')
		r->nextline++;
}

enum lexstate { LEX_BLANK, LEX_WORD, LEX_QUOTE, LEX_COMMENT };

#define LEX_BADCR	(-2)

/*
 * getc with CRLF read as LF, so files written on other systems work.  A CR
 * not followed by LF is refused (LEX_BADCR): it has no business in a config,
 * and refusing it keeps every pushback to a single character.
 */
static int
lex_getc(FILE *fp)
{
	int	c, c2;

	if ((c = getc(fp)) != '\r')
		return c;
	if ((c2 = getc(fp)) == '\n')
		return '\n';
	if (c2 != EOF)
		ungetc(c2, fp);
	return LEX_BADCR;
}

/*
 * Read one logical line into r->argv.  Returns 1 when a line ended at a
 * newline (argc may be 0 for a blank line), 0 at EOF, -1 on error.
 *
 * Bound: every byte stored in r->words, and every word's terminating NUL
 * but the last, is paid for by at least one counted raw byte, and raw stays
 * <= CONF_MAX_LINE, so words (CONF_MAX_LINE + 1 bytes) cannot overflow.
 */
static int
conf_lex(struct conf_reader *r)
{
	enum lexstate	 st = LEX_BLANK;
	size_t		 raw = 0, out = 0;
	int		 c, c2;

	for (;;) {
		c = lex_getc(r->fp);
		if (c == EOF) {
			if (ferror(r->fp))
				return conf_lex_error(r, "read error: %s",
				    strerror(errno));
			if (st == LEX_QUOTE)
				return conf_lex_error(r, "unterminated quote");
			break;
		}
		if (c == LEX_BADCR)
			return conf_lex_error(r, "stray carriage return");
		if (c == '\n') {
			if (st == LEX_QUOTE) {
				/* Left for conf_skip_line, which counts it. */
				ungetc('\n', r->fp);
				return conf_lex_error(r, "unterminated quote");
			}
			r->nextline++;
			break;
		}
		if (c == '\0')
			return conf_lex_error(r, "NUL byte in line");
		if (++raw > CONF_MAX_LINE)
			return conf_lex_error(r, "line too long (more than %d "
			    "characters)", CONF_MAX_LINE);
		if (st == LEX_COMMENT)
			continue;

		if (c == '\\') {
			c2 = lex_getc(r->fp);
			if (c2 == LEX_BADCR)
				return conf_lex_error(r,
				    "stray carriage return");
			if (c2 == '\n') {
				r->nextline++;
				/* Outside quotes a continuation is a blank. */
				if (st == LEX_WORD) {
					r->words[out++] = '\0';
					st = LEX_BLANK;
				}
				continue;
			}
			if (c2 == EOF) {
				if (st == LEX_QUOTE)
					return conf_lex_error(r,
					    "unterminated quote");
				continue;
			}
			if (st == LEX_QUOTE) {
				if (c2 == '\0')
					return conf_lex_error(r,
					    "NUL byte in line");
				if (++raw > CONF_MAX_LINE)
					return conf_lex_error(r, "line too long "
					    "(more than %d characters)",
					    CONF_MAX_LINE);
				if (c2 == 'n')
					c2 = '\n';
				else if (c2 == 't')
					c2 = '\t';
				r->words[out++] = (char)c2;
				continue;
			}
			/* Outside quotes: an ordinary character. */
			ungetc(c2, r->fp);
		}

		if (st == LEX_QUOTE) {
			if (c == '"')
				st = LEX_WORD;
			else
				r->words[out++] = (char)c;
			continue;
		}

		/* LEX_BLANK or LEX_WORD */
		if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
			if (st == LEX_WORD) {
				r->words[out++] = '\0';
				st = LEX_BLANK;
			}
			continue;
		}
		if (c == '#') {
			/* Anywhere outside quotes, even inside a word. */
			if (st == LEX_WORD)
				r->words[out++] = '\0';
			st = LEX_COMMENT;
			continue;
		}
		if (st == LEX_BLANK) {
			if (r->argc == CONF_MAX_WORDS)
				return conf_lex_error(r, "too many words "
				    "(more than %d)", CONF_MAX_WORDS);
			r->argv[r->argc++] = &r->words[out];
			st = LEX_WORD;
		}
		if (c == '"')
			st = LEX_QUOTE;
		else
			r->words[out++] = (char)c;
	}
	if (st == LEX_WORD)
		r->words[out++] = '\0';
	return c == EOF ? 0 : 1;
}

/* Decimal digits only (no sign, no blanks), overflow checked. */
static int
parse_digits(const char *s, const char **end, uint64_t *out)
{
	uint64_t	v = 0;
	const char	*p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*end = p;
	*out = v;
	return 0;
}

int
conf_parse_size(const char *s, uint64_t *out)
{
	const char	*end;
	uint64_t	 v, mult = 1;

	if (parse_digits(s, &end, &v) == -1)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		mult = 1024;
		break;
	case 'm': case 'M':
		mult = 1024 * 1024;
		break;
	case 'g': case 'G':
		mult = 1024 * 1024 * 1024;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*out = v * mult;
	return 0;
}

int
conf_parse_duration(const char *s, time_t *out)
{
	const char	*end;
	uint64_t	 v, mult = 1;

	if (parse_digits(s, &end, &v) == -1)
		return -1;
	switch (*end) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 60 * 60;
		break;
	case 'd':
		mult = 24 * 60 * 60;
		break;
	case 'w':
		mult = 7 * 24 * 60 * 60;
		break;
	default:
		return -1;
	}
	if (*end != '\0' && end[1] != '\0')
		return -1;
	if (v > (uint64_t)TIME_T_MAX / mult)
		return -1;
	*out = (time_t)(v * mult);
	return 0;
}

int
conf_parse_bool(const char *s, int *out)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcasecmp(s, "on") == 0) {
		*out = 1;
		return 0;
	}
	if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcasecmp(s, "off") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

int
conf_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	const char	*end;
	uint64_t	 v;

	if (parse_digits(s, &end, &v) == -1 || *end != '\0')
		return -1;
	if (v > max)
		return -1;
	*out = (unsigned long)v;
	return 0;
}

int
conf_check_secret_file(int fd, const char *path, char *err, size_t errlen)
{
	struct stat	st;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_mode & S_IRWXO) {
		snprintf(err, errlen, "%s: mode %04o grants access to others "
		    "(it holds credentials: chmod o-rwx)", path,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	if (st.st_mode & S_IWGRP) {
		snprintf(err, errlen, "%s: mode %04o is group-writable "
		    "(it holds credentials: chmod g-w)", path,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}
