"""Tags: short SHA, sanitised branch, semver, PR head SHA, content hash first, extras de-duplicated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.build.tags import (
    GitContext,
    branch_tag,
    commit_tag,
    compute_tags,
    git_context,
    moving_tags,
    sanitize,
    semver_tags,
    semver_version,
)

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(("ref", "expected"), [
    ("v1.2.3", ["1.2.3", "1.2", "1"]),
    ("1.2.3", ["1.2.3", "1.2", "1"]),
    ("v0.4.1", ["0.4.1", "0.4"]),
    ("v2.0.0-rc.1", ["2.0.0-rc.1"]),
    ("v1.2.3+build.5", ["1.2.3", "1.2", "1"]),
    ("release-7", []),
    ("v1.2", []),
])
def test_semver(ref: str, expected: list[str]) -> None:
    assert semver_tags(ref, aliases=True) == expected
    assert semver_tags(ref) == expected[:1]  # the aliases are opt-in: they move with every release


def test_semver_aliases_are_opt_in_and_moving() -> None:
    """v1.2.4 after v1.2.3 must not need to move `1.2` on an immutable repository: no aliases by default; when
    enabled they are moving tags (`moving-tags` output, deferred and moved like branch tags)."""
    release = GitContext(SHA, "refs/tags/v1.2.4")
    assert compute_tags(release, "ch-1") == ["ch-1", "sha-0123456", "1.2.4"]
    assert moving_tags(release) == []
    assert compute_tags(release, "ch-1", semver_aliases=True) == ["ch-1", "sha-0123456", "1.2.4", "1.2", "1"]
    assert moving_tags(release, semver_aliases=True) == ["1.2", "1"]
    assert moving_tags(GitContext(SHA, "refs/tags/v2.0.0-rc.1"), semver_aliases=True) == []
    assert semver_version(release) == "1.2.4" and semver_version(GitContext(SHA, "refs/heads/main")) == ""
    assert commit_tag(release) == "sha-0123456" and commit_tag(GitContext("", "refs/heads/main")) == ""


@pytest.mark.parametrize(("branch", "tag"), [
    ("main", "main"), ("feature/Login-Page", "feature-Login-Page"), ("-weird..name", "weird..name"),
    ("dependabot/npm_and_yarn/@types/node-20", "dependabot-npm_and_yarn-types-node-20"), ("///", "unnamed"),
])
def test_sanitize(branch: str, tag: str) -> None:
    assert sanitize(branch) == tag


def test_branch_push() -> None:
    tags = compute_tags(GitContext(SHA, "refs/heads/feature/x"), "ch-abc", ["extra", "ch-abc"])
    assert tags == ["ch-abc", "sha-0123456", "branch-feature-x", "extra"]
    assert moving_tags(GitContext(SHA, "refs/heads/feature/x")) == ["branch-feature-x"]


def test_branch_tag_is_prefixed_and_fits_128() -> None:
    assert branch_tag("main") == "branch-main"
    assert branch_tag("dependabot/npm_and_yarn/@types/node-20") == "branch-dependabot-npm_and_yarn-types-node-20"
    assert branch_tag("///") == "branch-unnamed"
    long = branch_tag("x" * 300)
    assert len(long) == 128 and long.startswith("branch-x")


def test_tag_push() -> None:
    assert compute_tags(GitContext(SHA, "refs/tags/v3.1.4"), "ch-1") == ["ch-1", "sha-0123456", "3.1.4"]
    assert compute_tags(GitContext(SHA, "refs/tags/nightly"), "ch-1") == ["ch-1", "sha-0123456", "nightly"]
    assert moving_tags(GitContext(SHA, "refs/tags/v3.1.4")) == []  # release tags never move


def test_pull_request_uses_head_sha(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "feedbeef" * 5}}}))
    ctx = git_context({"GITHUB_SHA": SHA, "GITHUB_REF": "refs/pull/42/merge", "GITHUB_EVENT_NAME": "pull_request",
                       "GITHUB_EVENT_PATH": str(event)})
    assert ctx.sha.startswith("feedbeef")
    assert compute_tags(ctx, "ch-1", head_ref="fix/bug") == ["ch-1", "sha-feedbee", "pr-42", "branch-fix-bug"]
    assert moving_tags(ctx, head_ref="fix/bug") == ["pr-42", "branch-fix-bug"]


def test_fallback_to_local_git() -> None:
    ctx = git_context({}, SHA, "refs/heads/main")
    assert compute_tags(ctx, "ch-1") == ["ch-1", "sha-0123456", "branch-main"]


def test_every_computed_tag_is_valid_and_only_moving_ones_carry_moving_prefixes() -> None:
    from shipyard.build.tags import MOVING_PREFIXES, invalid_tags

    for ref, head in (("refs/heads/" + "a/" * 100, ""), ("refs/pull/7/merge", "feat/" + "b" * 200),
                      ("refs/tags/v1.0.0", "")):
        ctx = GitContext(SHA, ref)
        tags = compute_tags(ctx, "ch-1", head_ref=head)
        assert invalid_tags(tags) == []
        assert [t for t in tags if t.startswith(MOVING_PREFIXES)] == moving_tags(ctx, head_ref=head)
