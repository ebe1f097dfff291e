#!/bin/sh
# The demo hub behind `make run`: everything under ./run/, nothing outside.
# mtad listens on 127.0.0.1:2525 with the link down and its trace on; a
# stand-in ISP smart host (the test suite's aiosmtpd sink) listens on
# 127.0.0.1:2526 and keeps what it receives in run/smarthost/.
set -e
top=$(pwd)
run=$top/run
user=$(id -un)
mkdir -p "$run/spool" "$run/mail" "$run/smarthost"
chmod 1777 "$run/mail"

cat > "$run/mtad.conf" <<CONF
# Written by make run: a hub for the LAN shofar.lan, all under $run.
hostname		hub.shofar.lan
listen			127.0.0.1:2525
relay-from		127.0.0.0/8
local-domains		shofar.lan hub.shofar.lan
spool			$run/spool
user			$user
aliases			$run/aliases
mailbox			mbox $run/mail
smarthost		127.0.0.1:2526
# plaintext only because the demo smart host is on loopback
smarthost-tls		none
masquerade		isp.example
link			down
CONF

cat > "$run/aliases" <<ALIASES
# eddy, keith and postmaster are all you ($user) in the demo
eddy:		$user
keith:		$user
postmaster:	$user
ALIASES

cat > "$run/smarthost.json" <<JSON
{"port": 2526, "outdir": "$run/smarthost", "hostname": "smtp.isp.example",
 "tls": "none", "auth_require_tls": false}
JSON
/usr/bin/python3 "$top/t/lib/smarthost.py" "$run/smarthost.json" \
    >"$run/smarthost/log" 2>&1 &
sink=$!
trap 'kill $sink 2>/dev/null; wait $sink 2>/dev/null' EXIT
trap 'exit 0' INT TERM

cat <<TRY
mailhub demo: mtad on 127.0.0.1:2525, link down, everything in run/.
In another terminal, try:

  printf 'Subject: hi\n\nhello\n' | ./mtad/mtad-sendmail -C run/mtad.conf eddy
      (local: delivered at once to run/mail/$user)
  printf 'Subject: out\n\nto the world\n' | ./mtad/mtad-sendmail -C run/mtad.conf -f eddy@shofar.lan friend@example.org
  ./mtad/mtad-sendmail -C run/mtad.conf -bp        (the queue: held, link down)
  ./mtad/mtactl -C run/mtad.conf link up           (flush to the demo ISP: run/smarthost/)

Ctrl-C stops the hub.
TRY
"$top/mtad/mtad" -C "$run/mtad.conf" -F -v
