/*
 * SMTP server state machine (RFC 5321 with PIPELINING, 8BITMIME, SIZE,
 * ENHANCEDSTATUSCODES, STARTTLS).  Commands are parsed from in[], replies
 * appended to out[]; the message is streamed to a queue writer line by line,
 * so nothing holds more than a buffer of it.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "deliver.h"
#include "log.h"
#include "smtp_session.h"

static void	reply(struct smtp_session *, const char *, ...)
		    PRINTFLIKE(2, 3);

static void
out_append(struct smtp_session *s, const char *buf, size_t len)
{
	size_t	 ncap;
	char	*n;

	if (s->outlen + len > s->outcap) {
		ncap = s->outcap ? s->outcap : 1024;
		while (ncap < s->outlen + len)
			ncap *= 2;
		if ((n = realloc(s->out, ncap)) == NULL) {
			/* Without room for a reply the dialogue is lost. */
			s->closing = 1;
			return;
		}
		s->out = n;
		s->outcap = ncap;
	}
	memcpy(s->out + s->outlen, buf, len);
	s->outlen += len;
}

static void
reply(struct smtp_session *s, const char *fmt, ...)
{
	char	buf[1024];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	log_trace("SMTP", '>', 0, buf, n);
	buf[n++] = '\r';
	buf[n++] = '\n';
	out_append(s, buf, n);
}

void
smtp_session_consumed(struct smtp_session *s, size_t n)
{
	if (n >= s->outlen) {
		s->outlen = 0;
		return;
	}
	memmove(s->out, s->out + n, s->outlen - n);
	s->outlen -= n;
}

/* --- transaction ---------------------------------------------------------- */

static void
txn_reset(struct smtp_session *s)
{
	size_t	i;

	if (s->w_open) {
		qwriter_abort(&s->w);
		s->w_open = 0;
	}
	free(s->msg.sender);
	free(s->msg.helo);
	free(s->msg.client);
	free(s->msg.proto);
	free(s->msg.msgid);
	for (i = 0; i < s->msg.nrcpts; i++) {
		free(s->msg.rcpts[i].addr);
		free(s->msg.rcpts[i].last_error);
	}
	free(s->msg.rcpts);
	memset(&s->msg, 0, sizeof(s->msg));
	s->has_local = 0;
	free(s->dbuf);
	s->dbuf = NULL;
	s->dlen = 0;
	if (s->state > SS_HELO)
		s->state = SS_HELO;
}

static const char *
proto_name(const struct smtp_session *s)
{
	if (!s->esmtp)
		return "SMTP";
	return s->tls_active ? "ESMTPS" : "ESMTP";
}

/* --- commands ------------------------------------------------------------- */

static void
do_helo(struct smtp_session *s, const char *verb, const char *arg, int esmtp)
{
	const struct mtad_config *cf = s->cf;

	if (arg[0] == '\0' || strlen(arg) >= sizeof(s->helo) ||
	    strpbrk(arg, " \t") != NULL) {
		reply(s, "501 5.5.4 Syntax: %s hostname", verb);
		return;
	}
	txn_reset(s);
	snprintf(s->helo, sizeof(s->helo), "%s", arg);
	s->esmtp = esmtp;
	s->state = SS_HELO;
	if (!esmtp) {
		reply(s, "250 %s Hello %s [%s]", cf->hostname, arg, s->ip);
		return;
	}
	reply(s, "250-%s Hello %s [%s]", cf->hostname, arg, s->ip);
	reply(s, "250-PIPELINING");
	reply(s, "250-8BITMIME");
	if (cf->max_message_size)
		reply(s, "250-SIZE %" PRIu64, cf->max_message_size);
	else
		reply(s, "250-SIZE");
	reply(s, "250-ENHANCEDSTATUSCODES");
	if (s->tls_offer && !s->tls_active)
		reply(s, "250-STARTTLS");
	reply(s, "250 HELP");
}

/* "FROM:" / "TO:" followed by optional blanks; NULL when absent. */
static const char *
path_arg(const char *arg, const char *kw)
{
	size_t	n = strlen(kw);

	if (strncasecmp(arg, kw, n) != 0)
		return NULL;
	arg += n;
	while (*arg == ' ')
		arg++;
	return arg;
}

/* Parse " KEY=VALUE KEY=VALUE" after a path.  0 or -1 (reply sent). */
static int
mail_params(struct smtp_session *s, const char *p)
{
	char		 buf[SMTP_CMD_MAX], *save = NULL, *tok, *val;
	unsigned long long size;
	char		*end;

	snprintf(buf, sizeof(buf), "%s", p);
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	    tok = strtok_r(NULL, " ", &save)) {
		if ((val = strchr(tok, '=')) != NULL)
			*val++ = '\0';
		if (strcasecmp(tok, "SIZE") == 0 && val != NULL) {
			errno = 0;
			size = strtoull(val, &end, 10);
			if (val[0] == '\0' || *end != '\0' || errno ||
			    !isdigit((unsigned char)val[0])) {
				reply(s, "501 5.5.4 Bad SIZE parameter");
				return -1;
			}
			if (s->cf->max_message_size &&
			    size > s->cf->max_message_size) {
				reply(s, "552 5.3.4 Message size exceeds "
				    "fixed limit");
				return -1;
			}
		} else if (strcasecmp(tok, "BODY") == 0 && val != NULL) {
			if (strcasecmp(val, "8BITMIME") == 0)
				s->msg.body8bit = 1;
			else if (strcasecmp(val, "7BIT") == 0)
				s->msg.body8bit = 0;
			else {
				reply(s, "501 5.5.4 Bad BODY parameter");
				return -1;
			}
		} else {
			reply(s, "555 5.5.4 Unsupported parameter %.64s", tok);
			return -1;
		}
	}
	return 0;
}

static void
do_mail(struct smtp_session *s, const char *arg)
{
	struct mailaddr	 a;
	const char	*p, *rest;
	char		 err[128], buf[ADDR_MAX + 3];

	if (s->state == SS_INIT) {
		reply(s, "503 5.5.1 Send HELO/EHLO first");
		return;
	}
	if (s->state != SS_HELO) {
		reply(s, "503 5.5.1 Nested MAIL command");
		return;
	}
	if (s->draining) {
		reply(s, "421 4.3.2 %s shutting down", s->cf->hostname);
		s->closing = 1;
		return;
	}
	if ((p = path_arg(arg, "FROM:")) == NULL) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (addr_parse_path(p, 1, &a, &rest, err, sizeof(err)) == -1) {
		reply(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	if (!s->esmtp && rest[strspn(rest, " ")] != '\0') {
		reply(s, "555 5.5.4 Parameters need EHLO");
		return;
	}
	s->msg.body8bit = 0;
	if (mail_params(s, rest) == -1)
		return;
	if (addr_format(&a, buf, sizeof(buf)) == -1) {
		reply(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	if ((s->msg.sender = strdup(buf)) == NULL) {
		reply(s, "452 4.3.1 Out of memory");
		return;
	}
	s->state = SS_MAIL;
	reply(s, "250 2.1.0 Sender <%s> ok", buf);
}

/* Is the accepted address already a recipient of this message? */
static int
rcpt_dup(const struct smtp_session *s, const char *addr)
{
	size_t	i;

	for (i = 0; i < s->msg.nrcpts; i++)
		if (strcasecmp(s->msg.rcpts[i].addr, addr) == 0)
			return 1;
	return 0;
}

static int
rcpt_add(struct smtp_session *s, const char *addr, int local)
{
	struct qrcpt	*n;

	n = reallocarray(s->msg.rcpts, s->msg.nrcpts + 1, sizeof(*n));
	if (n == NULL)
		return -1;
	s->msg.rcpts = n;
	n = &s->msg.rcpts[s->msg.nrcpts];
	memset(n, 0, sizeof(*n));
	if ((n->addr = strdup(addr)) == NULL)
		return -1;
	n->local = local;
	n->state = QR_PENDING;
	s->msg.nrcpts++;
	return 0;
}

static void
do_rcpt(struct smtp_session *s, const char *arg)
{
	struct mailaddr	 a;
	const char	*p, *rest;
	char		 err[128], buf[ADDR_MAX + 3];
	int		 local;

	if (s->state != SS_MAIL && s->state != SS_RCPT) {
		reply(s, "503 5.5.1 Need MAIL before RCPT");
		return;
	}
	if ((p = path_arg(arg, "TO:")) == NULL) {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (addr_parse_path(p, 1, &a, &rest, err, sizeof(err)) == -1 ||
	    addr_is_null(&a)) {
		reply(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	if (rest[strspn(rest, " ")] != '\0') {
		reply(s, "555 5.5.4 Unsupported RCPT parameter");
		return;
	}
	if (s->msg.nrcpts >= SMTP_RCPT_MAX) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	/* The domain alone decides: a '%' or '!' in the local part is part
	 * of a user name here, never a route to somewhere else. */
	local = config_is_local_domain(s->cf, a.domain);
	if (local) {
		if (!local_rcpt_known(s->cf, a.local)) {
			if (addr_format(&a, buf, sizeof(buf)) == -1)
				buf[0] = '\0';
			reply(s, "550 5.1.1 <%s>: User unknown", buf);
			return;
		}
		if (a.domain[0] == '\0')
			snprintf(a.domain, sizeof(a.domain), "%s",
			    s->cf->hostname);
	} else if (!s->relay_ok) {
		reply(s, "554 5.7.1 <%s@%s>: Relaying denied", a.local,
		    a.domain);
		return;
	}
	if (addr_format(&a, buf, sizeof(buf)) == -1) {
		reply(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	if (!rcpt_dup(s, buf) && rcpt_add(s, buf, local) == -1) {
		reply(s, "452 4.3.1 Out of memory");
		return;
	}
	s->has_local |= local;
	s->state = SS_RCPT;
	reply(s, "250 2.1.5 Recipient <%s> ok", buf);
}

static void
dbuf_flush(struct smtp_session *s)
{
	if (s->dlen > 0 && s->w_open)
		qwriter_write(&s->w, s->dbuf, s->dlen);
	s->dlen = 0;
}

static void
dbuf_add(struct smtp_session *s, const char *p, size_t len)
{
	if (s->dlen + len > SMTP_DBUF_SIZE)
		dbuf_flush(s);
	if (len > SMTP_DBUF_SIZE || s->dbuf == NULL) {
		qwriter_write(&s->w, p, len);
		return;
	}
	memcpy(s->dbuf + s->dlen, p, len);
	s->dlen += len;
}

static void
add_received(struct smtp_session *s)
{
	char		 hdr[1400], date[64], forc[ADDR_MAX + 16] = "";
	time_t		 now = time(NULL);
	struct tm	 tm;
	int		 n;

	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z",
	    localtime_r(&now, &tm));
	if (s->msg.nrcpts == 1)
		snprintf(forc, sizeof(forc), "\n\tfor <%s>",
		    s->msg.rcpts[0].addr);
	n = snprintf(hdr, sizeof(hdr), "Received: from %s (%s)\n"
	    "\tby %s (mtad) with %s id %s%s;\n\t%s\n",
	    s->helo[0] ? s->helo : "unknown", s->client, s->cf->hostname,
	    proto_name(s), s->w.id, forc, date);
	if (n > 0)
		dbuf_add(s, hdr, (size_t)n < sizeof(hdr) ? (size_t)n :
		    sizeof(hdr) - 1);
}

static void
do_data(struct smtp_session *s, const char *arg)
{
	if (s->state != SS_RCPT) {
		reply(s, s->state == SS_MAIL ? "554 5.5.1 No valid recipients" :
		    "503 5.5.1 Need RCPT before DATA");
		return;
	}
	if (arg[0] != '\0') {
		reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if ((s->msg.helo = strdup(s->helo)) == NULL ||
	    (s->msg.client = strdup(s->client)) == NULL ||
	    (s->msg.proto = strdup(proto_name(s))) == NULL ||
	    (s->dbuf = malloc(SMTP_DBUF_SIZE)) == NULL ||
	    qwriter_open(s->q, s->dest, &s->w) == -1) {
		log_warn("cannot open a queue file");
		reply(s, "452 4.3.1 Insufficient system storage");
		txn_reset(s);
		return;
	}
	s->w_open = 1;
	s->msg.arrival = time(NULL);
	s->data_octets = 0;
	s->in_headers = 1;
	s->hops = 0;
	s->midline = s->bad_eol = s->too_long = s->too_big = 0;
	s->prev_crlf = 1;
	s->dlen = 0;
	add_received(s);
	s->state = SS_DATA;
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void
do_starttls(struct smtp_session *s, const char *arg)
{
	if (!s->tls_offer || s->tls_active) {
		reply(s, "502 5.5.1 STARTTLS not available");
		return;
	}
	if (arg[0] != '\0') {
		reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (s->state > SS_HELO) {
		reply(s, "503 5.5.1 STARTTLS inside a transaction");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	/* Anything the client pipelined after STARTTLS was sent in the
	 * clear and must not be read as if it came over TLS. */
	s->inlen = 0;
	s->state = SS_INIT;
	s->helo[0] = '\0';
	s->esmtp = 0;
	s->want_tls = 1;
}

static void
command(struct smtp_session *s, char *line)
{
	char	*arg;

	log_trace("SMTP", '<', 0, line, strlen(line));
	if ((arg = strchr(line, ' ')) != NULL) {
		*arg++ = '\0';
		while (*arg == ' ')
			arg++;
	} else
		arg = line + strlen(line);
	/* Trailing blanks are not part of an argument. */
	for (char *e = arg + strlen(arg); e > arg && e[-1] == ' '; )
		*--e = '\0';

	if (strcasecmp(line, "EHLO") == 0)
		do_helo(s, "EHLO", arg, 1);
	else if (strcasecmp(line, "HELO") == 0)
		do_helo(s, "HELO", arg, 0);
	else if (strcasecmp(line, "MAIL") == 0)
		do_mail(s, arg);
	else if (strcasecmp(line, "RCPT") == 0)
		do_rcpt(s, arg);
	else if (strcasecmp(line, "DATA") == 0)
		do_data(s, arg);
	else if (strcasecmp(line, "RSET") == 0) {
		txn_reset(s);
		reply(s, "250 2.0.0 Reset");
	} else if (strcasecmp(line, "NOOP") == 0)
		reply(s, "250 2.0.0 OK");
	else if (strcasecmp(line, "QUIT") == 0) {
		reply(s, "221 2.0.0 %s closing connection", s->cf->hostname);
		s->closing = 1;
	} else if (strcasecmp(line, "HELP") == 0)
		reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET "
		    "NOOP QUIT HELP VRFY EXPN%s",
		    s->tls_offer && !s->tls_active ? " STARTTLS" : "");
	else if (strcasecmp(line, "VRFY") == 0 || strcasecmp(line, "EXPN") == 0)
		reply(s, "252 2.5.0 Cannot verify, but will accept and attempt "
		    "delivery");
	else if (strcasecmp(line, "STARTTLS") == 0)
		do_starttls(s, arg);
	else if (line[0] == '\0')
		reply(s, "500 5.5.2 Syntax error, empty command");
	else
		reply(s, "500 5.5.1 Command unrecognized");
}

/* --- DATA ----------------------------------------------------------------- */

/* Remember the Message-ID while still in the header section. */
static void
header_line(struct smtp_session *s, const char *p, size_t len)
{
	size_t	n = sizeof("Message-ID:") - 1, i, j;

	if (len == 0) {
		s->in_headers = 0;
		return;
	}
	if (len >= 9 && strncasecmp(p, "Received:", 9) == 0 && s->hops < UINT_MAX)
		s->hops++;
	if (s->msg.msgid != NULL || len <= n ||
	    strncasecmp(p, "Message-ID:", n) != 0)
		return;
	for (i = n; i < len && (p[i] == ' ' || p[i] == '\t'); i++)
		;
	for (j = len; j > i && (p[j - 1] == ' ' || p[j - 1] == '\t'); j--)
		;
	if (j > i && j - i < 512)
		s->msg.msgid = strndup(p + i, j - i);
}

static void
data_end(struct smtp_session *s)
{
	const char	*why = NULL;

	dbuf_flush(s);
	if (s->bad_eol)
		why = "550 5.6.0 Bare CR or LF in message text (RFC 5321 "
		    "2.3.8), message refused";
	else if (s->too_long)
		why = "550 5.6.0 Message text line longer than 1000 octets";
	else if (s->too_big)
		why = "552 5.3.4 Message size exceeds fixed limit";
	else if (s->w.failed) {
		errno = s->w.failed;
		log_warn("%s: queue write failed", s->w.id);
		why = "452 4.3.1 Insufficient system storage";
	}
	if (why == NULL && qwriter_finish(&s->w, &s->msg) == -1) {
		log_warn("%s: queue envelope failed", s->w.id);
		s->w_open = 0;		/* finish aborted it */
		why = "452 4.3.1 Insufficient system storage";
	}
	if (why != NULL) {
		reply(s, "%s", why);
		txn_reset(s);
		return;
	}
	s->state = SS_COMMIT;
}

/* One complete line, LF at p[len - 1]. */
static int
data_line(struct smtp_session *s, const char *p, size_t len)
{
	size_t	clen = len - 1;
	int	crlf = clen > 0 && p[clen - 1] == '\r';

	int	after_crlf = s->prev_crlf;

	s->prev_crlf = crlf;
	if (s->midline) {
		s->midline = 0;
		return 0;
	}
	if (crlf)
		clen--;
	/* The dot ends DATA only between two CRLFs: "\n.\r\n" is text. */
	if (crlf && after_crlf && clen == 1 && p[0] == '.') {
		data_end(s);
		return 1;
	}
	s->data_octets += len;
	if (!crlf || memchr(p, '\r', clen) != NULL)
		s->bad_eol = 1;
	if (len > SMTP_TEXT_MAX)
		s->too_long = 1;
	if (s->cf->max_message_size &&
	    s->data_octets > s->cf->max_message_size)
		s->too_big = 1;
	if (s->bad_eol || s->too_long || s->too_big || s->w.failed)
		return 0;		/* refused at the dot; stop writing */
	if (clen > 0 && p[0] == '.') {
		p++;
		clen--;
	}
	if (s->in_headers)
		header_line(s, p, clen);
	dbuf_add(s, p, clen);
	dbuf_add(s, "\n", 1);
	return 0;
}

/* Consume DATA lines from in[] from *pos; 1 when the final dot was seen. */
static int
data_input(struct smtp_session *s, size_t *pos)
{
	char	*lf;
	size_t	 n;

	while (*pos < s->inlen) {
		lf = memchr(s->in + *pos, '\n', s->inlen - *pos);
		if (lf == NULL) {
			n = s->inlen - *pos;
			if (n > SMTP_TEXT_MAX) {
				/* Not a line we would keep: drop it now so
				 * in[] never fills with one. */
				/* Keep the last byte: it may be the CR of
				 * this line's CRLF. */
				s->data_octets += n - 1;
				s->too_long = 1;
				s->midline = 1;
				*pos = s->inlen - 1;
			}
			return 0;
		}
		n = lf - (s->in + *pos) + 1;
		if (data_line(s, s->in + *pos, n)) {
			*pos += n;
			return 1;
		}
		*pos += n;
	}
	return 0;
}

/* --- input ---------------------------------------------------------------- */

static void
cmd_input(struct smtp_session *s, size_t *pos)
{
	char	 line[SMTP_CMD_MAX + 1], *lf;
	size_t	 n;

	lf = memchr(s->in + *pos, '\n', s->inlen - *pos);
	if (lf == NULL) {
		n = s->inlen - *pos;
		if (n >= SMTP_CMD_MAX) {
			if (!s->discard_cmd)
				reply(s, "500 5.5.2 Line too long");
			s->discard_cmd = 1;
			*pos = s->inlen;
		}
		return;
	}
	n = lf - (s->in + *pos) + 1;
	if (s->discard_cmd || n > SMTP_CMD_MAX) {
		if (!s->discard_cmd)
			reply(s, "500 5.5.2 Line too long");
		s->discard_cmd = 0;
		*pos += n;
		return;
	}
	memcpy(line, s->in + *pos, n);
	*pos += n;
	line[--n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[--n] = '\0';
	if (memchr(line, '\0', n) != NULL) {
		reply(s, "500 5.5.2 NUL in command");
		return;
	}
	/* A bare CR would go back into replies and the Received: field. */
	if (memchr(line, '\r', n) != NULL) {
		reply(s, "500 5.5.2 Bare CR in command");
		return;
	}
	command(s, line);
}

static int
can_go_on(const struct smtp_session *s)
{
	return !s->closing && !s->want_tls && s->state != SS_COMMIT &&
	    s->outlen < SMTP_OUT_HIGH;
}

void
smtp_session_feed(struct smtp_session *s)
{
	size_t	pos = 0, before;

	while (pos < s->inlen && can_go_on(s)) {
		before = pos;
		if (s->state == SS_DATA)
			data_input(s, &pos);
		else
			cmd_input(s, &pos);
		if (pos == before)
			break;		/* an incomplete line */
	}
	if (s->want_tls)
		pos = s->inlen;		/* do_starttls dropped the rest */
	/* Only a whole line is progress: a client dripping a byte at a
	 * time (slowloris) still meets the idle timeout. */
	if (pos > 0)
		s->last_active = time(NULL);
	if (pos > 0) {
		memmove(s->in, s->in + pos, s->inlen - pos);
		s->inlen -= pos;
	}
}

int
smtp_session_wants_input(const struct smtp_session *s)
{
	return can_go_on(s) && s->inlen < sizeof(s->in);
}

void
smtp_session_eof(struct smtp_session *s)
{
	if (s->state == SS_DATA)
		log_info("lost input channel from %s during DATA", s->client);
	if (s->state != SS_COMMIT)
		txn_reset(s);
	s->closing = 1;
}

/* --- owner hooks ---------------------------------------------------------- */

int
smtp_session_init(struct smtp_session *s, const struct mtad_config *cf,
    struct queue *q, enum qdest dest, const char *ip, const char *client,
    int relay_ok, int tls_offer)
{
	memset(s, 0, sizeof(*s));
	s->cf = cf;
	s->q = q;
	s->dest = dest;
	s->relay_ok = relay_ok;
	s->tls_offer = tls_offer;
	snprintf(s->ip, sizeof(s->ip), "%s", ip);
	snprintf(s->client, sizeof(s->client), "%s", client);
	s->state = SS_INIT;
	s->last_active = time(NULL);
	reply(s, "220 %s ESMTP mtad", cf->hostname);
	return s->closing ? -1 : 0;
}

void
smtp_session_free(struct smtp_session *s)
{
	txn_reset(s);
	free(s->out);
	s->out = NULL;
	s->outlen = s->outcap = 0;
}

int
smtp_session_committed(struct smtp_session *s, int res, char id[QID_SIZE])
{
	int	local = 0;

	if (s->state != SS_COMMIT)
		return 0;
	s->w_open = 0;		/* queue_commit consumed the writer */
	if (res != 0) {
		errno = res;
		log_warn("%s: queue commit failed", s->w.id);
		reply(s, "452 4.3.1 Insufficient system storage");
	} else {
		log_info("%s: from=<%s>, size=%" PRIu64 ", nrcpts=%zu, "
		    "%s%s%sproto=%s, relay=%s", s->msg.id, s->msg.sender,
		    s->msg.size, s->msg.nrcpts,
		    s->msg.msgid ? "msgid=" : "",
		    s->msg.msgid ? s->msg.msgid : "",
		    s->msg.msgid ? ", " : "", s->msg.proto, s->client);
		reply(s, "250 2.0.0 queued as %s", s->msg.id);
		s->nqueued++;
		if (s->has_local) {
			memcpy(id, s->msg.id, QID_SIZE);
			local = 1;
		}
	}
	s->state = SS_HELO;
	txn_reset(s);
	if (s->draining) {
		reply(s, "421 4.3.2 %s shutting down", s->cf->hostname);
		s->closing = 1;
	}
	return local;
}

void
smtp_session_timeout(struct smtp_session *s)
{
	if (s->state == SS_COMMIT)
		return;
	reply(s, "421 4.4.2 %s Timeout, closing connection",
	    s->cf->hostname);
	txn_reset(s);
	s->closing = 1;
}

void
smtp_session_shutdown(struct smtp_session *s)
{
	s->draining = 1;
	if (s->state <= SS_HELO && !s->closing) {
		reply(s, "421 4.3.2 %s shutting down", s->cf->hostname);
		s->closing = 1;
	}
}

void
smtp_session_tls_started(struct smtp_session *s)
{
	s->want_tls = 0;
	s->tls_active = 1;
	s->last_active = time(NULL);
}
