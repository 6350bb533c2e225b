#!/usr/bin/env bash
# The demo: set up a fresh machine (apt packages, .venv, actionlint; idempotent), bring up the local stack and
# run the whole Shipyard pipeline (the root action.yml) on the example service under act, twice, then print
# where each result went. Arguments go to scripts/demo.py (--runs 1, --scan-failure, --keep, --verbose).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export PATH="$root/.venv/bin:$PATH"   # act comes with the dev tools in .venv
exec python scripts/demo.py "$@"
