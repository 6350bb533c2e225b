"""Git LFS: objects of every mirrored ref go from the source's LFS endpoint to the target's (batch API in the
Bitbucket double, both sides)."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from tests.mirror.conftest import World

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is not installed")


def pointer(data: bytes) -> tuple[str, str]:
    oid = hashlib.sha256(data).hexdigest()
    return oid, f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n"


def test_lfs_objects_of_all_refs_are_pushed(world: World) -> None:
    w = world
    blob_main, blob_feature = b"\x00main-binary" * 1000, b"\x01feature-binary" * 700
    oid_main, ptr_main = pointer(blob_main)
    oid_feature, ptr_feature = pointer(blob_feature)
    src_lfs = f"src-{w.ws}"
    w.bb.lfs[(src_lfs, oid_main)] = blob_main
    w.bb.lfs[(src_lfs, oid_feature)] = blob_feature
    w.bb.add_credential("access-token", w.src_token)  # the source token also reads the source's LFS
    w.commit("lfs", {".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n", "model.bin": ptr_main})
    w.commit("feature asset", {"assets/feature.bin": ptr_feature}, branch="feature/lfs")
    w.publish()
    res = w.mirror(source_lfs_url=w.bb.lfs_url(src_lfs), target_lfs_url=w.bb.lfs_url(f"{w.ws}/service"))
    assert res.ok, res.output
    assert w.bb.lfs[(f"{w.ws}/service", oid_main)] == blob_main
    assert w.bb.lfs[(f"{w.ws}/service", oid_feature)] == blob_feature  # not only the checked-out branch
    uploads = w.bb.calls("PUT", rf"/lfs/{w.ws}/service/objects/[0-9a-f]+")
    assert len(uploads) == 2 and all(u.headers["authorization"].startswith("Basic ") for u in uploads)
    assert w.target_refs() == w.source_refs()
    assert w.token not in res.output and w.src_token not in res.output


def test_lfs_push_refused_is_a_clear_error(world: World) -> None:
    w = world
    data = b"weights" * 100
    oid, ptr = pointer(data)
    w.bb.lfs[(f"src-{w.ws}", oid)] = data
    w.bb.add_credential("access-token", w.src_token)
    w.commit("lfs", {".gitattributes": "*.bin filter=lfs -text\n", "w.bin": ptr})
    w.publish()
    w.bb.inject("status", 507, match=r"POST /lfs/.*/objects/batch$", count=1,
                body={"message": "LFS storage quota exceeded"})
    # the first batch call (download from the source) fails: nothing may be pushed
    res = w.mirror(source_lfs_url=w.bb.lfs_url(f"src-{w.ws}"), target_lfs_url=w.bb.lfs_url(f"{w.ws}/service"))
    assert not res.ok
    assert "LFS objects" in res.output
    assert "refs/heads/main" not in w.target_refs()
