"""The CLI and the launcher: the same code path as the actions, bad input gives one clear error."""

from __future__ import annotations

import os
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
