"""Promote fixtures: a fresh fleet repository per test (promotions push branches), the module's Argo CD and ECR,
and the GitHub double mapped to the repository."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.board.conftest import Fleet, aws_env, make_repo
from tests.board.fleetfix import LAYOUT, FleetArgo, FleetGitHub, FleetRepo, populate_argo, populate_ecr
from tests.stack.gitserver import GitServer
from tests.stack.moto_ecr import MotoServer


@dataclass
class World:
    repo: FleetRepo
    argo: FleetArgo
    argo_token: str
    github: FleetGitHub
    moto: MotoServer
    now: float
    git: GitServer

    def pushes(self) -> list[str]:
        """receive-pack requests the git server saw for this repository."""
        name = self.repo.path.name
        return [r.path for r in self.git.transcript if "git-receive-pack" in r.path and name in r.path]

    def inputs(self, **extra: str) -> dict[str, str]:
        inputs = {
            "repository": self.repo.url, "github-repository": "acme/config", "token": self.repo.token,
            "github-api-url": self.github.url, "layout": LAYOUT, "argocd-server": self.argo.url,
            "argocd-token": self.argo_token, "aws-region": "us-east-1", "aws-access-key-id": "testing",
            "aws-secret-access-key": "testing", "now": str(self.now),
        }
        inputs.update(extra)
        return inputs

    def env(self) -> dict[str, str]:
        return aws_env(Fleet(self.repo, self.argo, self.argo_token, self.moto, self.now))


@pytest.fixture(scope="module")
def ecr_fleet(moto_server: MotoServer) -> MotoServer:
    moto_server.reset()
    populate_ecr(moto_server.client("ecr"), moto_server)
    return moto_server


@pytest.fixture
def world(git_server: GitServer, ecr_fleet: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    repo = make_repo(git_server)
    now = time.time()
    argo = FleetArgo()
    argo.start()
    token = argo.issue_token("promote")
    populate_argo(argo, repo.tip())
    gh = FleetGitHub()
    gh.start()
    gh.add_repo("acme/config", git_dir=repo.path)
    gh.add_token(login="shipyard-bot", token=repo.token)
    try:
        yield World(repo, argo, token, gh, ecr_fleet, now, git_server)
    finally:
        argo.stop()
        gh.stop()


def pulls(world: World) -> list[dict[str, Any]]:
    return world.github.repos["acme/config"].pulls
