#!/usr/bin/env bash
# The test command: set up (system packages, .venv, actionlint), run every lint, then the whole test suite.
#   bash scripts/test.sh            everything (what CI runs)
#   bash scripts/test.sh -k slack   extra arguments go to pytest
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export PATH="$root/.venv/bin:$PATH"
lint_rc=0
bash scripts/lint.sh || lint_rc=$?
test_rc=0
# the number of tests this command runs, printed first so a folder pytest silently skips shows up in CI
collected="$(python -m pytest --collect-only -q -p no:cacheprovider "$@" 2>/dev/null | grep -E '^[0-9]+ tests? collected|no tests ran' | tail -n 1 || true)"
echo "collected: ${collected:-unknown (see the collection errors below)}"
python -m pytest -q -p no:cacheprovider --timeout 600 "$@" || test_rc=$?
if [ "$lint_rc" -ne 0 ]; then echo "lints failed (see above)"; fi
exit $(( lint_rc != 0 ? lint_rc : test_rc ))
