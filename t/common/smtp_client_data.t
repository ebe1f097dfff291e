#!/usr/bin/python3
# Message data leaves canonical and intact: bare LF, bare CR, CR CR LF, a
# lone "." line, leading dots, a last line without a newline, 8-bit text and
# a body much larger than one read buffer arrive at the smart host exactly as
# the same message with CR LF line ends, over DATA (dot-stuffed) and over
# BDAT.  No smuggled second message: the smart host sees one message each.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mhtest
from smtpclib import smtpc, show

t = mhtest.Test()
tmp = mhtest.tmpdir()


def canonical(b):
    """Every CR LF, lone CR and lone LF as CR LF; a final CR LF added."""
    out = b.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if out and not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out


CASES = [
    ("bare LF", b"From: a@b\nSubject: lf\n\nline one\nline two\n"),
    ("bare CR", b"Subject: cr\r\rone\rtwo\r"),
    ("mixed", b"Subject: mix\r\n\r\na\r\r\nb\n\rc\r\n"),
    ("lone dots", b"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\n. \r\nend\r\n.\n"),
    ("smuggling", b"Subject: smuggle\r\n\r\nx\n.\nMAIL FROM:<evil@x>\r\n"
                  b"RCPT TO:<victim@y>\r\nDATA\r\n\r\n.\r.\r\n"),
    ("no final newline", b"Subject: nofinal\r\n\r\nlast line"),
    ("8bit", "Subject: =?utf-8?q?x?=\r\n\r\nGrüße aus Köln\r\n".encode()),
    ("big", b"Subject: big\n\n" + b"".join(
        b"%06d .dot start\n.\n" % i if i % 7 == 0 else b"%06d " % i + b"y" * 90 + b"\r"
        for i in range(4000))),
]

for chunking in (False, True):
    via = "BDAT" if chunking else "DATA"
    sh = mhtest.SmartHost(tmp, name="data-" + via, chunking=chunking)
    r = smtpc(sh, [("a@shofar.lan", ["x@isp.example"], body) for _, body in CASES], tmp)
    t.eq(r["rc"], 0, via + ": sent") or t.diag(show(r))
    got = sh.messages(all=True)
    t.eq(len(got), len(CASES), via + ": one message at the smart host per message sent")
    for (name, body), m in zip(CASES, got):
        t.ok(m["data"] == canonical(body) and m["via"] == via,
             "%s: %s arrives canonical and intact" % (via, name),
             "got %r...\nwant %r..." % (m["data"][:200], canonical(body)[:200]))
t.ok(len(CASES[-1][1]) > 3 * 65536, "the big message spans several read buffers")
t.done()
