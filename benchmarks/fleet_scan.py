"""Benchmark: the fleet stage over the 60-repository fixture organisation (tests/fleet/conftest.py) on the GitHub
double: the first full run (inventory, 23 pull requests opened) vs a re-run on the unchanged fleet (conditional
requests from the cached ETags; goal: at most 2 requests per repository), then a run after a new Shipyard
release (the open PRs are updated, none duplicated). In-process, the way the action's Python runs it; the
double's transcript counts what reached "GitHub". Prints one JSON line.

    python benchmarks/fleet_scan.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.doubles.github_fleet import FleetGitHubDouble  # noqa: E402
from tests.fleet.conftest import DAY, NOW, build_org, run_fleet  # noqa: E402


def one(state: Path) -> dict[str, float]:
    with FleetGitHubDouble() as double:
        assert isinstance(double, FleetGitHubDouble)
        fleet = build_org(double)
        repos = len(fleet.expect)
        out: dict[str, float] = {"repositories": repos}
        for phase, now in (("first", NOW), ("rerun", NOW + DAY)):
            before = len(double.transcript)
            started = time.perf_counter()
            result = run_fleet({"token": fleet.token}, api=double.url, state=state, now=now)
            out[f"{phase}_seconds"] = time.perf_counter() - started
            assert result.code == 0, result.out
            calls = double.transcript[before:]
            out[f"{phase}_requests"] = len(calls)
            out[f"{phase}_not_modified"] = sum(1 for c in calls if c.status == 304)
            prs = json.loads(result.outputs["pull-requests"])
            out[f"{phase}_prs_opened"] = sum(1 for p in prs if p["status"] == "opened")
            out[f"{phase}_prs_updated"] = sum(1 for p in prs if p["status"] == "updated")
            out[f"{phase}_commits"] = sum(1 for c in calls if c.method == "POST" and c.path.endswith("/git/commits")
                                          and c.status < 300)
        double.tags["shipyard/shipyard"]["v1.5.0"] = "6" * 40
        before = len(double.transcript)
        started = time.perf_counter()
        result = run_fleet({"token": fleet.token}, api=double.url, state=state, now=NOW + 2 * DAY)
        out["release_seconds"] = time.perf_counter() - started
        prs = json.loads(result.outputs["pull-requests"])
        out["release_requests"] = len(double.transcript) - before
        out["release_prs_opened"] = sum(1 for p in prs if p["status"] == "opened")
        out["release_prs_updated"] = sum(1 for p in prs if p["status"] == "updated")
        out["open_prs_total"] = sum(1 for r in double.fleet.values() for p in r.pulls if p["state"] == "open")
        return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
            runs.append(one(Path(tmp)))
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    repos = med["repositories"]
    print(json.dumps({
        "benchmark": "fleet_scan",
        "repeat": args.repeat,
        "repositories": int(repos),
        "first_requests": int(med["first_requests"]),
        "first_requests_per_repo": round(med["first_requests"] / repos, 2),
        "first_seconds": round(med["first_seconds"], 2),
        "first_prs_opened": int(med["first_prs_opened"]),
        "rerun_requests": int(med["rerun_requests"]),
        "rerun_requests_per_repo": round(med["rerun_requests"] / repos, 2),
        "rerun_not_modified": int(med["rerun_not_modified"]),
        "rerun_seconds": round(med["rerun_seconds"], 2),
        "rerun_prs_opened": int(med["rerun_prs_opened"]),
        "rerun_prs_updated": int(med["rerun_prs_updated"]),
        "rerun_commits": int(med["rerun_commits"]),
        "rerun_vs_first_requests": round(med["rerun_requests"] / med["first_requests"], 3),
        "rerun_vs_first_seconds": round(med["rerun_seconds"] / med["first_seconds"], 3),
        "goal_rerun_requests_per_repo_max": 2,
        "goal_met": med["rerun_requests"] / repos <= 2,
        "release_requests": int(med["release_requests"]),
        "release_prs_opened": int(med["release_prs_opened"]),
        "release_prs_updated": int(med["release_prs_updated"]),
        "open_prs_total": int(med["open_prs_total"]),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
