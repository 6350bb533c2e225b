"""The incremental scan: repositories -> runs of the month -> jobs of every finished run attempt.

A daily run lists, per repository, only the runs created since its last scan minus ``rerun_window`` days (a
re-run keeps its run's ``created_at``; the window catches it through the run's ``run_attempt``), one page with
``per_page=100`` and an ETag. Jobs are read once per finished attempt (``filter=all`` returns every attempt's
jobs; only attempts not yet counted are added). Runs still going when seen are remembered as pending and read
again until they finish. The ``created`` filter answers at most 1,000 runs, so a wider window is split.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from shipyard.minutes.github import ApiError, GitHubApi, RateLimitLow
from shipyard.minutes.jobs import SkuTable, job_record, parse_time
from shipyard.minutes.state import State
from shipyard.runtime import TransientError, UserError

RUN_FIELDS = ("repo", "id", "workflow", "path", "event", "branch", "sha", "created", "attempt")
SEARCH_CAP = 1000
DAY = 86400.0


@dataclass
class ScanResult:
    repos_total: int = 0
    repos_done: int = 0
    runs_seen: int = 0
    new_jobs: int = 0
    pending: int = 0
    stopped: str = ""  # why the scan stopped early ("" when complete)
    error: BaseException | None = None
    skipped: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.stopped


def month_bounds(month: str) -> tuple[date, date]:
    first = date.fromisoformat(month + "-01")
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, nxt - timedelta(days=1)


def _compact_repos(body: Any) -> list[str]:
    return [str(r["full_name"]) for r in body if isinstance(r, dict) and r.get("full_name")]


def _compact_runs(body: Any) -> dict[str, Any]:
    runs = []
    for r in body.get("workflow_runs") or []:
        runs.append([int(r["id"]), str(r.get("name") or ""), str(r.get("path") or ""), str(r.get("event") or ""),
                     str(r.get("head_branch") or ""), str(r.get("head_sha") or ""),
                     parse_time(r.get("created_at")) or 0.0, int(r.get("run_attempt") or 1),
                     str(r.get("status") or "")])
    return {"total": int(body.get("total_count") or 0), "runs": runs}


class Scanner:
    def __init__(self, api: GitHubApi, state: State, table: SkuTable, *, org: str, as_of: datetime,
                 rerun_window_days: int = 3, deadline: float | None = None, clock: Callable[[], float] | None = None,
                 checkpoint: Callable[[], None] | None = None, log: Callable[[str], None] | None = None,
                 search_cap: int = SEARCH_CAP) -> None:
        self.search_cap = search_cap
        self.api = api
        self.state = state
        self.table = table
        self.org = org
        self.as_of = as_of
        self.window = rerun_window_days * DAY
        self.deadline = deadline
        self.clock = clock
        self.checkpoint = checkpoint or (lambda: None)
        self.log = log or (lambda _m: None)
        self.first, self.last = month_bounds(state.month)
        self.result = ScanResult()

    # ------------------------------------------------------------ listing
    def repositories(self, only: list[str]) -> list[str]:
        names: list[str] = []
        try:
            for page in self.api.pages(f"/orgs/{self.org}/repos", {"type": "all", "sort": "full_name"},
                                       compact=_compact_repos):
                names.extend(page)
        except ApiError as exc:
            if exc.status == 404:
                raise UserError(f"Organisation '{self.org}' was not found (or the token cannot see it).",
                                "check the `organization` input and that the token belongs to a member of it.",
                                input_name="organization")
            raise
        if only:
            wanted = {f"{self.org}/{n}".lower() if "/" not in n else n.lower() for n in only}
            missing = wanted - {n.lower() for n in names}
            if missing:
                raise UserError(f"Input 'repositories' names repositories the token cannot see: "
                                f"{', '.join(sorted(missing))}.", "fix the names or grant the token access to them.",
                                input_name="repositories")
            names = [n for n in names if n.lower() in wanted]
        return names

    def _run_pages(self, repo: str, start: date, end: date) -> list[list[Any]]:
        created = f"{start.isoformat()}..{end.isoformat()}"
        pages = self.api.pages(f"/repos/{repo}/actions/runs", {"created": created}, compact=_compact_runs)
        first = next(pages)
        if first["total"] > self.search_cap and start < end:
            middle = start + (end - start) // 2
            return self._run_pages(repo, start, middle) + self._run_pages(repo, middle + timedelta(days=1), end)
        runs = list(first["runs"])
        for page in pages:
            runs.extend(page["runs"])
        return runs

    # ------------------------------------------------------------ counting
    def _count(self, repo: str, run: list[Any]) -> None:
        run_id, name, path, event, branch, sha, created, attempt, status = run
        key = f"{repo}#{run_id}"
        known = self.state.runs.get(key)
        counted = int(known[8]) if known else 0
        record = [repo, run_id, name, path, event, branch, sha, created, counted]
        if status != "completed":
            self.state.runs.setdefault(key, record)
            self.state.pending[key] = repo
            return
        if attempt <= counted:
            self.state.pending.pop(key, None)
            return
        for page in self.api.pages(f"/repos/{repo}/actions/runs/{run_id}/jobs", {"filter": "all"}):
            for job in page.get("jobs") or []:
                if int(job.get("run_attempt") or 1) <= counted or job.get("status") != "completed":
                    continue
                job_id = str(job["id"])
                if job_id not in self.state.jobs:
                    self.result.new_jobs += 1
                self.state.jobs[job_id] = job_record(key, job, self.table)
        record[8] = attempt
        self.state.runs[key] = record
        self.state.pending.pop(key, None)

    def _pending_one(self, repo: str, key: str) -> None:
        run_id = key.rsplit("#", 1)[1]
        try:
            body, _ = self.api.get(f"/repos/{repo}/actions/runs/{run_id}")
        except ApiError as exc:
            if exc.status in (404, 410):
                self.state.pending.pop(key, None)
                return
            raise
        self._count(repo, _compact_runs({"workflow_runs": [body]})["runs"][0])

    def _out_of_time(self) -> bool:
        return self.deadline is not None and self.clock is not None and self.clock() > self.deadline

    def scan_repo(self, repo: str) -> None:
        info = self.state.repos.get(repo) or {}
        end = min(self.last, self.as_of.date())
        start = self.first
        if info.get("scanned_to"):
            since = datetime.fromtimestamp(float(info["scanned_to"]) - self.window, timezone.utc).date()
            start = max(self.first, since)
        if start > end:
            return
        try:
            runs = self._run_pages(repo, start, end)
        except ApiError as exc:
            if exc.status == 403 and "rate limit" not in exc.message.lower():
                raise UserError(
                    f"GitHub refused to list the workflow runs of {repo} (403: {exc.message}).",
                    "grant the token the repository permission `Actions: read` on every repository of the "
                    "organisation (GitHub App: Repository permissions > Actions > Read-only; fine-grained PAT: "
                    "All repositories, Actions: Read; classic PAT: `repo`).", input_name="github-token")
            if exc.status == 404:
                self.result.skipped.append(repo)
                return
            raise
        seen = set()
        for run in runs:
            if self._out_of_time():
                raise TimeoutError("the scan ran out of time")
            seen.add(f"{repo}#{run[0]}")
            self.result.runs_seen += 1
            self._count(repo, run)
        for key, owner in list(self.state.pending.items()):
            if owner == repo and key not in seen:
                self._pending_one(repo, key)
        self.state.repos[repo] = {"scanned_to": self.as_of.timestamp()}

    def scan(self, repos: list[str]) -> ScanResult:
        self.result.repos_total = len(repos)
        order = sorted(repos, key=lambda r: (float((self.state.repos.get(r) or {}).get("scanned_to") or 0), r))
        try:
            for repo in order:
                self.scan_repo(repo)
                self.result.repos_done += 1
                self.checkpoint()
        except RateLimitLow as exc:
            self.result.stopped = str(exc)
        except TimeoutError as exc:
            self.result.stopped = str(exc)
        except (TransientError, ApiError) as exc:
            self.result.stopped = f"the GitHub API failed mid-scan: {exc}"
            self.result.error = exc
        self.result.pending = len(self.state.pending)
        return self.result
