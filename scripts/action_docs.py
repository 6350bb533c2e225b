#!/usr/bin/env python3
"""Generate the inputs/outputs tables of each action's README from its action.yml.

    python scripts/action_docs.py              # every actions/*/ and the root action.yml
    python scripts/action_docs.py actions/build
    python scripts/action_docs.py --check      # exit 1 if a README is out of date (CI and pre-commit)

The tables live between ``<!-- inputs -->``/``<!-- /inputs -->`` and ``<!-- outputs -->``/``<!-- /outputs -->``
markers; the rest of the README is hand-written.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def inputs_table(meta: dict[str, Any]) -> str:
    rows = ["| name | required | default | description |", "|---|---|---|---|"]
    for name, spec in (meta.get("inputs") or {}).items():
        spec = spec or {}
        default = spec.get("default")
        shown = "" if default is None or default == "" else f"`{_cell(default)}`"
        required = "yes" if spec.get("required") else "no"
        rows.append(f"| `{name}` | {required} | {shown} | {_cell(spec.get('description', ''))} |")
    return "\n".join(rows)


def outputs_table(meta: dict[str, Any]) -> str:
    rows = ["| name | description |", "|---|---|"]
    for name, spec in (meta.get("outputs") or {}).items():
        rows.append(f"| `{name}` | {_cell((spec or {}).get('description', ''))} |")
    return "\n".join(rows)


def render(readme: str, meta: dict[str, Any]) -> str:
    for marker, table in (("inputs", inputs_table(meta)), ("outputs", outputs_table(meta))):
        pattern = re.compile(rf"(<!-- {marker} -->)(.*?)(<!-- /{marker} -->)", re.S)
        if not pattern.search(readme):
            raise ValueError(f"missing <!-- {marker} --> ... <!-- /{marker} --> markers")
        readme = pattern.sub(lambda m, t=table: f"{m.group(1)}\n{t}\n{m.group(3)}", readme)
    return readme


def action_dirs(args: list[str]) -> list[Path]:
    if args:
        return [ROOT / a if not Path(a).is_absolute() else Path(a) for a in args]
    dirs = sorted(p.parent for p in (ROOT / "actions").glob("*/action.yml"))
    if (ROOT / "action.yml").exists():
        dirs.append(ROOT)
    return dirs


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    stale = []
    for folder in action_dirs(args):
        meta = yaml.safe_load((folder / "action.yml").read_text(encoding="utf-8"))
        readme_path = folder / "README.md"
        if not readme_path.exists():
            print(f"{readme_path}: missing", file=sys.stderr)
            stale.append(readme_path)
            continue
        old = readme_path.read_text(encoding="utf-8")
        try:
            new = render(old, meta)
        except ValueError as exc:
            print(f"{readme_path}: {exc}", file=sys.stderr)
            stale.append(readme_path)
            continue
        if new != old:
            if check:
                print(f"{readme_path}: tables out of date; run python scripts/action_docs.py", file=sys.stderr)
                stale.append(readme_path)
            else:
                readme_path.write_text(new, encoding="utf-8")
                print(f"updated {readme_path.relative_to(ROOT)}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
