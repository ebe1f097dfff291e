#!/usr/bin/python3
# Every man page renders with man --warnings and no warning (groff's
# warnings on bad requests, unknown macros, overfull lines).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest  # noqa: E402

PAGES = {"mtad/mtad.8": "MTAD", "mtad/mtactl.8": "MTACTL",
         "mtad/mtad-sendmail.8": "MTAD-SENDMAIL",
         "mtad/mtad.conf.5": "MTAD.CONF", "fetchd/fetchd.1": "FETCHD",
         "mtad/mtad-oauth2.1": "MTAD-OAUTH2"}

t = mhtest.Test()
if not os.path.exists("/usr/bin/man"):
    t.skip_all("man-db is not installed (make deps)")
for page, title in sorted(PAGES.items()):
    path = mhtest.src(page)
    t.ok(os.path.exists(path), "%s exists" % page)
    r = mhtest.run(["man", "--warnings", "-E", "UTF-8", "-l", path],
                   env={"MANWIDTH": "80", "MANPAGER": "cat", "PAGER": "cat",
                        "MAN_KEEP_FORMATTING": ""})
    t.eq(r.returncode, 0, "%s: man exits 0" % page)
    t.eq(r.err, "", "%s: no warnings" % page)
    t.like(r.out.upper(), title, "%s: renders its title" % page)
    t.ok(len(r.out.splitlines()) > 20, "%s: renders a real page (%d lines)"
         % (page, len(r.out.splitlines())))
t.done()
