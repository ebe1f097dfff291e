"""A scripted OAuth2 token endpoint over HTTPS, for tests.

    ts = tokenserver.TokenServer(tmp, ca, refresh_tokens={"rt-1"},
                                 access_tokens=["at-1", "at-2"])
    ts.url              # https://127.0.0.1:PORT/token
    ts.refreshes        # refresh requests answered so far (any outcome)
    ts.requests         # [dict of the form fields] for each request
    ts.rotate = "rt-2"  # the next successful answer also carries this
                        # refresh_token (then rt-2 is the only valid one)
    ts.revoke()         # every refresh token is refused (400 invalid_grant)
    ts.expires_in = 3600
    ts.stop()

The device authorization grant (RFC 8628) for mtad-oauth2 authorize:

    ts.device_url       # https://127.0.0.1:PORT/device
    ts.device_script = ["authorization_pending", "slow_down", "ok"]
                        # what each poll of the token endpoint with the
                        # device_code grant answers, in order (the last one
                        # repeats); "ok" issues device_refresh_token (then a
                        # valid refresh token) with an access token
    ts.device_refresh_token = "rt-device"
    ts.device_interval = 1
    ts.device_requests  # [form] of each device authorization request
    ts.polls            # [(time.monotonic(), form)] of each poll

Only grant_type=refresh_token with a known refresh token and client_id
gets 200 {"access_token", "token_type", "expires_in"}; the access tokens
are handed out in order from access_tokens (the last one repeats).  Runs
in a thread of the test process; the certificate is issued by ca (an
mhtest.CA) for 127.0.0.1.
"""
import http.server
import json
import os
import ssl
import threading
import time
import urllib.parse


class TokenServer:
    def __init__(self, tmp, ca, refresh_tokens=("rt-1",),
                 access_tokens=("at-1",), client_id="mailhub-test",
                 expires_in=3600):
        self.valid = set(refresh_tokens)
        self.access_tokens = list(access_tokens)
        self.client_id = client_id
        self.expires_in = expires_in
        self.rotate = None
        self.refreshes = 0
        self.requests = []
        self.lock = threading.Lock()
        self.device_script = ["ok"]
        self.device_refresh_token = "rt-device"
        self.device_interval = 1
        self.device_requests = []
        self.polls = []
        self.device_codes = 0
        cert, key = ca.issue("tokens", ips=["127.0.0.1"])
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(
                    self.rfile.read(n).decode()))
                code, body = owner._answer(self.path, form)
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket,
                                            server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = "https://127.0.0.1:%d/token" % self.port
        self.device_url = "https://127.0.0.1:%d/device" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    def _answer(self, path, form):
        with self.lock:
            self.requests.append(form)
            if path == "/device":
                return self._device(form)
            if path != "/token":
                return 404, {"error": "not_found"}
            if form.get("grant_type") == ("urn:ietf:params:oauth:"
                                          "grant-type:device_code"):
                return self._poll(form)
            if form.get("grant_type") != "refresh_token":
                return 400, {"error": "unsupported_grant_type"}
            self.refreshes += 1
            if form.get("client_id") != self.client_id:
                return 401, {"error": "invalid_client"}
            if form.get("refresh_token") not in self.valid:
                return 400, {"error": "invalid_grant",
                             "error_description": "Token has been "
                             "expired or revoked."}
            tok = (self.access_tokens.pop(0) if len(self.access_tokens) > 1
                   else self.access_tokens[0])
            body = {"access_token": tok, "token_type": "Bearer",
                    "expires_in": self.expires_in}
            if self.rotate:
                body["refresh_token"] = self.rotate
                self.valid = {self.rotate}
                self.rotate = None
            return 200, body

    def _device(self, form):
        self.device_requests.append(form)
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        self.device_codes += 1
        base = "https://127.0.0.1:%d" % self.port
        return 200, {"device_code": "DC-SECRET-%d" % self.device_codes,
                     "user_code": "WDJB-MJH%d" % self.device_codes,
                     "verification_uri": base + "/verify",
                     "expires_in": 600,
                     "interval": self.device_interval}

    def _poll(self, form):
        self.polls.append((time.monotonic(), form))
        if form.get("device_code") != "DC-SECRET-%d" % self.device_codes:
            return 400, {"error": "invalid_grant"}
        step = (self.device_script.pop(0) if len(self.device_script) > 1
                else self.device_script[0])
        if step != "ok":
            return 400, {"error": step}
        self.valid.add(self.device_refresh_token)
        tok = self.access_tokens[0]
        return 200, {"access_token": tok, "token_type": "Bearer",
                     "expires_in": self.expires_in,
                     "refresh_token": self.device_refresh_token}

    def revoke(self):
        with self.lock:
            self.valid = set()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
