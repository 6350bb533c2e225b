# One command per common task. `make help` lists them.
.PHONY: help setup test lint demo bench docs hooks lock stack release

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install system packages, .venv and actionlint
	bash scripts/setup.sh

test: ## lints + the whole test suite (what CI runs)
	bash scripts/test.sh

lint: setup ## lints only
	bash scripts/lint.sh

demo: ## the full pipeline on the local stack
	bash scripts/demo.sh

bench: setup ## every benchmark, one JSON line each
	for b in benchmarks/*.py; do .venv/bin/python $$b; done

docs: ## regenerate actions, workflows, templates (src/shipyard/specs) and the README tables
	.venv/bin/python scripts/gen_workflows.py
	.venv/bin/python scripts/action_docs.py

hooks: setup ## install the pre-commit hooks (the lints, on the files you touch)
	.venv/bin/pre-commit install

lock: ## re-lock the runtime (hashes, every platform) and dev requirements
	.venv/bin/uv pip compile --universal --python-version 3.10 --generate-hashes -q requirements/runtime.in -o requirements/runtime.txt
	.venv/bin/uv pip compile --universal --python-version 3.10 --generate-hashes -q requirements/bootstrap.in -o requirements/bootstrap.txt
	.venv/bin/uv pip compile --python-version 3.11 -q requirements/dev.in -o requirements/dev.txt

stack: ## bring up the local stack and keep it running (Ctrl-C stops it)
	.venv/bin/python scripts/stack.py up --dir .stack

release: ## the release commit (pins by SHA), tag vX.Y.Z, move vX: make release VERSION=1.2.3
	python3 scripts/release.py pin --version $(VERSION)
