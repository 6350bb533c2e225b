"""Shared fixtures. The real services (registry, buildah, moto, git server) come from tests/stack/fixtures.py;
doubles from tests/doubles; act from tests/stack/act.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack.act import ROOT, ActRunner

pytest_plugins = ["tests.stack.fixtures"]


@pytest.fixture(scope="session")
def stack_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def runtime_venv(stack_tmp: Path) -> Path:
    """The job venv, made once per session by the real bootstrap script (the same one actions run)."""
    venv = Path(os.environ.get("SHIPYARD_TEST_VENV") or stack_tmp / "shipyard-venv")
    if not (venv / ".shipyard-ready").exists():
        subprocess.run([str(ROOT / "scripts" / "bootstrap.sh"), str(venv)], check=True)
    return venv


@pytest.fixture(scope="session")
def act(stack_tmp: Path, runtime_venv: Path) -> Iterator[ActRunner]:
    base = stack_tmp / "act"
    base.mkdir()
    yield ActRunner(base, venv=runtime_venv)


@pytest.fixture
def secrets_sweep(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``sweep = secrets_sweep([token, ...])``: child argv is recorded from here on (see tests/secrets_sweep.py)."""
    from tests.secrets_sweep import SecretsSweep

    return lambda secrets: SecretsSweep(secrets, monkeypatch)
