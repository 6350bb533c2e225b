"""The checklist between steps of one job: a small JSON file under RUNNER_TEMP, keyed by run and entry."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(state.to_json())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
