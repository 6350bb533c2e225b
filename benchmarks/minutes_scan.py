"""Minutes guard scan cost: a full month of the generated 59-repository organisation, then the next day's
incremental run, against the GitHub Actions/billing double on loopback. Prints one JSON line:

jobs, full-month requests and wall time, the next day's requests and their ratio to the full scan (goal <= 5%),
requests per 1,000 jobs, 304s on the next day, and ``exact`` (both totals equal the fixture's known totals).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from shipyard.minutes.stage import run  # noqa: E402
from shipyard.runtime import Action, run_stage  # noqa: E402
from tests.doubles.github_actions import GitHubActionsDouble  # noqa: E402
from tests.minutes.fixture import generate  # noqa: E402


def guard(url: str, token: str, workspace: Path, as_of: datetime) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update({"GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(workspace / "tmp"),
                "INPUT_GITHUB_TOKEN": token, "INPUT_ORGANIZATION": "acme", "INPUT_GITHUB_API_URL": url,
                "INPUT_AS_OF": as_of.isoformat(), "INPUT_INCLUDED_MINUTES": "150000"})
    action = Action(env, io.StringIO(), sleep=lambda _s: None)
    action.write_summary = lambda: None  # type: ignore[method-assign]
    code = run_stage(run, action, name="minutes-guard")
    if code:
        raise SystemExit(f"guard failed: {action.out.getvalue()[-2000:]}")  # type: ignore[attr-defined]
    data: dict[str, object] = json.loads(Path(action.outputs["report-file"]).read_text())
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    org = generate(seed=args.seed)
    day1 = datetime(2026, 11, 29, 6, tzinfo=timezone.utc)
    day2 = datetime(2026, 11, 30, 6, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as tmp, GitHubActionsDouble(org, now=day1.timestamp()) as double:
        assert isinstance(double, GitHubActionsDouble)
        token = double.add_token()
        start = time.perf_counter()
        full = guard(double.url, token, Path(tmp), day1)
        full_seconds = time.perf_counter() - start
        full_requests = len(double.transcript)
        double.reset_counts()
        double.set_now(day2.timestamp())
        start = time.perf_counter()
        nxt = guard(double.url, token, Path(tmp), day2)
        next_seconds = time.perf_counter() - start
        next_requests = len(double.transcript)
        not_modified = sum(1 for e in double.transcript if e.status == 304)

    def exact(report: dict[str, object], when: datetime) -> bool:
        attributed = report["attributed"]
        assert isinstance(attributed, dict)
        return bool(attributed["by_sku"] == {k: int(v) for k, v in org.totals(when.timestamp()).items()})

    jobs_counted = len([1 for r in org.runs for _ in r.counted_jobs(day1.timestamp())])
    print(json.dumps({
        "benchmark": "minutes_scan", "repos": len(org.repos), "jobs": org.jobs, "jobs_counted": jobs_counted,
        "full_requests": full_requests, "full_seconds": round(full_seconds, 2),
        "next_day_requests": next_requests, "next_day_seconds": round(next_seconds, 2),
        "next_day_not_modified": not_modified,
        "incremental_ratio": round(next_requests / full_requests, 4),
        "requests_per_1000_jobs": round(1000 * full_requests / max(1, jobs_counted), 1),
        "exact": exact(full, day1) and exact(nxt, day2),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
