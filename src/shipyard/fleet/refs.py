"""Shipyard references in a workflow file (``uses:`` of our actions and reusable workflows), how far each is
behind the latest release, and the text edit that bumps them while keeping the pinning style:
``@v1.2.0`` -> ``@v1.4.0``, ``@v1`` -> ``@v2`` (major tags follow their major), ``@<sha> # v1.2.0`` ->
``@<new sha> # v1.4.0``; a branch pin is reported, never moved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SHA = re.compile(r"[0-9a-f]{40}")
VERSION = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


def uses_pattern(shipyard_repo: str) -> re.Pattern[str]:
    return re.compile(
        r"(?P<head>^[ \t]*(?:-[ \t]+)?uses:[ \t]*)(?P<q>['\"]?)(?P<target>" + re.escape(shipyard_repo)
        + r"(?:/[^@\s'\"]*)?)@(?P<ref>[^\s'\"#]+)(?P=q)(?P<tail>[ \t]*(?:#[ \t]*(?P<comment>[^\n]*))?)$",
        re.IGNORECASE | re.MULTILINE,
    )


def parse_version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    m = VERSION.fullmatch(text.strip())
    if not m:
        return None
    return tuple(int(g) for g in m.groups() if g is not None)


@dataclass(frozen=True)
class Releases:
    """Release tags of the Shipyard repository, newest first, with their commit SHAs."""

    tags: dict[str, str] = field(default_factory=dict)  # tag -> commit sha

    @property
    def ordered(self) -> list[str]:
        full = [t for t in self.tags if (v := parse_version(t)) is not None and len(v) == 3]
        return sorted(full, key=lambda t: parse_version(t) or (), reverse=True)

    @property
    def latest(self) -> str | None:
        ordered = self.ordered
        return ordered[0] if ordered else None

    def version_of_sha(self, sha: str) -> str | None:
        return next((t for t in self.ordered if self.tags[t] == sha), None)


@dataclass(frozen=True)
class Ref:
    target: str  # shipyard/shipyard/actions/build or .../.github/workflows/pipeline-go.yml
    ref: str
    kind: str  # sha | tag | branch
    version: str | None  # what it stands for (a tag, or the version comment / known tag of a SHA)
    comment: str | None
    line: int

    def behind(self, releases: Releases) -> int | None:
        """Releases newer than this pin (None when unknown: a branch, or a SHA of no release)."""
        mine = parse_version(self.version)
        if mine is None:
            return None
        count = 0
        for tag in releases.ordered:
            theirs = parse_version(tag) or ()
            if theirs[: len(mine)] > mine:
                count += 1
        return count

    def bumped(self, releases: Releases) -> tuple[str, str | None] | None:
        """(new ref, new comment) keeping the pinning style, or None when nothing changes."""
        latest = releases.latest
        if latest is None or self.kind == "branch":
            return None
        new = parse_version(latest) or ()
        if self.kind == "sha":
            sha = releases.tags[latest]
            return None if sha == self.ref else (sha, latest)
        mine = parse_version(self.ref) or ()
        prefix = "v" if self.ref.startswith("v") else ""
        wanted = prefix + ".".join(str(n) for n in new[: len(mine)])
        if (parse_version(wanted) or ()) <= mine:
            return None
        return wanted, self.comment


def find_refs(text: str, shipyard_repo: str, releases: Releases) -> list[Ref]:
    out = []
    for m in uses_pattern(shipyard_repo).finditer(text):
        ref = m.group("ref")
        comment = (m.group("comment") or "").strip() or None
        if SHA.fullmatch(ref):
            known = releases.version_of_sha(ref)
            noted = comment.split()[0] if comment and parse_version(comment.split()[0]) else None
            kind, version = "sha", known or noted
        elif parse_version(ref) is not None:
            kind, version = "tag", ref
        else:
            kind, version = "branch", None
        out.append(Ref(m.group("target"), ref, kind, version, comment, text.count("\n", 0, m.start()) + 1))
    return out


def bump_text(text: str, shipyard_repo: str, releases: Releases) -> tuple[str, list[str]]:
    """The text with every Shipyard pin bumped, and one line per change ("target: old -> new")."""
    changes: list[str] = []

    def sub(m: re.Match[str]) -> str:
        comment = (m.group("comment") or "").strip() or None
        ref = Ref(m.group("target"), m.group("ref"), "", None, comment, 0)
        kind = "sha" if SHA.fullmatch(ref.ref) else ("tag" if parse_version(ref.ref) else "branch")
        ref = Ref(ref.target, ref.ref, kind, None, comment, 0)
        bumped = ref.bumped(releases)
        if bumped is None:
            return m.group(0)
        new_ref, new_comment = bumped
        tail = m.group("tail")
        if kind == "sha":
            rest = comment.split(None, 1)[1] if comment and len(comment.split(None, 1)) > 1 and \
                parse_version(comment.split()[0]) else ""
            tail = f" # {new_comment}" + (f" {rest}" if rest else "")
        old_label = f"{ref.ref[:12]} ({comment})" if kind == "sha" else ref.ref
        new_label = f"{new_ref[:12]} ({new_comment})" if kind == "sha" else new_ref
        changes.append(f"{ref.target}: {old_label} -> {new_label}")
        return f"{m.group('head')}{m.group('q')}{ref.target}@{new_ref}{m.group('q')}{tail}"

    return uses_pattern(shipyard_repo).sub(sub, text), changes
