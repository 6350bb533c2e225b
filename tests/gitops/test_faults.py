"""The gitops-update fault matrix: every remote it talks to, every fault, read as a table.

remote ``git``: the real git smart-HTTP server behind a fault proxy (push mode);
remote ``github``: the GitHub REST double (pull-request mode; the git server answers normally).
Each row ends in success after retries, or in one clear error with nothing half-written (no commit, no
orphan PR branch, no second PR, no queue ticket left), within the stage's ``timeout`` plus a small margin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from shipyard.gitops import github_pr
from tests.doubles.github import GitHubDouble
from tests.gitops.conftest import ConfigRepo, push_inputs, run_gitops
from tests.gitops.faultproxy import FaultProxy

TIMEOUT = 4.0  # the stage's `timeout` input in every row
MARGIN = 3.0
PR_BRANCH = "shipyard/orders-prd"

# remote    fault                      times     ends in
CASES = [
    ("git", "500", "once", "success"),
    ("git", "429 Retry-After", "once", "success"),
    ("git", "connection reset", "once", "success"),
    ("git", "accepts, never answers", "once", "success"),
    ("git", "applied, answered 500", "once", "success"),
    ("git", "500", "always", "error"),
    ("git", "connection reset", "always", "error"),
    ("git", "accepts, never answers", "always", "error"),
    ("github", "500", "once", "success"),
    ("github", "429 Retry-After", "once", "success"),
    ("github", "connection reset", "once", "success"),
    ("github", "accepts, never answers", "once", "success"),
    ("github", "applied, answered 500", "once", "success"),
    ("github", "500", "always", "error"),
    ("github", "accepts, never answers", "always", "error"),
]

# where a fault that happens once strikes: the push (git), opening the PR (github); a hang strikes the first look
ONCE = {
    "git": {"any": r"^POST /.*/git-receive-pack$", "hang": r"^GET /.*/info/refs$"},
    "github": {"any": r"^POST /repos/acme/config/pulls$", "hang": r"^GET /repos/acme/config/pulls$"},
}
ALWAYS = {"git": r".", "github": {"500": r"^POST /repos/acme/config/pulls$", "hang": r"."}}


@pytest.fixture
def proxy(config_repo: ConfigRepo) -> Iterator[FaultProxy]:
    fp = FaultProxy(config_repo.server.base_url).start()
    yield fp
    fp.stop()


@pytest.fixture
def github(config_repo: ConfigRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubDouble]:
    monkeypatch.setattr(github_pr, "THROTTLE", (0.0, 0.0))
    double = GitHubDouble()
    double.start()
    double.add_repo("acme/config", git_dir=config_repo.path)
    double.add_token(login="shipyard-bot", token=config_repo.token)
    yield double
    double.stop()


def _inject_git(proxy: FaultProxy, fault: str, times: str) -> None:
    count = 1 if times == "once" else 10**6
    where = ONCE["git"]["hang" if "never" in fault else "any"] if times == "once" else ALWAYS["git"]
    proxy.inject_named(fault, where, count=count)


def _inject_github(github: GitHubDouble, fault: str, times: str) -> None:
    count = 1 if times == "once" else 10**6
    hang = "never" in fault
    if times == "once":
        where = ONCE["github"]["hang" if hang else "any"]
    else:
        where = ALWAYS["github"]["hang" if hang else "500"]
    if fault == "500":
        github.inject("status", 500, match=where, count=count)
    elif fault == "429 Retry-After":
        github.inject("status", 429, match=where, count=count, headers={"retry-after": "1"})
    elif fault == "connection reset":
        github.inject("timeout", match=where, count=count, delay=0.001)  # dropped at once, no answer
    elif hang:
        github.inject("timeout", match=where, count=count, delay=60.0)
    else:
        github.inject("applied_status", 500, match=where, count=count)


@pytest.mark.parametrize(("remote", "fault", "times", "ends_in"), CASES,
                         ids=[f"{r}-{f.replace(' ', '_')}-{t}" for r, f, t, _ in CASES])
def test_fault_matrix(remote: str, fault: str, times: str, ends_in: str, config_repo: ConfigRepo,
                      proxy: FaultProxy, github: GitHubDouble) -> None:
    main, commits = config_repo.tip(), config_repo.count()
    if remote == "git":
        inputs = push_inputs(config_repo, repository=proxy.url_for(config_repo.url), timeout=str(TIMEOUT))
        _inject_git(proxy, fault, times)
    else:
        inputs = push_inputs(config_repo, mode="pull-request", environment="prd", github_api_url=github.url,
                             github_repository="acme/config", timeout=str(TIMEOUT))
        _inject_github(github, fault, times)

    pending = sum(f.count for f in github.faults)
    started = time.monotonic()
    result = run_gitops(inputs)
    elapsed = time.monotonic() - started

    assert elapsed < TIMEOUT + MARGIN, f"took {elapsed:.1f}s\n{result.log}"
    assert "Traceback" not in result.log and "internal error" not in result.log, result.log
    struck = len(proxy.faulted()) if remote == "git" else pending - sum(f.count for f in github.faults)
    assert struck > 0, "the fault never struck: the row proves nothing"
    refs = config_repo.server.refs(config_repo.name)
    assert not [r for r in refs if r.startswith("refs/shipyard/queue/")], refs  # no ticket left behind
    pulls = github.repos["acme/config"].pulls
    target = "main" if remote == "git" else PR_BRANCH
    if ends_in == "success":
        assert result.code == 0, result.log
        assert result.outputs["changed"] == "true" and result.outputs["status"] == "updated"
        assert result.outputs["commit"] == config_repo.tip(target)
        if remote == "git":
            assert config_repo.count() == commits + 1  # exactly one commit, never two
        else:
            assert config_repo.tip() == main
            assert len(pulls) == 1 and result.outputs["pr-url"].endswith("/pull/1")  # never a second PR
    else:
        assert result.code == 1, result.log
        errors = [line for line in result.log.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, result.log
        assert config_repo.tip() == main and config_repo.count() == commits  # nothing pushed
        assert f"refs/heads/{PR_BRANCH}" not in refs  # no orphan PR branch
        assert not pulls
