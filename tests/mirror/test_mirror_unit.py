"""Unit tests of the mirror's pure logic: ref selection, the push plan, slugs, credential kinds, SSH files,
git error classification."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest

from shipyard.git import GitResult
from shipyard.mirror import refs as R
from shipyard.mirror.auth import Credential, app_password_warning, detect, ssh_setup
from shipyard.mirror.bitbucket import slugify
from shipyard.mirror.transport import Endpoint, classify, parse_porcelain, remote_messages
from shipyard.runtime import TransientError, UserError

A, B, C, D = "a" * 40, "b" * 40, "c" * 40, "d" * 40


def test_only_branches_and_tags_are_mirrorable() -> None:
    ls = (f"{A}\tHEAD\n{A}\trefs/heads/main\n{B}\trefs/pull/1/head\n{B}\trefs/pull/1/merge\n"
          f"{C}\trefs/tags/v1\n{D}\trefs/tags/v1^{{}}\n{A}\trefs/remotes/origin/HEAD\n{A}\trefs/heads/HEAD\n"
          f"{A}\trefs/github-services/x\n{B}\trefs/backup/2026-01-01/heads/old\n")
    assert R.heads_and_tags(R.parse_ls_remote(ls)) == {"refs/heads/main": A, "refs/tags/v1": C}


def test_plan_creates_fast_forwards_forces_and_prunes() -> None:
    desired = {"refs/heads/main": B, "refs/heads/new": C, "refs/heads/rewritten": D, "refs/tags/v1": A,
               "refs/tags/moved": C}
    target = {"refs/heads/main": A, "refs/heads/rewritten": A, "refs/heads/gone": A, "refs/tags/v1": A,
              "refs/tags/moved": A, "refs/backup/x/heads/y": B, "refs/pull/1/head": A}
    plan = R.plan_push(desired, target, is_fast_forward=lambda old, new: (old, new) == (A, B),
                       local_ref=lambda r: "refs/src/" + r[5:])
    got = {c.ref: (c.action, c.refspec) for c in plan.changes}
    assert got == {
        "refs/heads/main": ("update", "refs/src/heads/main:refs/heads/main"),
        "refs/heads/new": ("create", "refs/src/heads/new:refs/heads/new"),
        "refs/heads/rewritten": ("force", "+refs/src/heads/rewritten:refs/heads/rewritten"),
        "refs/tags/moved": ("force", "+refs/src/tags/moved:refs/tags/moved"),
        "refs/heads/gone": ("delete", ":refs/heads/gone"),
    }
    # refs/backup/* and hidden refs on the target are never touched
    assert not [c for c in plan.changes if c.ref.startswith(("refs/backup/", "refs/pull/"))]


def test_plan_without_prune_keeps_extra_refs() -> None:
    plan = R.plan_push({"refs/heads/main": A}, {"refs/heads/main": A, "refs/heads/old": B},
                       is_fast_forward=lambda o, n: True, prune=False)
    assert plan.empty


def test_keep_deleted_backs_up_deleted_and_rewritten_tips() -> None:
    desired = {"refs/heads/main": C}
    target = {"refs/heads/main": A, "refs/heads/gone": B, "refs/backup/2026-11-25/heads/gone": D}
    plan = R.plan_push(desired, target, is_fast_forward=lambda o, n: False, keep_deleted=True, stamp="2026-11-25")
    rows = [(c.ref, c.action, c.refspec) for c in plan.changes]
    assert ("refs/backup/2026-11-25/heads/main", "backup", f"{A}:refs/backup/2026-11-25/heads/main") in rows
    # the same day's backup name is taken by another commit: a suffix keeps both
    assert ("refs/backup/2026-11-25/heads/gone-2", "backup",
            f"{B}:refs/backup/2026-11-25/heads/gone-2") in rows
    assert ("refs/heads/gone", "delete", ":refs/heads/gone") in rows
    assert ("refs/heads/main", "force", "+refs/heads/main:refs/heads/main") in rows


def test_plan_refuses_hidden_refs_in_desired() -> None:
    with pytest.raises(ValueError):
        R.plan_push({"refs/pull/1/head": A}, {}, is_fast_forward=lambda o, n: True)


def test_diff_refs_lists_mismatches() -> None:
    assert R.diff_refs({"refs/heads/a": A, "refs/tags/t": B}, {"refs/heads/a": C, "refs/backup/x": A}) == [
        ("refs/heads/a", A, C), ("refs/tags/t", B, None)]


@pytest.mark.parametrize(("name", "slug"), [
    ("Service", "service"), ("My Service!!  v2", "my-service-v2"), ("api.gateway_v1", "api.gateway_v1"),
    ("--Ünïcode repo--", "n-code-repo"), ("a///b", "a-b"), ("...", ""),
])
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_detect_credential_kinds() -> None:
    assert detect("auto", "ATATTxyz", "me@example.com", None, "cloud").kind == "api-token"
    assert detect("auto", "ATCTTxyz", None, None, "cloud").kind == "access-token"
    assert detect("auto", "ATBBxyz", "me", None, "cloud").kind == "app-password"
    assert detect("auto", "opaque", None, None, "cloud").kind == "access-token"
    assert detect("auto", "opaque", "me@example.com", None, "cloud").kind == "api-token"
    assert detect("auto", "", None, "-----BEGIN OPENSSH PRIVATE KEY-----", "cloud").kind == "ssh-key"
    with pytest.raises(UserError, match="Atlassian account email"):
        detect("auto", "ATATTxyz", None, None, "cloud")
    with pytest.raises(UserError, match="No Bitbucket credential"):
        detect("auto", None, None, None, "cloud")
    with pytest.raises(UserError, match="Bitbucket username"):
        detect("app-password", "ATBBx", None, None, "cloud")


def test_rest_and_git_auth_per_kind() -> None:
    api = Credential("api-token", "tok", "me@example.com")
    assert api.rest_headers()["Authorization"].startswith("Basic ")
    g = api.git_auth("https://bitbucket.org/ws/r.git")
    assert g is not None and (g.username, g.kind) == ("x-bitbucket-api-token-auth", "basic")
    acc = Credential("access-token", "tok")
    assert acc.rest_headers() == {"Authorization": "Bearer tok"}
    g = acc.git_auth("https://bitbucket.org/ws/r.git")
    assert g is not None and (g.username, g.kind) == ("x-token-auth", "basic")
    g = Credential("access-token", "tok", platform="datacenter").git_auth("https://bb.example.com/scm/k/r.git")
    assert g is not None and g.kind == "bearer"
    assert Credential("ssh-key").git_auth("x") is None


def test_app_password_warning_before_and_after_removal() -> None:
    assert "stop working on 2026-07-28" in app_password_warning(dt.date(2026, 5, 1))
    assert "were removed" in app_password_warning(dt.date(2026, 11, 25))


def test_ssh_key_written_0600_and_removed(tmp_path: Path) -> None:
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    with ssh_setup(key, "bitbucket.org ssh-ed25519 AAAAC3Nza", str(tmp_path)) as setup:
        assert stat.S_IMODE(os.stat(setup.key_file).st_mode) == 0o600
        assert Path(setup.directory).parent == tmp_path
        cmd = setup.command()
        assert "StrictHostKeyChecking=yes" in cmd and "IdentitiesOnly=yes" in cmd
        assert f"UserKnownHostsFile={setup.known_hosts}" in cmd and "StrictHostKeyChecking=no" not in cmd
        assert "abc" not in cmd
    assert not Path(setup.directory).exists()


def test_ssh_setup_refuses_empty_known_hosts(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="known_hosts"), ssh_setup("-----BEGIN X PRIVATE KEY-----", "#", str(tmp_path)):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("stderr", "expect"), [
    ("fatal: unable to access 'x': The requested URL returned error: 403", "read but not write"),
    ("fatal: Authentication failed for 'x'", "rejected the credential (401)"),
    ("fatal: unable to access 'x': The requested URL returned error: 410", "410 Gone"),
    ("Host key verification failed.", "host key"),
    ("git@bitbucket.org: Permission denied (publickey).", "SSH key was refused"),
    ("fatal: repository 'x' not found", "was not found"),
])
def test_classify_git_errors(stderr: str, expect: str) -> None:
    err = classify(GitResult(128, "", stderr, ["push"]), Endpoint("target", "https://bitbucket.org/ws/r.git"))
    assert isinstance(err, UserError) and expect in err.message


def test_classify_transient() -> None:
    err = classify(GitResult(128, "", "error: RPC failed; HTTP 503", ["fetch"]), Endpoint("source", "u"))
    assert isinstance(err, TransientError)


def test_parse_porcelain_and_remote_messages() -> None:
    out = ("To http://x/r.git\n*\trefs/src/heads/a:refs/heads/a\t[new branch]\n"
           "!\trefs/src/heads/main:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\n")
    lines = parse_porcelain(out)
    assert [(ln.flag, ln.dst) for ln in lines] == [("*", "refs/heads/a"), ("!", "refs/heads/main")]
    assert remote_messages("remote: Branch main is protected\nremote: \nerror: x") == "Branch main is protected"
