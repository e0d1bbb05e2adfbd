#!/usr/bin/env bash
# Installs the Debian packages named, non-interactively (for CI: root, no standard input).
# The callers decide what is missing (scripts/install-deps.sh, cluster.sh, prometheus.sh,
# browser-test.sh); this is the one place that runs apt-get.
#
#   scripts/apt-install.sh PACKAGE...
#
# Uses sudo when not root. Runs `apt-get update` only when the package lists do not know a
# package yet. A package whose service would start on install (haproxy, prometheus) is kept
# from starting by a policy-rc.d written for the install, as Debian's container images do,
# and removed after it (an existing policy-rc.d is left as it is). When another apt or dpkg
# holds a lock (an unattended upgrade, a second script), it waits up to APT_LOCK_WAIT seconds
# (default 900) instead of failing.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: scripts/apt-install.sh PACKAGE..." >&2; exit 2; }
echo "installing: $*" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "apt-install: need root (or sudo) to install $*" >&2; exit 1; }
  sudo=(sudo -n)
fi
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
  guard=1
fi
# (env: sudo does not pass DEBIAN_FRONTEND on by itself)
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
lock_wait=${APT_LOCK_WAIT:-900}
# apt_run SECONDS ARGS...: apt-get ARGS within SECONDS, waiting while another apt holds a
# lock. DPkg::Lock::Timeout (apt >= 1.9.11) makes apt-get wait for dpkg's lock, but
# `apt-get update` fails at once on the package lists' lock (apt 2.6), so a refused lock
# is also tried again here until lock_wait has passed.
apt_run() {
  local limit=$1 deadline=$(($(date +%s) + lock_wait)) err rc
  shift
  err=$(mktemp)
  while :; do
    rc=0
    # The limit covers the work; the wait for dpkg's lock comes on top of it.
    timeout "$((limit + lock_wait))" "${apt[@]}" -o DPkg::Lock::Timeout="$lock_wait" "$@" \
      </dev/null 2>"$err" ||
      rc=$?
    cat "$err" >&2
    if [ "$rc" != 0 ] && grep -q -e 'Could not get lock' -e 'is held by process' "$err" &&
      [ "$(date +%s)" -lt "$deadline" ]; then
      echo "apt-install: another apt or dpkg holds its lock; trying again in 5 s" >&2
      sleep 5
      continue
    fi
    rm -f "$err"
    return "$rc"
  done
}
rc=0
apt_run 900 install -y -q --no-install-recommends "$@" ||
  { apt_run 300 update -q && apt_run 900 install -y -q --no-install-recommends "$@"; } ||
  rc=$?
[ -z "$guard" ] || "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
[ "$rc" = 0 ] || { echo "apt-install: could not install $*" >&2; exit 1; }
