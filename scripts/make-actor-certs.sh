#!/usr/bin/env bash
# Makes the certificates for mutual TLS on the actor port (docs/remote-actors.md):
#   scripts/make-actor-certs.sh DIR [NAME...]
# In DIR: a CA (ca.pem, ca.key), the server's certificate (server.pem, server.key) for
# 127.0.0.1, ::1, localhost and each NAME (a host name or an IP address that poolactor
# connects to), and an actor's client certificate (actor.pem, actor.key). EC P-256 keys;
# the certificates are valid DAYS days (default 365), the CA CA_DAYS (default 3650). A
# certificate already there is kept, so that a second run only adds what is missing: delete
# a pair to make it again (a new CA makes both certificates again). Needs openssl.
set -Eeuo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/make-actor-certs.sh DIR [NAME...]" >&2; exit 2; }
dir=$1
shift
days=${DAYS:-365}
ca_days=${CA_DAYS:-3650}
# openssl's chatter is thrown away below, so say at least which step failed.
trap 'echo "make-actor-certs: failed at line $LINENO (run it with bash -x to see why)" >&2' ERR
umask 077 # the keys are readable by their owner only
mkdir -p "$dir"
cd "$dir"

# key FILE: a new EC P-256 private key.
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# sign NAME CN EXTENSIONS: NAME.key and NAME.pem, the certificate signed by the CA.
sign() {
  key "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$2" |
    openssl x509 -req -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 16)" \
      -days "$days" -sha256 -extfile <(printf '%s\n' "$3") -out "$1.pem" 2>/dev/null
  chmod 644 "$1.pem"
  echo "wrote $PWD/$1.pem and $1.key"
}

# kept FILE: true, saying so, when FILE is there from an earlier run.
kept() { [ -e "$1" ] && echo "kept $PWD/$1"; }

if ! kept ca.pem; then
  key ca.key
  openssl req -x509 -new -key ca.key -subj "/CN=poolserver actor CA" -days "$ca_days" \
    -sha256 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign,cRLSign -out ca.pem
  chmod 644 ca.pem
  echo "wrote $PWD/ca.pem and ca.key"
  rm -f server.pem actor.pem # signed by a CA that is gone
fi
if ! kept server.pem; then
  san="IP:127.0.0.1,IP:::1,DNS:localhost"
  for name in "$@"; do
    # An address (IPv4, or IPv6 with a colon) is an IP entry, anything else a DNS name.
    if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+=",IP:$name"; else san+=",DNS:$name"; fi
  done
  sign server poolserver "subjectAltName=$san
extendedKeyUsage=serverAuth
keyUsage=critical,digitalSignature"
fi
if ! kept actor.pem; then
  sign actor poolactor "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
fi

cat <<EOF
poolserver: ACTOR_TLS_CERT=$PWD/server.pem ACTOR_TLS_KEY=$PWD/server.key ACTOR_TLS_CA=$PWD/ca.pem
poolactor:  ACTOR_TLS_CERT=$PWD/actor.pem ACTOR_TLS_KEY=$PWD/actor.key ACTOR_TLS_CA=$PWD/ca.pem
Keep ca.key away from both (it makes new certificates); copy only the files each side uses.
EOF
