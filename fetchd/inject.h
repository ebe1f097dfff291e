/*
 * Reinjection: fetched messages go to the user's smtphost (default
 * localhost:25) over ONE SMTP connection per poll (common/smtp_client),
 * opened at the first message and pipelined across messages.
 *
 * For each message the caller gives the spooled file, the envelope sender
 * (Return-Path, else From; inject_sender() finds it) and the local
 * recipients; inject prepends the Received: line and sends.  Per-recipient
 * results decide the message's fate (inject_msg.result):
 *   every recipient 2xx                      INJ_DELIVERED
 *   some 5xx, none 4xx: a bounce is sent to the sender (to the postmaster
 *   with "set no bouncemail") and, once that is accepted  INJ_BOUNCED
 *   any 4xx, no reply, connection lost       INJ_DEFERRED
 * INJ_DELIVERED and INJ_BOUNCED are settled: the message may leave the
 * server.  The done callback runs as each message settles, before the next
 * reply is read, so the caller can journal it at once.  The partial
 * callback runs for a message deferred after the SMTP server accepted it
 * for some recipients (those whose srcpts[i].reply.code is 2xx), so the
 * caller can leave them out of the retry.
 */
#ifndef FETCHD_INJECT_H
#define FETCHD_INJECT_H

#include <stddef.h>
#include <sys/types.h>

#include "addr.h"
#include "rcfile.h"
#include "smtp_client.h"

enum inj_result {
	INJ_PENDING,
	INJ_DELIVERED,
	INJ_BOUNCED,
	INJ_DEFERRED
};

struct inject_msg {
	int			 fd;		/* the message, any line ends */
	const char		*hdr;		/* its header section (bounces) */
	size_t			 hdrlen;
	char			 sender[ADDR_MAX + 1];	/* "" = <> */
	/* dropdelivered: send head instead of the first skip octets */
	const char		*head;
	size_t			 headlen;
	off_t			 skip;
	char			**rcpts;	/* addresses, user@domain */
	size_t			 nrcpts;
	char			*prefix;	/* Received: line (inject fills) */
	size_t			 prefixlen;
	struct smtp_rcpt	*srcpts;
	struct smtp_msg		 sm;
	enum inj_result		 result;
	char			 why[256];	/* deferral or bounce reason */
	void			*arg;		/* the caller's */
};

struct inject {
	const struct rc_user	*user;
	const char		*server;	/* POP3/IMAP server, Received */
	const char		*proto;		/* "POP3", "IMAP" */
	const char		*hostname;	/* ours */
	const char		*postmaster;	/* local name or address */
	int			 bouncemail;
	int			 timeout_ms;
	struct smtp_client	*c;
	int			 broken;	/* connection lost: defer all */
	char			 smtphost[300];	/* the one we reached */
	char			 err[512];
	void			(*done)(void *arg, struct inject_msg *m);
	void			(*partial)(void *arg, struct inject_msg *m);
	void			*done_arg;
	/* batch iteration */
	struct inject_msg	**v;
	size_t			 n, next;
};

void	inject_init(struct inject *in, const struct rc_user *u,
	    const char *server, const char *proto, const char *hostname,
	    const char *postmaster, int bouncemail, int timeout_ms);
/*
 * Send v[0..n-1].  PS_SUCCESS when the SMTP server was reached (results in
 * each message), PS_SMTP when no smtphost could be reached or the
 * connection broke (the unsettled messages are INJ_DEFERRED; in->err says
 * why).
 */
int	inject_send(struct inject *in, struct inject_msg **v, size_t n);
/* QUIT and free. */
void	inject_close(struct inject *in);

/* Envelope sender from a header section: Return-Path, else From. */
void	inject_sender(const char *hdr, size_t len, char *out, size_t outlen);
/* "name" -> "name@localhost" (or smtpname's domain); addresses as they are. */
char	*inject_rcpt_addr(const struct rc_user *u, const char *name);
void	inject_msg_free(struct inject_msg *m);

#endif
