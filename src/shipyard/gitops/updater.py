"""The concurrent-safe update loop: fetch, reset to the remote tip, re-apply the edit, commit, push, retry.

Nothing here rebases text: every attempt starts from the remote tip's files and applies the intended
change again, so another service's concurrent commit is never reverted. A push is never forced to the
target branch; a rejected push (non-fast-forward, fetch first, cannot lock ref, incorrect old value
provided) is retried with jittered backoff, bounded in attempts and time.
"""

from __future__ import annotations

import difflib
import hmac
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from shipyard.gitops import message as msg
from shipyard.gitops import queue
from shipyard.gitops.gitrepo import (
    PushRejected,
    TreeEntry,
    WorkClone,
    committer_env,
    kustomize_build,
    kustomize_command,
)
from shipyard.gitops.imageref import ImageUpdate
from shipyard.gitops.inputs import shown
from shipyard.gitops.objects import ZERO, ObjectError, object_id
from shipyard.gitops.queue import CARRY_LIMIT, QUEUED_EDIT, QUEUED_MAC, queue_key
from shipyard.gitops.targets import FileResult, KeyPaths, detect_format, edit_file
from shipyard.gitops.yamledit import YamlEditError
from shipyard.runtime import TransientError, UserError


@dataclass
class UpdateRequest:
    service: str
    environment: str
    branch: str
    paths: list[str]
    update: ImageUpdate
    fmt: str = "auto"
    keys: KeyPaths = field(default_factory=KeyPaths)
    add_if_missing: bool = True
    source_commit: str | None = None
    source_url: str | None = None  # link to the source commit
    source_repo_dir: str | None = None  # local checkout for ancestry checks
    built_at: float | None = None
    run_url: str = ""
    template: str = msg.DEFAULT_TEMPLATE
    bot_name: str = "shipyard-bot"
    bot_email: str = "shipyard-bot@users.noreply.github.com"
    validate: str = "auto"  # auto | kustomize | parse
    guard: bool = True
    guard_depth: int = 200
    max_attempts: int = 30
    max_seconds: float = 300.0
    backoff_base: float = 0.03
    backoff_cap: float = 10.0
    dry_run: bool = False
    queue: bool = True  # after a lost race, wait in the branch's ticket queue (refs/shipyard/queue/...)
    # Authenticates queued edits between updaters (HMAC): derived from a secret every updater of this config
    # repository holds (the token, or a GitHub App's private key); default: from the clone's credential.
    queue_key: bytes | None = None


@dataclass
class UpdateOutcome:
    status: str  # updated | up-to-date | out-of-order | dry-run
    changed: bool
    commit: str
    base: str
    files: list[FileResult]
    attempts: int
    previous_tag: str | None = None
    previous_digest: str | None = None
    diff: str = ""
    message: str = ""
    warning: str | None = None
    newer: msg.BuildRecord | None = None
    validated: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    replaced: str | None = None  # what the pushed branch pointed at before our push (None: we created it)


Log = Callable[[str], None]


@dataclass
class _LostPush:
    """What one failed push attempt leaves for deciding what comes next."""

    exc: PushRejected | TransientError
    attempt: int
    tip: str
    files: dict[str, tuple[str, bytes]]
    entries: dict[str, TreeEntry]
    ident: dict[str, str]
    commit: str
    old: str
    head: str
    outcome: UpdateOutcome
    timing: tuple[float, float]  # when the fetch ended, how long a cycle's fetch takes


def _noop(_: str) -> None:
    return None


class Updater:
    """Runs one :class:`UpdateRequest` against one :class:`WorkClone`."""

    def __init__(self, clone: WorkClone, req: UpdateRequest, *, log: Log = _noop, warn: Log = _noop,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None, wall: Callable[[], float] = time.time) -> None:
        self.clone = clone
        self.wall = wall  # wall-clock seconds: queue tickets carry it (clock is for durations)
        self.req = req
        self.log = log
        self.warn = warn
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter
        self._scanned: str | None = None  # newest commit already checked by the guard
        self._latest: msg.BuildRecord | None = None
        self._validated: dict[str, bytes] = {}
        self._contenders = 1.0
        self._cycle = 0.0  # fastest fetch-edit-push cycle seen (the unit of the backoff window)
        self._ticket: tuple[str, str] | None = None  # (queue ref, the commit it points at)
        self._landed: str | None = None  # our update's commit when the head of the queue carried it
        self._request_time = 0.0  # seconds per request of our first fetch (the load the server is under)
        # pushes whose answer was lost (5xx or a dropped connection after the server applied them):
        # branch head -> (our commit, the old value), recognised when the next look finds the branch there
        self._unanswered: dict[str, tuple[str, str, UpdateOutcome]] = {}

    # ------------------------------------------------------------------ main loop
    def run(self, *, target_branch: str | None = None) -> UpdateOutcome:
        """Update ``req.branch`` (or commit on it and push to ``target_branch``, the PR mode)."""
        req = self.req
        start = self.clock()
        self.clone.init()
        if req.guard and (req.built_at is not None or req.source_commit):
            # Recent history for the guard. In-process it costs one small request (commit objects only),
            # so take all of it; the git CLI fetches trees too and deepens later when it must.
            self.clone.first_depth = req.guard_depth if self.clone.in_process else min(25, req.guard_depth)
        queue = req.queue and target_branch is None
        try:
            return self._loop(target_branch, queue, start)
        finally:
            if self._ticket is not None:
                if self.clone.deadline is not None:  # a small margin to take our ticket back
                    self.clone.deadline = max(self.clone.deadline, self.clock() + 5.0)
                self._dequeue()

    def _loop(self, target_branch: str | None, queue: bool, start: float) -> UpdateOutcome:
        """One attempt per turn: fetch, guard, edit, (PR base), queue, commit, push; a lost push loops."""
        req = self.req
        attempt = 0
        refs: dict[str, str] | None = None
        while True:
            attempt += 1
            tip, timing = self._timed_fetch(attempt, refs)
            refs = None
            newer = self._guard(tip)
            if newer is not None:
                return self._out_of_order(tip, newer, attempt, start)
            results, entries = self._apply(tip)
            changed = [r for r in results if r.changed]
            first = next((r for r in results if not r.added), results[0])
            outcome = UpdateOutcome(
                status="up-to-date", changed=False, commit=tip, base=tip, files=results, attempts=attempt,
                previous_tag=first.previous_tag, previous_digest=first.previous_digest,
            )
            if not changed:
                return self._unchanged(outcome, tip, attempt, start)
            outcome.diff = render_diff(changed)
            outcome.validated = self._validate(tip, results, entries)
            outcome.message = self._message(results)
            if req.dry_run:
                outcome.status, outcome.changed = "dry-run", True
                outcome.elapsed = self.clock() - start
                return outcome
            files = {r.path: (entries[r.path].mode, r.new_text.encode("utf-8")) for r in changed}
            ident = committer_env(req.bot_name, req.bot_email)
            parents, old = [tip], tip
            if target_branch:
                done, parents, old = self._pr_parents(target_branch, tip, files, outcome, attempt, start)
                if done is not None:
                    return done
            ahead = self._queue_busy(tip) if queue and req.queue and attempt == 1 and self._ticket is None else 0
            if ahead:
                # Others are already queued for this branch: a push now would most likely lose. Queue up.
                self._enqueue(tip, files, entries, outcome.message, ident)
                if self._ticket is not None:
                    refs = self._wait_turn(start, ahead)
                    if self._landed:
                        return self._carried(outcome, start)
                    self.log("the branch is busy (other updaters queued); our turn in the queue now")
                    continue
            commit = self.clone.commit_files(parents, files, outcome.message, ident)
            head, also = self._with_queue(commit)
            try:
                self.clone.push(head, target_branch or req.branch, old=old, also=also)
            except (PushRejected, TransientError) as exc:
                lost = _LostPush(exc, attempt, tip, files, entries, ident, commit, old, head, outcome, timing)
                done, refs = self._after_lost_push(lost, target_branch, queue, start)
                if done is not None:
                    return done
                continue
            self._ticket = None  # deleted atomically with the update
            outcome.status, outcome.changed, outcome.commit = "updated", True, commit
            outcome.replaced = None if old == ZERO else old
            outcome.elapsed = self.clock() - start
            return outcome

    def _timed_fetch(self, attempt: int, refs: dict[str, str] | None) -> tuple[str, tuple[float, float]]:
        """Fetch the branch tip; returns it with (when the fetch ended, how long a cycle's fetch takes)."""
        attempt_start = self.clock()
        requests_before = self.clone.requests
        tip = self._fetch_tip(refs)
        fetched_at = self.clock()
        if attempt == 1:
            self._request_time = (fetched_at - attempt_start) / max(1, self.clone.requests - requests_before)
        # a cycle = incremental fetch + edit + push; the first fetch is a slower clone-like one
        fetch_time = fetched_at - attempt_start if attempt > 1 else self.req.backoff_base
        if attempt > 1:
            # Landings we saw while waiting drain the queue of contenders we are estimating.
            self._contenders = max(1.0, self._contenders - self.clone.new_commits + 1)
        return tip, (fetched_at, fetch_time)

    def _unchanged(self, outcome: UpdateOutcome, tip: str, attempt: int, start: float) -> UpdateOutcome:
        """The tip already has our edit: ours (an unanswered push, a carried ticket) or someone's earlier."""
        if tip in self._unanswered:
            return self._landed_unanswered(tip, attempt, start)
        if self._ticket is not None and self._carried_since_last_look():
            # The head carried our update just after our last look at the queue: it is this tip.
            return self._carried(outcome, start)
        outcome.elapsed = self.clock() - start
        return outcome

    def _pr_parents(self, target_branch: str, tip: str, files: dict[str, tuple[str, bytes]],
                    outcome: UpdateOutcome, attempt: int,
                    start: float) -> tuple[UpdateOutcome | None, list[str], str]:
        """PR mode: the bot branch gets a commit whose tree is the base tip plus our edit. When the branch
        already exists it becomes a merge of (old head, base tip): a fast-forward for the branch, and the PR
        diff (against the merge base = base tip) is exactly our edit. Returns (an outcome when there is nothing
        to push, the parents, the branch's old value)."""
        head = self.clone.fetch(target_branch, missing_ok=True)
        old = head or ZERO
        if not head:
            return None, [tip], old
        if head in self._unanswered:
            return self._landed_unanswered(head, attempt, start), [], old
        rec = self._record_of(head)
        if rec is not None and self._is_newer(rec):
            return self._out_of_order(tip, rec, attempt, start), [], old
        new_tree = self.clone.tree_for(tip, files)
        if self.clone.tree_of(head) == new_tree and self.clone.contains(head, tip):
            outcome.status, outcome.commit = "pr-up-to-date", head
            outcome.elapsed = self.clock() - start
            return outcome, [], old
        return None, ([tip] if self.clone.contains(tip, head) else [head, tip]), old

    def _with_queue(self, commit: str) -> tuple[str, list[tuple[str, str, str]]]:
        """The head to push and the ref commands that go with it: at the head of the queue, our ticket's
        deletion and the queued updates behind us, carried in the same push."""
        if self._ticket is None:
            return commit, []
        head, carried = self._carry(commit)
        return head, [(self._ticket[1], ZERO, self._ticket[0]), *carried]

    def _after_lost_push(self, lost: _LostPush, target_branch: str | None, queue: bool,
                         start: float) -> tuple[UpdateOutcome | None, dict[str, str] | None]:
        """A push that failed: landed after all (the answer was lost), give up, queue, or back off.
        Returns (the final outcome, or None to try again; the refs our queue wait last saw)."""
        req, exc, attempt = self.req, lost.exc, lost.attempt
        if isinstance(exc, TransientError):
            # The server may have applied the push and lost the answer: read the ref to know.
            self._unanswered[lost.head] = (lost.commit, lost.old, lost.outcome)
            if self._branch_at(target_branch or req.branch, lost.head):
                self.log(f"attempt {attempt}: the push landed although the answer was lost ({exc})")
                return self._landed_unanswered(lost.head, attempt, start), None
        elapsed = self.clock() - start
        if attempt >= req.max_attempts or elapsed >= req.max_seconds:
            raise UserError(
                f"Gave up after {attempt} attempts in {elapsed:.0f}s: the branch '{req.branch}' kept "
                f"moving or the server kept failing (last: {exc}). Nothing was pushed.",
                "rerun the job; if many services deploy at once, raise `max-attempts`/`timeout`.",
            )
        fetched_at, fetch_time = lost.timing
        cycle = self.clock() - fetched_at + fetch_time
        if queue and req.queue and isinstance(exc, PushRejected):
            # Lost a race: take a ticket in the branch's queue (once) and wait for our turn.
            self._note_cycle(cycle)
            if self._ticket is None:
                self._enqueue(lost.tip, lost.files, lost.entries, lost.outcome.message, lost.ident)
            if self._ticket is not None:
                refs = self._wait_turn(start)
                if self._landed:
                    return self._carried(lost.outcome, start), None
                self.log(f"attempt {attempt}: push lost the race ({exc}); our turn in the queue now")
                return None, refs
        delay = self._backoff(cycle)
        if isinstance(exc, TransientError) and exc.retry_after:
            delay = max(delay, exc.retry_after)
        delay = min(delay, max(0.0, req.max_seconds - elapsed))
        self.log(f"attempt {attempt}: push lost the race ({exc}); re-applying in {delay * 1000:.0f} ms")
        self._nap(delay)
        return None, None

    def _nap(self, seconds: float) -> None:
        """Sleep, but never past the stage's deadline."""
        if self.clone.deadline is not None:
            seconds = min(seconds, max(0.0, self.clone.deadline - self.clock()))
        self.sleep(seconds)

    def _branch_at(self, branch: str, head: str) -> bool:
        """One GET of the refs: is ``branch`` at ``head``? (False when the server cannot tell us now.)"""
        try:
            return self.clone.advertise().get(f"refs/heads/{branch}") == head
        except TransientError:
            return False

    def _landed_unanswered(self, head: str, attempt: int, start: float) -> UpdateOutcome:
        """Our earlier push landed although its answer was lost: report it as ours (changed, our commit)."""
        commit, old, outcome = self._unanswered[head]
        outcome.attempts = attempt
        self._ticket = None  # deleted atomically with the push that landed
        outcome.status, outcome.changed, outcome.commit = "updated", True, commit
        outcome.replaced = None if old == ZERO else old
        outcome.elapsed = self.clock() - start
        return outcome

    # ------------------------------------------------------------------ the branch queue
    def _queue_prefix(self) -> str:
        return queue.prefix(self.req.branch)

    def _enqueue(self, tip: str, files: dict[str, tuple[str, bytes]], entries: dict[str, TreeEntry],
                 message: str, ident: dict[str, str]) -> None:
        """Create our ticket ``refs/shipyard/queue/<branch>/<epoch ms>-<service>-<rand>``. Tickets order the
        updaters that lost a race; each waits until it is first and deletes its ticket atomically with its
        own update.

        The ticket points at a small parentless commit: our commit message followed by one
        ``Shipyard-Queued-Edit: <mode> <old blob> <new blob> <path>`` line per file, and a flat tree holding
        just the new blobs (so they are on the server; a ticket costs the server no history or tree walk).
        Whoever reaches the head of the queue first lands the queued updates behind it in the same push,
        each as its own commit, when every file is still what that updater started from (then re-applying
        its edit gives the same bytes); otherwise the ticket stays and its owner re-applies the edit itself
        on its turn."""
        name = queue.ticket_name(self.wall() * 1000, self.req.service, self.rng)
        ref = self._queue_prefix() + name
        edits = [f"{QUEUED_EDIT}: {mode} {entries[path].oid} {object_id('blob', content)} {path}"
                 for path, (mode, content) in sorted(files.items())]
        key = self._queue_key()
        if key is None or any("\n" in path or "\r" in path for path in files):
            edits = []  # not expressible on one line, or not verifiable by others: only we can apply it
        body = message.rstrip("\n") + "\n" + "".join(f"\n{line}" for line in edits) + "\n"
        if edits and key is not None:
            body += f"{QUEUED_MAC}: {queue.mac(key, body)}\n"
        ticket = self.clone.ticket_commit([content for _, content in files.values()], body, ident)
        try:
            result = self.clone.send_commands([(ZERO, ticket, ref)], list(self.clone.objects.written.values()))
        except (UserError, TransientError) as exc:
            self.warn(f"could not join the branch queue ({exc}); using backoff only")
            self.req.queue = False
            return
        if result.get(ref) == "ok":
            self._ticket = (ref, ticket)
        else:
            self.log(f"the server refused the queue ticket ({result.get(ref)}); using backoff only")
            self.req.queue = False

    def _queue_key(self) -> bytes | None:
        if self.req.queue_key is not None:
            return self.req.queue_key
        secret = self.clone.auth.secret if self.clone.auth else ""
        return queue_key(secret) if secret else None

    def _live_tickets(self, refs: Mapping[str, str]) -> list[str]:
        """The branch's queue tickets in queue order, without those older than ``max(timeout, 120 s)``
        (left by a crashed job: they must not block the branch)."""
        return queue.live_tickets(refs, self.req.branch, self.wall() * 1000, self.req.max_seconds)

    def _done_ref(self, ticket_ref: str) -> str:
        return queue.done_ref(ticket_ref)

    def _carry(self, commit: str) -> tuple[str, list[tuple[str, str, str]]]:
        """Chain the queued updates behind us onto ``commit``; returns the new branch head and the ref
        commands that go with it (each carried ticket deleted, a ``refs/shipyard/done/...`` ref naming the
        commit that landed it, for its owner to find)."""
        refs = self.clone.last_refs
        assert self._ticket is not None
        queued = [(r, refs[r]) for r in self._live_tickets(refs) if r != self._ticket[0]][:CARRY_LIMIT]
        # done refs whose owner never came back for them (a cancelled job): tidy a few per push
        commands: list[tuple[str, str, str]] = [
            (refs[r], ZERO, r) for r in queue.stale_done_refs(refs, self.req.branch, self.wall() * 1000)[:20]]
        key = self._queue_key()
        if not queued or key is None:
            return commit, commands
        try:
            self.clone.fetch_commits([oid for _, oid in queued], commit)
        except (TransientError, UserError) as exc:
            self.log(f"not carrying the queued updates ({exc})")
            return commit, commands
        head = commit
        tree = self.clone.objects.commit_tree(commit)
        for ref, oid in queued:
            try:
                got = self.clone.objects.read(oid)
                if got is None or got[1] != "commit" or tree is None:
                    continue
                header, _, message = got[2].decode("utf-8").partition("\n\n")
                signed, _, mac = message.rpartition(f"{QUEUED_MAC}: ")
                if not hmac.compare_digest(mac.strip(), queue.mac(key, signed)):
                    continue  # not written by an updater holding our secret: never land it
                lines = signed.split("\n")
                edits = [line[len(QUEUED_EDIT) + 2:].split(" ", 3) for line in lines
                         if line.startswith(QUEUED_EDIT + ": ")]
                if not edits or any(len(e) != 4 for e in edits):
                    continue
                if any(self.clone.objects.blob_at(tree, path) != (_mode_key(mode), old)
                       for mode, old, _new, path in edits):
                    continue  # a file changed since that updater read it: it re-applies its edit itself
                new_tree = self.clone.objects.replace_oids(tree, {path: (mode, new) for mode, _old, new, path in edits})
                author = next(h[7:] for h in header.split("\n") if h.startswith("author "))
                committer = next(h[10:] for h in header.split("\n") if h.startswith("committer "))
                name = committer.rsplit(" ", 2)[0]
                clean = "\n".join(line for line in lines if not line.startswith(QUEUED_EDIT + ": ")).rstrip("\n")
                head = self.clone.objects.commit(new_tree, [head], clean + "\n", author,
                                                 f"{name} {int(self.wall())} +0000")
            except (ObjectError, StopIteration, UnicodeDecodeError, ValueError):
                continue
            tree = new_tree
            commands += [(oid, ZERO, ref), (ZERO, head, self._done_ref(ref))]
        if head != commit:
            self.log(f"carrying {len(commands) // 2} queued update(s) in the same push")
        return head, commands

    def _carried_since_last_look(self) -> bool:
        assert self._ticket is not None
        try:
            landed = self.clone.advertise().get(self._done_ref(self._ticket[0]))
        except (UserError, TransientError):
            return False
        self._landed = landed
        return landed is not None

    def _carried(self, outcome: UpdateOutcome, start: float) -> UpdateOutcome:
        """Our queued update was landed by the updater ahead of us: report it, remove the done ref."""
        landed = self._landed
        assert landed is not None and self._ticket is not None
        done = self._done_ref(self._ticket[0])
        self._ticket = None
        try:
            self.clone.send_commands([(landed, ZERO, done)], [])
        except Exception as exc:  # best effort: the next head tidies old done refs
            self.log(f"could not delete {done}: {exc}")
        self.log(f"landed as {landed[:12]} by the updater ahead of us in the queue (same edit, same bytes)")
        outcome.status, outcome.changed, outcome.commit = "updated", True, landed
        outcome.elapsed = self.clock() - start
        return outcome

    def _queue_busy(self, tip: str) -> int:
        """One GET of the refs: how many live tickets are queued (1 when none are but the branch moved since
        our fetch, 0 when a push now should win)?"""
        try:
            refs = self.clone.advertise()
        except (UserError, TransientError):
            return 0
        queued = len(self._live_tickets(refs))
        moved = refs.get(f"refs/heads/{self.req.branch}", tip) != tip
        return queued or int(moved)

    def _dequeue(self) -> None:
        assert self._ticket is not None
        ref, oid = self._ticket
        self._ticket = None
        try:
            self.clone.send_commands([(oid, ZERO, ref)], [])
        except Exception as exc:  # best effort: others ignore stale tickets anyway
            self.log(f"could not delete the queue ticket {ref}: {exc}")

    def _wait_turn(self, start: float, ahead: int | None = None) -> dict[str, str] | None:
        """Wait until our ticket is the oldest live one (our turn), or until the updater at the head of the
        queue has carried our update (``self._landed``); returns the last advertisement so the next fetch
        needs only its POST.

        A head carries every update queued behind it, so a waiter is rarely more than a push or two away
        from landing, whatever its place: each waiter looks about twice per push (paced by how often it
        sees the branch move), the next in line every round trip. Every look is one GET of the refs.
        ``ahead``: how many tickets were queued when we joined.
        """
        req = self.req
        assert self._ticket is not None
        cadence = self._landing_estimate()  # time between branch moves, as observed
        if ahead and ahead > 1:
            self._nap(0.5 * cadence)
        head: tuple[str, float] | None = None  # the oldest ticket and when we first saw it there
        tip: tuple[str | None, float] = ("", 0.0)  # the branch tip and when we first saw it
        looks_still = 0  # looks in a row that saw the branch where it was
        rtt = 0.0  # one request's round trip now (our first fetch may have been in a stampede: not that one)
        while True:
            asked = self.clock()
            refs = self.clone.advertise()
            now = self.clock()
            rtt = now - asked if not rtt else 0.5 * rtt + 0.5 * (now - asked)
            if self._ticket is None or self._ticket[0] not in refs:
                landed = refs.get(self._done_ref(self._ticket[0])) if self._ticket else None
                if landed:
                    self._landed = landed  # carried by the updater ahead of us
                else:
                    self._ticket = None
                return refs
            live = self._live_tickets(refs)
            if live and live[0] != self._ticket[0]:
                # A ticket that stays first far longer than a push takes belongs to an updater that died
                # (a cancelled job cannot delete its ticket): step over it instead of waiting for it to expire.
                if head is None or head[0] != live[0]:
                    head = (live[0], now)
                elif now - head[1] > max(15.0, 40 * cadence):
                    live = live[1:]
            position = live.index(self._ticket[0]) if self._ticket[0] in live else 0
            if position == 0 or now - start >= req.max_seconds:
                return refs
            branch_tip = refs.get(f"refs/heads/{req.branch}")
            looks_still = looks_still + 1 if branch_tip == tip[0] else max(0, looks_still - 1)
            if branch_tip != tip[0]:
                if tip[0]:
                    cadence = 0.5 * cadence + 0.5 * min(now - tip[1], 2.0)
                tip = (branch_tip, now)
                if position <= 2 and branch_tip and branch_tip != self.clone.read_ref(
                        self.clone.tracking_ref(req.branch)):
                    # Nearly our turn: catch up with the branch now, while the one ahead pushes, so the
                    # fetch on our turn brings one push instead of everything since our first fetch.
                    self.clone.fast_fetch(req.branch, refs)
            elif now - tip[1] > 2 * (position + 1) * max(cadence, 4 * rtt):
                # The branch has not moved for far longer than the pushes ahead of us take: those ahead are
                # asleep or gone. The queue only orders the pushes (each push is safe whoever goes first, and
                # carries the others): go now.
                return refs
            # Next in line: every round trip (at least 20 ms apart), since every moment the branch waits for
            # us is added to every update still queued. Further back: about twice per push, less and less
            # often while the branch stands still (a head slowed by a stampede of first fetches must not be
            # slowed further by a stampede of looks).
            still = 2.0 ** min(looks_still, 8)
            wait = max(rtt, 0.02) if position == 1 else min(max(0.5 * cadence, rtt, 0.02) * still, 3.0)
            wait = min(wait, max(0.0, req.max_seconds - (now - start)))
            self._nap(wait * self.rng.uniform(0.8, 1.2))

    def _landing_estimate(self) -> float:
        """Seconds between pushes before any was observed: a push at the head is about three requests (see
        the turn, fetch, push), timed from our own requests. Bounded low: our first fetch may have run in a
        stampede of first fetches, slower than what follows, and a waiter that looks too early costs one
        GET while one that sleeps too long leaves the branch idle."""
        per_request = self._request_time or self.req.backoff_base
        return min(max(3 * per_request, 0.01), 0.1)

    def _note_cycle(self, cycle: float) -> None:
        self._cycle = min(self._cycle, cycle) if self._cycle else cycle

    def _backoff(self, cycle: float) -> float:
        """How long to wait after losing a race.

        Each updater keeps an estimate of how many others are contending for the branch: doubled on every
        lost race, reduced by the landings it sees on its next fetch (a draining queue shrinks the window
        again instead of leaving the branch idle). The wait is uniform in [0, 2 * contenders * cycle], with
        ``cycle`` our own fetch-edit-push time: about one attempt per cycle reaches the server, so a retry
        usually wins and failed attempts stay few and cheap.
        """
        req = self.req
        self._contenders = min(self._contenders * 2, 4096.0)
        self._cycle = min(self._cycle, cycle) if self._cycle else cycle
        unit = min(max(req.backoff_base, self._cycle), 0.25)
        return min(req.backoff_cap, self.rng.uniform(0, 2 * self._contenders * unit))

    def _fetch_tip(self, refs: dict[str, str] | None = None) -> str:
        tip: str | None = None
        for transient_try in range(4):
            try:
                if self.req.branch in self.clone.fetched:
                    tip = self.clone.fast_fetch(self.req.branch, refs)
                    refs = None
                else:
                    tip = self.clone.fetch(self.req.branch)
                break
            except TransientError as exc:
                if transient_try == 3:
                    raise UserError(f"Fetching the config repository kept failing: {exc}", "rerun the job.")
                wait = (exc.retry_after or 0.5 * 2**transient_try) + self.rng.uniform(0, 0.25)
                self.warn(f"fetch failed ({exc}); retrying in {wait:.1f}s")
                self._nap(wait)
        assert tip
        return tip

    # ------------------------------------------------------------------ edit
    def _apply(self, tip: str) -> tuple[list[FileResult], dict[str, TreeEntry]]:
        req = self.req
        entries = self.clone.list_files(tip, req.paths)
        by_path = {e.path: e for e in entries}
        if not entries:
            raise UserError(
                f"No file in branch '{req.branch}' matches `paths` ({shown(', '.join(req.paths))}).",
                "check `paths` (relative to the config repository root; globs like apps/*/overlays/dev/"
                "kustomization.yaml work) and `branch`.",
                input_name="paths",
            )
        missing = [p for p in req.paths if not any(ch in p for ch in "*?[") and p not in by_path]
        if missing:
            raise UserError(
                f"Missing file(s) in branch '{req.branch}': {shown(', '.join(missing))}.",
                "create the overlay in the config repository first, or fix `paths`.",
                input_name="paths",
            )
        blobs = self.clone.read_blobs([e.oid for e in entries])
        results = []
        for e in entries:
            raw = blobs[e.oid]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{e.path} is not UTF-8 text.", f"fix the encoding of {e.path}.")
            results.append(
                edit_file(e.path, text, req.update, fmt=req.fmt, keys=req.keys, add_if_missing=req.add_if_missing)
            )
        return results, by_path

    # ------------------------------------------------------------------ validation
    def _validate(self, tip: str, results: list[FileResult], entries: dict[str, TreeEntry]) -> list[str]:
        """Every edited file already re-parsed in the editor; kustomize-build each touched overlay once
        (again only when someone else changed one of our files in the meantime)."""
        req = self.req
        kust = [r for r in results if r.changed and detect_format(r.path, req.fmt) == "kustomize"]
        if req.validate == "parse" or not kust:
            return []
        if kustomize_command() is None:
            if req.validate == "kustomize":
                raise UserError(
                    "`validate: kustomize` but neither kustomize nor kubectl is on PATH.",
                    "install kustomize (or kubectl) on the runner, or set `validate: auto`.",
                    input_name="validate",
                )
            return []
        todo = [r for r in kust if self._validated.get(r.path) != r.old_text.encode()]
        if not todo:
            return [str(PurePosixPath(r.path).parent) for r in kust]
        work = Path(tempfile.mkdtemp(prefix="kbuild-", dir=self.clone.root))
        try:
            self.clone.checkout_to(tip, work)
            for r in results:
                if r.changed:
                    (work / r.path).write_text(r.new_text, encoding="utf-8", newline="")
            for r in todo:
                overlay = str(PurePosixPath(r.path).parent)
                ok, output = kustomize_build(work / overlay)
                if not ok:
                    raise UserError(
                        f"`kustomize build {overlay}` fails with the new image, so nothing was pushed: "
                        f"{_trim(output)}",
                        f"fix the overlay {overlay} in the config repository (it must build), or set "
                        "`validate: parse` to skip the build check.",
                    )
                self._validated[r.path] = r.old_text.encode()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return [str(PurePosixPath(r.path).parent) for r in kust]

    # ------------------------------------------------------------------ out-of-order guard
    def _guard(self, tip: str) -> msg.BuildRecord | None:
        """The newest recorded build of this service+env, if it is newer than ours."""
        req = self.req
        if not req.guard or (req.built_at is None and not req.source_commit):
            return None
        if self._scanned != tip:
            found = self._scan(tip)
            if found is not None:
                self._latest = found
            self._scanned = tip
        latest = self._latest
        if latest is None:
            return None
        return latest if self._is_newer(latest) else None

    def _scan(self, tip: str) -> msg.BuildRecord | None:
        req = self.req
        stop = self._scanned
        horizon = (req.built_at or 0) - 600  # commits older than our build (minus clock skew) cannot be newer
        fetched = 1
        while True:
            records = self.clone.log_messages(tip, stop, req.guard_depth)
            for oid, _ct, body in records:
                t = msg.parse_trailers(body)
                if t.get(msg.T_SERVICE) == req.service and t.get(msg.T_ENV) == req.environment:
                    return msg.BuildRecord(
                        oid, t.get(msg.T_SOURCE), msg.parse_time(t.get(msg.T_BUILT, "")), t.get(msg.T_TAG),
                        t.get(msg.T_DIGEST),
                    )
            if stop is not None or not records:
                return None
            oldest_oid, oldest_ct, _ = records[-1]
            if not self.clone.is_shallow_commit(oldest_oid) or len(records) >= req.guard_depth:
                return None
            if req.built_at is not None and oldest_ct < horizon:
                return None
            if fetched * 50 >= req.guard_depth or not self.clone.deepen(req.branch, 50):
                return None
            fetched += 1

    def _record_of(self, commit: str) -> msg.BuildRecord | None:
        for oid, _ct, body in self.clone.log_messages(commit, None, 1):
            t = msg.parse_trailers(body)
            if t.get(msg.T_SERVICE) == self.req.service and t.get(msg.T_ENV) == self.req.environment:
                return msg.BuildRecord(oid, t.get(msg.T_SOURCE), msg.parse_time(t.get(msg.T_BUILT, "")),
                                       t.get(msg.T_TAG), t.get(msg.T_DIGEST))
        return None

    def _is_newer(self, rec: msg.BuildRecord) -> bool:
        req = self.req
        if rec.source_commit and req.source_commit and rec.source_commit == req.source_commit:
            return False
        if rec.source_commit and req.source_commit and req.source_repo_dir:
            verdict = _ancestry(req.source_repo_dir, req.source_commit, rec.source_commit)
            if verdict is not None:
                return verdict
        if rec.built_at is not None and req.built_at is not None:
            return rec.built_at > req.built_at
        return False

    def _out_of_order(self, tip: str, newer: msg.BuildRecord, attempt: int, start: float) -> UpdateOutcome:
        results, _ = self._apply(tip)
        first = results[0]
        when = msg.iso(newer.built_at) if newer.built_at else "unknown time"
        warning = (
            f"Not deploying {self.req.update.describe()} to {self.req.environment}: the config repository already "
            f"has a newer build of {self.req.service} (source {(newer.source_commit or '?')[:12]}, built {when}, "
            f"commit {newer.commit[:12]}). This run finished out of order; nothing was pushed."
        )
        return UpdateOutcome(
            status="out-of-order", changed=False, commit=tip, base=tip, files=results, attempts=attempt,
            previous_tag=first.previous_tag, previous_digest=first.previous_digest, warning=warning, newer=newer,
            elapsed=self.clock() - start,
        )

    # ------------------------------------------------------------------ message
    def _message(self, results: list[FileResult]) -> str:
        req = self.req
        first = next((r for r in results if r.changed), results[0])
        old_ref = _ref(first.previous_tag, first.previous_digest) or "(none)"
        new_ref = _ref(req.update.tag, req.update.digest)
        source = req.source_commit or ""
        values = {
            "service": req.service, "environment": req.environment, "image": req.update.new_name or req.update.name,
            "old_tag": first.previous_tag or "(none)", "new_tag": req.update.tag or "(none)",
            "old_digest": first.previous_digest or "(none)", "digest": req.update.digest or "(none)",
            "old_ref": old_ref, "new_ref": new_ref, "source_commit": source or "(unknown)",
            "short_commit": source[:7] or "(unknown)", "source_link": req.source_url or source or "(unknown)",
            "run_url": req.run_url or "(local run)", "files": ", ".join(r.path for r in results if r.changed),
            "branch": req.branch,
        }
        body = msg.render(req.template, values)
        trailer = msg.trailers({
            msg.T_SERVICE: req.service, msg.T_ENV: req.environment, msg.T_IMAGE: req.update.name,
            msg.T_TAG: req.update.tag, msg.T_DIGEST: req.update.digest, msg.T_SOURCE: req.source_commit,
            msg.T_BUILT: msg.iso(req.built_at) if req.built_at is not None else None,
        })
        return f"{body}\n\n{trailer}\n"


def _mode_key(mode: str) -> str:
    return "40000" if mode == "040000" else mode


def _ref(tag: str | None, digest: str | None) -> str:
    out = tag or ""
    if digest:
        out += f"@{digest[:19]}" if tag else digest[:19]
    return out


def _trim(text: str, limit: int = 1500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + " ..."


def _ancestry(repo_dir: str, ours: str, theirs: str) -> bool | None:
    """True if ``theirs`` is a descendant of ``ours`` (newer), False if ours descends from theirs, else None."""

    def is_ancestor(a: str, b: str) -> bool | None:
        try:
            proc = subprocess.run(["git", "-C", repo_dir, "merge-base", "--is-ancestor", a, b],
                                  capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode in (0, 1):
            return proc.returncode == 0
        return None  # unknown commit (shallow checkout): fall back to timestamps

    forward = is_ancestor(ours, theirs)
    if forward:
        return True
    backward = is_ancestor(theirs, ours)
    if backward:
        return False
    return None


def render_diff(results: list[FileResult]) -> str:
    out: list[str] = []
    for r in results:
        if not r.changed:
            continue
        out.extend(
            difflib.unified_diff(
                r.old_text.splitlines(keepends=True), r.new_text.splitlines(keepends=True),
                fromfile=f"a/{r.path}", tofile=f"b/{r.path}", n=2,
            )
        )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out).replace("\r", "")


__all__ = ["UpdateOutcome", "UpdateRequest", "Updater", "YamlEditError", "queue_key", "render_diff"]
