"""``shipyard <stage> --<input-name> value ...``: the same code the actions run, from a terminal.

Each ``--kebab-name value`` becomes ``INPUT_KEBAB_NAME`` for the stage, exactly as ``action.yml`` passes it
through ``env:``; variables already in the environment work too. ``--dry-run`` is the ``dry-run`` input.
Input names, descriptions and defaults come from the stage's declaration (``shipyard.specs``; the action.yml
for a stage not declared yet). An empty input gets its declared default, whichever way the stage is called
(stage action, root action, CLI), and every input is read and checked once before the stage starts.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shipyard import __version__, spec
from shipyard.runtime import Action, command_line, env_name, run_stage, shown
from shipyard.stages import ALIASES, STAGES, load, resolve


def actions_dir() -> Path | None:
    here = Path(__file__).resolve().parent
    for candidate in (
        Path(os.environ["SHIPYARD_ROOT"]) / "actions" if os.environ.get("SHIPYARD_ROOT") else None,
        here.parent.parent / "actions",  # source checkout: src/shipyard -> repo root
        here / "_actions",  # installed wheel
    ):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


def action_metadata(stage: str) -> dict[str, Any]:
    """The stage's inputs and outputs: from its declaration (``shipyard.specs``), else its action.yml."""
    declared = spec.load(stage)
    if declared is not None:
        return {
            "inputs": {i.name: {"description": i.description, "required": i.required,
                                **({} if i.required else {"default": i.default})} for i in declared.inputs},
            "outputs": {o.name: {"description": o.description} for o in declared.outputs},
        }
    folder = actions_dir()
    path = folder / stage / "action.yml" if folder else None
    if path is None or not path.is_file():
        return {}
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _usage() -> str:
    width = max(len(n) for n in STAGES)
    lines = [
        f"shipyard {__version__}: the Shipyard pipeline stages, run locally with the same code as the actions.",
        "",
        "usage: shipyard <stage> [--<input-name> VALUE ...] [--dry-run]",
        "       shipyard <stage> --help      list a stage's inputs",
        "",
        "stages:",
    ]
    lines += [f"  {name.ljust(width)}  {desc}" for name, (_, desc) in STAGES.items()]
    if ALIASES:
        lines += ["", "aliases:"]
        lines += [f"  {alias.ljust(width)}  = {stage}" for alias, stage in ALIASES.items()]
    lines += ["", "Inputs can also come from the environment as INPUT_<NAME> (INPUT_FAIL_ON_ERROR=true)."]
    return "\n".join(lines)


def _stage_help(stage: str) -> str:
    meta = action_metadata(stage)
    lines = [f"usage: shipyard {stage} [--<input-name> VALUE ...]", "", STAGES[stage][1], ""]
    inputs = meta.get("inputs") or {}
    if inputs:
        lines.append("inputs:")
        for name, spec in inputs.items():
            spec = spec or {}
            desc = " ".join(str(spec.get("description", "")).split())
            extra = " (required)" if spec.get("required") and "default" not in spec else ""
            default = spec.get("default")
            if default not in (None, "") and "${{" not in str(default):
                extra += f" [default: {default}]"
            lines.append(f"  --{name} VALUE{extra}\n      {desc}")
    outputs = meta.get("outputs") or {}
    if outputs:
        lines.append("outputs:")
        lines += [f"  {name}: {' '.join(str((s or {}).get('description', '')).split())}" for name, s in outputs.items()]
    return "\n".join(lines)


class CliError(Exception):
    pass


def _error(message: str) -> None:
    """A usage error before any stage runs: one ``::error::`` on stderr, its data escaped like every command's
    (a newline in an argument cannot start a second, forged command)."""
    print(command_line("error", message), file=sys.stderr)


def parse_options(stage: str, args: Sequence[str]) -> dict[str, str]:
    """``--name value``, ``--name=value`` and bare ``--flag`` (meaning true) into INPUT_* variables."""
    known: set[str] | None = None
    if args:
        meta_inputs = action_metadata(stage).get("inputs")
        known = set(meta_inputs) if isinstance(meta_inputs, dict) else None
    env: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or arg == "--":
            raise CliError(f"unexpected argument '{shown(arg)}': inputs are given as --<input-name> VALUE")
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value = args[i + 1]
                i += 1
            else:
                value = "true"
        if known is not None and name not in known and name != "dry-run":
            raise CliError(
                f"unknown input '--{shown(name)}' for stage '{stage}'; known inputs: {', '.join(sorted(known))}"
            )
        env[env_name(name)] = value
        i += 1
    return env


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        print(__version__)
        return 0
    stage, rest = resolve(args[0]), args[1:]
    if stage not in STAGES:
        known = ", ".join([*STAGES, *(f"{a} (= {s})" for a, s in ALIASES.items())])
        _error(f"unknown stage '{shown(args[0])}'. Known stages: {known}")
        return 2
    if any(a in ("-h", "--help") for a in rest):
        print(_stage_help(stage))
        return 0
    try:
        overrides = parse_options(stage, rest)
    except CliError as exc:
        _error(str(exc))
        return 2
    env = dict(os.environ)
    env.update(overrides)
    declared = spec.load(stage)
    if declared is not None:
        spec.fill_defaults(declared, env)  # the same defaults as the stage's action.yml
    action = Action(env)
    run = load(stage)
    return run_stage(run if declared is None else checked(declared, run), action, name=stage)


def checked(declared: spec.Stage, run: Callable[[Action], None]) -> Callable[[Action], None]:
    """The stage, after one read of every declared input: secrets masked, booleans and allowed values checked
    before the stage does anything."""

    def stage(action: Action) -> None:
        inputs = declared.read(action.env)
        for value in inputs.secrets():
            action.mask(value)
        run(action)

    return stage
