"""Fixtures for the Slack stage: the double, a pipeline environment, and a helper that runs one event."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard.runtime import Action, run_stage
from shipyard.slack import stage
from tests.doubles.slack import BOT_TOKEN, SlackDouble


@dataclass
class Result:
    code: int
    outputs: dict[str, str]
    out: str

    @property
    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.outputs["state"])
        return data


@pytest.fixture(scope="session")
def slack_server() -> Iterator[SlackDouble]:
    double = SlackDouble(message_limit=(20, 1.0), app_limit=(100, 1.0))
    double.start()
    yield double
    double.stop()


@pytest.fixture
def slack(slack_server: SlackDouble) -> SlackDouble:
    slack_server.reset()
    return slack_server


def push_event(tmp: Path, *, login: str = "octocat", message: str = "Fix the payment retries\n\nbody") -> Path:
    path = tmp / "event.json"
    path.write_text(json.dumps({
        "ref": "refs/heads/main",
        "head_commit": {"id": "0123456789abcdef0123456789abcdef01234567", "message": message,
                        "author": {"name": "Octo Cat", "username": login}},
        "sender": {"login": login},
    }))
    return path


class Pipeline:
    """One CI job's environment: every event of a run shares RUNNER_TEMP like steps of one job do."""

    def __init__(self, double: SlackDouble, tmp: Path, *, run_id: str = "1001", attempt: str = "1",
                 repo: str = "acme/payments", **extra: str) -> None:
        self.double = double
        tmp.mkdir(parents=True, exist_ok=True)
        self.env = {
            "GITHUB_REPOSITORY": repo,
            "GITHUB_RUN_ID": run_id,
            "GITHUB_RUN_ATTEMPT": attempt,
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
            "GITHUB_REF_TYPE": "branch",
            "GITHUB_SERVER_URL": "https://ghe.acme.internal",
            "GITHUB_WORKFLOW": "deploy",
            "GITHUB_JOB": "deploy",
            "GITHUB_EVENT_PATH": str(push_event(tmp)),
            "RUNNER_TEMP": str(tmp),
            "INPUT_TOKEN": BOT_TOKEN,
            "INPUT_CHANNEL": "C0DEPLOYS1",
            "INPUT_API_URL": double.api_url,
            "SHIPYARD_SLACK_BACKOFF": "0.05",
            **extra,
        }

    def run(self, **inputs: str) -> Result:
        env = dict(self.env)
        for key, value in inputs.items():
            env["INPUT_" + key.upper()] = value
        out = io.StringIO()
        action = Action(env, out)
        code = run_stage(stage.run, action, name="slack-notify")
        return Result(code, dict(action.outputs), out.getvalue())

    def start(self, **inputs: str) -> Result:
        return self.run(event="start", **inputs)

    def stage(self, name: str, status: str = "success", **inputs: str) -> Result:
        return self.run(event="stage", stage=name, status=status, **inputs)

    def finish(self, **inputs: str) -> Result:
        return self.run(event="finish", **inputs)


@pytest.fixture
def pipeline(slack: SlackDouble, tmp_path: Path) -> Pipeline:
    return Pipeline(slack, tmp_path / "job")
