/*
 * The control socket, <spool>/control (mode 0660): mtactl and
 * mtad-sendmail talk to the running daemon through it.
 *
 * One request per connection: the client writes one command line
 * ("link up", "link down", "flush", "status", "mailq", "reload", "stop",
 * "poke"), the daemon answers with text lines and a last line "exit N"
 * (N the client's exit status), then closes.  "link up" and "flush"
 * answer only when the flush they started (or joined) has ended.
 */
#ifndef MTAD_CONTROL_H
#define MTAD_CONTROL_H

#include <stddef.h>

#define CONTROL_SOCKET		"control"
#define CONTROL_LINE_MAX	256

/* Daemon side: a listening, non-blocking socket.  -1 with err set. */
int	control_listen(const char *spool, char *err, size_t errlen);

/*
 * Client side: send cmd and copy the answer lines (without the "exit N"
 * line) to out as they arrive.  Returns N, or -1 when the daemon is not
 * running (err set: "mtad is not running (no socket at ...)") and -2 on
 * another error (err set).
 */
int	control_request(const char *spool, const char *cmd, int timeout_ms,
	    void (*out)(const char *line, void *arg), void *arg, char *err,
	    size_t errlen);

#endif
