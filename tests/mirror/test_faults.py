"""The mirror's fault matrix: every remote it talks to x every fault, one row each.

Each row puts a :class:`~tests.mirror.faultproxy.FaultProxy` in front of one remote (the Bitbucket REST double
or the git smart-HTTP server holding the target), injects the fault on the request named in the row and runs a
first mirror with ``timeout: 5``. A row ends in ``ok`` (success after retries: the target equals the source,
exactly one repository was created) or ``error`` (exactly one ``error:`` line with a ``Fix:`` and no traceback,
nothing pushed, no secret printed); either way within the stage's timeout plus a small margin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.mirror.conftest import World
from tests.mirror.faultproxy import FaultProxy

TIMEOUT = 5.0
MARGIN = 3.0
REST, GIT = "bitbucket REST", "git smart-HTTP"
USER = r"^GET /2\.0/user$"
REPO = r"^GET /2\.0/repositories/[^/]+/service$"
CREATE = r"^POST /2\.0/repositories/[^/]+/service$"
RECEIVE_REFS = r"^GET /.*/info/refs\?service=git-receive-pack$"
RECEIVE = r"^POST /.*/git-receive-pack$"
ALWAYS = -1
FAULTS = {  # fault name -> FaultProxy.inject arguments
    "500": {"kind": "status", "status": 500},
    "429 with Retry-After": {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}},
    "connection reset": {"kind": "reset"},
    "accepts, never answers": {"kind": "hang"},
    "applied, answered 500": {"kind": "applied_status", "status": 500},
}

#            remote  fault                     on request    times   outcome
MATRIX = [
    pytest.param(REST, "500", USER, 1, "ok"),
    pytest.param(REST, "429 with Retry-After", REPO, 1, "ok"),
    pytest.param(REST, "connection reset", USER, 1, "ok"),
    pytest.param(REST, "accepts, never answers", REPO, 1, "ok"),
    pytest.param(REST, "applied, answered 500", CREATE, 1, "ok"),
    pytest.param(REST, "500", None, ALWAYS, "error"),
    pytest.param(REST, "connection reset", None, ALWAYS, "error"),
    pytest.param(REST, "accepts, never answers", None, ALWAYS, "error"),
    pytest.param(GIT, "500", RECEIVE_REFS, 1, "ok"),
    pytest.param(GIT, "429 with Retry-After", RECEIVE_REFS, 1, "ok"),
    pytest.param(GIT, "connection reset", RECEIVE, 1, "ok"),
    pytest.param(GIT, "accepts, never answers", RECEIVE, 1, "ok"),
    pytest.param(GIT, "applied, answered 500", RECEIVE, 1, "ok"),
    pytest.param(GIT, "500", RECEIVE_REFS, ALWAYS, "error"),
    pytest.param(GIT, "connection reset", RECEIVE, ALWAYS, "error"),
    pytest.param(GIT, "accepts, never answers", RECEIVE, ALWAYS, "error"),
]


@pytest.fixture
def proxies(seeded: World) -> Iterator[dict[str, FaultProxy]]:
    with FaultProxy(seeded.bb.url) as rest, FaultProxy(seeded.git_server.base_url) as gitp:
        yield {REST: rest, GIT: gitp}


@pytest.mark.parametrize(("remote", "fault", "on", "times", "outcome"), MATRIX)
def test_fault_matrix(seeded: World, proxies: dict[str, FaultProxy], remote: str, fault: str, on: str | None,
                      times: int, outcome: str) -> None:
    w = seeded
    proxy = proxies[remote]
    proxy.inject(match=on, count=times, **FAULTS[fault])  # type: ignore[arg-type]
    started = time.monotonic()
    res = w.mirror(api_url=proxies[REST].url, git_url=proxies[GIT].url + "/{workspace}/{slug}.git",
                   timeout=str(TIMEOUT))
    elapsed = time.monotonic() - started

    assert proxy.faulted(), "the fault was never hit: the row tests nothing"
    assert elapsed < TIMEOUT + MARGIN, f"{elapsed:.1f}s > timeout {TIMEOUT}s + {MARGIN}s\n{res.output}"
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    assert w.token not in res.output and w.src_token not in res.output
    creates = w.bb.calls("POST", r"/2\.0/repositories/.*")
    assert len(creates) <= 1, "the repository was created twice"
    if outcome == "ok":
        assert res.ok, res.output
        assert w.target_refs() == w.source_refs()
        assert len(creates) == 1
        if fault.startswith("429"):
            assert max(res.sleeps) >= 1.0, res.sleeps  # Retry-After honoured
    else:
        assert not res.ok
        errors = [line for line in res.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Fix:" in res.output.split("\nerror:", 1)[1], res.output
        if remote == REST:
            assert not creates and not w.git_server.repo_path(w.target).exists()  # nothing created
        else:
            assert w.target_refs() == {}  # nothing pushed
