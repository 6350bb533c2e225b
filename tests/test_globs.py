"""The one glob translator shared by gitops (config paths) and build (.dockerignore)."""

from __future__ import annotations

import pytest

from shipyard import globs
from shipyard.build.content import DockerIgnore
from shipyard.gitops.gitrepo import glob_match


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("apps/*/overlays/dev/kustomization.yaml", "apps/orders/overlays/dev/kustomization.yaml", True),
    ("apps/*/overlays/dev/kustomization.yaml", "apps/a/b/overlays/dev/kustomization.yaml", False),
    ("apps/**/kustomization.yaml", "apps/kustomization.yaml", True),
    ("apps/**/kustomization.yaml", "apps/a/b/c/kustomization.yaml", True),
    ("apps/**", "apps/a/b", True),
    ("app?.yaml", "app1.yaml", True),
    ("app?.yaml", "app/.yaml", False),
    ("env-[dp]*.yaml", "env-prd.yaml", True),
    ("env-[dp]*.yaml", "env-stg.yaml", False),
    ("env-[!d]*.yaml", "env-prd.yaml", True),
    ("a[b.yaml", "a[b.yaml", True),  # an unclosed class is a literal
    ("a.b", "axb", False),  # regex characters are literal
    ("(x)+", "(x)+", True),
])
def test_translate(pattern: str, path: str, matches: bool) -> None:
    assert globs.match(path, pattern) is matches
    assert glob_match(path, pattern) is matches


def test_dockerignore_uses_the_same_rules_and_excludes_below_a_matched_directory() -> None:
    ignore = DockerIgnore(["**/node_modules", "docs/*.md", "!docs/keep.md"])
    assert ignore.ignored("node_modules/x/y.js")
    assert ignore.ignored("web/node_modules/left-pad/index.js")
    assert ignore.ignored("docs/a.md") and not ignore.ignored("docs/keep.md")
    assert not ignore.ignored("docs/sub/a.md")
