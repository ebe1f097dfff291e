"""An RFC 7662 token introspection endpoint for Dovecot's oauth2 passdb.

    intro = introspection.Introspection({"at-1": "eddy"})
    dc = mhtest.Dovecot(tmp, ..., oauth2=intro.url)
    intro.valid = {"at-2": "eddy"}   # at-1 is now refused, at-2 accepted
    intro.checks                     # tokens Dovecot asked about, in order
    intro.stop()

Plain HTTP on 127.0.0.1 (Dovecot is the only client).  POST token=T
answers {"active": true, "username": U} when valid maps T to U, else
{"active": false}.  Runs in a thread of the test process.
"""
import http.server
import json
import threading
import urllib.parse


class Introspection:
    def __init__(self, valid=None):
        self.valid = dict(valid or {})
        self.checks = []
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(
                    self.rfile.read(n).decode()))
                tok = form.get("token", "")
                with owner.lock:
                    owner.checks.append(tok)
                    user = owner.valid.get(tok)
                body = ({"active": True, "username": user} if user
                        else {"active": False})
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://127.0.0.1:%d/introspect" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
