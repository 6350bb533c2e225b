"""Fixtures for the build stage: throw-away git repositories holding an example, and a stage runner."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.build import stage
from shipyard.runtime import Action, env_name, run_stage

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV}).stdout


def make_repo(dest: Path, example: str | None = None, files: dict[str, str] | None = None) -> Path:
    """A git repository with ``examples/<example>`` (or ``files``) committed on branch main."""
    dest.mkdir(parents=True, exist_ok=True)
    if example:
        shutil.copytree(EXAMPLES / example, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "node_modules", "dist", "target"))
    for rel, text in (files or {}).items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "init")
    return dest


@dataclass
class StageRun:
    code: int
    output: str
    outputs: dict[str, str]
    summary: str


def run_build(inputs: dict[str, str], env: dict[str, str] | None = None) -> StageRun:
    """Run the build stage in-process with ``inputs`` (kebab names) and ``env`` (e.g. the buildah env)."""
    full = {**os.environ, **(env or {})}
    for key in list(full):
        if key.startswith(("INPUT_", "GITHUB_")):
            del full[key]
    full.update(env or {})
    for name, value in inputs.items():
        full[env_name(name)] = value
    out = io.StringIO()
    action = Action(env=full, out=out)
    summary_parts: list[str] = []
    original = action.write_summary

    def capture() -> None:
        summary_parts.append(action.summary.render())
        original()

    action.write_summary = capture  # type: ignore[method-assign]
    code = run_stage(stage.run, action, name="build")
    return StageRun(code, out.getvalue(), dict(action.outputs), "\n".join(summary_parts))


@pytest.fixture
def build_runner() -> Callable[[dict[str, str], dict[str, str] | None], StageRun]:
    return run_build
