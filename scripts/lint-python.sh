#!/usr/bin/env bash
# Lints every Python file git tracks (tools/, bench/, scripts/, ...): pyflakes3 (unused
# imports and variables, undefined names, redefinitions) and `python3 -m py_compile` (the
# file compiles). Exits non-zero on any warning or error, naming the files. Installs
# pyflakes3 and python3 if missing (apt-get, non-interactive). Standard library only: the
# Python here needs nothing from pip. Nothing is written into the tree (the compiled files
# go to a temporary folder).
#
#   scripts/lint-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[lint-python] $*" >&2; }
fail() { echo "lint-python: FAILED: $*" >&2; exit 1; }

. scripts/lib.sh  # install_commands
install_commands pyflakes3 python3 || fail "could not install what it needs (above)"

mapfile -t files < <(git ls-files -- '*.py')
[ ${#files[@]} -gt 0 ] || fail "git lists no *.py file"

status=0
pyflakes3 "${files[@]}" || { status=1; say "pyflakes3 found problems (above)"; }
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
PYTHONPYCACHEPREFIX=$cache python3 -m py_compile "${files[@]}" ||
  { status=1; say "python3 -m py_compile failed (above)"; }
[ "$status" = 0 ] || fail "${#files[@]} Python files linted, problems above"
say "${#files[@]} Python files: pyflakes3 and py_compile clean"
