"""The declarations (shipyard.specs) and what is generated from them: every action folder is declared, a hand edit
of any generated action.yml fails the check, the fleet-level stages stay out of the root action and the reusable
workflows, the stage code falls back to the declared defaults, and the reusable workflows read the runner variable
the minutes guard writes."""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard import spec
from shipyard.specs import minutes_guard
from shipyard.specs import pipeline as root_spec
from shipyard.stages import STAGES

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import gen_workflows  # noqa: E402

FLEET_LEVEL = ("minutes-guard", "fleet", "deploy-board", "promote")
DECLARED = sorted(n for n in STAGES if (s := spec.load(n)) is not None and s.action)


def test_every_action_folder_is_declared() -> None:
    assert gen_workflows.undeclared() == []
    folders = sorted(p.parent.name for p in (ROOT / "actions").glob("*/action.yml"))
    assert folders == DECLARED
    assert set(FLEET_LEVEL) <= set(DECLARED)


@pytest.mark.parametrize("name", FLEET_LEVEL)
def test_fleet_level_stages_stay_out_of_the_root_action_and_the_pipeline(name: str) -> None:
    stage = spec.load(name)
    assert stage is not None
    assert not [i.name for i in stage.inputs if i.root], "an input with a root name joins the root action"
    assert name not in {step.stage for step in root_spec.STEPS}
    root_steps = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))["runs"]["steps"]
    assert not [s for s in root_steps if str(s.get("run", "")).rstrip("'\"").endswith(f" {name}")]
    generated = gen_workflows.outputs()
    assert generated[ROOT / "actions" / name / "action.yml"].startswith(gen_workflows.action_header(name))


# ------------------------------------------------------------------ --check over a copy of the generated files
@pytest.fixture
def generated_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """gen_workflows pointed at a scratch root holding everything it writes (nothing in the checkout changes)."""
    monkeypatch.setattr(gen_workflows, "ROOT", tmp_path)
    monkeypatch.setattr(gen_workflows, "WORKFLOWS", tmp_path / ".github" / "workflows")
    monkeypatch.setattr(gen_workflows, "TEMPLATES", tmp_path / "workflow-templates")
    (tmp_path / "actions").mkdir()
    assert gen_workflows.main([]) == 0
    assert gen_workflows.main(["--check"]) == 0
    return tmp_path


@pytest.mark.parametrize("name", DECLARED)
def test_check_fails_when_a_generated_action_yml_is_edited_by_hand(
        name: str, generated_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = generated_copy / "actions" / name / "action.yml"
    assert path.is_file(), "every declared stage's action.yml is generated (and so checked)"
    text = path.read_text(encoding="utf-8")
    # a default or a description changed by hand in the YAML only
    edited, n = re.subn(r"^(    default: ).*$", r'\1"edited by hand"', text, count=1, flags=re.M)
    if not n:
        edited, n = re.subn(r"^(    description: ).*$", r'\1"edited by hand"', text, count=1, flags=re.M)
    assert n == 1 and edited != text
    path.write_text(edited, encoding="utf-8")
    capsys.readouterr()
    assert gen_workflows.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert f"actions/{name}/action.yml is out of date" in err
    assert err.count("is out of date") == 1
    assert gen_workflows.main([]) == 0 and path.read_text(encoding="utf-8") == text  # regenerating restores it


def test_a_stage_without_a_declaration_is_reported_not_failed(
        generated_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = generated_copy / "actions" / "hand-written"
    folder.mkdir()
    (folder / "action.yml").write_text("name: x\nruns:\n  using: composite\n  steps: []\n", encoding="utf-8")
    capsys.readouterr()
    assert gen_workflows.main(["--check"]) == 0
    err = capsys.readouterr().err
    assert "actions/hand-written/action.yml has no declaration yet" in err
    assert "is out of date" not in err


# ------------------------------------------------------------------ declared types against the stage code
def test_declared_choices_are_what_the_stage_code_accepts() -> None:
    from shipyard.fleet import checks
    from shipyard.fleetview.sources import SEVERITIES
    from shipyard.minutes.stage import PLANS

    def choices(stage: str, name: str) -> set[str]:
        declared = spec.load(stage)
        assert declared is not None
        return set(declared.input(name).choices)

    assert choices("minutes-guard", "plan") == set(PLANS)
    assert choices("minutes-guard", "format") == {"markdown", "json"}
    assert choices("fleet", "required-checks") == {"auto", "off", *checks.PLANS}
    assert choices("fleet", "enforcement") == {"evaluate", "active", "disabled"}
    assert choices("deploy-board", "critical-severity") == set(SEVERITIES)
    assert {c.upper() for c in choices("promote", "fail-on-severity")} == {*SEVERITIES, "NONE"}
    assert choices("promote", "pr-mode") == {"single", "per-wave"}


@pytest.mark.parametrize("name", FLEET_LEVEL)
def test_credentials_are_declared_secret(name: str) -> None:
    stage = spec.load(name)
    assert stage is not None
    for item in stage.inputs:
        credential = re.search(r"token|password|private-key|secret|access-key", item.name)
        assert item.secret == bool(credential), item.name


# ------------------------------------------------------------------ Python fallbacks equal the declared defaults
CODE = {
    "minutes-guard": ["minutes"],
    "fleet": ["fleet"],
    "deploy-board": ["board", "fleetview"],
    "promote": ["promote", "fleetview", "board"],
}


def _constant(node: ast.AST, names: dict[str, Any]) -> Any:
    """A literal, or a module-level constant (``DEFAULT_LAYOUT``); None for anything computed."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        return None


def _module_constants(tree: ast.Module) -> dict[str, Any]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _constant(node.value, {})
            if isinstance(value, str):
                found[node.targets[0].id] = value
    return found


def python_defaults(packages: list[str], names: set[str]) -> list[tuple[str, Any, str]]:
    """(input, fallback, where) for every place the code reads a declared input with a constant fallback:
    ``action.input(n, default=C)``, ``action.input(n) or C``, ``action.items(n) or [C]``, ``action.choice(n, _, C)``,
    ``action.boolean/integer/number(n, C)`` and helpers called as ``f(action, n, C)``."""
    found: list[tuple[str, Any, str]] = []
    for package in packages:
        for path in sorted((ROOT / "src" / "shipyard" / package).glob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            consts = _module_constants(tree)
            for node in ast.walk(tree):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or) and len(node.values) >= 2:
                    call, fallback = node.values[0], _constant(node.values[1], consts)
                    if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                            and call.func.attr in ("input", "items") and call.args
                            and isinstance(call.args[0], ast.Constant) and call.args[0].value in names
                            and fallback not in (None, "")):  # `or ""`: no default, None made a str
                        found.append((call.args[0].value, fallback, where))
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                args = node.args
                if (isinstance(node.func, ast.Attribute) and isinstance(args[0], ast.Constant)
                        and args[0].value in names):
                    name, method = args[0].value, node.func.attr
                    kw = {k.arg: k.value for k in node.keywords}
                    if method == "input" and "default" in kw:
                        found.append((name, _constant(kw["default"], consts), where))
                    elif method == "choice" and len(args) >= 3:
                        found.append((name, _constant(args[2], consts), where))
                    elif method in ("boolean", "integer", "number") and len(args) >= 2:
                        value = _constant(args[1], consts)
                        if value is not None:
                            found.append((name, value, where))
                elif (len(args) >= 3 and isinstance(args[0], ast.Name) and args[0].id == "action"
                      and isinstance(args[1], ast.Constant) and args[1].value in names):
                    value = _constant(args[2], consts)
                    if isinstance(value, str):
                        found.append((args[1].value, value, where))
    return found


def same(declared: str, fallback: Any) -> bool:
    if isinstance(fallback, bool):
        return declared == ("true" if fallback else "false")
    if isinstance(fallback, (int, float)):
        return declared != "" and float(declared) == float(fallback)
    if isinstance(fallback, (list, tuple)):
        return [p.strip() for p in re.split(r"[,\n]", declared) if p.strip()] == list(fallback)
    return bool(declared == fallback)


@pytest.mark.parametrize("name", FLEET_LEVEL)
def test_the_stage_code_falls_back_to_the_declared_defaults(name: str) -> None:
    """The runtime fills declared defaults before a stage runs (action, root action, CLI); the fallbacks kept in
    Python for direct calls of the stage must say the same, or the two ways of calling it differ."""
    stage = spec.load(name)
    assert stage is not None
    names = {i.name for i in stage.inputs}
    found = python_defaults(CODE[name], names)
    wrong = [(n, v, where, stage.input(n).default) for n, v, where in found if not same(stage.input(n).default, v)]
    assert not wrong, wrong
    checked = {n for n, _, _ in found}
    # every non-empty declared default is one the code falls back to (dry-run is read through action.dry_run)
    missing = {i.name for i in stage.inputs if i.default and i.name not in checked and i.name != "dry-run"}
    assert not missing, f"declared defaults the code does not use (or reads in a way this test misses): {missing}"


# ------------------------------------------------------------------ routing before the wall: the runner variable
WORKFLOW_FILES = [gen_workflows.WORKFLOWS / "pipeline.yml",
                  *(gen_workflows.WORKFLOWS / f"pipeline-{lang.key}.yml" for lang in gen_workflows.LANGUAGES)]


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))
    return data


def evaluate_runs_on(expression: str, inputs: dict[str, str], variables: dict[str, str]) -> Any:
    """GitHub's evaluation of ``fromJSON(a || b || 'literal')``: the first non-empty operand, parsed as JSON."""
    m = re.fullmatch(r"\$\{\{ fromJSON\((.*)\) \}\}", expression)
    assert m, expression
    for operand in (o.strip() for o in m.group(1).split("||")):
        if operand.startswith("inputs."):
            value = inputs.get(operand[len("inputs."):], "")
        elif operand.startswith("vars."):
            value = variables.get(operand[len("vars."):], "")
        else:
            assert operand.startswith("'") and operand.endswith("'"), operand
            value = operand[1:-1].replace("''", "'")
        if value:
            return json.loads(value)
    raise AssertionError("no operand is non-empty")


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_reusable_workflows_take_runs_on_from_the_input_then_the_guards_variable(path: Path) -> None:
    from shipyard.minutes import routing

    doc = _load(path)
    job = doc["jobs"]["ship"]
    variable = spec.load("minutes-guard").input("runner-variable").default  # type: ignore[union-attr]
    assert variable == minutes_guard.RUNS_ON_VARIABLE == "SHIPYARD_RUNS_ON"
    assert job["runs-on"] == f"${{{{ fromJSON(inputs.runs-on || vars.{variable} || '\"ubuntu-latest\"') }}}}"
    assert doc["on"]["workflow_call"]["inputs"]["runs-on"]["default"] == ""
    expression = job["runs-on"]
    # what the guard writes (routing.labels_json) is what the workflow reads: a label string or a list of labels
    hosted = spec.load("minutes-guard").input("hosted-labels").default  # type: ignore[union-attr]
    assert evaluate_runs_on(expression, {}, {}) == hosted == "ubuntu-latest"
    assert routing.labels_json([hosted]) == json.dumps(hosted)
    routed = routing.labels_json(["self-hosted", "arc-runners"])
    assert evaluate_runs_on(expression, {}, {variable: routed}) == ["self-hosted", "arc-runners"]
    assert evaluate_runs_on(expression, {}, {variable: routing.labels_json(["arc-runners"])}) == "arc-runners"
    # the caller's input wins over the variable
    assert evaluate_runs_on(expression, {"runs-on": '["self-hosted","gpu"]'}, {variable: routed}) == [
        "self-hosted", "gpu"]


def test_the_guard_reads_the_same_variable_name_by_default() -> None:
    source = (ROOT / "src" / "shipyard" / "minutes" / "stage.py").read_text(encoding="utf-8")
    assert re.search(r'action\.input\("runner-variable"\) or "SHIPYARD_RUNS_ON"', source) or \
        "RUNS_ON_VARIABLE" in source
    template = (gen_workflows.TEMPLATES / "shipyard-minutes.yml")
    if template.exists():  # the org template for the guard names the same variable when it sets one
        for found in re.findall(r"runner-variable:\s*(\S+)", template.read_text(encoding="utf-8")):
            assert found.strip("'\"") == minutes_guard.RUNS_ON_VARIABLE



# ------------------------------------------------------------------ hand-written org templates of the fleet stages
STAGE_TEMPLATES = sorted(p for p in gen_workflows.TEMPLATES.glob("shipyard-*.yml")
                         if "shipyard/shipyard/actions/" in p.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", STAGE_TEMPLATES, ids=lambda p: p.name)
def test_org_templates_pass_only_declared_inputs_and_every_required_one(path: Path) -> None:
    steps = [step for job in _load(path)["jobs"].values() for step in job.get("steps", [])
             if str(step.get("uses", "")).startswith("shipyard/shipyard/actions/")]
    assert steps
    for step in steps:
        name = step["uses"].split("/actions/", 1)[1].split("@", 1)[0]
        stage = spec.load(name)
        assert stage is not None, f"{path.name}: {name} has no declaration"
        given = set(step.get("with") or {})
        declared = {i.name for i in stage.inputs}
        assert given <= declared, f"{path.name}: {name} has no inputs {sorted(given - declared)}"
        assert {i.name for i in stage.inputs if i.required} <= given, path.name


def test_the_fleet_level_templates_are_covered() -> None:
    assert {p.name for p in STAGE_TEMPLATES} >= {"shipyard-minutes.yml", "shipyard-fleet.yml",
                                                 "shipyard-deploy-board.yml", "shipyard-promote.yml"}
