/*
 * stream and tls: line reading (CRLF, LF, overlong, EOF), deadlines, a pipe
 * pair, and STARTTLS against a real OpenSSL server in a child process:
 * injected plaintext discarded, unknown CA and wrong host name refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>

#include "stream.h"
#include "tls.h"

static char	 dir[64];

static char *
path(const char *name)
{
	static char	 buf[4][128];
	static int	 i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

/* A CA, a server certificate it signs (127.0.0.1, localhost) and a second,
 * unrelated CA; made with the openssl tool, as an administrator would. */
static int
make_certs(void **state)
{
	char	 cmd[2048];

	snprintf(dir, sizeof(dir), "/tmp/mh-stream-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd),
	    "cd %s && exec >log 2>&1 && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=Test-CA && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout other.key -out other.crt -days 2 "
	    "-subj /CN=Other-CA && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout srv.key -out srv.csr -subj /CN=localhost && "
	    "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' >ext && "
	    "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key "
	    "-CAcreateserial -out srv.crt -days 2 -extfile ext", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
rm_certs(void **state)
{
	char	 cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void
putstr(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void
lines(void **state)
{
	struct stream	*st;
	char		 err[256], buf[16];
	int		 sv[2];

	pair(sv);
	st = stream_socket(sv[0], 2000, err, sizeof(err));
	assert_non_null(st);
	putstr(sv[1], "220 hello\r\n250 bare LF\nx\r\n\r\n0123456789abcdefXYZ\r\n"
	    "tail");
	close(sv[1]);
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 9);
	assert_string_equal(buf, "220 hello");
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 11);
	assert_string_equal(buf, "250 bare LF");
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 1);
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 0);
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), STREAM_TOOLONG);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_non_null(strstr(stream_error(st), "longer"));
	/* rest of the long line, then a last line without LF: EOF */
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 4);
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), STREAM_EOF);
	stream_close(st);
}

static void
write_read_and_pending(void **state)
{
	struct stream	*st;
	char		 err[256], buf[64];
	int		 sv[2];
	ssize_t		 n;

	pair(sv);
	st = stream_socket(sv[0], 2000, err, sizeof(err));
	assert_int_equal(stream_printf(st, "EHLO %s\r\n", "client"), 0);
	assert_int_equal(stream_write(st, "NOOP\r\n", 6), 0);
	assert_int_equal(stream_flush(st), 0);
	n = read(sv[1], buf, sizeof(buf));
	assert_int_equal(n, 19);
	assert_memory_equal(buf, "EHLO client\r\nNOOP\r\n", 19);
	putstr(sv[1], "one\r\ntwo\r\n");
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 3);
	assert_int_equal(stream_pending(st), 5);
	assert_int_equal(stream_read(st, buf, 2), 2);
	assert_memory_equal(buf, "tw", 2);
	assert_int_equal(stream_fd(st), sv[0]);
	assert_false(stream_is_tls(st));
	stream_close(st);
	close(sv[1]);
}

static void
read_deadline(void **state)
{
	struct stream	*st;
	char		 err[256], buf[64];
	int		 sv[2];

	pair(sv);
	st = stream_socket(sv[0], 200, err, sizeof(err));
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), STREAM_ERROR);
	assert_non_null(strstr(stream_error(st), "timeout"));
	stream_close(st);
	close(sv[1]);
}

static void
count_idle(void *arg)
{
	(*(int *)arg)++;
}

/* The idle hook runs once per wait that goes quiet, never when input is
 * there, and the wait's deadline stays what it was. */
static void
idle_hook(void **state)
{
	struct stream	*st;
	char		 err[256], buf[64];
	int		 sv[2], idle = 0;

	pair(sv);
	st = stream_socket(sv[0], 300, err, sizeof(err));
	stream_set_idle(st, 20, count_idle, &idle);
	assert_int_equal(write(sv[1], "ready\r\n", 7), 7);
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 5);
	assert_int_equal(idle, 0);
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), STREAM_ERROR);
	assert_non_null(strstr(stream_error(st), "timeout"));
	assert_int_equal(idle, 1);
	stream_close(st);
	close(sv[1]);
}

static void
peer_gone_write_fails(void **state)
{
	struct stream	*st;
	char		 err[256], big[65536];
	int		 sv[2], i, r = 0;

	pair(sv);
	close(sv[1]);
	st = stream_socket(sv[0], 1000, err, sizeof(err));
	memset(big, 'x', sizeof(big));
	/* no SIGPIPE kills us: the write just fails */
	for (i = 0; i < 4 && r == 0; i++)
		r = stream_write(st, big, sizeof(big));
	if (r == 0)
		r = stream_flush(st);
	assert_int_equal(r, -1);
	assert_non_null(strstr(stream_error(st), "closed"));
	stream_close(st);
}

static void
fd_pair(void **state)
{
	struct stream	*st;
	char		 err[256], buf[64];
	int		 in[2], out[2];

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	st = stream_fds(in[0], out[1], 2000, err, sizeof(err));
	assert_non_null(st);
	putstr(in[1], "220 via a command\r\n");
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 17);
	assert_int_equal(stream_printf(st, "QUIT\r\n"), 0);
	assert_int_equal(stream_flush(st), 0);
	assert_int_equal(read(out[0], buf, sizeof(buf)), 6);
	close(in[1]);
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), STREAM_EOF);
	stream_close(st);
	close(out[0]);
}

/*
 * Child: plaintext greeting plus injected bytes, then TLS; answers one line
 * over TLS.  Exits 0 only if the handshake succeeded.
 */
static pid_t
tls_server(int fd, const char *plain)
{
	SSL_CTX	*ctx;
	SSL	*ssl;
	char	 err[256], buf[64];
	pid_t	 pid;
	int	 n;

	if ((pid = fork()) != 0)
		return pid;
	alarm(10);
	ctx = tls_server_ctx(path("srv.crt"), path("srv.key"), err,
	    sizeof(err));
	if (ctx == NULL)
		_exit(2);
	if (write(fd, plain, strlen(plain)) < 0)
		_exit(2);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		_exit(1);
	SSL_write(ssl, "250 secret channel\r\n", 20);
	n = SSL_read(ssl, buf, sizeof(buf));
	SSL_shutdown(ssl);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	_exit(n == 6 && memcmp(buf, "QUIT\r\n", 6) == 0 ? 0 : 3);
}

static int
child_status(pid_t pid)
{
	int	 status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static void
starttls_discards_injected(void **state)
{
	struct stream	*st;
	SSL_CTX		*ctx;
	char		 err[256], buf[64];
	size_t		 junk;
	int		 sv[2];
	pid_t		 pid;

	pair(sv);
	pid = tls_server(sv[1], "220 go ahead\r\n250 INJECTED\r\n");
	close(sv[1]);
	ctx = tls_client_ctx(path("ca.crt"), 1, err, sizeof(err));
	assert_non_null(ctx);
	st = stream_socket(sv[0], 5000, err, sizeof(err));
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 12);
	/* wait until the injected line is surely in our buffer or socket */
	usleep(100000);
	assert_int_equal(stream_starttls(st, ctx, "127.0.0.1", &junk, err,
	    sizeof(err)), 0);
	assert_true(stream_is_tls(st));
	assert_int_equal(junk, strlen("250 INJECTED\r\n"));
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 18);
	assert_string_equal(buf, "250 secret channel");
	assert_int_equal(stream_printf(st, "QUIT\r\n"), 0);
	assert_int_equal(stream_flush(st), 0);
	assert_int_equal(child_status(pid), 0);
	stream_close(st);
	SSL_CTX_free(ctx);
}

static void
refused(const char *ca, const char *host, const char *want)
{
	struct stream	*st;
	SSL_CTX		*ctx;
	char		 err[256], buf[64];
	int		 sv[2];
	pid_t		 pid;

	pair(sv);
	pid = tls_server(sv[1], "220 go ahead\r\n");
	close(sv[1]);
	ctx = tls_client_ctx(path(ca), 1, err, sizeof(err));
	assert_non_null(ctx);
	st = stream_socket(sv[0], 5000, err, sizeof(err));
	assert_int_equal(stream_getline(st, buf, sizeof(buf)), 12);
	assert_int_equal(stream_starttls(st, ctx, host, NULL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, want));
	assert_false(stream_is_tls(st));
	/* and the stream does not carry on in plaintext */
	assert_int_equal(stream_printf(st, "AUTH PLAIN x\r\n"), 0);
	assert_int_equal(stream_flush(st), -1);
	stream_close(st);
	assert_int_not_equal(child_status(pid), 0);
	SSL_CTX_free(ctx);
}

static void
unknown_ca_refused(void **state)
{
	refused("other.crt", "127.0.0.1",
	    "certificate verify failed: unable to get local issuer");
}

static void
wrong_host_refused(void **state)
{
	refused("ca.crt", "mail.isp.example",
	    "certificate verify failed: hostname mismatch");
	refused("ca.crt", "127.0.0.2",
	    "certificate verify failed: IP address mismatch");
}

static void
handshake_deadline(void **state)
{
	struct stream	*st;
	SSL_CTX		*ctx;
	char		 err[256];
	int		 sv[2];

	pair(sv);	/* the peer never answers the ClientHello */
	ctx = tls_client_ctx(path("ca.crt"), 1, err, sizeof(err));
	st = stream_socket(sv[0], 300, err, sizeof(err));
	assert_int_equal(stream_starttls(st, ctx, "localhost", NULL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "timeout"));
	assert_non_null(strstr(err, "handshake"));
	stream_close(st);
	close(sv[1]);
	SSL_CTX_free(ctx);
}

static void
bad_files(void **state)
{
	char	 err[512];

	assert_null(tls_client_ctx("/nonexistent/ca.pem", 1, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	assert_null(tls_server_ctx("/nonexistent/c.pem", path("srv.key"),
	    err, sizeof(err)));
	assert_non_null(strstr(err, "certificate /nonexistent/c.pem"));
	assert_null(tls_server_ctx(path("srv.crt"), path("ca.key"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "ca.key"));
	assert_non_null(strstr(err, "mismatch"));
	assert_null(tls_server_ctx(path("srv.crt"), path("srv.csr"), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "key"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines),
		cmocka_unit_test(write_read_and_pending),
		cmocka_unit_test(read_deadline),
		cmocka_unit_test(idle_hook),
		cmocka_unit_test(peer_gone_write_fails),
		cmocka_unit_test(fd_pair),
		cmocka_unit_test(starttls_discards_injected),
		cmocka_unit_test(unknown_ca_refused),
		cmocka_unit_test(wrong_host_refused),
		cmocka_unit_test(handshake_deadline),
		cmocka_unit_test(bad_files),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("stream", tests, make_certs,
	    rm_certs);
}
