"""The branch queue's rules, without any I/O: ticket names, which tickets are live, done refs, and the HMAC that
authenticates queued edits. Time comes in as an argument (``now_ms``, wall-clock milliseconds): tickets carry the
wall-clock time they were taken at, and expiry compares it with the caller's clock.

A ticket is ``refs/shipyard/queue/<branch>/<epoch ms>-<service>-<random hex>``; a ticket older than
``max(120 s, the updater's timeout)`` belongs to a job that died and no longer blocks the branch. The updater
(:mod:`shipyard.gitops.updater`) calls this module; this module calls nothing of gitops.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
from collections.abc import Iterable

QUEUED_EDIT = "Shipyard-Queued-Edit"
QUEUED_MAC = "Shipyard-Queued-Mac"
CARRY_LIMIT = 100  # queued updates carried in one push at most
MIN_TICKET_LIFE = 120.0  # seconds
DONE_REF_LIFE_MS = 600_000  # a done ref nobody came back for is tidied after ten minutes


def ref_safe(text: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    return safe or "x"


def prefix(branch: str) -> str:
    return f"refs/shipyard/queue/{ref_safe(branch)}/"


def ticket_name(now_ms: float, service: str, rng: random.Random) -> str:
    return f"{int(now_ms):013d}-{ref_safe(service)}-{rng.randrange(16**6):06x}"


def ticket_ms(ref: str) -> int:
    stamp = ref.rsplit("/", 1)[-1].split("-", 1)[0]
    return int(stamp) if stamp.isdigit() else 0


def live_tickets(refs: Iterable[str], branch: str, now_ms: float, max_seconds: float) -> list[str]:
    """The branch's tickets in queue order, without those older than ``max(120 s, max_seconds)``."""
    start = prefix(branch)
    oldest = now_ms - max(MIN_TICKET_LIFE, max_seconds) * 1000
    return sorted(r for r in refs if r.startswith(start) and ticket_ms(r) >= oldest)


def done_ref(ticket_ref: str) -> str:
    return ticket_ref.replace("refs/shipyard/queue/", "refs/shipyard/done/", 1)


def stale_done_refs(refs: Iterable[str], branch: str, now_ms: float) -> list[str]:
    """Done refs whose owner never came back for them (a cancelled job), oldest first."""
    start = done_ref(prefix(branch))
    return sorted(r for r in refs if r.startswith(start) and ticket_ms(r) < now_ms - DONE_REF_LIFE_MS)


def queue_key(secret: str) -> bytes:
    """The key queued edits are authenticated with, derived from a secret all updaters share."""
    return hashlib.sha256(b"shipyard-queue\0" + secret.encode("utf-8")).digest()


def mac(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()
