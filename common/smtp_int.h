/*
 * Inside the SMTP client: the session (smtp_client.c: commands, replies,
 * EHLO, STARTTLS, AUTH) and the transactions (smtp_send.c) share this.
 */
#ifndef MAILHUB_SMTP_INT_H
#define MAILHUB_SMTP_INT_H

#include "smtp_client.h"

#define SMTP_PEND_MAX	1024	/* replies outstanding before we wait */
#define SMTP_FLY_MAX	8	/* messages handed out and not yet done */
#define SMTP_IOBUF	65536	/* message data read per chunk */

enum pend_kind { P_RSET, P_MAIL, P_RCPT, P_DATA, P_BDAT, P_DOT };

struct pend {
	enum pend_kind	 kind;
	struct smtp_msg	*m;
	size_t		 idx;		/* recipient for P_RCPT */
	int		 last;		/* BDAT ... LAST */
};

struct smtp_client {
	struct stream		*st;
	struct smtp_params	 p;
	struct smtp_caps	 caps;
	const char		*mech;
	char			 err[512];
	enum smtp_err		 kind;
	struct smtp_reply	 ereply;
	unsigned long		 turns;
	int			 wrote;		/* output since the last reply */
	int			 broken;
	int			 need_rset;
	int			 transactions;
	char			 line[SMTP_REPLY_LINE_MAX + 2];

	struct pend		 q[SMTP_PEND_MAX];
	size_t			 qhead, qlen;
	struct smtp_msg		*fly[SMTP_FLY_MAX];
	size_t			 nfly;
	const struct smtp_batch	*batch;

	char			*inbuf;		/* SMTP_IOBUF */
	char			*outbuf;	/* 2 * SMTP_IOBUF + 4 */
};

void	smtp_set_error(struct smtp_client *c, enum smtp_err kind,
	    const struct smtp_reply *r, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));
void	smtp_trace(struct smtp_client *c, char dir, int flags, const char *s,
	    size_t len);
int	smtp_send_line(struct smtp_client *c, int secret, const char *s,
	    size_t len);
int	smtp_cmd(struct smtp_client *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Read a whole reply; linecb (may be NULL) sees each line's text. */
int	smtp_read_reply(struct smtp_client *c, struct smtp_reply *r,
	    void (*linecb)(struct smtp_client *, int, const char *));
int	smtp_auth(struct smtp_client *c);

#endif
