#!/usr/bin/env bash
# The Docker image, built and run for real without Docker Hub, every packet on loopback
# (scripts/docker-test.py does the work and says how): a dockerd of its own, a Debian
# bookworm base from debootstrap, `docker build --network host`, then the image answering a
# job, turning healthy, taking a poolactor, and stopping cleanly on `docker stop`.
# Installs docker.io (dockerd), debootstrap and python3 if missing (apt-get,
# non-interactive; the docker service is kept from starting). With its cache
# (~/.cache/poolserver/docker: the base, the build stage's packages, the last image) about
# 5 s, plus the compile of poolserver and poolactor in the image when the C++ sources
# changed (minutes); the first run also makes the base (about 2 minutes) and installs the
# build stage's packages.
#
#   scripts/docker-test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
{ command -v dockerd && command -v docker; } >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  scripts/apt-install.sh "${missing[@]}" ||
    { echo "docker: FAILED: could not install ${missing[*]}" >&2; exit 1; }
fi
exec python3 scripts/docker-test.py "$@"
