"""Fixtures for the mirror: the real git server as Bitbucket's git side, the Bitbucket double as its REST side,
and a :class:`World` that builds a source repository, a checkout of it and runs the stage in-process."""

from __future__ import annotations

import io
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipyard.mirror.stage import run
from shipyard.runtime import Action, env_name, run_stage
from tests.doubles.bitbucket import BitbucketDouble
from tests.stack.gitserver import GitServer

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def git(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV, **(env or {})},
                          capture_output=True, text=True, check=False)
    if check and proc.returncode:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr}")
    return proc.stdout.strip()


def header_env(token: str) -> dict[str, str]:
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {token}"}


@dataclass
class Result:
    code: int
    output: str
    outputs: dict[str, str]
    sleeps: list[float] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 0

    def lines(self, name: str) -> list[str]:
        return [x for x in self.outputs.get(name, "").splitlines() if x]


@dataclass
class World:
    git_server: GitServer
    bb: BitbucketDouble
    tmp: Path
    ws: str = field(default_factory=lambda: "ws-" + uuid.uuid4().hex[:8])
    name: str = "Service"
    email: str = "dev@example.com"

    def __post_init__(self) -> None:
        self.src_name = f"src-{self.ws}.git"
        self.src_token = self.git_server.add_token(perm="write", label="source")
        self.git_server.create_repo(self.src_name)
        self.work = self.tmp / "work"
        git("init", "-q", "-b", "main", str(self.work))
        self.bb.add_workspace(self.ws, ["PROJ"])
        self.token = "ATATT" + uuid.uuid4().hex
        self.bb.add_credential("api-token", self.token, user=self.email)

    @property
    def src_url(self) -> str:
        return self.git_server.url(self.src_name)

    @property
    def slug(self) -> str:
        return "service"

    @property
    def target(self) -> str:
        return f"{self.ws}/{self.slug}.git"

    def commit(self, msg: str, files: dict[str, str] | None = None, branch: str | None = None) -> str:
        if branch:
            git("checkout", "-q", "-B", branch, cwd=self.work)
        for rel, content in (files or {msg.replace(" ", "_") + ".txt": msg}).items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        git("add", "-A", cwd=self.work)
        git("commit", "-qm", msg, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def publish(self, *refspecs: str) -> None:
        """Push the work repo to the source (GitHub's role)."""
        git("push", "-q", "--force", self.src_url, *(refspecs or ("--all",)), cwd=self.work,
            env=header_env(self.src_token))
        if not refspecs:
            git("push", "-q", "--force", "--tags", self.src_url, cwd=self.work, env=header_env(self.src_token))

    def checkout(self, *, shallow: bool = True, branch: str = "main") -> Path:
        """What actions/checkout leaves: depth 1, one branch, origin pointing at the source."""
        dest = self.tmp / f"checkout-{uuid.uuid4().hex[:6]}"
        args = ["clone", "-q", "--single-branch", "--branch", branch]
        if shallow:
            args += ["--depth", "1"]
        git(*args, self.src_url, str(dest), env=header_env(self.src_token))
        return dest

    def source_refs(self) -> dict[str, str]:
        return self.git_server.refs(self.src_name)

    def target_refs(self) -> dict[str, str]:
        return self.git_server.refs(self.target)

    def inputs(self, **extra: Any) -> dict[str, str]:
        base = {
            "workspace": self.ws, "repository": self.name, "token": self.token, "username": self.email,
            "api-url": self.bb.url, "git-url": self.git_server.base_url + "/{workspace}/{slug}.git",
            "source-token": self.src_token,
        }
        base.update({k.replace("_", "-"): str(v).lower() if isinstance(v, bool) else str(v) for k, v in extra.items()})
        return {k: v for k, v in base.items() if v is not None}

    def mirror(self, checkout: Path | None = None, env_extra: dict[str, str] | None = None, **extra: Any) -> Result:
        checkout = checkout or self.checkout()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "GIT_"))}
        env.update({env_name(k): v for k, v in self.inputs(**extra).items()})
        env["INPUT_PATH"] = str(checkout)
        env["RUNNER_TEMP"] = str(self.tmp)
        env.update(env_extra or {})
        out = io.StringIO()
        sleeps: list[float] = []
        summary = self.tmp / f"summary-{uuid.uuid4().hex[:6]}.md"
        env["GITHUB_STEP_SUMMARY"] = str(summary)
        action = Action(env, out, sleep=sleeps.append)
        source_before = self.source_refs()
        code = run_stage(run, action, name="bitbucket-mirror")
        assert self.source_refs() == source_before, "the mirror modified the source repository"
        text = summary.read_text() if summary.exists() else ""
        return Result(code, out.getvalue(), dict(action.outputs), sleeps, text)


@pytest.fixture
def bb(git_server: GitServer) -> Iterator[BitbucketDouble]:
    double = BitbucketDouble(git_server)
    double.start()
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture
def world(git_server: GitServer, bb: BitbucketDouble, tmp_path: Path) -> World:
    return World(git_server, bb, tmp_path)


@pytest.fixture
def seeded(world: World) -> World:
    """A source with history on main, a feature branch and two tags."""
    world.commit("one")
    world.commit("two")
    git("tag", "v1.0", cwd=world.work)
    git("tag", "-a", "v1.1", "-m", "release", cwd=world.work)
    world.commit("feature work", branch="feature/x")
    git("checkout", "-q", "main", cwd=world.work)
    world.publish()
    return world
