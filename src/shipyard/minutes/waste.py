"""Where minutes go for nothing, each finding with the (weighted) minutes it cost this month and its fix.

Definitions (the README repeats them; findings may overlap):

* ``duplicate``: a ``pull_request`` run of a workflow for a commit the same workflow also ran for on ``push``.
* ``superseded``: a run whose first attempt was still going when a newer run of the same workflow, event and
  branch started, and that ran to the end (nothing cancelled).
* ``short_jobs``: hosted jobs of at most 20 s, each billed a whole minute.
* ``rebuild``: the Shipyard pipeline's build job (2+ minutes) for a commit it had already built successfully.
* ``os``: Windows and macOS minutes (weighted by their multiplier).
* ``schedule``: scheduled runs, with their frequency.
* ``rerun_whole``: jobs of a re-run attempt that had succeeded in the failed attempt before it.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipyard.minutes.jobs import SELF_HOSTED, SkuTable, billable

SHORT_SECONDS = 20
OS_SKUS = ("windows", "macos")


@dataclass
class Finding:
    kind: str
    title: str
    minutes: float
    count: int
    fix: str
    top: list[tuple[str, float]] = field(default_factory=list)  # (where, minutes), biggest first

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "minutes": round(self.minutes, 1), "count": self.count,
                "fix": self.fix, "top": [{"where": w, "minutes": round(m, 1)} for w, m in self.top]}


FIXES = {
    "duplicate": ("Same commit built by push and pull_request",
                  "trigger `push` only on the default branch (`on: push: branches: [main]`) and let "
                  "`pull_request` cover feature branches."),
    "superseded": ("Superseded runs that ran to the end",
                   "add `concurrency: {group: ${{ github.workflow }}-${{ github.ref }}, cancel-in-progress: true}` "
                   "to the workflow."),
    "short_jobs": ("Jobs far shorter than the minute they are billed",
                   "merge these jobs' steps into a neighbouring job (one job per pipeline), or run them on "
                   "`ubuntu-slim`."),
    "rebuild": ("Shipyard builds that did not skip unchanged content",
                "set `skip-unchanged: true` on the Shipyard build (content-hash tag) so a commit already built "
                "costs seconds."),
    "os": ("macOS and Windows jobs",
           "run on `ubuntu-latest` unless the job needs the OS (these minutes weigh 2x/10x against the included "
           "minutes)."),
    "schedule": ("Scheduled workflows",
                 "run them less often (daily instead of hourly) or skip when nothing changed since the last run."),
    "rerun_whole": ("Failed runs re-run whole",
                    "use \"Re-run failed jobs\" (`gh run rerun --failed`) instead of re-running all jobs."),
}


def _top(values: Mapping[str, float], n: int = 3) -> list[tuple[str, float]]:
    return sorted(((k, v) for k, v in values.items() if v > 0), key=lambda kv: (-kv[1], kv[0]))[:n]


def find(runs: Mapping[str, list[Any]], jobs: Iterable[list[Any]], table: SkuTable,
         pipeline_glob: str = "*shipyard*", build_job: str = "build") -> list[Finding]:
    by_run: dict[str, list[list[Any]]] = defaultdict(list)
    for rec in jobs:
        by_run[rec[0]].append(rec)

    def weight(rec: list[Any]) -> float:
        return billable(rec[5], rec[6]) * (0.0 if rec[3] == SELF_HOSTED else table.weight(rec[3]))

    where: dict[str, dict[str, float]] = {k: defaultdict(float) for k in FIXES}
    counts: dict[str, int] = defaultdict(int)
    events: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for key in by_run:
        run = runs.get(key)
        if run:
            events[(run[0], run[3], run[6])].add(run[4])
    lanes: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    schedule_runs: dict[str, list[float]] = defaultdict(list)
    builds: list[tuple[float, str, str, list[Any]]] = []
    for key, recs in by_run.items():
        run = runs.get(key)
        if not run:
            continue
        repo, _id, workflow, path, event, branch, sha = run[:7]
        label = f"{repo} · {workflow}"
        minutes = sum(weight(r) for r in recs)
        if event == "pull_request" and {"push", "pull_request"} <= events[(repo, path, sha)]:
            where["duplicate"][label] += minutes
            counts["duplicate"] += 1
        if event == "schedule":
            where["schedule"][label] += minutes
            counts["schedule"] += 1
            schedule_runs[label].append(float(run[7]))
        for rec in recs:
            seconds = rec[6] - rec[5]
            if rec[3] != SELF_HOSTED and 0 < seconds <= SHORT_SECONDS:
                where["short_jobs"][f"{label} · {rec[2]}"] += weight(rec)
                counts["short_jobs"] += 1
            if any(s in rec[3] for s in OS_SKUS):
                where["os"][f"{label} · {rec[2]}"] += weight(rec)
                counts["os"] += 1
            if fnmatch.fnmatch(path, pipeline_glob) and (rec[2] == build_job or rec[2].endswith(f" / {build_job}")):
                builds.append((rec[5], rec[7], f"{repo}#{sha}", rec))
        attempts: dict[int, dict[str, list[Any]]] = defaultdict(dict)
        for rec in recs:
            attempts[int(rec[1])][rec[2]] = rec
        for number, named in attempts.items():
            prev = attempts.get(number - 1)
            if prev and any(p[7] == "failure" for p in prev.values()):
                for name, rec in named.items():
                    if name in prev and prev[name][7] == "success":
                        where["rerun_whole"][label] += weight(rec)
                        counts["rerun_whole"] += 1
        lanes[(repo, path, event, branch)].append(key)
    for lane in lanes.values():
        lane.sort(key=lambda k: (float(runs[k][7]), int(runs[k][1])))
        for a, b in itertools.pairwise(lane):
            first = [r for r in by_run[a] if int(r[1]) == 1]
            ran_on = not any(r[7] == "cancelled" for r in first)
            if first and ran_on and max(r[6] for r in first) > float(runs[b][7]):
                where["superseded"][f"{runs[a][0]} · {runs[a][2]}"] += sum(weight(r) for r in first)
                counts["superseded"] += 1
    built: set[str] = set()
    for _start, conclusion, commit, rec in sorted(builds, key=lambda b: (b[0], b[3][1])):
        if conclusion != "success":
            continue
        if commit in built and billable(rec[5], rec[6]) >= 2:
            where["rebuild"][commit.split("#")[0]] += weight(rec)
            counts["rebuild"] += 1
        built.add(commit)
    findings = []
    for kind, (title, fix) in FIXES.items():
        total = sum(where[kind].values())
        if kind == "schedule":
            fix = fix + " " + _frequencies(schedule_runs)
        findings.append(Finding(kind, title, total, counts[kind], fix.strip(), _top(where[kind])))
    return sorted(findings, key=lambda f: -f.minutes)


def _frequencies(schedule_runs: Mapping[str, list[float]]) -> str:
    parts = []
    for label, times in sorted(schedule_runs.items(), key=lambda kv: -len(kv[1]))[:3]:
        times = sorted(times)
        if len(times) > 1:
            hours = (times[-1] - times[0]) / 3600 / (len(times) - 1)
            parts.append(f"{label}: {len(times)} runs, every {hours:.1f} h")
    return ("Busiest: " + "; ".join(parts) + ".") if parts else ""
