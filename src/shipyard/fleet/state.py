"""What the fleet stage remembers between runs, in one JSON file under ``state-dir``.

* ``etags``: request key -> {etag, data, next} for conditional requests (only entries used this run are kept);
* ``blobs``: blob SHA -> text (git blobs never change, so a known SHA costs no request);
* ``report``: the last run's per-repository rows (the Slack digest says what changed since).

No credential is ever stored. A missing or unreadable file starts from nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE = "fleet-state.json"
VERSION = 1


@dataclass
class State:
    path: Path | None = None
    etags: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)
    report: list[dict[str, Any]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    used_blobs: set[str] = field(default_factory=set)

    def touch(self, key: str) -> None:
        self.used.add(key)

    @classmethod
    def load(cls, directory: Path | None) -> State:
        if directory is None:
            return cls()
        path = directory / FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls(path)
        if not isinstance(data, dict) or data.get("version") != VERSION:
            return cls(path)
        return cls(path, dict(data.get("etags") or {}), dict(data.get("blobs") or {}), list(data.get("report") or []))

    def save(self, report: list[dict[str, Any]]) -> None:
        if self.path is None:
            return
        data = {
            "version": VERSION,
            "etags": {k: v for k, v in self.etags.items() if k in self.used},
            "blobs": {k: v for k, v in self.blobs.items() if k in self.used_blobs},
            "report": report,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)
