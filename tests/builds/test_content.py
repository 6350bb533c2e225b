"""The content hash: tracked content counts; mtimes, untracked, git-ignored and .dockerignored files do not."""

from __future__ import annotations

import os
import time
from pathlib import Path

from shipyard.build.content import DockerIgnore, compute, context_files, tag_for
from tests.builds.conftest import git, make_repo


def chash(context: Path, dockerfile: str = "FROM x\n", **kw: object) -> str:
    return compute(context_files(context, DockerIgnore.load(context)), dockerfile, **kw)  # type: ignore[arg-type]


def test_tracked_change_changes_hash_other_things_do_not(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", files={"app.py": "print(1)\n", ".gitignore": "*.log\n",
                                            ".dockerignore": "docs\n", "docs/guide.md": "x\n", "sub/a.txt": "a"})
    base = chash(repo)
    # mtimes
    future = time.time() + 3600
    for path in (repo / "app.py", repo / "sub" / "a.txt"):
        os.utime(path, (future, future))
    assert chash(repo) == base
    # untracked and ignored files
    (repo / "notes.txt").write_text("untracked")
    (repo / "debug.log").write_text("ignored")
    assert chash(repo) == base
    # .dockerignore'd tracked files never reach the image
    (repo / "docs" / "guide.md").write_text("changed docs\n")
    git(repo, "commit", "-qam", "docs")
    assert chash(repo) == base
    # a tracked file changed in the working tree (not committed) and then committed
    (repo / "app.py").write_text("print(2)\n")
    dirty = chash(repo)
    assert dirty != base
    git(repo, "commit", "-qam", "change")
    assert chash(repo) == dirty
    # back to the old content: the old hash
    (repo / "app.py").write_text("print(1)\n")
    assert chash(repo) == base
    # a deleted tracked file
    (repo / "sub" / "a.txt").unlink()
    assert chash(repo) not in (base, dirty)


def test_mode_change_and_new_tracked_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", files={"run.sh": "echo hi\n"})
    base = chash(repo)
    (repo / "new.txt").write_text("n")
    git(repo, "add", "new.txt")
    assert chash(repo) != base


def test_other_inputs_change_hash(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", files={"a": "a"})
    base = chash(repo)
    assert chash(repo, "FROM y\n") != base
    assert chash(repo, build_args={"A": "1"}) != base
    assert chash(repo, target="prod") != base
    assert chash(repo, platforms=["linux/arm64"]) != base
    assert chash(repo, base_digests=["x@sha256:" + "1" * 64]) != base
    assert chash(repo, extra={"mode": "host"}) != base
    assert chash(repo, platforms=["linux/arm64", "linux/amd64"]) == chash(repo, platforms=["linux/amd64",
                                                                                           "linux/arm64"])


def test_context_is_a_subdirectory(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", files={"svc-a/main.go": "a", "svc-b/main.go": "b"})
    a = chash(repo / "svc-a")
    (repo / "svc-b" / "main.go").write_text("changed")
    git(repo, "commit", "-qam", "b")
    assert chash(repo / "svc-a") == a  # another service's change does not rebuild this one
    assert [e[0] for e in context_files(repo / "svc-a").entries] == ["main.go"]


def test_outside_git_hashes_files(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    files = context_files(tmp_path)
    assert not files.git and [e[0] for e in files.entries] == ["a.txt"]
    before = compute(files, "")
    (tmp_path / "a.txt").write_text("b")
    assert compute(context_files(tmp_path), "") != before


def test_dockerignore_semantics() -> None:
    ignore = DockerIgnore(["# c", "*.md", "!README.md", "**/tmp", "build/", "/secrets", "x?.txt", "[ab].c"])
    assert ignore.ignored("CHANGES.md") and not ignore.ignored("README.md")
    assert not ignore.ignored("docs/CHANGES.md")  # *.md matches the root only, like docker
    assert ignore.ignored("a/b/tmp/file") and ignore.ignored("tmp")
    assert ignore.ignored("build/out.jar") and ignore.ignored("secrets")
    assert ignore.ignored("x1.txt") and not ignore.ignored("x12.txt")
    assert ignore.ignored("a.c") and not ignore.ignored("c.c")


def test_tag_for() -> None:
    assert tag_for("ab" * 32) == "ch-" + ("ab" * 32)[:24]
