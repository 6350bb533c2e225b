"""The pure part of mirroring: which refs to mirror, and the push plan that makes the target equal them.

Only ``refs/heads/*`` and ``refs/tags/*`` are ever mirrored: GitHub's ``refs/pull/*``, ``origin/HEAD`` and any
other hidden ref can not reach the plan because :func:`mirrorable` rejects them wherever refs come from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

MIRRORED_PREFIXES = ("refs/heads/", "refs/tags/")
BACKUP_ROOT = "refs/backup/"
ZERO = "0" * 40


def mirrorable(ref: str) -> bool:
    """A branch or tag with a sane name (no peeled ``^{}`` entries, no symbolic ``HEAD`` under heads)."""
    if not ref.startswith(MIRRORED_PREFIXES) or ref.endswith("^{}"):
        return False
    short = ref.split("/", 2)[2]
    return bool(short) and short != "HEAD"


def parse_ls_remote(text: str) -> dict[str, str]:
    """``sha<TAB>ref`` lines -> ``{ref: sha}`` for every ref (peeled tag lines dropped)."""
    refs: dict[str, str] = {}
    for line in text.splitlines():
        sha, sep, ref = line.partition("\t")
        if not sep or ref.endswith("^{}"):
            continue
        refs[ref.strip()] = sha.strip()
    return refs


def heads_and_tags(refs: Mapping[str, str]) -> dict[str, str]:
    return {ref: sha for ref, sha in refs.items() if mirrorable(ref)}


@dataclass(frozen=True)
class Change:
    """One row of the plan (and of the summary table)."""

    ref: str
    old: str | None  # sha on the target before, None if absent
    new: str | None  # sha after, None when deleted
    action: str  # create | update | force | delete | backup
    refspec: str
    note: str = ""

    @property
    def pushed(self) -> bool:
        return self.action in ("create", "update", "force")


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)

    @property
    def refspecs(self) -> list[str]:
        return [c.refspec for c in self.changes]

    @property
    def leases(self) -> dict[str, str]:
        """Deletions only happen if the target still holds what the plan saw."""
        return {c.ref: c.old for c in self.changes if c.action == "delete" and c.old}

    def by_action(self, *actions: str) -> list[Change]:
        return [c for c in self.changes if c.action in actions]

    @property
    def empty(self) -> bool:
        return not self.changes


def backup_ref(ref: str, stamp: str, taken: Mapping[str, str], sha: str) -> str:
    """``refs/heads/x`` -> ``refs/backup/<stamp>/heads/x``; a second backup the same day gets a suffix."""
    base = BACKUP_ROOT + stamp + "/" + ref[len("refs/"):]
    candidate, n = base, 1
    while candidate in taken and taken[candidate] != sha:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def plan_push(
    desired: Mapping[str, str],
    target: Mapping[str, str],
    *,
    is_fast_forward: Callable[[str, str], bool],
    prune: bool = True,
    keep_deleted: bool = False,
    stamp: str = "",
    local_ref: Callable[[str], str] | None = None,
) -> Plan:
    """The refspecs that turn the target's branches and tags into ``desired``.

    ``desired`` must come from a complete view of the source (``git ls-remote``/a verified fetch); ``target``
    is the target's full ``ls-remote``. ``local_ref(ref)`` names the local ref holding the source's commit
    (the fetch namespace). A ref kept under ``refs/backup/`` is pushed from its old commit id, which the caller
    makes sure is present locally (fetched from the target when the source no longer has it). Plain refspecs
    for fast-forwards and new refs, ``+`` only for rewritten history, ``:ref`` deletes.
    """
    for ref in desired:
        if not mirrorable(ref):
            raise ValueError(f"refusing to mirror {ref}: only refs/heads/* and refs/tags/* are mirrored")
    src = local_ref or (lambda r: r)
    current = heads_and_tags(target)
    plan = Plan()
    taken = dict(target)
    for ref in sorted(desired):
        new, old = desired[ref], current.get(ref)
        if old == new:
            continue
        if old is None:
            plan.changes.append(Change(ref, None, new, "create", f"{src(ref)}:{ref}"))
        elif ref.startswith("refs/heads/") and is_fast_forward(old, new):
            plan.changes.append(Change(ref, old, new, "update", f"{src(ref)}:{ref}"))
        else:
            note = "tag moved" if ref.startswith("refs/tags/") else "history rewritten"
            if keep_deleted:
                backup = backup_ref(ref, stamp, taken, old)
                taken[backup] = old
                plan.changes.append(Change(backup, None, old, "backup", f"{old}:{backup}", f"old tip of {ref}"))
                note += f"; old tip kept as {backup}"
            plan.changes.append(Change(ref, old, new, "force", f"+{src(ref)}:{ref}", note))
    if prune:
        for ref in sorted(set(current) - set(desired)):
            old = current[ref]
            note = ""
            if keep_deleted:
                backup = backup_ref(ref, stamp, taken, old)
                taken[backup] = old
                if target.get(backup) != old:
                    plan.changes.append(Change(backup, None, old, "backup", f"{old}:{backup}", f"kept {ref}"))
                note = f"kept as {backup}"
            plan.changes.append(Change(ref, old, None, "delete", f":{ref}", note))
    return plan


def diff_refs(expected: Mapping[str, str], actual: Mapping[str, str]) -> list[tuple[str, str | None, str | None]]:
    """``(ref, expected, actual)`` for every branch or tag that differs."""
    exp, act = heads_and_tags(expected), heads_and_tags(actual)
    return [(r, exp.get(r), act.get(r)) for r in sorted(set(exp) | set(act)) if exp.get(r) != act.get(r)]


def short(sha: str | None) -> str:
    return sha[:10] if sha else ""


def names(changes: Iterable[Change]) -> list[str]:
    return [c.ref for c in changes]
