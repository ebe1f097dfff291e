#!/usr/bin/python3
# Corpus regression: every fuzz harness (t/fuzz/fuzz_NAME.c), built with a
# plain main() under the check build's sanitizers, replays every input in
# t/fuzz/corpus/NAME/ once -- the seeds and every crash a fuzzer found.  A
# crash, sanitizer report or leak fails the harness; a harness with no seeds
# fails too.
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "lib"))
import mhtest

t = mhtest.Test()
names = sorted(os.path.basename(p)[len("fuzz_"):-2]
               for p in glob.glob(mhtest.src("t/fuzz/fuzz_*.c")))
if not names:
    t.skip_all("no harnesses")
for name in names:
    prog = mhtest.bin("t/fuzz/fuzz_" + name)
    corpus = mhtest.src("t/fuzz/corpus/" + name)
    if not os.path.exists(prog):
        t.ok(False, "%s: harness built" % name, "%s missing" % prog)
        continue
    files = [f for f in glob.glob(os.path.join(corpus, "**"), recursive=True)
             if os.path.isfile(f) and
             not os.path.basename(f).startswith(".")]
    if not t.ok(files, "%s: corpus has seeds" % name, "%s empty" % corpus):
        continue
    r = mhtest.run([prog, corpus], timeout=50)
    t.ok(r.returncode == 0 and
         r.out.strip() == "%d inputs ran" % len(files),
         "%s: %d inputs replay cleanly" % (name, len(files)),
         "exit %d\n%s%s" % (r.returncode, r.out, r.err[-4000:]))
t.done()
