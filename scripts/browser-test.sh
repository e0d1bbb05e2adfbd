#!/usr/bin/env bash
# The dashboard in a real browser (tests/browser/dashboard.test.mjs): Debian's Chromium,
# driven by playwright-core from npm, against poolserver (16 workers) and one poolactor on
# 127.0.0.1 under a bounded load. Checks that the page shows the pool, that its charts draw
# and its numbers move, that it turns "shedding" under overload and "unreachable" once
# the server stops. About 15 s.
#
#   scripts/browser-test.sh                          # the checks; the screenshot is thrown away
#   scripts/browser-test.sh --screenshot FILE        # keep the screenshot taken under load
#   scripts/browser-test.sh --screenshot docs/dashboard.png   # docs/dashboard.md's picture
#
# Installs chromium and nodejs (apt-get, non-interactive; Debian 12's Node.js 18 is enough)
# if missing, then playwright-core at the version tests/browser/package-lock.json pins (npm
# ci; it never downloads a browser), and builds the release binaries if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/browser-test.sh [--screenshot FILE]"; }
screenshot=""
while [ $# -gt 0 ]; do
  case "$1" in
    --screenshot) [ $# -ge 2 ] || { usage >&2; exit 2; }; screenshot=$2; shift ;;
    --screenshot=*) screenshot=${1#--screenshot=} ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
  shift
done

say() { echo "[browser] $*" >&2; }
fail() { echo "browser: FAILED: $*" >&2; exit 1; }

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
if [ ${#missing[@]} -gt 0 ]; then
  scripts/apt-install.sh "${missing[@]}" || fail "could not install ${missing[*]}"
fi
# NodeSource's nodejs carries npm; Debian's does not.
command -v npm >/dev/null || scripts/apt-install.sh npm || fail "could not install npm"
# The Node.js the pinned playwright-core declares it needs (1.61.x: >=18, so Debian 12's
# nodejs 18 runs it; 1.62 and later need 20), read from the lockfile so the two cannot differ.
node_need=$(node -p 'require("./tests/browser/package-lock.json").packages["node_modules/playwright-core"].engines.node' 2>/dev/null) ||
  fail "could not read playwright-core's engines from tests/browser/package-lock.json with $(node --version 2>&1)"
need_major=${node_need#>=}
[[ "$node_need" == ">="* && "$need_major" =~ ^[0-9]+$ ]] ||
  fail "tests/browser/package-lock.json: playwright-core's engines.node is '$node_need', expected '>=N'"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge "$need_major" ] ||
  fail "playwright-core (tests/browser/package-lock.json) needs Node.js $need_major or newer; node is $(node --version)"

# playwright-core only: it drives the browser given to it and never fetches one.
say "npm ci (playwright-core, as pinned)"
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >&2

server=build/release/server/poolserver
actor=build/release/actor/poolactor
if [ ! -x "$server" ] || [ ! -x "$actor" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target poolserver poolactor
fi

out=$screenshot
if [ -z "$out" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  out=$tmp/dashboard.png
fi
timeout -k 5 120 node tests/browser/dashboard.test.mjs --server "$server" --actor "$actor" \
  --screenshot "$out"
[ -s "$out" ] || fail "no screenshot at $out"
