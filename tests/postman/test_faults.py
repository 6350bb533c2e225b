"""postman-publish's fault matrix: the Postman REST API x every fault, one row each.

A :class:`~tests.mirror.faultproxy.FaultProxy` sits in front of the Postman double; the row's fault is injected
on the named request of a first publish (``create``) or of an update of a published collection (``update``),
with ``timeout: 5``. A row ends in ``ok`` (published: exactly one collection, carrying the new spec) or
``error`` (exactly one ``error:`` line with a ``Fix:``, no traceback, nothing half-published: no collection,
or the old one untouched); either way within the timeout plus a small margin. 5xx answers never wait for the
rate-limit reset every Postman answer announces (that cost 60-180 s per fault); 429 does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import yaml

from shipyard.postman import convert
from tests.mirror.faultproxy import FaultProxy
from tests.postman.conftest import SPECS, Service

TIMEOUT = 5.0
MARGIN = 3.0
ME = r"^GET /me$"
FIND = r"^GET /collections\?"
CREATE = r"^POST /collections\?"
UPDATE = r"^PUT /collections/"
ALWAYS = -1
# Every Postman answer, errors included, announces the rate-limit window's reset (~60 s away): a 5xx must not
# wait for it.
LIMIT_HEADERS = {"RateLimit": "limit=300, remaining=297, reset=60", "RateLimit-Reset": "60",
                 "X-RateLimit-Remaining": "297", "X-RateLimit-Reset": str(int(time.time()) + 60)}
FAULTS = {  # fault name -> FaultProxy.inject arguments
    "500": {"kind": "status", "status": 500, "headers": LIMIT_HEADERS},
    "429 with Retry-After": {"kind": "status", "status": 429, "headers": {"Retry-After": "2"}},
    "connection reset": {"kind": "reset"},
    "accepts, never answers": {"kind": "hang"},
    "applied, answered 500": {"kind": "applied_status", "status": 500, "headers": LIMIT_HEADERS},
}

#            phase     fault                     on request  times   outcome
MATRIX = [
    pytest.param("create", "500", ME, 1, "ok"),
    pytest.param("create", "429 with Retry-After", FIND, 1, "ok"),
    pytest.param("create", "connection reset", CREATE, 1, "ok"),
    pytest.param("create", "accepts, never answers", CREATE, 1, "ok"),
    pytest.param("create", "applied, answered 500", CREATE, 1, "ok"),
    pytest.param("update", "500", UPDATE, 1, "ok"),
    pytest.param("update", "connection reset", UPDATE, 1, "ok"),
    pytest.param("update", "accepts, never answers", UPDATE, 1, "ok"),
    pytest.param("update", "applied, answered 500", UPDATE, 1, "ok"),
    pytest.param("create", "500", None, ALWAYS, "error"),
    pytest.param("create", "connection reset", CREATE, ALWAYS, "error"),
    pytest.param("create", "accepts, never answers", None, ALWAYS, "error"),
    pytest.param("update", "500", UPDATE, ALWAYS, "error"),
    pytest.param("update", "accepts, never answers", UPDATE, ALWAYS, "error"),
]


@pytest.fixture
def proxy(service: Service) -> Iterator[FaultProxy]:
    with FaultProxy(service.double.url) as p:
        yield p


def _changed_spec() -> str:
    spec = yaml.safe_load((SPECS / "orders-3.0.yaml").read_text())
    spec["paths"]["/refunds"] = {"post": {"summary": "Refund", "responses": {"201": {"description": "ok"}}}}
    return yaml.safe_dump(spec)


@pytest.mark.parametrize(("phase", "fault", "on", "times", "outcome"), MATRIX)
def test_fault_matrix(service: Service, proxy: FaultProxy, phase: str, fault: str, on: str | None, times: int,
                      outcome: str) -> None:
    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    before: dict[str, str] = {}
    if phase == "update":
        first = service.publish()
        assert first.code == 0, first.out
        before = {c.uid: convert.stored_hash(c.data) or "" for c in double.collections.values()}
        service.write_spec(_changed_spec())
    proxy.inject(match=on, count=times, **FAULTS[fault])  # type: ignore[arg-type]
    started = time.monotonic()
    run = service.publish(api_url=proxy.url, timeout=str(TIMEOUT), virtual_clock=True)
    elapsed = time.monotonic() - started

    assert proxy.faulted(), "the fault was never hit: the row tests nothing"
    waited = elapsed + sum(run.sleeps)  # what the run would take had its waits been slept
    assert waited < TIMEOUT + MARGIN, f"{waited:.1f}s > timeout {TIMEOUT}s + {MARGIN}s\n{run.out}"
    assert "Traceback" not in run.out and "internal error" not in run.out, run.out
    assert len(double.collections) <= 1, "a duplicate collection was created"
    if fault == "500" or fault.startswith("applied"):
        assert all(s < 5 for s in run.sleeps), run.sleeps  # a 5xx never waits for the rate-limit reset
    after = {c.uid: convert.stored_hash(c.data) or "" for c in double.collections.values()}
    if outcome == "ok":
        assert run.code == 0, run.out
        assert len(after) == 1 and run.outputs["changed"] == "true"
        assert run.outputs["collection-uid"] in after
        if phase == "update":
            assert set(after) == set(before) and after != before  # the same collection, now the new spec
        if fault.startswith("429"):
            assert max(run.sleeps) >= 2.0, run.sleeps  # Retry-After honoured
    else:
        assert run.code == 1
        errors = [line for line in run.out.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Fix:" in run.out.split("\nerror:", 1)[1], run.out
        assert after == before  # nothing half-published: no collection, or the old one untouched
