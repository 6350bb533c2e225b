"""The ecr-push fault matrix: every remote the stage talks to x every fault, one row each.

A :class:`~tests.ecr.httpfault.FaultProxy` sits in front of one remote (STS and the ECR API are moto behind
separate proxies; the registry data plane is the authenticated test registry) and injects the row's fault on the
request the row names. The stage pushes one local image under three tags (the first goes up with skopeo, the
other two are manifest PUTs) with ``timeout: 8`` and the real clock. A row ends in ``ok`` (success after retries:
all three tags on one digest) or ``error`` (exactly one ``error:`` line with a ``Fix:``, no traceback, and the
tag set is either complete or named tag by tag); either way within the stage's timeout plus a small margin.
"""

from __future__ import annotations

import io
import re
import time

import pytest

from shipyard.ecr.stage import run
from shipyard.runtime import Action, run_stage
from tests.ecr.conftest import Stage
from tests.ecr.httpfault import FaultProxy

TIMEOUT = 8.0
MARGIN = 6.0  # staging the local image with skopeo, the process start of skopeo, one last request
STS, ECR, REGISTRY = "STS", "ECR API", "registry"
TAGS = ["v1", "sha-1", "extra-1"]
ANY = None
HEAD = r"^HEAD /v2/team/svc/manifests/"
PUT_EXTRA = r"^PUT /v2/team/svc/manifests/extra-1$"
ALWAYS = -1
FAULTS = {
    "500 once": {"kind": "status", "status": 500},
    "429 with Retry-After": {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}},
    "connection reset": {"kind": "reset"},
    "accepts, never answers": {"kind": "hang"},
    "applied, answered 500": {"kind": "applied_status", "status": 500},
}

#            remote    fault                     on request  times   outcome
MATRIX = [
    pytest.param(STS, "500 once", ANY, 1, "ok"),
    pytest.param(STS, "429 with Retry-After", ANY, 1, "ok"),
    pytest.param(STS, "connection reset", ANY, 1, "ok"),
    pytest.param(STS, "accepts, never answers", ANY, 1, "ok"),
    pytest.param(STS, "500 once", ANY, ALWAYS, "error"),
    pytest.param(STS, "connection reset", ANY, ALWAYS, "error"),
    pytest.param(STS, "accepts, never answers", ANY, ALWAYS, "error"),
    pytest.param(ECR, "500 once", ANY, 1, "ok"),
    pytest.param(ECR, "429 with Retry-After", ANY, 1, "ok"),
    pytest.param(ECR, "connection reset", ANY, 1, "ok"),
    pytest.param(ECR, "accepts, never answers", ANY, 1, "ok"),
    pytest.param(ECR, "applied, answered 500", ANY, 1, "ok"),
    pytest.param(ECR, "500 once", ANY, ALWAYS, "error"),
    pytest.param(ECR, "accepts, never answers", ANY, ALWAYS, "error"),
    pytest.param(REGISTRY, "500 once", HEAD, 1, "ok"),
    pytest.param(REGISTRY, "429 with Retry-After", HEAD, 1, "ok"),
    pytest.param(REGISTRY, "connection reset", HEAD, 1, "ok"),
    pytest.param(REGISTRY, "accepts, never answers", HEAD, 1, "ok"),
    pytest.param(REGISTRY, "applied, answered 500", PUT_EXTRA, 1, "ok"),
    pytest.param(REGISTRY, "applied, answered 500", PUT_EXTRA, ALWAYS, "ok"),
    pytest.param(REGISTRY, "500 once", PUT_EXTRA, ALWAYS, "error"),
    pytest.param(REGISTRY, "accepts, never answers", HEAD, ALWAYS, "error"),
]


@pytest.mark.parametrize(("remote", "fault", "on", "times", "outcome"), MATRIX)
def test_fault(image_stage: Stage, remote: str, fault: str, on: str | None, times: int, outcome: str) -> None:
    st = image_stage
    target = {STS: st.moto.endpoint_url, ECR: st.moto.endpoint_url, REGISTRY: st.registry.url}[remote]
    with FaultProxy(target) as proxy:
        proxy.inject(match=on, count=times, **FAULTS[fault])  # type: ignore[arg-type]
        urls = {"sts-endpoint-url": proxy.url if remote == STS else st.moto.endpoint_url,
                "endpoint-url": proxy.url if remote == ECR else st.moto.endpoint_url,
                "registry-endpoint": proxy.url if remote == REGISTRY else st.registry.url}
        env = st.base_env()
        env.update(st.inputs(tags="\n".join(TAGS), source_image=st.images.first if st.images else "", scan="false",
                             timeout=str(TIMEOUT), max_attempts="2", **{k.replace("-", "_"): v
                                                                         for k, v in urls.items()}))
        out = io.StringIO()
        action = Action(env=env, out=out)  # the real clock: the timeout is measured, not simulated
        started = time.monotonic()
        code = run_stage(run, action, name="ecr-push")
        elapsed = time.monotonic() - started
        output = out.getvalue()
        assert proxy.faulted(), f"the fault was never injected: {proxy.transcript}"
    assert elapsed < TIMEOUT + MARGIN, (elapsed, output)
    assert "Traceback" not in output and "internal error" not in output, output
    assert "testing-secret-key-value" not in output
    tags = {t: st.registry.manifest("team/svc", t)[1] for t in TAGS if t in st.registry.tags("team/svc")}
    if outcome == "ok":
        assert code == 0, output
        assert set(tags) == set(TAGS) and len(set(tags.values())) == 1, (tags, output)
        return
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Fix:" in errors[0], output
    if tags and set(tags) != set(TAGS):  # a partial tag set is named tag by tag
        listed = re.search(r"in place on sha256:[0-9a-f]{64}: ([^;]*); not written: ([^.]*)\.", errors[0])
        assert listed, errors[0]
        assert set(listed.group(1).split(", ")) == set(tags), (listed.group(1), tags)
