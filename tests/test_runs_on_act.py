"""Routing before the wall, evaluated by a workflow engine: act runs a caller of the reusable workflow (dry run)
and picks the job's runner from the `runs-on` input, else the organisation variable the minutes guard writes
(``SHIPYARD_RUNS_ON``, JSON as ``routing.labels_json`` writes it), else ubuntu-latest. A label act has no platform
for makes it say which label it was asked for, so nothing has to run."""

from __future__ import annotations

import json

import pytest

from shipyard.minutes import routing
from shipyard.specs import minutes_guard
from tests.pipeline.demo import CACHE, CHECKOUT, FIXTURES
from tests.stack.act import ActRunner

CALLER = """
name: service
on: push
permissions: {}
jobs:
  ship:
    uses: shipyard/shipyard/.github/workflows/%s@v1
    permissions:
      contents: read
      id-token: write # GitHub OIDC for the ECR role
    with:
      aws-region: eu-west-1
      role-to-assume: arn:aws:iam::123456789012:role/shipyard
      runs-on: ${{ vars.TEST_RUNS_ON_INPUT }}
"""
SKIPPED = "Skipping unsupported platform -- Try running with `-P %s=...`"
LOCAL = {CHECKOUT: FIXTURES / "checkout", CACHE: FIXTURES / "cache"}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> ActRunner:
    return ActRunner(tmp_path_factory.mktemp("runs-on"))


def dry_run(runner: ActRunner, workflow: str, variables: dict[str, str], *extra: str) -> str:
    args = ["-n", *extra]
    for name, value in variables.items():
        args += ["--var", f"{name}={value}"]
    result = runner.run(CALLER % workflow, extra_args=args, local_actions=LOCAL, timeout=120)
    return result.output


@pytest.mark.act
@pytest.mark.parametrize("workflow", ["pipeline.yml", "pipeline-swift.yml", "pipeline-node.yml"])
def test_the_guards_variable_routes_the_pipeline_job(runner: ActRunner, workflow: str) -> None:
    routed = routing.labels_json(["arc-runners"])
    out = dry_run(runner, workflow, {minutes_guard.RUNS_ON_VARIABLE: routed})
    assert SKIPPED % "arc-runners" in out, out[-2000:]


@pytest.mark.act
def test_the_callers_input_wins_over_the_variable(runner: ActRunner) -> None:
    out = dry_run(runner, "pipeline.yml", {minutes_guard.RUNS_ON_VARIABLE: routing.labels_json(["arc-runners"]),
                                           "TEST_RUNS_ON_INPUT": '"callers-runner"'})
    assert SKIPPED % "callers-runner" in out and "arc-runners" not in out, out[-2000:]


@pytest.mark.act
def test_without_input_or_variable_the_job_runs_on_ubuntu_latest(runner: ActRunner) -> None:
    """ubuntu-latest mapped (last -P wins) to an image no one has: act names it when the job starts, then stops at
    setting the job up; nothing of the pipeline runs."""
    image = "shipyard-test/ubuntu-latest-was-picked:0"
    out = dry_run(runner, "pipeline.yml", {}, "-P", f"ubuntu-latest={image}")
    assert "Skipping unsupported platform" not in out, out[-2000:]
    assert f"Start image={image}" in out, out[-2000:]
    assert "Run Main" not in out, "the job was meant to stop before any step"


def test_routing_writes_json_the_workflow_can_read() -> None:
    assert json.loads(routing.labels_json(["arc-runners"])) == "arc-runners"
    assert json.loads(routing.labels_json(["self-hosted", "arc-runners"])) == ["self-hosted", "arc-runners"]
