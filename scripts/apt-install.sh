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
# and removed after it (an existing policy-rc.d is left as it is).
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
rc=0
timeout 900 "${apt[@]}" install -y -q --no-install-recommends "$@" </dev/null ||
  { timeout 300 "${apt[@]}" update -q </dev/null &&
    timeout 900 "${apt[@]}" install -y -q --no-install-recommends "$@" </dev/null; } ||
  rc=$?
[ -z "$guard" ] || "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
[ "$rc" = 0 ] || { echo "apt-install: could not install $*" >&2; exit 1; }
