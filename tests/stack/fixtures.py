"""pytest plugin: the local stack as session-scoped fixtures.

Register with ``pytest_plugins = ["tests.stack.fixtures"]`` in ``tests/conftest.py``.

Fixtures are lazy (a service starts the first time a test asks for it) and session-scoped; each
one stops its process and removes its temp dir at session end, also when tests fail.

* ``registry``     -- :class:`~tests.stack.registry.Registry`, htpasswd auth over plain HTTP
* ``buildah_env``  -- ``dict[str, str]`` env for isolated buildah (vfs, chroot), logged into ``registry``
* ``base_image``   -- ``"127.0.0.1:PORT/base/busybox@sha256:..."`` (tag ``base/busybox:1`` pushed too)
* ``moto_server``  -- :class:`~tests.stack.moto_ecr.MotoServer`
* ``ecr_client``   -- function-scoped: ``moto_server`` reset, then a boto3 ECR client
* ``git_server``   -- :class:`~tests.stack.gitserver.GitServer`
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import buildah as _buildah
from .gitserver import GitServer
from .moto_ecr import MotoServer
from .registry import Registry


def _mkdtemp(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"shipyard-{prefix}-"))


@pytest.fixture(scope="session")
def registry() -> Iterator[Registry]:
    workdir = _mkdtemp("registry")
    reg = Registry(workdir)
    try:
        reg.start()
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def buildah_env(registry: Registry) -> Iterator[dict[str, str]]:
    stack_dir = _mkdtemp("buildah")
    try:
        env = _buildah.buildah_env(stack_dir, [registry.host])
        _buildah.login(registry, env)
        yield env
    finally:
        shutil.rmtree(stack_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def base_image(registry: Registry, buildah_env: dict[str, str]) -> str:
    return _buildah.make_base_image(registry, buildah_env, "base/busybox:1")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    workdir = _mkdtemp("moto")
    server = MotoServer(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def ecr_client(moto_server: MotoServer) -> Any:
    moto_server.reset()
    return moto_server.client("ecr")


@pytest.fixture(scope="session")
def git_server() -> Iterator[GitServer]:
    workdir = _mkdtemp("git")
    server = GitServer(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
