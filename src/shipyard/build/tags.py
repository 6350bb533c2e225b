"""Image tags from the git context: short SHA, branch, semver from a git tag, the content hash, extras.

Tags that move with every build carry a prefix so an immutable ECR repository can exclude each kind with one
wildcard (the ecr-push stage's ``mutable-tag-prefixes``): ``branch-<name>`` and ``pr-<number>``. The content-hash
(``ch-``), ``sha-`` and semver tags never move. The semver aliases (``1.2`` and ``1`` for ``v1.2.3``) would move
with every release and carry no prefix an ECR exclusion filter could match, so they are opt-in
(``semver_aliases=True``) and count as moving tags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shipyard.oci import valid_tag

SEMVER = re.compile(r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
                    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$")


BRANCH_PREFIX = "branch-"
PR_PREFIX = "pr-"
MOVING_PREFIXES = (BRANCH_PREFIX, PR_PREFIX)


@dataclass(frozen=True)
class GitContext:
    sha: str
    ref: str  # refs/heads/main, refs/tags/v1.2.3, refs/pull/7/merge


def sanitize(value: str, max_len: int = 128) -> str:
    """A branch name as a valid tag: invalid characters -> '-', no leading '.'/'-', at most 128 chars."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", value)
    text = re.sub(r"-{2,}", "-", text).lstrip(".-")
    return text[:max_len].rstrip(".-") or "unnamed"


def semver_tags(ref_name: str, aliases: bool = False) -> list[str]:
    """v1.2.3 -> 1.2.3; with ``aliases`` also 1.2, 1 (no aliases for pre-releases; no bare 0 major)."""
    match = SEMVER.match(ref_name)
    if not match:
        return []
    major, minor, patch, pre = match.group("major", "minor", "patch", "pre")
    full = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    if pre:
        return [sanitize(full)]
    return [full, *(semver_alias_tags(ref_name) if aliases else [])]


def semver_alias_tags(ref_name: str) -> list[str]:
    """The moving aliases of a release tag: v1.2.3 -> 1.2, 1 (none for pre-releases, no bare 0 major)."""
    match = SEMVER.match(ref_name)
    if not match or match.group("pre"):
        return []
    major, minor = match.group("major", "minor")
    return [f"{major}.{minor}", *([major] if major != "0" else [])]


def semver_version(git: GitContext) -> str:
    """The release version of a tag push (``v1.2.3`` -> ``1.2.3``), else ''."""
    if not git.ref.startswith("refs/tags/"):
        return ""
    found = semver_tags(git.ref[len("refs/tags/"):])
    return found[0] if found else ""


def commit_tag(git: GitContext) -> str:
    return f"sha-{git.sha[:7]}" if git.sha else ""


def git_context(env: Mapping[str, str], fallback_sha: str = "", fallback_ref: str = "") -> GitContext:
    """SHA and ref of the run; for pull requests the PR head SHA instead of the merge commit."""
    sha = env.get("GITHUB_SHA") or fallback_sha
    ref = env.get("GITHUB_REF") or fallback_ref
    if env.get("GITHUB_EVENT_NAME", "").startswith("pull_request") and env.get("GITHUB_EVENT_PATH"):
        try:
            with open(env["GITHUB_EVENT_PATH"], encoding="utf-8") as fh:
                event = json.load(fh)
            sha = str(event["pull_request"]["head"]["sha"]) or sha
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return GitContext(sha, ref)


def branch_tag(branch: str) -> str:
    """``main`` -> ``branch-main``, ``feature/x`` -> ``branch-feature-x`` (at most 128 chars in all)."""
    return BRANCH_PREFIX + sanitize(branch, 128 - len(BRANCH_PREFIX))


def moving_tags(git: GitContext, *, head_ref: str = "", semver_aliases: bool = False) -> list[str]:
    """The tags of this run that move to each new build: the branch, or the PR number and its head branch; with
    ``semver_aliases`` on a release tag its ``1.2``/``1`` aliases."""
    if git.ref.startswith("refs/heads/"):
        return [branch_tag(git.ref[len("refs/heads/"):])]
    if git.ref.startswith("refs/pull/"):
        tags = [f"{PR_PREFIX}{sanitize(git.ref.split('/')[2])}"]
        if head_ref:
            tags.append(branch_tag(head_ref))
        return tags
    if semver_aliases and git.ref.startswith("refs/tags/"):
        return semver_alias_tags(git.ref[len("refs/tags/"):])
    return []


def compute_tags(git: GitContext, content_tag: str, extra: Iterable[str] = (), *, head_ref: str = "",
                 semver_aliases: bool = False) -> list[str]:
    """The ordered, de-duplicated tag list: content hash first (the build's identity), then the others."""
    tags: list[str] = [content_tag, commit_tag(git)]
    if git.ref.startswith("refs/tags/"):
        name = git.ref[len("refs/tags/"):]
        tags.extend(semver_tags(name, aliases=semver_aliases) or [sanitize(name)])
    tags.extend(moving_tags(git, head_ref=head_ref))
    tags.extend(extra)
    out: list[str] = []
    for tag in tags:
        if tag and tag not in out:
            out.append(tag)
    return out


def invalid_tags(tags: Iterable[str]) -> list[str]:
    return [t for t in tags if not valid_tag(t)]
