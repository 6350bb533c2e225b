"""The run's checklist: what the parent message shows, carried between steps (state file) and jobs (the
``state`` output/input and the parent message's metadata).

Pure data and pure functions: no Slack, no I/O. ``ts`` values are strings everywhere and never parsed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

STAGE_STATUSES = ("pending", "running", "success", "failure", "skipped", "cancelled")
FINAL_STATUSES = ("success", "failure", "cancelled", "timed-out")
JOB_STATUSES = ("success", "failure", "cancelled")
KNOWN_STAGES = ("build", "ecr-push", "gitops-update", "argocd-wait", "bitbucket-mirror", "postman-publish")
STAGE_LABELS = {
    "build": "Build",
    "ecr-push": "ECR push",
    "gitops-update": "GitOps update",
    "argocd-wait": "ArgoCD sync",
    "bitbucket-mirror": "Bitbucket mirror",
    "postman-publish": "Postman publish",
}
STATE_VERSION = 1
DETAIL_KEEP = 600  # characters of a stage's details kept in the state (the thread gets all of it)
ERROR_KEEP = 900


def stage_label(name: str) -> str:
    return STAGE_LABELS.get(name, name)


def clip(text: str, limit: int, marker: str = "…") -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker


@dataclass
class StageEntry:
    name: str
    status: str
    duration: float | None = None
    details: str = ""
    error: str = ""
    started: float | None = None  # epoch seconds when it went "running"
    at: float = 0.0  # epoch seconds of the last change (used to merge concurrent writers)

    def to_list(self) -> list[Any]:
        return [self.name, self.status, self.duration, self.details, self.error, self.started, self.at]

    @classmethod
    def from_list(cls, raw: Any) -> StageEntry:
        if not isinstance(raw, list) or len(raw) < 2:
            raise ValueError("a stage entry is [name, status, ...]")
        values = list(raw) + [None] * (7 - len(raw))
        name, status, duration, details, error, started, at = values[:7]
        if status not in STAGE_STATUSES:
            raise ValueError(f"unknown stage status {status!r}")
        return cls(
            name=str(name),
            status=str(status),
            duration=float(duration) if isinstance(duration, (int, float)) else None,
            details=str(details or ""),
            error=str(error or ""),
            started=float(started) if isinstance(started, (int, float)) else None,
            at=float(at) if isinstance(at, (int, float)) else 0.0,
        )


@dataclass
class RunState:
    """Everything the parent message renders from, apart from the git/GitHub context."""

    started: float = field(default_factory=time.time)
    stages: list[StageEntry] = field(default_factory=list)
    final: str | None = None  # one of FINAL_STATUSES once finished
    failed_stage: str = ""
    error: str = ""
    image_tag: str = ""
    image_digest: str = ""
    finished: float | None = None
    ts: str = ""  # parent message ts (string, never a float)
    channel: str = ""  # channel ID
    attempt: str = "1"
    previous: str = ""  # final state of the attempt before this re-run
    shared: bool = False  # the parent is (or may be) updated by other jobs too: merge before each update
    requested: str = ""  # the channel asked for (input or routing file), kept even when nothing was delivered
    uncertain: bool = False  # a post of the parent answered ambiguously: look it up before ever posting again

    # ------------------------------------------------------------- updates
    def stage(self, name: str) -> StageEntry | None:
        for entry in self.stages:
            if entry.name == name:
                return entry
        return None

    def set_stage(
        self,
        name: str,
        status: str,
        *,
        details: str = "",
        error: str = "",
        duration: float | None = None,
        now: float | None = None,
    ) -> StageEntry:
        now = time.time() if now is None else now
        entry = self.stage(name)
        if entry is None:
            entry = StageEntry(name, status)
            self.stages.append(entry)
        if status == "running":
            entry.started = now
            entry.duration = None
        elif duration is not None:
            entry.duration = duration
        elif entry.started is not None and entry.duration is None:
            entry.duration = max(0.0, now - entry.started)
        entry.status = status
        if details:
            entry.details = clip(details, DETAIL_KEEP)
        if error:
            entry.error = clip(error, ERROR_KEEP)
        entry.at = now
        return entry

    def finish(self, status: str, *, error: str = "", now: float | None = None) -> None:
        """Set the final state. Stages still "running" are closed so nothing stays in progress."""
        now = time.time() if now is None else now
        leftover = {"success": "success", "failure": "failure", "cancelled": "cancelled", "timed-out": "cancelled"}
        for entry in self.stages:
            if entry.status == "pending":
                entry.status = "skipped"
                entry.at = now
            elif entry.status == "running":
                entry.status = leftover[status]
                if entry.started is not None:
                    entry.duration = max(0.0, now - entry.started)
                entry.at = now
        self.final = status
        self.finished = now
        if status == "failure":
            failing = self.failing_stage()
            self.failed_stage = failing.name if failing else self.failed_stage
            self.error = clip(error or (failing.error if failing else "") or self.error, ERROR_KEEP)
        elif error:
            self.error = clip(error, ERROR_KEEP)

    def failing_stage(self) -> StageEntry | None:
        for entry in self.stages:
            if entry.status == "failure":
                return entry
        return None

    def reset_for_attempt(self, attempt: str, now: float | None = None) -> None:
        """A re-run starts over on the same message: fresh clock and checklist, same ts/channel."""
        self.previous = self.final or self.previous
        self.attempt = attempt
        self.started = time.time() if now is None else now
        self.stages = []
        self.final = None
        self.failed_stage = ""
        self.error = ""
        self.finished = None

    @property
    def duration(self) -> float:
        end = self.finished if self.finished is not None else time.time()
        return max(0.0, end - self.started)

    @property
    def status(self) -> str:
        return self.final or "running"

    # ------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "v": STATE_VERSION,
            "ts": self.ts,
            "ch": self.channel,
            "a": self.attempt,
            "st": round(self.started, 3),
            "s": [e.to_list() for e in self.stages],
        }
        optional = {
            "f": self.final,
            "fs": self.failed_stage,
            "e": self.error,
            "it": self.image_tag,
            "id": self.image_digest,
            "fin": round(self.finished, 3) if self.finished is not None else None,
            "p": self.previous,
            "sh": 1 if self.shared else 0,
            "rc": self.requested,
            "u": 1 if self.uncertain else 0,
        }
        data.update({k: v for k, v in optional.items() if v})
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> RunState:
        if not isinstance(data, dict):
            raise ValueError("the state is not a JSON object")
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"unsupported state version {data.get('v')!r}")
        final = data.get("f") or None
        if final is not None and final not in FINAL_STATUSES:
            raise ValueError(f"unknown final status {final!r}")
        ts = data.get("ts") or ""
        if not isinstance(ts, str):
            raise ValueError("ts must be a string")
        stages = data.get("s") or []
        if not isinstance(stages, list):
            raise ValueError("stages must be a list")
        return cls(
            started=float(data.get("st") or time.time()),
            stages=[StageEntry.from_list(s) for s in stages],
            final=final,
            failed_stage=str(data.get("fs") or ""),
            error=str(data.get("e") or ""),
            image_tag=str(data.get("it") or ""),
            image_digest=str(data.get("id") or ""),
            finished=float(data["fin"]) if isinstance(data.get("fin"), (int, float)) else None,
            ts=ts,
            channel=str(data.get("ch") or ""),
            attempt=str(data.get("a") or "1"),
            previous=str(data.get("p") or ""),
            shared=bool(data.get("sh")),
            requested=str(data.get("rc") or ""),
            uncertain=bool(data.get("u")),
        )

    @classmethod
    def from_json(cls, text: str) -> RunState:
        return cls.from_dict(json.loads(text))


def merge(mine: RunState, theirs: RunState) -> RunState:
    """Merge a state another job wrote (read back from the parent's metadata) into ours.

    Parallel jobs that carry the same parent (mirror and Postman after build) each update their own stage;
    per stage the most recent change wins, so neither erases the other. Only the same attempt is merged.
    """
    if theirs.attempt != mine.attempt or (theirs.ts and mine.ts and theirs.ts != mine.ts):
        return mine
    by_name = {e.name: e for e in mine.stages}
    for entry in theirs.stages:
        ours = by_name.get(entry.name)
        if ours is None:
            mine.stages.append(entry)
            by_name[entry.name] = entry
        elif entry.at > ours.at:
            mine.stages[mine.stages.index(ours)] = entry
            by_name[entry.name] = entry
    mine.started = min(mine.started, theirs.started)
    mine.image_tag = mine.image_tag or theirs.image_tag
    mine.image_digest = mine.image_digest or theirs.image_digest
    if mine.final is None and theirs.final is not None:
        mine.final, mine.finished = theirs.final, theirs.finished
        mine.failed_stage, mine.error = theirs.failed_stage, theirs.error
    return mine


def auto_final(state: RunState, job_status: str, *, elapsed: float, timeout_minutes: float | None) -> str:
    """The final state from the checklist and ``job.status``.

    A failed stage wins; then the job's status; a cancelled job that ran past its ``timeout-minutes`` timed out.
    """
    if state.failing_stage() is not None:
        return "failure"
    if job_status == "failure":
        return "failure"
    if job_status == "cancelled":
        if timeout_minutes and elapsed >= timeout_minutes * 60 * 0.98:
            return "timed-out"
        return "cancelled"
    if job_status == "success":
        return "success"
    return "success" if all(e.status in ("success", "skipped") for e in state.stages) else "failure"
