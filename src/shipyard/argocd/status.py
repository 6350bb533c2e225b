"""Reading an ArgoCD Application's status: is it deployed at our commit yet, still on its way, or broken?

The order of the checks matters (it follows what Kargo learnt the hard way):

1. error conditions (``ComparisonError``, ``InvalidSpecError``, ``SyncError`` ...) mean the app cannot
   converge;
2. a sync operation that ``Failed`` or ``Error``-ed *for our revision (or a later one)* is a failure; an older
   failed operation is history, not our problem yet;
3. the sync revision must equal or descend from our commit (on a shared branch other services' commits move
   it past ours) -- checked *before* health, because health of the previous revision says nothing;
4. a running or pending operation, or ``OutOfSync``, means wait;
5. health is stale when the last operation finished after the last reconciliation (``operationState.finishedAt``
   later than ``reconciledAt``): treat it as unknown and ask for a refresh;
6. ``Healthy`` is done, ``Degraded`` is a failure, anything else (``Progressing``, ``Suspended``, ``Missing``,
   ``Unknown``, empty) is "not yet".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from shipyard.runtime import as_dict

WAITING = "waiting"
HEALTHY = "healthy"
FAILED = "failed"

# Condition types whose name ends in "Error" are errors; the rest (SharedResourceWarning,
# OrphanedResourceWarning, ...) are warnings and do not stop a deployment.
RUNNING_PHASES = frozenset({"Running", "Terminating"})
FAILED_PHASES = frozenset({"Failed", "Error"})

Contains = Callable[[str], "bool | None"]


@dataclass
class Observation:
    """What one poll of one application showed."""

    state: str  # waiting | healthy | failed
    tag: str  # short machine word: lagging, out-of-sync, operation, stale-health, progressing, ...
    reason: str  # one human sentence
    sync: str = ""
    health: str = ""
    revision: str = ""
    operation: str = ""
    refresh: bool = False  # the caller should ask ArgoCD to refresh before trusting the next answer

    def key(self) -> tuple[str, str, str, str, str, str]:
        """Identity for "did anything change since the last poll" (drives log lines and backoff)."""
        return (self.state, self.tag, self.sync, self.health, self.revision, self.operation)


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def short(rev: str) -> str:
    return rev[:12] if len(rev) >= 40 else rev


def sync_revisions(status: dict[str, Any]) -> list[str]:
    """The revisions ArgoCD compared against: ``sync.revision``, or ``sync.revisions[]`` (multi-source)."""
    sync = as_dict(status.get("sync"))
    revs = [r for r in (sync.get("revisions") or []) if isinstance(r, str) and r]
    if isinstance(sync.get("revision"), str) and sync["revision"]:
        revs.insert(0, sync["revision"])
    return revs


def operation_revisions(op_state: dict[str, Any]) -> list[str]:
    result = as_dict(op_state.get("syncResult"))
    sync = as_dict(as_dict(op_state.get("operation")).get("sync"))
    revs: list[str] = []
    for holder in (result, sync):
        if isinstance(holder.get("revision"), str) and holder["revision"]:
            revs.append(holder["revision"])
        revs += [r for r in (holder.get("revisions") or []) if isinstance(r, str) and r]
    return revs


def error_conditions(status: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for cond in status.get("conditions") or []:
        cond = as_dict(cond)
        kind = str(cond.get("type", ""))
        if kind.endswith("Error"):
            found.append((kind, " ".join(str(cond.get("message", "")).split())))
    return found


def degraded_resources(status: dict[str, Any], limit: int = 5) -> list[str]:
    """``Kind/name (message)`` for the resources ArgoCD reports Degraded, for the failure message."""
    found = []
    for res in status.get("resources") or []:
        res = as_dict(res)
        health = as_dict(res.get("health"))
        if health.get("status") == "Degraded":
            text = f"{res.get('kind', '?')}/{res.get('name', '?')}"
            if health.get("message"):
                text += f" ({' '.join(str(health['message']).split())})"
            found.append(text)
    return found[:limit] + ([f"and {len(found) - limit} more"] if len(found) > limit else [])


def _first_match(revs: list[str], contains: Contains) -> tuple[bool | None, str]:
    """(True, rev) if any revision contains our commit; (None, rev) if one could not be judged; else False."""
    unknown = ""
    for rev in revs:
        verdict = contains(rev)
        if verdict:
            return True, rev
        if verdict is None and not unknown:
            unknown = rev
    if unknown:
        return None, unknown
    return False, revs[0] if revs else ""


def evaluate(app: dict[str, Any], want: str | None, contains: Contains, since: datetime | None = None) -> Observation:
    """Judge one Application document. ``contains(rev)`` says whether ``rev`` equals or descends from ``want``
    (None: cannot tell). ``since`` is when the wait began: a failed operation without a revision counts only
    if it finished after that."""
    status = as_dict(app.get("status"))
    sync = as_dict(status.get("sync"))
    health = as_dict(status.get("health"))
    op_state = as_dict(status.get("operationState"))
    sync_status = str(sync.get("status") or "Unknown")
    health_status = str(health.get("status") or "")
    phase = str(op_state.get("phase") or "")
    revs = sync_revisions(status)
    obs = Observation(WAITING, "", "", sync_status, health_status or "-", revs[0] if revs else "", phase)

    def done(state: str, tag: str, reason: str, refresh: bool = False) -> Observation:
        obs.state, obs.tag, obs.reason, obs.refresh = state, tag, reason, refresh
        return obs

    # 1. error conditions
    errors = error_conditions(status)
    if errors:
        text = "; ".join(f"{kind}: {msg}" for kind, msg in errors)
        return done(FAILED, "error-condition", text)

    # 2. a failed operation for our revision (or a later one)
    if phase in FAILED_PHASES:
        op_revs = operation_revisions(op_state)
        ours: bool | None
        if op_revs and want:
            ours, _ = _first_match(op_revs, contains)
        else:
            finished = parse_time(op_state.get("finishedAt"))
            ours = since is None or finished is None or finished >= since
        if ours:
            message = " ".join(str(op_state.get("message", "")).split()) or "no message"
            retries = op_state.get("retryCount")
            extra = f" after {retries} retries" if retries else ""
            return done(FAILED, "operation-failed", f"sync operation {phase}{extra}: {message}")

    # 3. revision before health
    if want:
        reached, rev = _first_match(revs, contains)
        if rev:
            obs.revision = rev
        if reached is None:
            return done(WAITING, "revision-unknown",
                        f"cannot tell whether {short(rev)} contains {short(want)} yet", refresh=False)
        if not reached:
            where = f"at {short(rev)}" if rev else "with no revision yet"
            return done(WAITING, "lagging", f"ArgoCD is {where}, waiting for {short(want)} or later")

    # 4. operations in flight, out of sync
    if phase in RUNNING_PHASES:
        message = " ".join(str(op_state.get("message", "")).split())
        return done(WAITING, "operation", f"sync operation {phase}" + (f": {message}" if message else ""))
    if app.get("operation"):
        return done(WAITING, "operation", "sync operation requested, not started yet")
    if sync_status != "Synced":
        return done(WAITING, "out-of-sync", f"sync status {sync_status}")

    # 5. stale health
    finished = parse_time(op_state.get("finishedAt"))
    reconciled = parse_time(status.get("reconciledAt"))
    if finished and (reconciled is None or finished > reconciled):
        return done(WAITING, "stale-health",
                    "health predates the last sync (operation finished after the last reconcile); refreshing",
                    refresh=True)

    # 6. health
    if health_status == "Healthy":
        return done(HEALTHY, "healthy", "Synced and Healthy")
    if health_status == "Degraded":
        message = " ".join(str(health.get("message", "")).split())
        culprits = degraded_resources(status)
        if culprits:
            message = "; ".join(filter(None, [message, ", ".join(culprits)]))
        return done(FAILED, "degraded", "health Degraded" + (f": {message}" if message else ""))
    return done(WAITING, "progressing", f"health {health_status or 'not reported yet'}")
