/*
 * Sockets: listening and connecting on IPv4/IPv6 by literal address or name,
 * with deadlines.  All sockets are close-on-exec.
 */
#ifndef MAILHUB_NET_H
#define MAILHUB_NET_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * "ADDR:PORT", "[V6]:PORT" or "HOST:PORT" (and "HOST" with defport).  Fills
 * host and port; 0 or -1 on a malformed value.  The port is numeric; a bare
 * IPv6 literal without brackets takes defport.
 */
int	net_split_hostport(const char *s, const char *defport, char *host,
	    size_t hostlen, char *port, size_t portlen);

/* Bound, listening, non-blocking socket for "ADDR:PORT" ("*:PORT" = any
 * address); -1 with err set. */
int	net_listen(const char *hostport, int backlog, char *err, size_t errlen);

/*
 * Connect to host:port (name or literal; every address tried in order) within
 * timeout_ms.  bindaddr, when not NULL, is the local address to bind first.
 * Returns a blocking socket, or -1 with err set.  The peer's numeric address
 * is written to peer (if not NULL).
 */
int	net_connect(const char *host, const char *port, const char *bindaddr,
	    int timeout_ms, char *peer, size_t peerlen, char *err, size_t errlen);

/* Numeric form of a sockaddr ("192.0.2.1", "2001:db8::1"). */
int	net_ntop(const struct sockaddr *sa, char *buf, size_t len);

/*
 * CIDR match ("192.168.1.0/24", "::1/128", "10.1.2.3"): 1 when sa is inside,
 * 0 when not, -1 on a bad cidr.  An IPv4-mapped IPv6 peer (::ffff:a.b.c.d)
 * matches IPv4 CIDRs.  net_cidr_valid returns 0 when valid, -1 when not.
 */
int	net_cidr_match(const char *cidr, const struct sockaddr *sa);
int	net_cidr_valid(const char *cidr);

int	net_set_nonblock(int fd, int on);
/* Milliseconds on the monotonic clock, for deadlines. */
long long net_now_ms(void);

#endif
