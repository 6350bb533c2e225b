"""The Slack fault matrix: every call the notify steps make, against every fault a remote has.

Read it as a table: each row is (call, fault). The fault is injected right before the step that makes the call;
the run (start, one stage with details, finish) must end with ONE parent message, no doubled thread reply,
every step exiting 0, and the faulted step either delivering after retries or warning, within its time bound.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.doubles.slack import SlackDouble
from tests.slack.conftest import Pipeline, Result
from tests.slack.test_stage import parents

BUDGET = 3.0  # SHIPYARD_SLACK_TIMEOUT for these runs: the step's time for Slack, 429 waits aside
RETRY_AFTER = 1
MARGIN = 2.5  # interpreter, the double and the look-up after an ambiguous answer


@dataclass(frozen=True)
class Call:
    match: str  # regex on "METHOD /path" of the double
    step: str  # the step that makes it: start | stage | finish | rerun


@dataclass(frozen=True)
class Fault:
    inject: Callable[[SlackDouble, str], None]
    outcome: str  # "delivered" (after retries) or "warned" (nothing doubled, nothing failed)
    bound: float  # seconds the faulted step may take


CALLS = {
    "post the parent (start)": Call(r"chat\.postMessage", "start"),
    "update the parent (stage)": Call(r"chat\.update", "stage"),
    "thread reply (stage)": Call(r"chat\.postMessage", "stage"),
    "look up the parent (re-run start)": Call(r"conversations\.history", "rerun"),
    "update the parent (finish)": Call(r"chat\.update", "finish"),
}

FAULTS = {
    "500 once": Fault(lambda s, m: s.inject("status", 500, match=m), "delivered", BUDGET + MARGIN),
    "429 with Retry-After": Fault(
        lambda s, m: s.inject("status", 429, match=m, headers={"Retry-After": str(RETRY_AFTER)}),
        "delivered", BUDGET + 3 * RETRY_AFTER + MARGIN),
    "connection reset": Fault(lambda s, m: s.inject_reset(m), "delivered", BUDGET + MARGIN),
    "accepts, never answers": Fault(
        lambda s, m: s.inject("timeout", match=m, count=50, delay=30), "warned", BUDGET + MARGIN),
    "applied, answered 500": Fault(lambda s, m: s.inject("applied_status", 500, match=m), "delivered",
                                   BUDGET + MARGIN),
}

TABLE = [pytest.param(call, fault, id=f"{call} | {fault}") for call in CALLS for fault in FAULTS]


def _timed(step: Callable[[], Result]) -> tuple[Result, float]:
    t0 = time.monotonic()
    result = step()
    return result, time.monotonic() - t0


@pytest.mark.parametrize("call,fault", TABLE)
def test_fault_matrix(slack: SlackDouble, tmp_path: Path, call: str, fault: str) -> None:
    c, f = CALLS[call], FAULTS[fault]
    extra = {"SHIPYARD_SLACK_TIMEOUT": str(BUDGET)}
    pipe = Pipeline(slack, tmp_path / "a1", **extra)
    if c.step == "rerun":  # attempt 1 ran clean; attempt 2 (a fresh runner) looks its message up
        assert pipe.start(stages="build").code == 0
        pipe.finish(job_status="failure")
        pipe = Pipeline(slack, tmp_path / "a2", attempt="2", **extra)
    results: dict[str, tuple[Result, float]] = {}
    steps: dict[str, Callable[[], Result]] = {
        "start": lambda: pipe.start(stages="build"),
        "stage": lambda: pipe.stage("build", details="built `1.4.2`"),
        "finish": lambda: pipe.finish(job_status="success"),
    }
    for name, step in steps.items():
        if name == c.step or (c.step == "rerun" and name == "start"):
            f.inject(slack, c.match)
        results[name] = _timed(step)
        if name == c.step or (c.step == "rerun" and name == "start"):
            slack.faults.clear()  # a permanent fault ends with its step: the later steps show recovery

    faulted, elapsed = results["start" if c.step == "rerun" else c.step]
    for name, (r, _) in results.items():
        assert r.code == 0, f"{name} step failed:\n{r.out}"
        assert not [line for line in r.out.splitlines() if line.startswith(("::error", "error:"))], r.out
    assert elapsed <= f.bound, f"the faulted step took {elapsed:.1f}s (bound {f.bound:.1f}s)"
    if f.outcome == "delivered":
        assert faulted.outputs["delivered"] == "true", faulted.out
    else:
        assert faulted.outputs["delivered"] == "false" and "warning:" in faulted.out, faulted.out
    tops = parents(slack)
    assert len(tops) == 1, f"one parent message, got {len(tops)}"
    replies = [m.text for m in tops[0].replies]
    assert len(replies) == len(set(replies)), f"a thread reply was doubled: {replies}"
    final = results["finish"][0]
    if c.step != "finish" or f.outcome == "delivered":  # the run's message ends finished and in place
        assert final.outputs["delivered"] == "true" and final.outputs["ts"] == tops[0].ts, final.out
        assert final.outputs["status"] == "success" and tops[0].metadata["event_payload"]["status"] == "success"
