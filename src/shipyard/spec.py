"""One declaration per stage of its inputs and outputs, and what is derived from it.

Each stage declares itself once in ``shipyard/specs/<stage>.py`` as a :class:`Stage` (name, type, default,
allowed values, secret or not, description of every input; every output). From that declaration come:

- ``actions/<stage>/action.yml`` and the root ``action.yml`` (``python scripts/gen_workflows.py``; ``--check`` in
  the lints fails when a generated file is stale), hence the README tables and the reusable workflows;
- the defaults a stage sees when an input is empty (:func:`fill_defaults`: the CLI and the root action get the
  same defaults as the stage action);
- one read of every input, validated before the stage does anything (:meth:`Stage.read`).

Importing this module loads nothing but the standard library.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TRUE_WORDS = frozenset({"true", "yes", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "off", "0"})
TYPES = ("string", "boolean", "number")


@dataclass(frozen=True)
class Input:
    """One input. ``root`` is its name on the root action (the whole pipeline); empty: not offered there."""

    name: str
    description: str
    default: str = ""
    required: bool = False
    type: str = "string"
    choices: tuple[str, ...] = ()
    secret: bool = False
    root: str = ""

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"input {self.name}: type must be one of {TYPES}, got {self.type!r}")
        if self.required and self.default:
            raise ValueError(f"input {self.name}: a required input has no default")

    @property
    def env(self) -> str:
        return "INPUT_" + self.name.replace("-", "_").upper()

    @property
    def plain_default(self) -> str:
        """The default as Python sees it: an expression (``${{ github.token }}``) only exists on a runner."""
        return "" if "${{" in self.default else self.default


@dataclass(frozen=True)
class Output:
    name: str
    description: str


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    description: str
    icon: str
    color: str
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...] = ()
    author: str = "Shipyard"
    action: bool = True  # False: internal (no actions/<stage>/action.yml), e.g. the root action's plan step

    def input(self, name: str) -> Input:
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(f"stage {self.name} declares no input {name!r}")

    def defaults(self) -> dict[str, str]:
        return {i.name: i.plain_default for i in self.inputs if i.plain_default}

    def read(self, env: Mapping[str, str]) -> Inputs:
        """Every declared input, defaults applied, booleans and allowed values checked (raises UserError).

        Required inputs and numeric bounds are left to the stage, which names its own fix."""
        from shipyard.runtime import UserError

        values: dict[str, str] = {}
        for item in self.inputs:
            value = _lookup(env, item) or item.plain_default
            if value:
                _check(item, value, UserError)
            values[item.name] = value
        return Inputs(self, values)


@dataclass(frozen=True)
class Step:
    """One step of the root action: runs ``stage`` with every input the root offers for it (``${{ inputs.<root
    name> }}``), except those ``with_`` sets (to another step's output or a fixed value)."""

    id: str
    name: str
    stage: str
    if_: str = ""
    with_: dict[str, str] = field(default_factory=dict)


def _lookup(env: Mapping[str, str], item: Input) -> str:
    value = env.get(item.env)
    if value is None:  # a `uses: docker://` step passes `with:` as INPUT_<NAME> with the hyphens kept
        value = env.get("INPUT_" + item.name.upper())
    return (value or "").strip()


def _check(item: Input, value: str, error: type[Exception]) -> None:
    from shipyard.runtime import shown  # the value without control characters or a URL's credentials

    low = value.lower()
    if item.type == "boolean" and low not in TRUE_WORDS | FALSE_WORDS:
        raise error(f"Input '{item.name}' must be true or false, got '{shown(value)}'.",
                    f"set `{item.name}: true` or `{item.name}: false`.")
    if item.choices and low not in {c.lower() for c in item.choices}:
        raise error(f"Input '{item.name}' has unknown value '{shown(value)}'; allowed values: "
                    f"{', '.join(item.choices)}.",
                    f"set `{item.name}:` to one of {', '.join(item.choices)}.")


@dataclass
class Inputs:
    """A stage's inputs read once: strings with defaults applied, typed accessors for the declared types."""

    stage: Stage
    values: dict[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str:
        self.stage.input(name)
        return self.values.get(name, "")

    def flag(self, name: str) -> bool:
        item = self.stage.input(name)
        if item.type != "boolean":
            raise TypeError(f"input {name} is declared {item.type}, not boolean")
        return self.values.get(name, "").lower() in TRUE_WORDS

    def number(self, name: str) -> float | None:
        item = self.stage.input(name)
        if item.type != "number":
            raise TypeError(f"input {name} is declared {item.type}, not number")
        value = self.values.get(name, "")
        if not value:
            return None
        from shipyard.runtime import is_finite_number

        if not is_finite_number(value):  # float() alone takes "nan", "inf" and "1_0"
            from shipyard.runtime import UserError, shown

            raise UserError(f"Input '{name}' must be a number, got '{shown(value)}'.",
                            f"set `{name}:` to a finite number such as 30 or 1.5.", input_name=name)
        return float(value)

    def secrets(self) -> list[str]:
        return [self.values[i.name] for i in self.stage.inputs if i.secret and self.values.get(i.name)]


def module_name(stage: str) -> str:
    return "shipyard.specs." + stage.replace("-", "_")


def load(stage: str) -> Stage | None:
    """The stage's declaration, or None while it has none yet (``gen_workflows.py --bootstrap`` writes one)."""
    try:
        module = importlib.import_module(module_name(stage))
    except ModuleNotFoundError as exc:
        if exc.name == module_name(stage):
            return None
        raise
    declared: Stage = module.STAGE
    return declared


def fill_defaults(stage: Stage, env: MutableMapping[str, str]) -> None:
    """Put the declared default into every empty input variable: the CLI and the root action then run the stage
    exactly as its own action.yml does (where GitHub fills the same defaults)."""
    for item in stage.inputs:
        if item.plain_default and not _lookup(env, item):
            env[item.env] = item.plain_default


# ---------------------------------------------------------------------------------------------- rendering YAML
def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def render_inputs(inputs: list[tuple[str, Input]], indent: str = "  ") -> list[str]:
    lines = []
    for name, item in inputs:
        lines += [f"{indent}{name}:", f"{indent}  description: {_q(item.description)}"]
        if item.required:
            lines.append(f"{indent}  required: true")
        else:
            default = item.default
            shown = default if default.startswith("${{") and default.endswith("}}") else _q(default)
            lines += [f"{indent}  required: false", f"{indent}  default: {shown}"]
    return lines


def render_action(stage: Stage, header: str, *, title: str | None = None, description: str | None = None,
                  extra_inputs: Sequence[tuple[Input, str]] = (), run: str | None = None) -> str:
    """``actions/<stage>/action.yml``: the thin composite, every input forwarded through ``env:``. A variant
    (the Docker flavour) changes the title, description and command, and adds inputs, each with the variable
    it is forwarded as."""
    lines = [header.rstrip("\n"), f"name: {title or stage.title}",
             f"description: {_q(description or stage.description)}", f"author: {stage.author}", "branding:",
             f"  icon: {stage.icon}", f"  color: {stage.color}", "inputs:"]
    lines += render_inputs([(i.name, i) for i in (*stage.inputs, *(extra for extra, _ in extra_inputs))])
    if stage.outputs:
        lines.append("outputs:")
        for out in stage.outputs:
            lines += [f"  {out.name}:", f"    description: {_q(out.description)}",
                      f"    value: ${{{{ steps.run.outputs.{out.name} }}}}"]
    lines += ["runs:", "  using: composite", "  steps:", "    - id: run", "      shell: bash", "      env:"]
    lines += [f"        {i.env}: ${{{{ inputs.{i.name} }}}}" for i in stage.inputs]
    lines += [f"        {env}: ${{{{ inputs.{extra.name} }}}}" for extra, env in extra_inputs]
    lines.append(f"      run: '\"{run or '$GITHUB_ACTION_PATH/../../scripts/shipyard'}\" {stage.name}'")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- bootstrapping
SECRET_WORDS = ("token", "api-key", "secret", "password", "private-key", "webhook-url")


def _guess_type(default: str) -> str:
    if default in ("true", "false"):
        return "boolean"
    try:
        float(default)
    except ValueError:
        return "string"
    return "number"


def bootstrap(stage: str, meta: Mapping[str, Any], roots: Mapping[str, str] | None = None,
              keep: Stage | None = None) -> str:
    """Python source of a declaration converted from an existing action.yml, every description and default kept.

    ``keep`` is the current declaration: its types, choices, secret flags and root names survive a re-run (an
    input another engineer added to the YAML is picked up, nothing declared by hand is lost, and a declared input
    missing from the YAML is kept: remove an input from the declaration, not from the generated file)."""
    roots = dict(roots or {})
    branding = meta.get("branding") or {}
    lines = [
        f'"""The {stage} stage\'s inputs and outputs: the one place they are declared.',
        "",
        f"actions/{stage}/action.yml, the root action's inputs for this stage, the README tables and the CLI's",
        'help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""',
        "",
        "from shipyard.spec import Input, Output, Stage",
        "",
        "STAGE = Stage(",
        f"    name={stage!r},",
        f"    title={str(meta.get('name', '')) !r},",
        f"    description={_pystr(str(meta.get('description', '')), 4)},",
        f"    icon={str(branding.get('icon', 'box'))!r},",
        f"    color={str(branding.get('color', 'blue'))!r},",
        "    inputs=(",
    ]
    inputs = dict(meta.get("inputs") or {})
    for old_input in keep.inputs if keep is not None else ():
        # declared but missing from the YAML (a hand edit from a stale copy): kept, never silently dropped
        if old_input.name not in inputs:
            inputs[old_input.name] = {"description": old_input.description, "required": old_input.required,
                                      "default": old_input.default}
    for name, spec in inputs.items():
        spec = spec or {}
        default = "" if spec.get("default") is None else str(spec.get("default"))
        old = None
        if keep is not None:
            old = next((i for i in keep.inputs if i.name == name), None)
        args = [repr(name), _pystr(str(spec.get("description", "")), 12)]
        if default:
            args.append(f"default={default!r}")
        if spec.get("required"):
            args.append("required=True")
        kind = old.type if old else _guess_type(default)
        if kind != "string":
            args.append(f"type={kind!r}")
        if old and old.choices:
            args.append(f"choices={old.choices!r}")
        secret = old.secret if old else any(w in name for w in SECRET_WORDS)
        if secret:
            args.append("secret=True")
        root = old.root if old else roots.get(name, "")
        if root:
            args.append(f"root={root!r}")
        lines += _call("Input", args)
    lines += ["    ),", "    outputs=("]
    for name, spec in (meta.get("outputs") or {}).items():
        lines += _call("Output", [repr(name), _pystr(str((spec or {}).get("description", "")), 12)])
    lines += ["    ),", ")"]
    return "\n".join(lines) + "\n"


def _pystr(text: str, indent: int) -> str:
    """A string literal that fits the line length: split on spaces into adjacent literals when it is long."""
    if len(repr(text)) + indent + 20 <= 118:
        return repr(text)
    chunks, current = [], ""
    for word in re.split(r"(?<= )", text):
        if current and len(repr(current + word)) + indent + 4 > 116:
            chunks.append(current)
            current = ""
        current += word
    chunks.append(current)
    pad = " " * (indent + 4)
    return "(\n" + "\n".join(pad + repr(c) for c in chunks) + "\n" + " " * indent + ")"


def _call(kind: str, args: list[str]) -> list[str]:
    one = f"        {kind}({', '.join(args)}),"
    if len(one) <= 120 and "\n" not in one:
        return [one]
    return [f"        {kind}(", *(f"            {a}," for a in args), "        ),"]
