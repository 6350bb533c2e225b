#!/usr/bin/env bash
# Create the Shipyard runtime venv at $1 from the hash-locked requirements/runtime.txt.
#
# Fast path first: uv (the runner's own, or one installed once into the shared cache from the hash-locked
# requirements/bootstrap.txt) installs the locked wheels in a few seconds and keeps them in a cache that
# later jobs reuse; plain pip is the fallback. The venv is built beside its final path and renamed into
# place, so a half-made venv is never used and two steps racing for it cannot corrupt it. POSIX tools only
# (macOS's mv has no -T: the rename is Python's os.rename, which is rename(2) and never moves into a folder).
# SHIPYARD_WHEELHOUSE: install from that folder of wheels (scripts/wheelhouse.sh) and never from an index.
set -euo pipefail

venv="${1:?usage: bootstrap.sh VENV_DIR}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lock="$root/requirements/runtime.txt"
python3="${SHIPYARD_PYTHON3:-python3}"
cache="${SHIPYARD_CACHE_DIR:-${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}/shipyard}"
mkdir -p "$cache"

# Workflow commands go to the step's stdout: fd 3 when the launcher (whose stdout we are not) opened it.
fail() {
  if { true >&3; } 2>/dev/null; then echo "::error title=Shipyard bootstrap::$*" >&3; else echo "::error title=Shipyard bootstrap::$*"; fi
  exit 1
}

wheelhouse="${SHIPYARD_WHEELHOUSE:-}"
offline=()
if [ -n "$wheelhouse" ]; then
  if [ ! -d "$wheelhouse" ]; then
    fail "SHIPYARD_WHEELHOUSE is '$wheelhouse', which is not a folder. Fix: point it at the folder scripts/wheelhouse.sh wrote, or unset it to install from the package index."
  fi
  offline=(--no-index --find-links "$wheelhouse")
fi

log() { printf 'shipyard bootstrap: %s\n' "$*"; }
now() { "$python3" -c 'import time; print(time.time())'; }
# rename(2): atomic, and fails (instead of moving inside) when the target is a non-empty folder.
rename() { "$python3" -c 'import os, sys; os.rename(sys.argv[1], sys.argv[2])' "$1" "$2" 2>/dev/null; }
start=$(now)

find_uv() {
  if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
  local key tooldir
  key="$(cksum < "$root/requirements/bootstrap.txt" | cut -d' ' -f1)"
  tooldir="$cache/uv-$key"
  if [ ! -x "$tooldir/bin/uv" ]; then
    if ! "$python3" -m pip --version >/dev/null 2>&1; then return 1; fi
    rm -rf "$tooldir.tmp.$$"
    "$python3" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
      --require-hashes --only-binary :all: --target "$tooldir.tmp.$$" -r "$root/requirements/bootstrap.txt" \
      --cache-dir "$cache/pip" ${offline[@]+"${offline[@]}"} >&2 || { rm -rf "$tooldir.tmp.$$"; return 1; }
    rename "$tooldir.tmp.$$" "$tooldir" || rm -rf "$tooldir.tmp.$$"
  fi
  echo "$tooldir/bin/uv"
}

tmp="$venv.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT

if uv="$(find_uv)"; then
  log "installing the locked runtime with uv into $venv"
  "$uv" venv --quiet --python "$python3" "$tmp"
  UV_CACHE_DIR="$cache/uv" "$uv" pip install --quiet --python "$tmp/bin/python" --require-hashes \
    --only-binary :all: ${offline[@]+"${offline[@]}"} -r "$lock"
else
  log "uv unavailable; installing the locked runtime with pip into $venv"
  "$python3" -m venv "$tmp"
  "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes --only-binary :all: \
    --cache-dir "$cache/pip" ${offline[@]+"${offline[@]}"} -r "$lock"
fi

touch "$tmp/.shipyard-ready"
if ! rename "$tmp" "$venv"; then
  # Another step finished first: keep its venv, drop ours.
  [ -f "$venv/.shipyard-ready" ] || { log "could not move the venv into $venv"; exit 1; }
fi
trap - EXIT
rm -rf "$tmp"
end=$(now)
log "ready in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')s"
