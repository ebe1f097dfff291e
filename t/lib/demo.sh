#!/bin/sh
# The demo hub behind `make run`: everything under ./run/, nothing outside.
# mtad listens on 127.0.0.1:2525 with the link down and its trace on; a
# stand-in ISP smart host (the test suite's aiosmtpd sink) listens on
# 127.0.0.1:2526 and keeps what it receives in run/smarthost/.
# t/hub/run.t moves it with MAILHUB_RUN (the directory), MAILHUB_BIN (the
# programs) and MAILHUB_RUN_PORT / MAILHUB_RUN_SINK_PORT.
set -e
top=$(pwd)
run=${MAILHUB_RUN:-$top/run}
bin=${MAILHUB_BIN:-$top}
port=${MAILHUB_RUN_PORT:-2525}
sinkport=${MAILHUB_RUN_SINK_PORT:-2526}
user=$(id -un)
mkdir -p "$run/spool" "$run/mail" "$run/smarthost"
chmod 1777 "$run/mail"

cat > "$run/mtad.conf" <<CONF
# Written by make run: a hub for the LAN shofar.lan, all under $run.
hostname		hub.shofar.lan
listen			127.0.0.1:$port
relay-from		127.0.0.0/8
local-domains		shofar.lan hub.shofar.lan
spool			$run/spool
user			$user
aliases			$run/aliases
mailbox			mbox $run/mail
smarthost		127.0.0.1:$sinkport
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
{"port": $sinkport, "outdir": "$run/smarthost", "hostname": "smtp.isp.example",
 "tls": "none", "auth_require_tls": false}
JSON
/usr/bin/python3 "$top/t/lib/smarthost.py" "$run/smarthost.json" \
    >"$run/smarthost/log" 2>&1 &
sink=$!
trap 'kill $sink 2>/dev/null; wait $sink 2>/dev/null' EXIT
trap 'exit 0' INT TERM

cat <<TRY
mailhub demo: mtad on 127.0.0.1:$port, link down, everything in run/.
In another terminal, try:

  printf 'Subject: hi\n\nhello\n' | ./mtad/mtad-sendmail -C run/mtad.conf eddy
      (local: delivered at once to run/mail/$user)
  printf 'Subject: out\n\nto the world\n' | ./mtad/mtad-sendmail -C run/mtad.conf -f eddy@shofar.lan friend@example.org
  ./mtad/mtad-sendmail -C run/mtad.conf -bp        (the queue: held, link down)
  ./mtad/mtactl -C run/mtad.conf link up           (flush to the demo ISP: run/smarthost/)

Ctrl-C stops the hub.
TRY
"$bin/mtad/mtad" -C "$run/mtad.conf" -F -v
