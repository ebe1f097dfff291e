/*
 * Sockets: listen and connect by literal address or name, with deadlines;
 * CIDR matching for relay-from.  Every socket is close-on-exec.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net.h"

static int
valid_port(const char *p)
{
	size_t	 i;
	long	 v;

	if (*p == '\0' || strlen(p) > 5)
		return 0;
	for (i = 0; p[i] != '\0'; i++)
		if (!isdigit((unsigned char)p[i]))
			return 0;
	v = strtol(p, NULL, 10);
	return v >= 0 && v <= 65535;
}

static int
copy(char *dst, size_t dstlen, const char *src, size_t n)
{
	if (n >= dstlen)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int
net_split_hostport(const char *s, const char *defport, char *host,
    size_t hostlen, char *port, size_t portlen)
{
	const char	*end, *colon, *p;

	if (s == NULL || *s == '\0')
		return -1;
	for (p = s; *p != '\0'; p++)
		if (isspace((unsigned char)*p) || !isprint((unsigned char)*p))
			return -1;
	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end == s + 1)
			return -1;
		if (copy(host, hostlen, s + 1, end - s - 1) == -1)
			return -1;
		if (strchr(host, ':') == NULL)
			return -1;
		if (end[1] == '\0')
			p = defport;
		else if (end[1] == ':')
			p = end + 2;
		else
			return -1;
	} else if ((colon = strchr(s, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		if (colon == s)
			return -1;
		if (copy(host, hostlen, s, colon - s) == -1)
			return -1;
		p = colon + 1;
	} else {
		/* A bare IPv6 literal has several colons and no port. */
		if (colon != NULL) {
			struct in6_addr	 a6;

			if (inet_pton(AF_INET6, s, &a6) != 1)
				return -1;
		}
		if (copy(host, hostlen, s, strlen(s)) == -1)
			return -1;
		p = defport;
	}
	if (p == NULL || !valid_port(p))
		return -1;
	return copy(port, portlen, p, strlen(p));
}

static void __attribute__((format(printf, 3, 4)))
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
net_set_nonblock(int fd, int on)
{
	int	 fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	return fcntl(fd, F_SETFL, fl);
}

int
net_listen(const char *hostport, int backlog, char *err, size_t errlen)
{
	char		 host[256], port[16];
	struct addrinfo	 hints, *res, *ai;
	int		 fd = -1, r, one = 1, saved = 0;
	const char	*h;

	if (net_split_hostport(hostport, NULL, host, sizeof(host), port,
	    sizeof(port)) == -1) {
		seterr(err, errlen, "%s: %s", hostport,
		    "expected ADDR:PORT or [ADDR]:PORT");
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	h = (strcmp(host, "*") == 0) ? NULL : host;
	if ((r = getaddrinfo(h, port, &hints, &res)) != 0) {
		seterr(err, errlen, "%s: %s", hostport, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
			    sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		seterr(err, errlen, "listen on %s: %s", hostport,
		    strerror(saved ? saved : EADDRNOTAVAIL));
	return fd;
}

long long
net_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Non-blocking connect to one address, waiting until deadline. */
static int
connect_one(const struct addrinfo *ai, const struct addrinfo *bindai,
    long long deadline, int *errp)
{
	struct pollfd	 pfd;
	socklen_t	 sl;
	int		 fd, r, soerr;
	long long	 left;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, ai->ai_protocol);
	if (fd == -1) {
		*errp = errno;
		return -1;
	}
	if (bindai != NULL && bind(fd, bindai->ai_addr,
	    bindai->ai_addrlen) == -1)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto done;
	if (errno != EINPROGRESS)
		goto fail;
	for (;;) {
		if ((left = deadline - net_now_ms()) <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		r = poll(&pfd, 1, left > 0x7fffffff ? 0x7fffffff : (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		break;
	}
	sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
done:
	if (net_set_nonblock(fd, 0) == -1)
		goto fail;
	return fd;
fail:
	*errp = errno;
	close(fd);
	return -1;
}

int
net_connect(const char *host, const char *port, const char *bindaddr,
    int timeout_ms, char *peer, size_t peerlen, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res, *ai, *bres = NULL, *bai;
	long long	 deadline;
	int		 fd = -1, r, saved = EHOSTUNREACH;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (!valid_port(port)) {
		seterr(err, errlen, "connect to %s:%s: %s", host, port,
		    "bad port");
		return -1;
	}
	if ((r = getaddrinfo(host, port, &hints, &res)) != 0) {
		seterr(err, errlen, "connect to %s:%s: %s", host, port,
		    gai_strerror(r));
		return -1;
	}
	if (bindaddr != NULL) {
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		if ((r = getaddrinfo(bindaddr, NULL, &hints, &bres)) != 0) {
			seterr(err, errlen, "bind to %s: %s", bindaddr,
			    gai_strerror(r));
			freeaddrinfo(res);
			return -1;
		}
	}
	deadline = net_now_ms() + (timeout_ms > 0 ? timeout_ms : 0x7fffffff);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		bai = NULL;
		if (bres != NULL) {
			for (bai = bres; bai != NULL; bai = bai->ai_next)
				if (bai->ai_family == ai->ai_family)
					break;
			if (bai == NULL) {
				saved = EAFNOSUPPORT;
				continue;
			}
		}
		if ((fd = connect_one(ai, bai, deadline, &saved)) != -1) {
			if (peer != NULL)
				net_ntop(ai->ai_addr, peer, peerlen);
			break;
		}
		if (saved == ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (bres != NULL)
		freeaddrinfo(bres);
	if (fd == -1)
		seterr(err, errlen, "connect to %s:%s: %s", host, port,
		    strerror(saved));
	return fd;
}

int
net_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	const void	*a;

	switch (sa->sa_family) {
	case AF_INET:
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		break;
	case AF_INET6:
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		break;
	default:
		if (len > 0)
			snprintf(buf, len, "unknown");
		return -1;
	}
	if (inet_ntop(sa->sa_family, a, buf, len) == NULL)
		return -1;
	return 0;
}

/* Parse "addr[/len]" into family, 16 address bytes and prefix length. */
static int
cidr_parse(const char *cidr, int *family, uint8_t addr[16], int *bits)
{
	char		 buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long		 v;
	int		 max;

	if (cidr == NULL || strlen(cidr) >= sizeof(buf))
		return -1;
	strcpy(buf, cidr);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		max = 128;
	} else
		return -1;
	*bits = max;
	if (slash != NULL) {
		if (!isdigit((unsigned char)*slash) || strlen(slash) > 3)
			return -1;
		v = strtol(slash, &end, 10);
		if (*end != '\0' || v < 0 || v > max)
			return -1;
		*bits = (int)v;
	}
	return 0;
}

static int
prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int	 n = bits / 8, rem = bits % 8;
	uint8_t	 mask;

	if (memcmp(a, b, n) != 0)
		return 0;
	if (rem == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rem));
	return (a[n] & mask) == (b[n] & mask);
}

int
net_cidr_valid(const char *cidr)
{
	uint8_t	 addr[16];
	int	 family, bits;

	return cidr_parse(cidr, &family, addr, &bits);
}

int
net_cidr_match(const char *cidr, const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };
	uint8_t		 net[16];
	const uint8_t	*a;
	int		 family, bits;

	if (cidr_parse(cidr, &family, net, &bits) == -1)
		return -1;
	if (sa->sa_family == AF_INET) {
		if (family != AF_INET)
			return 0;
		a = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		return prefix_eq(a, net, bits);
	}
	if (sa->sa_family != AF_INET6)
		return 0;
	a = (const uint8_t *)&((const struct sockaddr_in6 *)
	    (const void *)sa)->sin6_addr;
	if (family == AF_INET6)
		return prefix_eq(a, net, bits);
	/* A v4 client on a dual-stack listener arrives as ::ffff:a.b.c.d. */
	if (memcmp(a, v4mapped, 12) != 0)
		return 0;
	return prefix_eq(a + 12, net, bits);
}
