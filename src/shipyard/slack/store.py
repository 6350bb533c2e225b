"""The checklist between steps of one job: a small JSON file under RUNNER_TEMP, keyed by run and entry."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.slack.model import RunState


def state_path(env: Mapping[str, str], *, repo: str, run_id: str, attempt: str, key: str, dry_run: bool) -> Path:
    base = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / "shipyard-slack"
    ident = "\0".join([repo, run_id or "local", attempt, key, "dry" if dry_run else "live"])
    return base / (hashlib.sha256(ident.encode()).hexdigest()[:24] + ".json")


def load(path: Path) -> RunState | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        return RunState.from_json(text)
    except (ValueError, TypeError, KeyError):
        return None


def save(path: Path, state: RunState) -> None:
    _write(path, state.to_json())


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def job_path(env: Mapping[str, str], *, dry_run: bool) -> Path:
    """The job's notify memo: inputs given to earlier steps of this job, and what Slack did to them.

    Keyed by what every step of one job shares without being told (repository, run, attempt, job id)."""
    base = Path(env.get("RUNNER_TEMP") or tempfile.gettempdir()) / "shipyard-slack"
    ident = "\0".join([env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "") or "local",
                        env.get("GITHUB_RUN_ATTEMPT", "") or "1", env.get("GITHUB_JOB", ""),
                        "dry" if dry_run else "live", "job"])
    return base / (hashlib.sha256(ident.encode()).hexdigest()[:24] + ".job.json")


def load_job(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_job(path: Path, data: dict[str, Any]) -> None:
    _write(path, json.dumps(data, sort_keys=True))
