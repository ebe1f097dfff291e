#!/usr/bin/python3
"""A scripted line-protocol server: says exactly what a test tells it to.

    /usr/bin/python3 t/lib/scriptserver.py CONFIG.json

For what a real server will not do: an IMAP PREAUTH greeting, a POP3 server
without STLS, bytes injected right after "begin TLS" (STARTTLS injection),
absurd or endless replies.  Tests normally use mhtest.ScriptServer, which
writes the config, starts this process, waits until it listens and stops it
by PID.

CONFIG.json keys:
  host, port          listen address (default 127.0.0.1)
  cert, key           PEM files for "tls" steps / implicit TLS
  implicit_tls        TLS from the first byte
  log                 JSON-lines file of what happened (below)
  conns               list of scripts, one per connection in order; the last
                      one serves every further connection.  A script is a
                      list of steps, run in order:
    {"send": TEXT}            write TEXT (latin-1; "{1}", "{2}".. are the
                              groups of the last "expect" match, e.g. an
                              IMAP tag)
    {"expect": REGEX}         read lines until one matches (re.match on the
                              line without CRLF); EOF ends the script
    {"expect": REGEX, "reply": TEXT, "until": REGEX2}
                              loop: answer every line matching REGEX with
                              TEXT; stop (without answering) at a line
                              matching REGEX2
    {"tls": true}             TLS handshake now (server side); bytes the
                              client sent before it are discarded
    {"sleep": SECS}
    {"close": true}           close the connection (the script ends too)
    {"reset": true}           close with RST
  When a script ends the server keeps reading until the client closes.

Log lines: {"conn": N, "ev": "connect"} / {"conn", "ev": "recv", "line",
"tls"} / {"conn", "ev": "send", "text"} / {"conn", "ev": "tls"} /
{"conn", "ev": "eof"} / {"conn", "ev": "error", "what"}.
Stops on SIGTERM.
"""

import json
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time

LOCK = threading.Lock()


class Conn:
    def __init__(self, srv, sock, n, script):
        self.srv = srv
        self.sock = sock
        self.n = n
        self.script = script
        self.buf = b""
        self.tls = False
        self.groups = ()

    def log(self, **ev):
        ev["conn"] = self.n
        with LOCK:
            self.srv.logf.write(json.dumps(ev) + "\n")
            self.srv.logf.flush()

    def readline(self):
        while b"\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except (OSError, ssl.SSLError):
                d = b""
            if not d:
                return None
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        text = line.rstrip(b"\r").decode("latin-1")
        self.log(ev="recv", line=text, tls=self.tls)
        return text

    def send(self, text):
        for i, g in enumerate(self.groups, 1):
            text = text.replace("{%d}" % i, g or "")
        self.log(ev="send", text=text)
        self.sock.sendall(text.encode("latin-1"))

    def run(self):
        self.log(ev="connect")
        try:
            if self.srv.cfg.get("implicit_tls"):
                self.starttls()
            for step in self.script:
                if not self.step(step):
                    return
            while self.readline() is not None:
                pass
            self.log(ev="eof")
        except (OSError, ssl.SSLError) as e:
            self.log(ev="error", what=str(e))
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    def starttls(self):
        self.buf = b""          # what came before the handshake is dropped
        self.sock = self.srv.ctx.wrap_socket(self.sock, server_side=True)
        self.tls = True
        self.log(ev="tls")

    def step(self, st):
        if "send" in st and "expect" not in st:
            self.send(st["send"])
        elif "expect" in st:
            pat = re.compile(st["expect"])
            until = re.compile(st["until"]) if st.get("until") else None
            while True:
                line = self.readline()
                if line is None:
                    self.log(ev="eof")
                    return False
                if until is not None and until.match(line):
                    return True
                m = pat.match(line)
                if m:
                    self.groups = m.groups()
                    if "reply" in st:
                        self.send(st["reply"])
                    if until is None:
                        if "send" in st:
                            self.send(st["send"])
                        return True
        elif st.get("tls"):
            self.starttls()
        elif "sleep" in st:
            time.sleep(st["sleep"])
        elif st.get("close"):
            self.sock.close()
            return False
        elif st.get("reset"):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
            self.sock.close()
            return False
        return True


class Server:
    def __init__(self, cfg):
        self.cfg = cfg
        self.logf = open(cfg["log"], "a")
        self.ctx = None
        if cfg.get("cert"):
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(cfg["cert"], cfg["key"])

    def serve(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.cfg.get("host", "127.0.0.1"), self.cfg["port"]))
        ls.listen(16)
        if self.cfg.get("ready"):
            with open(self.cfg["ready"], "w") as f:
                f.write("%d\n" % os.getpid())
        scripts = self.cfg.get("conns") or [[]]
        n = 0
        while True:
            sock, _ = ls.accept()
            sock.settimeout(60)
            n += 1
            script = scripts[min(n, len(scripts)) - 1]
            threading.Thread(target=Conn(self, sock, n, script).run,
                             daemon=True).start()


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    Server(cfg).serve()


if __name__ == "__main__":
    main()
