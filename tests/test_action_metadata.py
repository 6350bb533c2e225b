"""Every action.yml follows the house rules, and its README documents exactly its inputs and outputs."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.stages import STAGES

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import action_docs  # noqa: E402
import gen_workflows  # noqa: E402

from shipyard import cli, spec  # noqa: E402
from shipyard.runtime import Action, run_stage  # noqa: E402
from shipyard.specs import pipeline as root_spec  # noqa: E402

ACTION_DIRS = sorted(p.parent for p in (ROOT / "actions").glob("*/action.yml"))
KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def load(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((folder / "action.yml").read_text(encoding="utf-8"))
    return data


def ids(folder: Path) -> str:
    return folder.name


@pytest.mark.parametrize("folder", ACTION_DIRS, ids=ids)
def test_action_is_a_thin_composite_over_a_registered_stage(folder: Path) -> None:
    meta = load(folder)
    assert meta["runs"]["using"] == "composite"
    assert folder.name in STAGES, f"{folder.name} is not in shipyard.stages.STAGES"
    launches = [s for s in meta["runs"]["steps"] if "scripts/shipyard" in str(s.get("run", ""))]
    assert len(launches) == 1, "exactly one step runs the launcher"
    assert launches[0]["run"].strip() == f'"$GITHUB_ACTION_PATH/../../scripts/shipyard" {folder.name}'


@pytest.mark.parametrize("folder", ACTION_DIRS, ids=ids)
def test_every_input_is_kebab_case_described_and_forwarded_through_env(folder: Path) -> None:
    meta = load(folder)
    inputs = meta.get("inputs") or {}
    step = next(s for s in meta["runs"]["steps"] if "scripts/shipyard" in str(s.get("run", "")))
    env = step.get("env") or {}
    for name, item in inputs.items():
        assert KEBAB.match(name), f"input {name} is not kebab-case"
        assert (item or {}).get("description"), f"input {name} has no description"
        var = "INPUT_" + name.replace("-", "_").upper()
        assert env.get(var) == f"${{{{ inputs.{name} }}}}", f"input {name} is not forwarded as {var}"
    forwarded = {k for k in env if k.startswith("INPUT_")}
    expected = {"INPUT_" + n.replace("-", "_").upper() for n in inputs}
    assert forwarded == expected, f"env forwards inputs that do not exist: {sorted(forwarded - expected)}"


@pytest.mark.parametrize("folder", ACTION_DIRS, ids=ids)
def test_no_expression_inside_run_scripts(folder: Path) -> None:
    for step in load(folder)["runs"]["steps"]:
        assert "${{" not in str(step.get("run", "")), f"expression in run: of step {step.get('name') or step}"


@pytest.mark.parametrize("folder", ACTION_DIRS, ids=ids)
def test_outputs_come_from_the_stage_step(folder: Path) -> None:
    for name, item in (load(folder).get("outputs") or {}).items():
        assert KEBAB.match(name), f"output {name} is not kebab-case"
        assert item.get("description"), f"output {name} has no description"
        assert re.fullmatch(r"\$\{\{ steps\.[a-z-]+\.outputs\.[a-z0-9-]+ \}\}", item["value"]), item["value"]


@pytest.mark.parametrize("folder", ACTION_DIRS, ids=ids)
def test_readme_tables_match_action_yml(folder: Path) -> None:
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert readme == action_docs.render(readme, load(folder)), (
        f"{folder.name}/README.md tables differ from action.yml: run python scripts/action_docs.py"
    )


def test_every_registered_stage_has_an_action_folder_or_is_internal() -> None:
    folders = {p.name for p in ACTION_DIRS}
    assert set(STAGES) <= folders | {"selftest", "plan"}


# ------------------------------------------------------------------ one declaration per stage (shipyard.specs)
DECLARED = sorted(name for name in STAGES if spec.load(name) is not None)


def test_the_pipeline_stages_are_declared() -> None:
    assert {"slack-notify", "build", "ecr-push", "gitops-update", "argocd-wait", "bitbucket-mirror",
            "postman-publish", "plan"} <= set(DECLARED)


@pytest.mark.parametrize("name", [n for n in DECLARED if n != "plan"])
def test_the_converter_keeps_every_input_description_and_default(name: str) -> None:
    """bootstrap(action.yml) -> declaration -> action.yml is the identity: nothing is lost in the conversion."""
    declared = spec.load(name)
    assert declared is not None
    text = (ROOT / "actions" / name / "action.yml").read_text(encoding="utf-8")
    source = spec.bootstrap(name, yaml.safe_load(text), keep=declared)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<{name}>", "exec"), namespace)  # noqa: S102 - our own generated source
    assert namespace["STAGE"] == declared
    assert spec.render_action(namespace["STAGE"], gen_workflows.action_header(name)) == text


def test_empty_inputs_get_the_declared_defaults_whichever_way_the_stage_is_called() -> None:
    slack = spec.load("slack-notify")
    assert slack is not None
    env = {"INPUT_MENTIONS": "", "INPUT_THREAD_DETAILS": "false"}
    spec.fill_defaults(slack, env)
    assert env["INPUT_MENTIONS"] == "true" and env["INPUT_THREAD_DETAILS"] == "false"
    assert env["INPUT_RERUN_LOOKBACK_HOURS"] == "168"
    mirror = spec.load("bitbucket-mirror")
    assert mirror is not None
    spec.fill_defaults(mirror, env)
    assert "INPUT_SOURCE_TOKEN" not in env  # ${{ github.token }} exists only on a runner


def test_the_root_action_offers_each_stage_input_with_the_stage_default() -> None:
    root = load(ROOT)
    shared = {i.name for i in root_spec.SHARED}
    for step in root_spec.STEPS:
        stage = spec.load(step.stage)
        assert stage is not None
        for item in stage.inputs:
            if item.root and item.root not in shared and item.name not in step.with_:
                offered = root["inputs"][item.root]
                assert offered.get("default", "") == item.default, (step.stage, item.name)
                assert offered["description"] in {i.description for s in DECLARED
                                                  for i in spec.load(s).inputs if i.root == item.root}  # type: ignore[union-attr]
    # the one that used to differ: private repositories mirror by default from the root action too
    assert root["inputs"]["bitbucket-source-token"]["default"] == "${{ github.token }}"


def test_inputs_are_read_and_checked_before_the_stage_runs() -> None:
    calls: list[str] = []
    slack = spec.load("slack-notify")
    assert slack is not None
    stage = cli.checked(slack, lambda action: calls.append("ran"))
    out = io.StringIO()
    assert run_stage(stage, Action({"INPUT_EVENT": "start", "INPUT_MENTIONS": "maybe"}, out)) == 1
    assert calls == [] and "Input 'mentions' must be true or false" in out.getvalue()
    assert run_stage(stage, Action({"INPUT_EVENT": "start", "INPUT_TOKEN": "xoxb-secret-1"}, out)) == 0
    assert calls == ["ran"]


# A stage without a declaration is reported, not failed: tests/test_spec_generated.py (every action folder is
# declared now, so it checks the report with a hand-written folder in a scratch copy).


def test_re_running_the_conversion_keeps_declared_inputs_and_picks_up_added_ones() -> None:
    declared = spec.load("argocd-wait")
    assert declared is not None
    meta = yaml.safe_load((ROOT / "actions" / "argocd-wait" / "action.yml").read_text(encoding="utf-8"))
    dropped = next(iter(meta["inputs"]))
    del meta["inputs"][dropped]  # a hand edit from a stale copy
    meta["inputs"]["extra-knob"] = {"description": "Added by hand.", "required": False, "default": "3"}
    namespace: dict[str, Any] = {}
    exec(compile(spec.bootstrap("argocd-wait", meta, keep=declared), "<argocd-wait>", "exec"), namespace)  # noqa: S102
    again = namespace["STAGE"]
    assert again.input(dropped) == declared.input(dropped)
    assert again.input("extra-knob").type == "number" and again.input("extra-knob").default == "3"
