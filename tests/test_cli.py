"""The CLI and the launcher: the same code path as the actions, bad input gives one clear error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard import cli
from shipyard.runtime import Action, run_stage

ROOT = Path(__file__).resolve().parent.parent


def shipyard(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    full_env["PYTHONPATH"] = str(ROOT / "src")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "shipyard", *args], capture_output=True, text=True,
                          env=full_env, check=False)


def test_help_lists_every_stage() -> None:
    result = shipyard("--help")
    assert result.returncode == 0
    for stage in ("slack-notify", "build", "ecr-push", "gitops-update", "argocd-wait", "bitbucket-mirror",
                  "postman-publish"):
        assert stage in result.stdout


def test_stage_help_lists_inputs_from_action_yml() -> None:
    result = shipyard("selftest", "--help")
    assert result.returncode == 0
    assert "--message VALUE [default: hello]" in result.stdout
    assert "--mode VALUE" in result.stdout


def test_options_become_inputs() -> None:
    result = shipyard("selftest", "--message", "hi", "--mode=loud", "--tags", "a,b")
    assert result.returncode == 0, result.stderr
    assert "output message=HI" in result.stdout


def test_env_vars_work_too() -> None:
    result = shipyard("selftest", env={"INPUT_MESSAGE": "from env"})
    assert "output message=from env" in result.stdout


def test_unknown_option_names_known_inputs() -> None:
    result = shipyard("selftest", "--mesage", "x")
    assert result.returncode == 2
    assert "unknown input '--mesage'" in result.stderr and "message" in result.stderr


def test_unknown_stage() -> None:
    result = shipyard("deploy-everything")
    assert result.returncode == 2
    assert "unknown stage 'deploy-everything'" in result.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--mode", "shouty"], "::error title=selftest%3A input or configuration problem::Input 'mode' has unknown "
                               "value 'shouty'; allowed values: plain, loud."),
        (["--tags", "a,,b"], "::error title=selftest%3A input or configuration problem::Input 'tags' is a "
                             "malformed list: empty item in 'a,,b'."),
        (["--count", "many"], "::error title=selftest%3A input or configuration problem::Input 'count' must be a "
                              "whole number, got 'many'."),
    ],
)
def test_bad_input_in_github_mode_is_one_error_and_exit_1(args: list[str], message: str, tmp_path: Path) -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "out"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    result = shipyard("selftest", *args, env=env)
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith(message), errors
    outputs = (tmp_path / "out").read_text().splitlines()
    assert [o.split("=", 1)[0] for o in outputs] == ["error"], "only the error is handed on when the input is bad"
    assert outputs[0].startswith("error=" + message.split("::", 2)[2])
    assert "selftest failed" in (tmp_path / "summary").read_text()


def test_missing_required_input_is_one_error(tmp_path: Path) -> None:
    import io

    out = io.StringIO()
    action = Action({"GITHUB_ACTIONS": "true"}, out)

    def stage(a: Action) -> None:
        a.require("config-repository")

    assert run_stage(stage, action, name="gitops-update") == 1
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error")]
    assert len(errors) == 1
    assert "Input 'config-repository' is required but was not set." in errors[0]


def test_launcher_reuses_the_job_venv(tmp_path: Path, runtime_venv: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INPUT_")}
    env.update(SHIPYARD_VENV=str(runtime_venv), INPUT_MESSAGE="x")
    result = subprocess.run([str(ROOT / "scripts" / "shipyard"), "selftest"], capture_output=True, text=True,
                            env=env, check=False)
    assert result.returncode == 0, result.stderr
    assert "shipyard bootstrap" not in result.stderr  # warm: nothing installed
    assert "output message=x" in result.stdout


def test_stage_modules_import_lazily() -> None:
    code = "import sys, shipyard.cli, shipyard.runtime, shipyard.stages, shipyard.http, shipyard.git; " \
           "heavy = [m for m in ('boto3', 'github', 'slack_sdk', 'requests', 'ruamel', 'yaml') if m in sys.modules]; " \
           "print(heavy)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, check=True)
    assert result.stdout.strip() == "[]"


def test_actions_dir_is_found_from_a_source_checkout() -> None:
    folder = cli.actions_dir()
    assert folder is not None and (folder / "selftest" / "action.yml").exists()


@pytest.mark.parametrize("stage", sorted(n for n in __import__("shipyard.stages").stages.STAGES if n != "selftest"))
def test_importing_a_stage_loads_no_other_stages_libraries(stage: str) -> None:
    """Heavy libraries load when a stage runs the code that needs them, never at import: a Slack step must not
    pay for boto3, and the CLI's --help stays instant."""
    from shipyard.stages import STAGES

    module = STAGES[stage][0]
    code = (f"import sys, {module}; "
            "print([m for m in ('boto3', 'botocore', 'slack_sdk', 'github', 'ruamel', 'openapi_spec_validator', "
            "'requests') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, check=True)
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------ aliases (shipyard minutes, shipyard board)
def test_aliases_name_registered_stages_and_never_shadow_one() -> None:
    from shipyard.stages import ALIASES, STAGES, resolve

    assert ALIASES == {"minutes": "minutes-guard", "board": "deploy-board"}
    for alias, stage in ALIASES.items():
        assert stage in STAGES and alias not in STAGES
        assert not (ROOT / "actions" / alias).exists(), "an alias is a CLI name, never an action folder"
        assert resolve(alias) == stage
    assert resolve("build") == "build" and resolve("nope") == "nope"


def test_help_lists_the_aliases() -> None:
    result = shipyard("--help")
    assert result.returncode == 0
    aliases = result.stdout.split("aliases:", 1)[1]
    assert re.search(r"^\s+minutes\s+= minutes-guard$", aliases, re.M), aliases
    assert re.search(r"^\s+board\s+= deploy-board$", aliases, re.M), aliases


@pytest.mark.parametrize("alias,stage,an_input", [("minutes", "minutes-guard", "--route-runners"),
                                                  ("board", "deploy-board", "--critical-severity")])
def test_an_alias_shows_its_stages_help(alias: str, stage: str, an_input: str) -> None:
    result = shipyard(alias, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: shipyard {stage} ") and an_input in result.stdout
    assert result.stdout == shipyard(stage, "--help").stdout


def test_an_alias_runs_its_stage_with_the_same_checks(tmp_path: Path) -> None:
    """`shipyard minutes` is minutes-guard: its declared inputs, its checks, errors under its name."""
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "out"),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    result = shipyard("minutes", "--github-token", "t0ken-value", "--format", "xml", env=env)
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith("::error title=minutes-guard%3A "), errors
    assert "Input 'format' has unknown value 'xml'; allowed values: markdown, json." in errors[0]
    assert "t0ken-value" not in result.stdout + result.stderr
    unknown = shipyard("board", "--no-such-input", "x")
    assert unknown.returncode == 2 and "unknown input '--no-such-input' for stage 'deploy-board'" in unknown.stderr


def test_an_unknown_stage_lists_the_aliases_too() -> None:
    result = shipyard("minute")
    assert result.returncode == 2
    assert "unknown stage 'minute'" in result.stderr and "minutes (= minutes-guard)" in result.stderr
