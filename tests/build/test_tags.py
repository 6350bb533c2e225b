"""Tags: short SHA, sanitised branch, semver, PR head SHA, content hash first, extras de-duplicated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.build.tags import GitContext, compute_tags, git_context, sanitize, semver_tags

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
    assert semver_tags(ref) == expected


@pytest.mark.parametrize(("branch", "tag"), [
    ("main", "main"), ("feature/Login-Page", "feature-Login-Page"), ("-weird..name", "weird..name"),
    ("dependabot/npm_and_yarn/@types/node-20", "dependabot-npm_and_yarn-types-node-20"), ("///", "unnamed"),
])
def test_sanitize(branch: str, tag: str) -> None:
    assert sanitize(branch) == tag


def test_branch_push() -> None:
    tags = compute_tags(GitContext(SHA, "refs/heads/feature/x"), "ch-abc", ["extra", "ch-abc"])
    assert tags == ["ch-abc", "sha-0123456", "feature-x", "extra"]


def test_tag_push() -> None:
    assert compute_tags(GitContext(SHA, "refs/tags/v3.1.4"), "ch-1") == ["ch-1", "sha-0123456", "3.1.4", "3.1", "3"]
    assert compute_tags(GitContext(SHA, "refs/tags/nightly"), "ch-1") == ["ch-1", "sha-0123456", "nightly"]


def test_pull_request_uses_head_sha(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "feedbeef" * 5}}}))
    ctx = git_context({"GITHUB_SHA": SHA, "GITHUB_REF": "refs/pull/42/merge", "GITHUB_EVENT_NAME": "pull_request",
                       "GITHUB_EVENT_PATH": str(event)})
    assert ctx.sha.startswith("feedbeef")
    assert compute_tags(ctx, "ch-1", head_ref="fix/bug") == ["ch-1", "sha-feedbee", "pr-42", "fix-bug"]


def test_fallback_to_local_git() -> None:
    ctx = git_context({}, SHA, "refs/heads/main")
    assert compute_tags(ctx, "ch-1") == ["ch-1", "sha-0123456", "main"]
