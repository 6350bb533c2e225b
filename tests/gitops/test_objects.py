"""The in-process git plumbing: packs with deltas, trees, smart-HTTP request and report formats."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from shipyard.gitops.objects import (
    ZERO,
    ObjectStore,
    build_pack,
    object_id,
    parse_advertisement,
    parse_report,
    parse_tree,
    pkt_line,
    receive_pack_request,
    serialize_tree,
    unpack,
    upload_pack_request,
)

ENV = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
       "GIT_COMMITTER_EMAIL": "a@x", "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: Path, data: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, env=ENV, input=data, capture_output=True, check=True).stdout


def test_unpack_a_real_pack_with_deltas(tmp_path: Path) -> None:
    src = tmp_path / "src"
    git("init", "-q", "-b", "main", str(src), cwd=tmp_path)
    big = "".join(f"line {i}: some repeated content to make deltas worthwhile\n" for i in range(400))
    for i in range(4):
        (src / "apps").mkdir(exist_ok=True)
        (src / "apps" / "values.yaml").write_text(big + f"tag: v{i}\n")
        git("add", "-A", cwd=src)
        git("commit", "-qm", f"c{i}", cwd=src)
    objects = git("rev-list", "--objects", "main", cwd=src).decode().split("\n")
    oids = [line.split()[0] for line in objects if line.strip()]
    for flags in ([], ["--delta-base-offset"]):
        pack = git("pack-objects", "--stdout", "--window=10", *flags, cwd=src, data="\n".join(oids).encode() + b"\n")
        dest = tmp_path / f"dest{len(flags)}.git"
        git("init", "-q", "--bare", str(dest), cwd=tmp_path)
        store = ObjectStore(dest, ENV)
        try:
            got = unpack(pack, store)
            assert got == set(oids)
            for oid in oids:
                kind, data = store.memory[oid]
                assert object_id(kind, data) == oid
            store.flush()
            assert git("cat-file", "-t", oids[0], cwd=dest).strip() == b"commit"
            assert git("fsck", "--no-dangling", cwd=dest) == b""
        finally:
            store.close()


def test_replace_files_builds_the_same_tree_as_git(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    git("init", "-q", "-b", "main", str(repo), cwd=tmp_path)
    (repo / "a" / "b").mkdir(parents=True)
    (repo / "a" / "b" / "k.yaml").write_text("x: 1\n")
    (repo / "a" / "b-c.yaml").write_text("y\n")
    (repo / "z.txt").write_text("z\n")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "seed", cwd=repo)
    store = ObjectStore(repo / ".git", ENV)
    try:
        root = store.commit_tree(git("rev-parse", "HEAD", cwd=repo).decode().strip())
        assert root is not None
        new_root = store.replace_files(root, {"a/b/k.yaml": ("100644", b"x: 2\n"), "a/new.yaml": ("100644", b"n\n")})
        (repo / "a" / "b" / "k.yaml").write_text("x: 2\n")
        (repo / "a" / "new.yaml").write_text("n\n")
        git("add", "-A", cwd=repo)
        assert git("write-tree", cwd=repo).decode().strip() == new_root
        entries = parse_tree(store.memory[new_root][1])
        assert serialize_tree(entries) == store.memory[new_root][1]
    finally:
        store.close()


def test_protocol_lines() -> None:
    assert pkt_line(b"hi\n") == b"0007hi\n"
    body = receive_pack_request([("a" * 40, "b" * 40, "refs/heads/main"), ("c" * 40, ZERO, "refs/x")], [],
                                atomic=True)
    assert body.startswith(pkt_line(f"{'a' * 40} {'b' * 40} refs/heads/main\0 report-status atomic "
                                    "agent=shipyard\n".encode()))
    assert b"PACK" in body
    deletes_only = receive_pack_request([("c" * 40, ZERO, "refs/x")], [])
    assert deletes_only.endswith(b"0000") and b"PACK" not in deletes_only
    report = pkt_line(b"unpack ok\n") + pkt_line(b"ok refs/heads/main\n") + pkt_line(b"ng refs/x failed\n") + b"0000"
    assert parse_report(report) == ("ok", {"refs/heads/main": "ok", "refs/x": "ng failed"})
    adv = (pkt_line(b"# service=git-upload-pack\n") + b"0000"
           + pkt_line(("a" * 40 + " HEAD\0multi_ack filter ofs-delta\n").encode())
           + pkt_line(("b" * 40 + " refs/heads/main\n").encode()) + b"0000")
    assert parse_advertisement(adv) == ({"HEAD": "a" * 40, "refs/heads/main": "b" * 40},
                                        {"multi_ack", "filter", "ofs-delta"})
    req = upload_pack_request("a" * 40, ["b" * 40], ["no-progress"], "blob:limit=1")
    assert b"want " + b"a" * 40 + b" no-progress filter\n" in req and req.endswith(pkt_line(b"done\n"))
    assert build_pack([])[:12] == b"PACK\x00\x00\x00\x02\x00\x00\x00\x00"
