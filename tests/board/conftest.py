"""The fleet fixture on the real stack: git smart-HTTP server, Argo CD double, moto ECR, GitHub double."""

from __future__ import annotations

import io
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.runtime import Action, run_stage
from tests.board.fleetfix import (
    LAYOUT,
    FleetArgo,
    FleetRepo,
    build_repo,
    populate_argo,
    populate_ecr,
)
from tests.stack.gitserver import GitServer
from tests.stack.moto_ecr import MotoServer

_seq = [0]


@dataclass
class Fleet:
    repo: FleetRepo
    argo: FleetArgo
    argo_token: str
    moto: MotoServer
    now: float


_TEMPLATE: dict[int, FleetRepo] = {}


def make_repo(git_server: GitServer, now: float | None = None) -> FleetRepo:
    """A fresh copy of the fleet repository (built once per server, then pushed into each new bare repo)."""
    _seq[0] += 1
    name = f"fleet-{_seq[0]}-{os.getpid()}.git"
    git_server.create_repo(name)
    git_server.git_config(name, "receive.denyNonFastForwards", "true")
    token = git_server.add_token(label=f"fleet{_seq[0]}")
    template = _TEMPLATE.get(id(git_server))
    if template is None:
        template = build_repo(git_server.repo_path(name), git_server.url(name), token, now or time.time())
        _TEMPLATE[id(git_server)] = template
        return template
    subprocess.run(["git", "--git-dir", str(template.path), "push", "-q", str(git_server.repo_path(name)),
                    "main:main"], check=True, capture_output=True)
    return FleetRepo(git_server.repo_path(name), git_server.url(name), token, template.now,
                     dict(template.commits), dict(template.times))


@pytest.fixture(scope="module")
def fleet(git_server: GitServer, moto_server: MotoServer) -> Iterator[Fleet]:
    repo = make_repo(git_server)
    now = time.time()  # the stage's clock; Argo CD's timestamps are relative to the real one
    argo = FleetArgo()
    argo.start()
    token = argo.issue_token("board")
    populate_argo(argo, repo.tip())
    moto_server.reset()
    populate_ecr(moto_server.client("ecr"), moto_server)
    try:
        yield Fleet(repo, argo, token, moto_server, now)
    finally:
        argo.stop()


@dataclass
class StageRun:
    code: int
    outputs: dict[str, str]
    log: str
    summary: str


def run_in_process(stage: object, name: str, inputs: Mapping[str, str], env: Mapping[str, str] | None = None
                   ) -> StageRun:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "AWS_"))}
    base.update(env or {})
    for key, value in inputs.items():
        base["INPUT_" + key.upper().replace("-", "_")] = value
    out = io.StringIO()
    action = Action(base, out, sleep=lambda s: None)
    summary: list[str] = []
    original = action.write_summary

    def capture() -> None:
        summary.append(action.summary.render())
        original()

    action.write_summary = capture  # type: ignore[method-assign]
    code = run_stage(stage, action, name=name)  # type: ignore[arg-type]
    return StageRun(code, dict(action.outputs), out.getvalue(), "".join(summary))


def board_inputs(fleet: Fleet, out: Path, **extra: str) -> dict[str, str]:
    inputs = {
        "repository": fleet.repo.url, "github-repository": "acme/config", "token": fleet.repo.token,
        "layout": LAYOUT, "argocd-server": fleet.argo.url, "argocd-token": fleet.argo_token,
        "aws-region": "us-east-1", "aws-access-key-id": "testing", "aws-secret-access-key": "testing",
        "output-dir": str(out), "now": str(fleet.now),
    }
    inputs.update(extra)
    return inputs


def aws_env(fleet: Fleet) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": fleet.moto.endpoint_url, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
