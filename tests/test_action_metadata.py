"""Every action.yml follows the house rules, and its README documents exactly its inputs and outputs."""

from __future__ import annotations

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
    for name, spec in inputs.items():
        assert KEBAB.match(name), f"input {name} is not kebab-case"
        assert (spec or {}).get("description"), f"input {name} has no description"
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
    for name, spec in (load(folder).get("outputs") or {}).items():
        assert KEBAB.match(name), f"output {name} is not kebab-case"
        assert spec.get("description"), f"output {name} has no description"
        assert re.fullmatch(r"\$\{\{ steps\.[a-z-]+\.outputs\.[a-z0-9-]+ \}\}", spec["value"]), spec["value"]


@pytest.mark.parametrize("folder", ACTION_DIRS, ids=ids)
def test_readme_tables_match_action_yml(folder: Path) -> None:
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert readme == action_docs.render(readme, load(folder)), (
        f"{folder.name}/README.md tables differ from action.yml: run python scripts/action_docs.py"
    )


def test_every_registered_stage_has_an_action_folder_or_is_internal() -> None:
    folders = {p.name for p in ACTION_DIRS}
    assert set(STAGES) <= folders | {"selftest"}
