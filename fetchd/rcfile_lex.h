/*
 * Internals shared by rcfile_lex.c (keywords and lexer), rcfile.c (parser)
 * and rcfile_conf.c (merging, selection, dump).  Not for other modules:
 * they use rcfile.h.
 */
#ifndef FETCHD_RCFILE_LEX_H
#define FETCHD_RCFILE_LEX_H

#include <limits.h>
#include <stddef.h>

#include "rcfile.h"

enum kw {
	KW_NONE = 0,
	/* statements */
	KW_SET, KW_DEFAULTS, KW_POLL, KW_SKIP,
	/* set */
	KW_LOGFILE, KW_IDFILE, KW_PIDFILE, KW_DAEMON, KW_SYSLOG, KW_INVISIBLE,
	KW_SHOWDOTS, KW_POSTMASTER, KW_BOUNCEMAIL, KW_SPAMBOUNCE,
	KW_SOFTBOUNCE, KW_PROPERTIES,
	/* server */
	KW_VIA, KW_AKA, KW_LOCALDOMAINS, KW_PROTOCOL, KW_SERVICE, KW_PORT,
	KW_INTERVAL, KW_AUTH, KW_TIMEOUT, KW_IDLETIMEOUT, KW_ENVELOPE,
	KW_QVIRTUAL, KW_PRINCIPAL, KW_ESMTPNAME, KW_ESMTPPASSWORD,
	KW_BADHEADER, KW_RETRIEVEERROR, KW_UIDL, KW_CHECKALIAS, KW_DNS,
	KW_INTERFACE, KW_MONITOR, KW_PLUGIN, KW_PLUGOUT, KW_TRACEPOLLS,
	/* user */
	KW_USER, KW_PASSWORD, KW_IS, KW_TO, KW_HERE, KW_THERE, KW_FOLDER,
	KW_SMTPHOST, KW_FETCHDOMAINS, KW_SMTPADDRESS, KW_SMTPNAME,
	KW_ANTISPAM, KW_MDA, KW_BSMTP, KW_LMTP, KW_PRECONNECT, KW_POSTCONNECT,
	KW_KEEP, KW_FLUSH, KW_LIMITFLUSH, KW_FETCHALL, KW_REWRITE, KW_FORCECR,
	KW_STRIPCR, KW_PASS8BITS, KW_DROPSTATUS, KW_DROPDELIVERED,
	KW_MIMEDECODE, KW_IDLE, KW_FORCEIDLE, KW_SSL, KW_SSLKEY, KW_SSLCERT,
	KW_SSLPROTO, KW_SSLCERTCK, KW_SSLCERTFILE, KW_SSLCERTPATH,
	KW_SSLCOMMONNAME, KW_SSLFINGERPRINT, KW_LIMIT, KW_WARNINGS,
	KW_FETCHLIMIT, KW_FETCHSIZELIMIT, KW_FASTUIDL, KW_BATCHLIMIT,
	KW_EXPUNGE, KW_PASSWORDFILE, KW_PASSWORDFD, KW_PASSWORDEVAL,
	KW_OAUTH2FILE,
	/* other */
	KW_NO
};

/* Where a keyword may appear, and whether "no" may precede it there. */
#define C_SET		0x01
#define C_SERVER	0x02
#define C_USER		0x04
#define C_NO		0x08	/* "no KW" is valid in its class */
#define C_NOIMPL	0x10	/* fetchd does not implement KW */
#define C_NONOIMPL	0x20	/* fetchd does not implement "no KW" */
#define C_NAMES		0x40	/* the word after it is a name, not a keyword */

enum tok_type { T_EOF, T_WORD, T_NUMBER, T_MAP };
enum lex_mode { LEX_NORMAL, LEX_NAME, LEX_AUTH };

struct token {
	enum tok_type	 type;
	enum kw		 kw;		/* for bare words in normal mode */
	int		 flags;		/* the keyword's C_* flags */
	int		 quoted;
	int		 line;
	long		 num;
	size_t		 len;
	char		 text[RC_MAX_TOKEN + 1];
};

struct parser {
	const char	*name;		/* file name in messages */
	char		 dir[PATH_MAX];	/* for relative paths; "" for none */
	const char	*buf;
	size_t		 len;
	size_t		 pos;
	int		 line;
	int		 lastline;	/* of the last token read */
	enum lex_mode	 mode;
	int		 peeked;
	struct token	 tok;		/* last token taken */
	struct token	 ahead;		/* the look-ahead, when peeked */
	char		*err;
	size_t		 errlen;
	struct rc_config *cfg;
};

/* "file:line: message" into p->err; returns -1. */
int	 rc_perr(struct parser *p, int line, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* "'word'", "\"quoted\"", "'='" or "end of file", printable and short. */
const char *rc_tok_desc(const struct token *t, char *buf, size_t len);
#define DESC(t)	rc_tok_desc((t), descbuf, sizeof(descbuf))
/* Read one token into t, honouring and updating the lexer's mode. */
int	 rc_lex(struct parser *p, struct token *t);
int	 rc_is_number(const char *s);

/* Allocation failures end the program: a config cannot be half-read. */
void	*rc_xcalloc(size_t n, size_t size);
void	*rc_xreallocarray(void *p, size_t n, size_t size);
char	*rc_xstrdup(const char *s);
/* Replace *dst with a copy of s (NULL clears), wiping the old value. */
void	 rc_setstr(char **dst, const char *s);
void	 rc_list_add(struct rc_list *l, const char *s);
void	 rc_list_free(struct rc_list *l);
void	 rc_list_copy(struct rc_list *dst, const struct rc_list *src);
void	 rc_user_free(struct rc_user *u);

#endif
