#!/usr/bin/env bash
# Download every wheel of the locked runtime (and the locked uv) into one folder, for runners that cannot reach
# a package index: copy the folder to the runner and set SHIPYARD_WHEELHOUSE to it. Hashes are checked on
# download and again on install.
#
#   bash scripts/wheelhouse.sh DIR                                    wheels for this machine's Python and platform
#   bash scripts/wheelhouse.sh DIR --platform manylinux2014_aarch64 --python-version 3.12
#                                                                     wheels for another runner (pip download's flags)
set -euo pipefail

dest="${1:?usage: wheelhouse.sh DIR [--platform TAG] [--python-version X.Y]}"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python3=""
for candidate in ${SHIPYARD_PYTHON3:+"$SHIPYARD_PYTHON3"} python3 /usr/local/bin/python3 /usr/bin/python3; do
  if "$candidate" -m pip --version >/dev/null 2>&1; then python3="$candidate"; break; fi
done
[ -n "$python3" ] || { echo "::error::no python3 with pip found. Fix: install python3-pip, or set SHIPYARD_PYTHON3 to a python3 that has pip"; exit 1; }
extra=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --platform|--python-version)
      [ "$#" -ge 2 ] || { echo "::error::$1 needs a value. Fix: e.g. $1 manylinux2014_x86_64 or 3.12"; exit 1; }
      extra+=("$1" "$2"); shift 2 ;;
    *) echo "::error::unknown option '$1'. Fix: use --platform TAG and/or --python-version X.Y"; exit 1 ;;
  esac
done
mkdir -p "$dest"
for lock in "$root/requirements/runtime.txt" "$root/requirements/bootstrap.txt"; do
  "$python3" -m pip download --quiet --disable-pip-version-check --require-hashes --only-binary :all: \
    --dest "$dest" ${extra[@]+"${extra[@]}"} -r "$lock"
done
echo "wheelhouse: $(find "$dest" -name '*.whl' | wc -l | tr -d ' ') wheels in $dest (set SHIPYARD_WHEELHOUSE=$dest)"
