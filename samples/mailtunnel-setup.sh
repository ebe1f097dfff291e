#!/bin/sh
# mailtunnel-setup.sh: on the hub, as root, set up mtad's SSH tunnel to a
# relay that may send mail (the relay side: sshd_config.mailtunnel).
#
#   sh mailtunnel-setup.sh relay.example [mtad-user] [key-dir]
#
# Creates an ed25519 key without passphrase for mtad's user (its flushes
# run ssh unattended) in key-dir (default /etc/mtad/ssh), then prints the
# authorized_keys line for the relay's mailtunnel account, restricted to
# the one forced command, and the smarthost-command line for mtad.conf.
# Running it again keeps the existing key.
set -eu

RELAY=${1:?usage: sh mailtunnel-setup.sh relay-host [mtad-user] [key-dir]}
MTAD_USER=${2:-mtad}
KEYDIR=${3:-/etc/mtad/ssh}
KEY=$KEYDIR/id_ed25519

id "$MTAD_USER" >/dev/null 2>&1 || {
	echo "mailtunnel-setup.sh: no user $MTAD_USER (mtad.conf's user)" >&2
	exit 1
}
GROUP=$(id -gn "$MTAD_USER")
install -d -m 700 -o "$MTAD_USER" -g "$GROUP" "$KEYDIR"
if [ ! -f "$KEY" ]; then
	ssh-keygen -q -t ed25519 -N '' -C "mtad@$(hostname)" -f "$KEY"
fi
chown "$MTAD_USER:$GROUP" "$KEY" "$KEY.pub"
chmod 600 "$KEY"
touch "$KEYDIR/known_hosts"
chown "$MTAD_USER:$GROUP" "$KEYDIR/known_hosts"

cat <<EOT
1. On $RELAY, append this line to ~mailtunnel/.ssh/authorized_keys:

restrict,command="nc 127.0.0.1 25" $(cat "$KEY.pub")

2. Record the relay's host key (check its fingerprint against the relay's
   ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub):

   ssh-keyscan -t ed25519 $RELAY >> $KEYDIR/known_hosts

3. In mtad.conf (instead of smarthost and smarthost-tls):

smarthost-command "ssh -q -T -i $KEY -o UserKnownHostsFile=$KEYDIR/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=30 mailtunnel@$RELAY"

   then: mtad -n && mtactl reload; mtactl flush tries it.
EOT
