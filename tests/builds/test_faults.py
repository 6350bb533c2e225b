"""The build stage's fault matrix for the remote it talks to: the registry (content-hash lookup, server-side retag).

A :class:`~tests.ecr.httpfault.FaultProxy` sits in front of the test registry and the image is named through the
proxy's address. The content is built once (unfaulted), then each row re-runs the same content under a new
commit: the stage looks the content-hash tag up (``HEAD``) and adds the new tags by manifest ``PUT``s, with the
row's fault injected on the request it names. A row ends in ``ok`` (skipped, every tag on the built digest) or
``error`` (exactly one ``error:`` line with a ``Fix:``, no traceback, no tag moved to anything else) within a
bounded time.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.oci import write_auth_file
from tests.builds.conftest import make_repo, run_build
from tests.ecr.httpfault import FaultProxy
from tests.stack.registry import Registry

REPO = "examples/faults"
HEAD_CONTENT = r"^HEAD /v2/examples/faults/manifests/ch-"
PUT_SHA = r"^PUT /v2/examples/faults/manifests/sha-"
ALWAYS = -1
LIMIT = 25.0  # one hanging request (10 s registry timeout) plus the retries of the others
FAULTS = {
    "500 once": {"kind": "status", "status": 500},
    "429 with Retry-After": {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}},
    "connection reset": {"kind": "reset"},
    "accepts, never answers": {"kind": "hang"},
    "applied, answered 500": {"kind": "applied_status", "status": 500},
}

#            fault                     on request     times   outcome
MATRIX = [
    pytest.param("500 once", HEAD_CONTENT, 1, "ok"),
    pytest.param("429 with Retry-After", HEAD_CONTENT, 1, "ok"),
    pytest.param("connection reset", HEAD_CONTENT, 1, "ok"),
    pytest.param("accepts, never answers", HEAD_CONTENT, 1, "ok"),
    pytest.param("500 once", PUT_SHA, 1, "ok"),
    pytest.param("connection reset", PUT_SHA, 1, "ok"),
    pytest.param("applied, answered 500", PUT_SHA, 1, "ok"),
    pytest.param("applied, answered 500", PUT_SHA, ALWAYS, "ok"),
    pytest.param("500 once", PUT_SHA, ALWAYS, "error"),
]


@dataclass
class World:
    proxy: FaultProxy
    host: str  # the proxy's host:port: the image is named through it
    env: dict[str, str]
    base: str
    digest: str  # what the unfaulted first build pushed


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, registry: Registry, buildah_env: dict[str, str],
          base_image: str) -> Iterator[World]:
    """The example built and pushed once through the (still unfaulted) proxy."""
    tmp = tmp_path_factory.mktemp("build-faults")
    repo = make_repo(tmp / "svc", "python-service")
    auth = tmp / "auth.json"
    auth.write_text(Path(buildah_env["REGISTRY_AUTH_FILE"]).read_text())
    with FaultProxy(registry.url) as proxy:
        host = proxy.url.split("://", 1)[1]
        write_auth_file(auth, host, registry.username, registry.password)
        env = {**buildah_env, "REGISTRY_AUTH_FILE": str(auth), "GITHUB_WORKSPACE": str(repo),
               "GITHUB_REF": "refs/heads/main", "GITHUB_REPOSITORY": "acme/shop"}
        first = run_build(_inputs(host, base_image), {**env, "GITHUB_SHA": "1" * 40})
        assert first.code == 0, first.output
        yield World(proxy, host, env, base_image, first.outputs["digest"])


def _inputs(host: str, base_image: str) -> dict[str, str]:
    return {"image": f"{host}/{REPO}", "builder": "buildah", "build-mode": "host", "install-command": "none",
            "base-images": f"runtime={base_image}"}


@pytest.mark.parametrize(("fault", "on", "times", "outcome"), MATRIX)
def test_fault(world: World, registry: Registry, fault: str, on: str, times: int, outcome: str) -> None:
    sha = f"{zlib.crc32(f'{fault}{on}{times}'.encode()):08x}" + "b" * 32
    world.proxy.faults.clear()
    world.proxy.inject(match=on, count=times, **FAULTS[fault])  # type: ignore[arg-type]
    started = time.monotonic()
    result = run_build(_inputs(world.host, world.base), {**world.env, "GITHUB_SHA": sha})
    elapsed = time.monotonic() - started
    assert world.proxy.faulted(), f"the fault was never injected: {world.proxy.transcript[-10:]}"
    world.proxy.faults.clear()
    assert elapsed < LIMIT, (elapsed, result.output)
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    assert registry.password not in result.output
    tag = f"sha-{sha[:7]}"
    if outcome == "ok":
        assert result.code == 0, result.output
        assert result.outputs["skipped"] == "true", result.output
        assert registry.manifest(REPO, tag)[1] == world.digest
        return
    assert result.code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Fix:" in errors[0], result.output
    # nothing points anywhere else: the new tag is either missing (and named) or on the built digest
    assert tag not in registry.tags(REPO) or registry.manifest(REPO, tag)[1] == world.digest
    assert tag in errors[0], errors[0]
