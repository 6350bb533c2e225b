"""What was counted, kept between daily runs in one JSON file.

The org workflow template restores the file with ``actions/cache/restore`` and saves it with
``actions/cache/save`` (``if: always()``, a key per run attempt): no write permission on any repository, no
commits in the ``.github`` repo, and the cache of a daily job never ages out (7 days unused). A lost file is
not an error: the next run rescans the month (more requests, same totals); alert de-duplication then falls
back to the Slack message's metadata.

Nothing is counted twice: jobs are keyed by their id (unique per attempt) and a run remembers the attempt it
was counted up to; a repository's cursor only moves once its scan finished, so a scan stopped by an API
failure resumes where it stopped. The file is replaced atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1


@dataclass
class State:
    org: str
    month: str  # YYYY-MM
    repos: dict[str, dict[str, Any]] = field(default_factory=dict)  # full name -> {"scanned_to": epoch}
    runs: dict[str, list[Any]] = field(default_factory=dict)  # "repo#id" -> run record (see scan.RUN_FIELDS)
    jobs: dict[str, list[Any]] = field(default_factory=dict)  # job id -> job record (see jobs.JOB_FIELDS)
    pending: dict[str, str] = field(default_factory=dict)  # "repo#id" -> repo, runs not finished when seen
    etags: dict[str, list[Any]] = field(default_factory=dict)
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # month -> {channel, ts, sent: [...]}
    routing: dict[str, Any] = field(default_factory=dict)  # {"month", "value", "previous"}
    notes: list[str] = field(default_factory=list)  # why the state was reset, for the report

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, "org": self.org, "month": self.month, "repos": self.repos, "runs": self.runs,
                "jobs": self.jobs, "pending": self.pending, "etags": self.etags, "alerts": self.alerts,
                "routing": self.routing}


def load(path: Path, org: str, month: str) -> State:
    """The saved state for ``org``; a new month keeps only the alert and routing memory."""
    fresh = State(org, month)
    if not path.is_file():
        fresh.notes.append("no saved state: full scan of the month")
        return fresh
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ValueError("unknown format")
    except (OSError, ValueError) as exc:
        fresh.notes.append(f"saved state unreadable ({type(exc).__name__}): full scan of the month")
        return fresh
    if str(data.get("org", "")).lower() != org.lower():
        fresh.notes.append(f"saved state is for another organisation ({data.get('org')}): full scan")
        return fresh
    alerts: dict[str, Any] = data["alerts"] if isinstance(data.get("alerts"), dict) else {}
    routing: dict[str, Any] = data["routing"] if isinstance(data.get("routing"), dict) else {}
    if data.get("month") != month:
        fresh.alerts = {k: v for k, v in alerts.items() if k >= _months_before(month, 2)}
        fresh.routing = routing
        fresh.notes.append(f"new month {month}: counting starts again")
        return fresh

    def section(name: str) -> dict[str, Any]:
        value = data.get(name)
        return value if isinstance(value, dict) else {}

    return State(org, month, section("repos"), section("runs"), section("jobs"), section("pending"),
                 section("etags"), alerts, routing)


def save(state: State, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state.to_json(), fh, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _months_before(month: str, count: int) -> str:
    year, number = int(month[:4]), int(month[5:])
    number -= count
    while number < 1:
        year, number = year - 1, number + 12
    return f"{year:04d}-{number:02d}"
