"""A generated organisation for the minutes guard: 59 repositories and a month (November 2026) of workflow runs,
seeded and deterministic, with the billable totals, forecast inputs and waste known by construction.

Runs are made the way a fleet makes them: feature-branch commits that trigger both ``push`` and
``pull_request`` (the duplicate), quick successive pushes without ``concurrency`` (superseded runs that run to
the end) or with it (cancelled), merges that run the Shipyard pipeline (plan/build/deploy/notify, the notify job
a few seconds long), scheduled workflows, Windows/macOS matrix legs, self-hosted (ARC) jobs, a larger runner
with a custom label nobody mapped, failures re-run whole or failed-jobs-only, and cancellations.

The truths below are computed from these objects directly (not through the guard's code).
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

ORG = "acme"
MONTH = "2026-11"
START = datetime(2026, 11, 1, tzinfo=timezone.utc)
END = datetime(2026, 12, 1, tzinfo=timezone.utc)
# What GitHub bills in this fixture (the double's truth): kind -> (sku, multiplier against included minutes)
BILLING = {"linux": ("actions_linux", 1), "windows": ("actions_windows", 2), "macos": ("actions_macos", 10),
           "large": ("actions_linux_4_core", 1), "self": (None, 0)}
LABELS = {"linux": ["ubuntu-latest"], "windows": ["windows-latest"], "macos": ["macos-14"],
          "large": ["linux-4core"], "self": ["self-hosted", "linux", "arc-runners"]}


def ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Job:
    id: int
    name: str
    kind: str
    created: float
    started: float
    completed: float
    conclusion: str
    attempt: int = 1

    @property
    def minutes(self) -> int:
        return math.ceil(max(0.0, self.completed - self.started) / 60)

    @property
    def weighted(self) -> float:
        return self.minutes * BILLING[self.kind][1]


@dataclass
class Attempt:
    number: int
    created: float
    jobs: list[Job] = field(default_factory=list)

    @property
    def completed(self) -> float:
        return max(j.completed for j in self.jobs)

    @property
    def conclusion(self) -> str:
        kinds = {j.conclusion for j in self.jobs}
        for c in ("failure", "cancelled"):
            if c in kinds:
                return c
        return "success"


@dataclass
class Run:
    id: int
    repo: str
    workflow: str
    path: str
    event: str
    branch: str
    sha: str
    created: float
    attempts: list[Attempt] = field(default_factory=list)

    def visible_attempts(self, now: float) -> list[Attempt]:
        return [a for a in self.attempts if a.created <= now]

    def counted_jobs(self, now: float) -> list[Job]:
        """The jobs a guard that scanned at ``now`` must have counted: every attempt up to the latest one
        started by ``now``, when that one has finished."""
        seen = self.visible_attempts(now)
        if not seen or seen[-1].completed > now:
            return []
        return [j for a in seen for j in a.jobs]


@dataclass
class Org:
    name: str
    repos: list[str]
    runs: list[Run]
    hidden_usage: dict[str, float]  # usage of record in repositories not listed (deleted): repo -> minutes
    seed: int

    @property
    def jobs(self) -> int:
        return sum(len(a.jobs) for r in self.runs for a in r.attempts)

    # ----------------------------------------------------------- truths
    def counted(self, now: float) -> list[tuple[Run, Job]]:
        return [(r, j) for r in self.runs if r.created <= now for j in r.counted_jobs(now)]

    def totals(self, now: float) -> dict[str, float]:
        """Minutes per guard SKU (labels mapped with the guard's defaults: the large runner is unmapped)."""
        guard_sku = {"linux": "actions_linux", "windows": "actions_windows", "macos": "actions_macos",
                     "large": "unmapped", "self": "self_hosted"}
        out: dict[str, float] = defaultdict(float)
        for _run, job in self.counted(now):
            if job.minutes:
                out[guard_sku[job.kind]] += job.minutes
        return dict(out)

    def weighted_by_day(self, now: float) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for _run, job in self.counted(now):
            if job.minutes and job.kind != "self":
                w = job.minutes * (1 if job.kind == "large" else BILLING[job.kind][1])
                out[datetime.fromtimestamp(job.completed, timezone.utc).strftime("%Y-%m-%d")] += w
        return dict(out)

    def usage_items(self, now: float) -> list[tuple[str, str, str, float]]:
        """What GitHub bills: (date, repo, sku, minutes) for every finished job up to ``now``."""
        out: dict[tuple[str, str, str], float] = defaultdict(float)
        for run in self.runs:
            for attempt in run.attempts:
                for job in attempt.jobs:
                    sku = BILLING[job.kind][0]
                    if sku and job.completed <= now and job.minutes:
                        day = datetime.fromtimestamp(job.completed, timezone.utc).strftime("%Y-%m-%d")
                        out[(day, run.repo, sku)] += job.minutes
        for repo, minutes in self.hidden_usage.items():
            out[(START.strftime("%Y-%m-%d"), repo, "actions_linux")] += minutes
        return [(d, r, s, m) for (d, r, s), m in sorted(out.items())]

    def waste(self, now: float) -> dict[str, float]:
        """Weighted minutes per finding, by the definitions in the guard's README."""
        counted = self.counted(now)
        runs = {id(r): r for r, _ in counted}
        by_run: dict[int, list[Job]] = defaultdict(list)
        for r, j in counted:
            by_run[id(r)].append(j)

        def w(job: Job) -> float:
            return job.minutes * (1 if job.kind == "large" else BILLING[job.kind][1])

        out: dict[str, float] = defaultdict(float)
        groups: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for r in runs.values():
            groups[(r.repo, r.path, r.sha)].add(r.event)
        for key, r in runs.items():
            jobs = by_run[key]
            if r.event == "pull_request" and {"push", "pull_request"} <= groups[(r.repo, r.path, r.sha)]:
                out["duplicate"] += sum(w(j) for j in jobs)
            if r.event == "schedule":
                out["schedule"] += sum(w(j) for j in jobs)
            out["short_jobs"] += sum(w(j) for j in jobs if j.kind != "self" and 0 < j.completed - j.started <= 20)
            out["os"] += sum(w(j) for j in jobs if j.kind in ("windows", "macos"))
            by_attempt: dict[int, dict[str, Job]] = defaultdict(dict)
            for j in jobs:
                by_attempt[j.attempt][j.name] = j
            for n, named in by_attempt.items():
                prev = by_attempt.get(n - 1)
                if prev and any(p.conclusion == "failure" for p in prev.values()):
                    out["rerun_whole"] += sum(w(j) for name, j in named.items()
                                              if name in prev and prev[name].conclusion == "success")
        # superseded: a later run of the same workflow and branch was created before it finished, and it ran on
        lanes: dict[tuple[str, str, str, str], list[Run]] = defaultdict(list)
        for r in runs.values():
            lanes[(r.repo, r.path, r.event, r.branch)].append(r)
        for lane in lanes.values():
            lane.sort(key=lambda r: (r.created, r.id))
            for a, b in itertools.pairwise(lane):
                first = [j for j in by_run[id(a)] if j.attempt == 1]
                if first and max(j.completed for j in first) > b.created and \
                        not any(j.conclusion == "cancelled" for j in first):
                    out["superseded"] += sum(w(j) for j in first)
        # the same commit built again by the Shipyard pipeline's build job
        built: dict[tuple[str, str], float] = {}
        for r, j in sorted(counted, key=lambda rj: (rj[1].started, rj[1].id)):
            if j.name != "build" or "shipyard" not in r.path or j.conclusion != "success":
                continue
            key = (r.repo, r.sha)
            if key in built and j.minutes >= 2:
                out["rebuild"] += w(j)
            built.setdefault(key, j.started)
        return dict(out)


class _Ids:
    def __init__(self) -> None:
        self.run = 90_000_000
        self.job = 400_000_000

    def next_run(self) -> int:
        self.run += 1
        return self.run

    def next_job(self) -> int:
        self.job += 1
        return self.job


PIPELINE = [("plan", "linux", 8, 25), ("build", "linux", 150, 420), ("deploy", "linux", 60, 200),
            ("notify", "linux", 4, 15)]


def _make_attempt(rng: random.Random, ids: _Ids, number: int, created: float,
                  spec: list[tuple[str, str, int, int]], *, fail: bool = False, cancel_at: float | None = None,
                  only: set[str] | None = None) -> Attempt:
    created = float(int(created))
    attempt = Attempt(number, created)
    clock = created + rng.uniform(3, 40)  # queue
    failing = rng.randrange(len(spec)) if fail else -1
    for i, (name, kind, lo, hi) in enumerate(spec):
        if only is not None and name not in only:
            continue
        job_created = created
        started = clock
        duration = rng.uniform(lo, hi)
        conclusion = "success"
        if i == failing:
            duration *= rng.uniform(0.2, 0.9)
            conclusion = "failure"
        completed = started + duration
        if cancel_at is not None and completed > cancel_at:
            if started >= cancel_at:
                started = completed = cancel_at  # never ran
            else:
                completed = cancel_at
            conclusion = "cancelled"
        elif failing >= 0 and i > failing:
            started = completed = clock  # skipped after the failure
            conclusion = "skipped"
        attempt.jobs.append(Job(ids.next_job(), name, kind, float(int(job_created)), float(int(started)),
                               float(int(completed)), conclusion, number))
        if conclusion not in ("skipped",) and started != completed:
            clock = completed + rng.uniform(1, 6)
    return attempt


def generate(seed: int = 14, repos: int = 59, scale: float = 1.0) -> Org:
    rng = random.Random(seed)
    ids = _Ids()
    names = [f"{ORG}/svc-{i:02d}" for i in range(repos)]
    runs: list[Run] = []
    last = END.timestamp() - 6 * 3600

    def sha() -> str:
        return f"{rng.getrandbits(160):040x}"

    def add_run(repo: str, workflow: str, path: str, event: str, branch: str, commit: str, created: float,
                spec: list[tuple[str, str, int, int]], *, cancel_at: float | None = None) -> Run:
        run = Run(ids.next_run(), repo, workflow, path, event, branch, commit, float(int(created)))
        fail = rng.random() < 0.07
        run.attempts.append(_make_attempt(rng, ids, 1, created, spec, fail=fail, cancel_at=cancel_at))
        if fail and rng.random() < 0.6:
            again = run.attempts[0].completed + rng.uniform(300, 6 * 3600)
            whole = rng.random() < 0.5
            failed = {j.name for j in run.attempts[0].jobs if j.conclusion in ("failure", "skipped")}
            run.attempts.append(_make_attempt(rng, ids, 2, again, spec, only=None if whole else failed))
        runs.append(run)
        return run

    for idx, repo in enumerate(names):
        concurrency = idx % 3 == 0  # a third of the fleet cancels superseded runs
        dual_trigger = idx % 2 == 0  # half trigger ci on push and pull_request for every branch
        ci = [("lint", "linux", 20, 90), ("unit", "linux", 60, 300), ("test", "linux", 90, 600)]
        if idx % 7 == 0:
            ci.append(("test-windows", "windows", 200, 700))
        if idx % 11 == 0:
            ci.append(("test-macos", "macos", 200, 600))
        if idx % 5 == 1:
            ci.append(("integration", "self", 120, 900))
        if idx % 13 == 2:
            ci.append(("perf", "large", 120, 400))
        day = START
        while day < END:
            weekend = day.weekday() >= 5
            commits = int(rng.random() < 0.4) if weekend else rng.randint(1, 3)
            commits = max(0, round(commits * scale))
            for _ in range(commits):
                t = day.timestamp() + rng.uniform(7 * 3600, 19 * 3600)
                if t > last:
                    continue
                branch = f"feature/{rng.randint(1, 40)}"
                burst = 2 if rng.random() < 0.25 else 1
                prev: Run | None = None
                for b in range(burst):
                    commit = sha()
                    created = t + b * rng.uniform(120, 360)
                    if concurrency and prev is not None:
                        # the new push cancels the one still running
                        cut = created + 2
                        first = prev.attempts[0]
                        if first.completed > cut and len(prev.attempts) == 1:
                            prev.attempts[0] = _make_attempt(random.Random(prev.id), ids, 1, prev.created,
                                                             ci, cancel_at=cut)
                    prev = add_run(repo, "ci", ".github/workflows/ci.yml", "push", branch, commit, created, ci)
                    if dual_trigger:
                        add_run(repo, "ci", ".github/workflows/ci.yml", "pull_request", branch, commit,
                                created + rng.uniform(1, 5), ci)
                if rng.random() < 0.45:  # merged: the pipeline runs on main
                    merged = t + rng.uniform(1800, 4 * 3600)
                    if merged < last:
                        commit = sha()
                        add_run(repo, "shipyard", ".github/workflows/shipyard-pipeline.yml", "push", "main",
                                commit, merged, PIPELINE)
                        if rng.random() < 0.08:  # the pipeline re-triggered by hand on the same commit
                            add_run(repo, "shipyard", ".github/workflows/shipyard-pipeline.yml",
                                    "workflow_dispatch", "main", commit, merged + rng.uniform(900, 3600), PIPELINE)
            if idx % 4 == 3:  # scheduled workflows: some hourly, some every 6 hours
                every = 6 * 3600 if idx % 8 == 3 else 86400
                t = day.timestamp() + rng.uniform(60, 300)
                while t < min(day.timestamp() + 86400, last):
                    add_run(repo, "nightly", ".github/workflows/nightly.yml", "schedule", "main", "f" * 40, t,
                            [("scan", "linux", 30, 140)])
                    t += every
            day += timedelta(days=1)
    runs.sort(key=lambda r: r.created)
    return Org(ORG, names, runs, {f"{ORG}/retired-tool": 37.0}, seed)
