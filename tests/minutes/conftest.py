"""Fixtures for the minutes guard: the generated organisation (once per session), the GitHub Actions/billing
double serving it from memory, and a runner for the stage."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from shipyard.minutes.stage import run
from shipyard.runtime import Action, run_stage
from tests.doubles.github_actions import GitHubActionsDouble
from tests.minutes.fixture import Org, generate

AS_OF = datetime(2026, 11, 29, 6, 0, tzinfo=timezone.utc)
NEXT_DAY = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)


@dataclass
class Result:
    code: int
    out: str
    outputs: dict[str, str]
    sleeps: list[float]
    summary: str = ""

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(Path(self.outputs["report-file"]).read_text())
        return data

    @property
    def errors(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.startswith("error: ")]


def run_guard(double: GitHubActionsDouble, token: str, tmp: Path, as_of: datetime, **inputs: str) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "RUNNER_"))}
    env.update({"GITHUB_WORKSPACE": str(tmp), "RUNNER_TEMP": str(tmp / "runner"), "GITHUB_REPOSITORY": "acme/.github",
                "GITHUB_WORKFLOW_REF": "acme/.github/.github/workflows/shipyard-minutes.yml@refs/heads/main",
                "SHIPYARD_SLACK_BACKOFF": "0.01"})
    values = {"github-token": token, "organization": "acme", "github-api-url": double.url,
              "as-of": as_of.isoformat(), "included-minutes": "150000", **inputs}
    for key, value in values.items():
        env["INPUT_" + key.replace("-", "_").upper()] = value
    out = io.StringIO()
    sleeps: list[float] = []
    action = Action(env, out, sleep=sleeps.append)
    summary: list[str] = []
    original = action.write_summary

    def keep() -> None:
        summary.append(action.summary.render())
        original()

    action.write_summary = keep  # type: ignore[method-assign]
    code = run_stage(run, action, name="minutes-guard")
    return Result(code, out.getvalue(), dict(action.outputs), sleeps, "".join(summary))


@pytest.fixture(scope="session")
def org() -> Org:
    return generate()


@pytest.fixture(scope="session")
def small_org() -> Org:
    return generate(seed=7, repos=4)


@pytest.fixture(scope="session")
def full_scan(org: Org, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Result, Path, int]]:
    """The whole month to 29 Nov 06:00 scanned once: the result, its workspace (state) and its request count."""
    tmp = tmp_path_factory.mktemp("full")
    with GitHubActionsDouble(org, now=AS_OF.timestamp()) as double:
        assert isinstance(double, GitHubActionsDouble)
        token = double.add_token()
        result = run_guard(double, token, tmp, AS_OF)
        yield result, tmp, len(double.transcript)


@pytest.fixture
def small(small_org: Org) -> Iterator[tuple[GitHubActionsDouble, str]]:
    with GitHubActionsDouble(small_org, now=AS_OF.timestamp()) as double:
        assert isinstance(double, GitHubActionsDouble)
        yield double, double.add_token()
