"""The branch queue's rules with the clock injected: ticket expiry, order, done-ref tidying, names."""

from __future__ import annotations

import random

from shipyard.gitops import queue
from shipyard.gitops.gitrepo import WorkClone
from shipyard.gitops.imageref import ImageUpdate
from shipyard.gitops.updater import Updater, UpdateRequest

NOW_MS = 1_800_000_000_000.0
P = "refs/shipyard/queue/main/"


def ticket(age_s: float, service: str = "svc") -> str:
    return f"{P}{int(NOW_MS - age_s * 1000):013d}-{service}-abcdef"


def test_tickets_expire_after_the_longer_of_120s_and_the_timeout() -> None:
    fresh, old, dead = ticket(5, "a"), ticket(119, "b"), ticket(121, "c")
    refs = [dead, fresh, old, "refs/heads/main", "refs/shipyard/queue/other/0000000000001-x-000000"]
    assert queue.live_tickets(refs, "main", NOW_MS, max_seconds=30) == [old, fresh]  # oldest first
    # a longer timeout keeps the slow updaters' tickets alive for as long as they may still run
    assert queue.live_tickets(refs, "main", NOW_MS, max_seconds=300) == [dead, old, fresh]
    # the same tickets, seen ten minutes later: all expired
    assert queue.live_tickets(refs, "main", NOW_MS + 600_000, max_seconds=300) == []


def test_done_refs_are_tidied_after_ten_minutes() -> None:
    young = queue.done_ref(ticket(60))
    stale = queue.done_ref(ticket(601))
    assert young.startswith("refs/shipyard/done/main/")
    assert queue.stale_done_refs([young, stale], "main", NOW_MS) == [stale]


def test_ticket_names_sort_by_time_and_carry_a_safe_service() -> None:
    rng = random.Random(1)
    first = queue.ticket_name(NOW_MS, "team/svc one", rng)
    later = queue.ticket_name(NOW_MS + 1, "a", rng)
    assert first < later and "-team-svc-one-" in first
    assert queue.ticket_ms(P + first) == int(NOW_MS)


def test_updater_reads_ticket_age_from_its_injected_wall_clock(tmp_path: object) -> None:
    req = UpdateRequest(service="svc", environment="dev", branch="main", paths=["x.yaml"],
                        update=ImageUpdate("svc", "v1", None), max_seconds=30)
    clone = WorkClone("http://127.0.0.1:9/config.git", None)
    try:
        updater = Updater(clone, req, wall=lambda: NOW_MS / 1000)
        refs = {ticket(10): "a" * 40, ticket(200): "b" * 40}
        assert updater._live_tickets(refs) == [ticket(10)]
        later = Updater(clone, req, wall=lambda: NOW_MS / 1000 + 3600)
        assert later._live_tickets(refs) == []
    finally:
        clone.close()
