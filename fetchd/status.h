/*
 * fetchd's exit codes: fetchmail's, so scripts written for fetchmail keep
 * working (fetchmail.h PS_*).
 */
#ifndef FETCHD_STATUS_H
#define FETCHD_STATUS_H

#define PS_SUCCESS	0	/* mail delivered */
#define PS_NOMAIL	1	/* no mail */
#define PS_SOCKET	2	/* connection error */
#define PS_AUTHFAIL	3	/* authentication failed */
#define PS_PROTOCOL	4	/* protocol error */
#define PS_SYNTAX	5	/* syntax error: rc file or command line */
#define PS_IOERR	6	/* bad permissions on the rc file, I/O error */
#define PS_ERROR	7	/* server error */
#define PS_EXCLUDE	8	/* another fetchd runs (lock) */
#define PS_LOCKBUSY	9	/* server mailbox locked */
#define PS_SMTP		10	/* SMTP error */
#define PS_DNS		11	/* DNS error */
#define PS_BSMTP	12	/* BSMTP output error */
#define PS_MAXFETCH	13	/* poll ended by fetchlimit */
#define PS_SERVBUSY	14	/* server busy */
#define PS_UNDEFINED	23	/* anything else */

#endif
