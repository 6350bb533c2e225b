"""Fixtures for argocd-wait: the ArgoCD double, a real config repo with history, and a stage runner."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.argocd.stage import run
from shipyard.runtime import Action, run_stage
from tests.doubles.argocd import ArgoCDDouble

FAST = {"poll-interval": "0.02", "timeout": "5"}


@pytest.fixture
def argocd() -> Iterator[ArgoCDDouble]:
    with ArgoCDDouble(refresh_delay=0.01, refresh_deadline=0.3) as double:
        assert isinstance(double, ArgoCDDouble)
        yield double


@pytest.fixture
def token(argocd: ArgoCDDouble) -> str:
    return argocd.issue_token("ci")


@dataclass
class StageRun:
    code: int
    out: str
    outputs: dict[str, str]

    @property
    def errors(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.startswith("error: ")]


def run_argocd_wait(inputs: dict[str, str], extra_env: dict[str, str] | None = None) -> StageRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update(extra_env or {})
    for key, value in {**FAST, **inputs}.items():
        env["INPUT_" + key.replace("-", "_").upper()] = value
    out = io.StringIO()
    action = Action(env, out)
    code = run_stage(run, action, name="argocd-wait")
    return StageRun(code, out.getvalue(), dict(action.outputs))


GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


@dataclass
class ConfigRepo:
    path: Path
    base: str
    ours: str
    later: str  # another service's commit on top of ours
    unrelated: str  # a commit that does not contain ours (a sibling of ours)

    def commit(self, message: str, branch: str | None = None) -> str:
        if branch:
            git(self.path, "checkout", "-q", branch)
        (self.path / f"{message}.txt").write_text(message)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-qm", message)
        return git(self.path, "rev-parse", "HEAD")


@pytest.fixture
def config_repo(tmp_path: Path) -> ConfigRepo:
    repo = tmp_path / "config"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env={**os.environ, **GIT_ENV})
    cr = ConfigRepo(repo, "", "", "", "")
    cr.base = cr.commit("base")
    git(repo, "branch", "side")
    cr.ours = cr.commit("ours")
    cr.later = cr.commit("other-service")
    cr.unrelated = cr.commit("sibling", branch="side")
    git(repo, "checkout", "-q", "main")
    return cr
