"""Run t/common/smtpc (the C SMTP client's test driver) and parse what it
printed.  Used by t/common/smtp_client_*.t."""

import os
import mhtest


def smtpc(sh, msgs, tmp, tls="none", ca=None, user=None, password=None,
          token=None, mech=None, plain_ok=False, certhost=None,
          timeout_ms=10000):
    """msgs: [(sender, [rcpt, ...], bytes)].  Returns a dict:
    rc, hello ("ok" or the failure line), kind, caps, auth, batch,
    turns, msgs (list of {mail, data, sent, rcpts: {addr: (code, enh, text)}}),
    out, trace (stderr, the -v protocol trace)."""
    argv = [mhtest.bin("t/common/smtpc"), "-v", "-t", tls,
            "-T", str(timeout_ms)]
    if ca:
        argv += ["-C", ca]
    if certhost:
        argv += ["-H", certhost]
    if user:
        argv += ["-u", user]
    if password:
        argv += ["-p", password]
    if token:
        argv += ["-o", token]
    if mech:
        argv += ["-m", mech]
    if plain_ok:
        argv.append("-P")
    argv += [sh.host, str(sh.port)]
    for i, (sender, rcpts, data) in enumerate(msgs):
        path = os.path.join(tmp, "smtpc-msg-%d-%d" % (os.getpid(), i))
        with open(path, "wb") as f:
            f.write(data)
        argv += [sender or "<>", ",".join(rcpts), path]
    r = mhtest.run(argv, timeout=60)
    res = {"rc": r.returncode, "out": r.out, "trace": r.err, "msgs": [],
           "hello": None, "kind": None, "caps": "", "auth": None,
           "batch": None, "turns": None}
    for line in r.out.splitlines():
        w = line.split(" ")
        if line.startswith("hello ok"):
            res["hello"] = "ok"
        elif line.startswith("hello fail"):
            res["hello"] = line
            res["kind"] = w[2].rstrip(":")
        elif w[0] == "caps":
            res["caps"] = line
        elif w[0] == "auth":
            res["auth"] = w[1]
        elif w[0] == "msg":
            kv = dict(x.split("=") for x in w[2:])
            res["msgs"].append({"mail": int(kv["mail"]),
                                "data": int(kv["data"]),
                                "sent": int(kv["sent"]), "rcpts": {}})
        elif w[0] == "rcpt":
            code = int(w[3])
            rest = w[4:]
            enh = ""
            if rest and rest[0][:1].isdigit() and rest[0].count(".") == 2:
                enh = rest.pop(0)
            res["msgs"][int(w[1]) - 1]["rcpts"][w[2]] = (code, enh,
                                                         " ".join(rest))
        elif line.startswith("batch"):
            res["batch"] = line
        elif w[0] == "turns":
            res["turns"] = int(w[1])
    return res


def show(res):
    return "stdout:\n%s\nstderr:\n%s" % (res["out"], res["trace"][-3000:])
