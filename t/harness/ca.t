#!/usr/bin/python3
# The test CA: certificates it issues verify against it (and only it), with
# the host names and IP addresses asked for; an expired one does not.
import os
import socket
import ssl
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
tmp = mhtest.tmpdir()
ca = mhtest.CA(os.path.join(tmp, "ca"))
other = mhtest.CA(os.path.join(tmp, "other"), name="unrelated CA")
cert, key = ca.issue("mail.test", ips=["127.0.0.1"], dns=["mail.test"])
old, oldkey = ca.issue("old.test", ips=["127.0.0.1"], days=-1)


def verify(cafile, c):
    return mhtest.run(["openssl", "verify", "-CAfile", cafile, c])


t.eq(verify(ca.ca_file, cert).returncode, 0, "issued certificate verifies against its CA")
r = verify(other.ca_file, cert)
t.ok(r.returncode != 0 and "unable to get local issuer" in r.err,
     "and not against an unrelated CA", r.err)
r = verify(ca.ca_file, old)
t.ok(r.returncode != 0 and "expired" in r.err, "days=-1 gives an expired certificate", r.err)
t.eq(os.stat(key).st_mode & 0o777, 0o600, "private key is mode 0600")


def handshake(c, k, server_hostname, ctx):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    sctx = ca.server_context(c, k)

    def serve():
        conn, _ = srv.accept()
        try:
            sctx.wrap_socket(conn, server_side=True).close()
        except (ssl.SSLError, OSError):
            conn.close()
    th = threading.Thread(target=serve)
    th.start()
    try:
        with socket.create_connection(srv.getsockname(), 5) as s:
            ctx.wrap_socket(s, server_hostname=server_hostname).close()
        return "ok"
    except ssl.SSLCertVerificationError as e:
        return e.verify_message
    finally:
        th.join(5)
        srv.close()


t.eq(handshake(cert, key, "mail.test", ca.context()), "ok", "TLS handshake by DNS name")
t.eq(handshake(cert, key, "127.0.0.1", ca.context()), "ok", "TLS handshake by IP address")
t.like(handshake(cert, key, "other.test", ca.context()), "mismatch", "wrong host name refused")
t.like(handshake(cert, key, "mail.test", other.context()), "unable to get local issuer",
       "unknown CA refused")
t.like(handshake(old, oldkey, "127.0.0.1", ca.context()), "expired", "expired certificate refused")
t.done()
