"""The argocd-wait fault matrix against the Argo CD REST double, read as a table: each row ends in success after
retries, or in one clear error, within the stage's ``timeout`` plus a small margin (argocd-wait writes nothing,
so "nothing half-written" means: outputs say not deployed, and no second login or refresh storm)."""

from __future__ import annotations

import time

import pytest

from tests.argocd.conftest import run_argocd_wait
from tests.doubles.argocd import ArgoCDDouble, frame, ts

OURS = "a1" * 20
TIMEOUT = 3.0
MARGIN = 2.5
APP_GET = r"^GET /api/v1/applications/api-dev$"

# remote           fault                      times     ends in
CASES = [
    ("argocd REST", "500", "once", "success"),
    ("argocd REST", "429 Retry-After", "once", "success"),
    ("argocd REST", "connection reset", "once", "success"),
    ("argocd REST", "accepts, never answers", "once", "success"),
    ("argocd REST", "applied, answered 500", "once", "success"),
    ("argocd REST", "500", "always", "error"),
    ("argocd REST", "connection reset", "always", "error"),
    ("argocd REST", "accepts, never answers", "always", "error"),
]


def _inject(argocd: ArgoCDDouble, fault: str, times: str) -> None:
    count = 1 if times == "once" else 10**6
    if fault == "500":
        argocd.inject("status", 500, match=APP_GET, count=count)
    elif fault == "429 Retry-After":
        argocd.inject("status", 429, match=APP_GET, count=count, headers={"Retry-After": "1"})
    elif fault == "connection reset":
        argocd.inject("timeout", match=APP_GET, count=count, delay=0.001)  # dropped without an answer
    elif fault.startswith("accepts"):
        argocd.inject("timeout", match=APP_GET, count=count, delay=60.0)
    else:
        argocd.inject("applied_status", 500, match=APP_GET, count=count)


@pytest.mark.parametrize(("remote", "fault", "times", "ends_in"), CASES,
                         ids=[f"{f.replace(' ', '_')}-{t}" for _, f, t, _ in CASES])
def test_fault_matrix(remote: str, fault: str, times: str, ends_in: str, argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS, reconciled=ts(0))])
    _inject(argocd, fault, times)
    pending = sum(f.count for f in argocd.faults)
    started = time.monotonic()
    result = run_argocd_wait({"argocd-server": argocd.url, "argocd-token": token, "applications": "api-dev",
                              "revision": OURS, "refresh": "none", "timeout": str(TIMEOUT),
                              "poll-interval": "0.05"})
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + MARGIN, f"took {elapsed:.1f}s\n{result.out}"
    assert pending - sum(f.count for f in argocd.faults) > 0, "the fault never struck: the row proves nothing"
    assert "Traceback" not in result.out and "internal error" not in result.out, result.out
    if ends_in == "success":
        assert result.code == 0, result.out
        assert result.outputs["healthy"] == "true"
    else:
        assert result.code == 1, result.out
        assert len(result.errors) == 1, result.out
        assert "api-dev: timeout" in result.errors[0]
        assert result.outputs["healthy"] == "false"
