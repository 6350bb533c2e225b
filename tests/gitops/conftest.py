"""Config repositories on the real git smart-HTTP server, and a helper that runs the stage in-process."""

from __future__ import annotations

import io
import itertools
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.gitops.stage import run
from shipyard.runtime import Action, run_stage
from tests.stack.gitserver import GitServer

_counter = itertools.count()

BASE_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {svc}
spec:
  selector:
    matchLabels: {{app: {svc}}}
  template:
    metadata:
      labels: {{app: {svc}}}
    spec:
      containers:
        - name: app
          image: {svc}:latest
"""

OVERLAY = """\
# {svc} in {env}
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization

resources:
  - ../../base   # shared base

images:
  - name: {svc}
    newTag: "v1.0.0"   # set by CI
"""


def service_files(svc: str, envs: tuple[str, ...] = ("dev", "stg")) -> dict[str, str]:
    files = {
        f"apps/{svc}/base/deployment.yaml": BASE_DEPLOYMENT.format(svc=svc),
        f"apps/{svc}/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    }
    for env in envs:
        files[f"apps/{svc}/overlays/{env}/kustomization.yaml"] = OVERLAY.format(svc=svc, env=env)
    return files


def _git(*args: str, cwd: str | Path | None = None, env: Mapping[str, str] | None = None) -> str:
    full = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Human", "GIT_AUTHOR_EMAIL": "h@example.com",
            "GIT_COMMITTER_NAME": "Human", "GIT_COMMITTER_EMAIL": "h@example.com", **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True, text=True, check=True).stdout


@dataclass
class ConfigRepo:
    server: GitServer
    name: str
    token: str
    read_token: str

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    @property
    def path(self) -> Path:
        return self.server.repo_path(self.name)

    def show(self, path: str, ref: str = "main") -> str:
        return _git("--git-dir", str(self.path), "show", f"{ref}:{path}")

    def tip(self, ref: str = "main") -> str:
        return _git("--git-dir", str(self.path), "rev-parse", ref).strip()

    def count(self, ref: str = "main") -> int:
        return int(_git("--git-dir", str(self.path), "rev-list", "--count", ref).strip())

    def message(self, ref: str = "main") -> str:
        return _git("--git-dir", str(self.path), "log", "-1", "--format=%B", ref)

    def changed_files(self, ref: str = "main") -> list[str]:
        out = _git("--git-dir", str(self.path), "diff-tree", "--no-commit-id", "--name-only", "-r", ref)
        return out.split()

    def commit_files(self, files: Mapping[str, str], message: str = "human change", ref: str = "main") -> str:
        """Commit straight into the bare repo (another writer landing first)."""
        with tempfile.TemporaryDirectory() as tmp:
            _git("clone", "-q", "--branch", ref, str(self.path), tmp)
            for rel, text in files.items():
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(text.encode())
            _git("add", "-A", cwd=tmp)
            _git("commit", "-qm", message, cwd=tmp)
            _git("push", "-q", "origin", f"HEAD:{ref}", cwd=tmp)
        return self.tip(ref)


@pytest.fixture
def config_repo(git_server: GitServer) -> Iterator[ConfigRepo]:
    name = f"config-{next(_counter)}-{os.getpid()}.git"
    git_server.create_repo(name)
    git_server.git_config(name, "uploadpack.allowFilter", "true")
    git_server.git_config(name, "receive.denyNonFastForwards", "true")
    token = git_server.add_token(label=f"w{name}")
    read_token = git_server.add_token(perm="read", label=f"r{name}")
    repo = ConfigRepo(git_server, name, token, read_token)
    with tempfile.TemporaryDirectory() as tmp:
        _git("init", "-q", "-b", "main", tmp)
        for svc in ("orders", "payments"):
            for rel, text in service_files(svc).items():
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
        _git("add", "-A", cwd=tmp)
        _git("commit", "-qm", "seed", cwd=tmp)
        _git("push", "-q", str(repo.path), "HEAD:main", cwd=tmp)
    yield repo


@dataclass
class StageRun:
    code: int
    outputs: dict[str, str]
    log: str
    summary: str


def run_gitops(inputs: Mapping[str, str], *, env: Mapping[str, str] | None = None) -> StageRun:
    """Run the stage in-process exactly like the action would (inputs as INPUT_* variables)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    base.update(env or {})
    for key, value in inputs.items():
        base["INPUT_" + key.upper().replace("-", "_")] = value
    out = io.StringIO()
    action = Action(base, out)
    summary: list[str] = []
    original = action.write_summary

    def capture() -> None:
        summary.append(action.summary.render())
        original()

    action.write_summary = capture  # type: ignore[method-assign]
    code = run_stage(run, action, name="gitops-update")
    return StageRun(code, dict(action.outputs), out.getvalue(), "".join(summary))


def push_inputs(repo: ConfigRepo, **extra: str) -> dict[str, str]:
    inputs = {
        "repository": repo.url,
        "token": repo.token,
        "branch": "main",
        "paths": "apps/orders/overlays/dev/kustomization.yaml",
        "environment": "dev",
        "service": "orders",
        "image": "orders",
        "tag": "v1.1.0",
        "source-commit": "a" * 40,
    }
    inputs.update({k.replace("_", "-"): v for k, v in extra.items()})
    return inputs
