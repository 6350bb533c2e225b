"""promote's fault matrix, readable as a table: each remote (git smart-HTTP behind a fault proxy, the GitHub REST
double, the Argo CD double) with 500 once, 429 + Retry-After, a connection reset, a server that accepts and never
answers, and an answer lost after the change was applied. Each row ends in success (exactly one bot branch and
one pull request) or one clear error with nothing written (no branch, no pull request), within the stage's
timeout plus a margin, and never a traceback."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from shipyard.promote.stage import run
from tests.board.conftest import StageRun, run_in_process
from tests.gitops.faultproxy import FaultProxy
from tests.promote.conftest import World, pulls

TIMEOUT = 6.0
MARGIN = 6.0  # a never-answering git server costs a third of `timeout` per call; the clone, Argo CD and ECR add up
BRANCH = "shipyard/promote-dev-to-prd"

# remote   fault                       times     ends in
CASES = [
    ("git", "500", "once", "success"),
    ("git", "429 Retry-After", "once", "success"),
    ("git", "connection reset", "once", "success"),
    ("git", "accepts, never answers", "once", "success"),
    ("git", "applied, answered 500", "once", "success"),
    ("git", "500", "always", "error"),
    ("git", "push 500", "always", "error"),
    ("git", "accepts, never answers", "always", "error"),
    ("github", "500", "once", "success"),
    ("github", "429 Retry-After", "once", "success"),
    ("github", "connection reset", "once", "success"),
    ("github", "applied, answered 500", "once", "success"),
    ("github", "500", "always", "error"),
    ("argocd", "500", "once", "success"),
    ("argocd", "connection reset", "once", "success"),
    ("argocd", "500", "always", "error"),
]

# where a one-off git fault strikes: the push (the write), or the first look at the remote for a hang
GIT_ONCE = {"any": r"^POST /.*/git-receive-pack$", "hang": r"^GET /.*/info/refs$"}
GITHUB_WRITE = r"^POST /repos/acme/config/pulls$"
ARGO = r"^GET /api/v1/applications$"


@pytest.fixture
def proxy(world: World) -> Iterator[FaultProxy]:
    fp = FaultProxy(world.git.base_url).start()
    yield fp
    fp.stop()


def _inject(world: World, proxy: FaultProxy, remote: str, fault: str, times: str) -> None:
    count = 1 if times == "once" else 10**6
    if remote == "git":
        where = GIT_ONCE["hang" if "never" in fault else "any"] if times == "once" else r"."
        if fault == "push 500":
            fault, where = "500", GIT_ONCE["any"]
        proxy.inject_named(fault, where, count=count)
        return
    double = world.github if remote == "github" else world.argo
    where = GITHUB_WRITE if remote == "github" else ARGO
    if fault == "500":
        double.inject("status", 500, match=where, count=count)
    elif fault == "429 Retry-After":
        double.inject("status", 429, match=where, count=count, headers={"retry-after": "1"})
    elif fault == "connection reset":
        double.inject("reset", match=where, count=count)
    else:
        double.inject("applied_status", 500, match=where, count=count)


@pytest.mark.parametrize(("remote", "fault", "times", "ends_in"), CASES,
                         ids=[f"{r}-{f.replace(' ', '_')}-{t}" for r, f, t, _ in CASES])
def test_fault_matrix(remote: str, fault: str, times: str, ends_in: str, world: World, proxy: FaultProxy) -> None:
    main = world.repo.tip()
    _inject(world, proxy, remote, fault, times)
    pending = sum(f.count for f in [*world.github.faults, *world.argo.faults])
    inputs = world.inputs(timeout=str(TIMEOUT), services="catalog")
    if remote == "git":
        inputs["repository"] = proxy.url_for(world.repo.url)
    started = time.monotonic()
    result: StageRun = run_in_process(run, "promote", inputs, world.env())
    elapsed = time.monotonic() - started

    assert elapsed < TIMEOUT + MARGIN, f"took {elapsed:.1f}s\n{result.log}"
    assert "Traceback" not in result.log and "internal error" not in result.log, result.log
    struck = len(proxy.faulted()) if remote == "git" else pending - sum(
        f.count for f in [*world.github.faults, *world.argo.faults])
    assert struck > 0, "the fault never struck: the row proves nothing"
    assert world.repo.tip() == main, "the base branch is never written"
    if ends_in == "success":
        assert result.code == 0, result.log
        assert world.repo.branches() == ["main", BRANCH]
        [pr] = pulls(world)  # exactly one pull request, never a second
        assert pr["head"] == BRANCH and result.outputs["pr-urls"].endswith("/pull/1")
        assert world.repo.show("apps/catalog/overlays/prd/eu1/kustomization.yaml", BRANCH) != world.repo.show(
            "apps/catalog/overlays/prd/eu1/kustomization.yaml", "main")
    else:
        assert result.code == 1, result.log
        errors = [line for line in result.log.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.log
        assert "Fix:" in errors[0]
        assert world.repo.branches() == ["main"], "no orphan bot branch"
        assert pulls(world) == []
