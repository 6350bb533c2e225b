"""Fifty pipeline runs finish at once into one channel with the rate limit on: nothing lost, nothing doubled."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.doubles.slack import SlackDouble
from tests.slack.conftest import Pipeline

pytestmark = pytest.mark.slow

RUNS = 50


def test_fifty_runs_finishing_at_once(slack: SlackDouble, tmp_path: Path) -> None:
    slack.set_limits(None, None)
    pipes = [Pipeline(slack, tmp_path / f"run{i}", run_id=str(5000 + i), repo=f"acme/svc{i:02d}") for i in range(RUNS)]
    for p in pipes:
        assert p.start(stages="build,argocd-wait").code == 0
        assert p.stage("build", duration="30").code == 0

    # the real limit is about one message per second per channel with short bursts; compressed 5x here
    slack.set_limits((5, 1.0), (20, 1.0))
    started = time.monotonic()

    def finish(i: int) -> tuple[str, str, str]:
        p = pipes[i]
        failing = i % 5 == 0
        r1 = p.stage("argocd-wait", "failure" if failing else "success", details=f"synced rev {i}",
                     error="Degraded" if failing else "")
        r2 = p.finish(job_status="failure" if failing else "success")
        assert r1.code == 0 and r2.code == 0
        assert r1.outputs["delivered"] == "true", r1.out
        assert r2.outputs["delivered"] == "true", r2.out
        return r2.outputs["ts"], r2.outputs["status"], p.env["GITHUB_RUN_ID"]

    with ThreadPoolExecutor(max_workers=RUNS) as pool:
        results = list(pool.map(finish, range(RUNS)))
    elapsed = time.monotonic() - started

    limited = [c for c in slack.calls() if c.status == 429]
    assert limited, "the burst must actually hit the rate limit"
    assert all(c.response == {"ok": False, "error": "ratelimited"} for c in limited)
    assert all(c.status in (200, 429) for c in slack.calls())

    tops = [m for m in slack.messages() if m.thread_ts is None]
    assert len(tops) == RUNS, "exactly one parent per run"
    by_run = {m.metadata["event_payload"]["run_id"]: m for m in tops}
    assert len(by_run) == RUNS
    for ts, status, run_id in results:
        parent = by_run[run_id]
        assert parent.ts == ts
        failing = (int(run_id) - 5000) % 5 == 0
        assert status == ("failure" if failing else "success")
        assert parent.metadata["event_payload"]["status"] == status
        header = parent.blocks[0]["text"]["text"]
        assert ("failed at ArgoCD sync" in header) if failing else ("deployed" in header), header
        replies = [r.text for r in parent.replies]
        assert any(f"synced rev {int(run_id) - 5000}" in t for t in replies), "the stage detail reached the thread"
        assert any(":rotating_light:" in t for t in replies) == failing
    assert elapsed < 40, f"burst took {elapsed:.1f}s"
