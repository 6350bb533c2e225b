"""The stage against the real git server (Bitbucket's git side) and the Bitbucket double (its REST side)."""

from __future__ import annotations

import pytest

from tests.mirror.conftest import World, git


def test_first_mirror_creates_repo_and_pushes_everything(seeded: World) -> None:
    w = seeded
    before = w.source_refs()
    res = w.mirror()
    assert res.ok, res.output
    assert w.target_refs() == before  # every branch and tag, nothing else
    assert w.source_refs() == before  # the source is never modified
    assert res.outputs["skipped"] == "false"
    assert sorted(res.lines("pushed-refs")) == sorted(before)
    assert res.outputs["target-url"].endswith(f"/{w.ws}/service.git")
    created = w.bb.calls("POST", rf"/2\.0/repositories/{w.ws}/service")
    assert len(created) == 1 and created[0].status == 200
    assert created[0].body == {"scm": "git", "is_private": True, "fork_policy": "no_public_forks", "name": "Service"}
    assert w.bb.calls("GET", r"/2\.0/user")[0].headers["authorization"].startswith("Basic ")
    assert "| ref | old | new | action | note |" in res.summary
    assert w.token not in res.output


def test_unchanged_is_a_fast_noop(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    pushes = [r for r in w.git_server.transcript if "receive-pack" in r.path]
    rest_calls = len(w.bb.transcript)
    res = w.mirror()
    assert res.ok, res.output
    assert res.outputs["skipped"] == "true"
    assert len(w.bb.transcript) == rest_calls  # two ls-remotes decide it: no REST call at all
    assert "unchanged: skipped" in res.summary
    assert [r for r in w.git_server.transcript if "receive-pack" in r.path] == pushes  # no push at all
    assert "nothing to push" in res.output


def test_new_branch_and_tag_then_deleted_branch_pruned(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    w.commit("hotfix", branch="hotfix/1")
    git("tag", "v2.0", cwd=w.work)
    w.publish("refs/heads/hotfix/1", "refs/tags/v2.0")
    res = w.mirror()
    assert res.ok, res.output
    assert sorted(res.lines("pushed-refs")) == ["refs/heads/hotfix/1", "refs/tags/v2.0"]
    assert w.target_refs() == w.source_refs()
    git("push", "-q", w.src_url, ":refs/heads/feature/x", cwd=w.work,
        env={"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
             "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {w.src_token}"})
    res = w.mirror()
    assert res.ok, res.output
    assert res.lines("deleted-refs") == ["refs/heads/feature/x"]
    assert "refs/heads/feature/x" not in w.target_refs()
    assert w.target_refs() == w.source_refs()


def test_keep_deleted_moves_branch_under_backup(seeded: World) -> None:
    w = seeded
    checkout = w.checkout()  # the same checkout twice: the deleted tip is still in its object store
    assert w.mirror(checkout).ok
    old = w.source_refs()["refs/heads/feature/x"]
    git("push", "-q", w.src_url, ":refs/heads/feature/x", cwd=w.work,
        env={"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
             "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {w.src_token}"})
    res = w.mirror(checkout, keep_deleted=True)
    assert res.ok, res.output
    target = w.target_refs()
    backups = {r: s for r, s in target.items() if r.startswith("refs/backup/")}
    assert list(backups.values()) == [old]
    (ref,) = backups
    assert ref.endswith("/heads/feature/x") and res.lines("backup-refs") == [ref]
    assert "refs/heads/feature/x" not in target
    res = w.mirror(keep_deleted=True)  # backups are not mirror refs: the next run is a no-op
    assert res.outputs["skipped"] == "true", res.output


def test_force_pushed_branch_is_force_updated_and_listed(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    git("checkout", "-q", "feature/x", cwd=w.work)
    git("reset", "-q", "--hard", "HEAD~1", cwd=w.work)
    rewritten = w.commit("rewritten")
    w.commit("more on main", branch="main")
    w.publish("+refs/heads/feature/x", "refs/heads/main")
    res = w.mirror()
    assert res.ok, res.output
    assert res.lines("forced-refs") == ["refs/heads/feature/x"]
    assert w.target_refs()["refs/heads/feature/x"] == rewritten
    assert "Force-updated" in res.summary and "history rewritten" in res.summary
    assert w.target_refs() == w.source_refs()


def test_shallow_single_branch_checkout_is_completed(seeded: World) -> None:
    w = seeded
    checkout = w.checkout(shallow=True)
    assert git("rev-parse", "--is-shallow-repository", cwd=checkout) == "true"
    res = w.mirror(checkout)
    assert res.ok, res.output
    assert w.target_refs() == w.source_refs()
    # the full history reached the target, not a grafted shallow tip
    clone = w.tmp / "verify"
    git("clone", "-q", "--mirror", w.git_server.url(w.target), str(clone),
        env={"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
             "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {w.token}"})
    assert git("rev-list", "--count", "refs/heads/main", cwd=clone) == "2"
    assert git("fsck", "--no-progress", cwd=clone) == ""


def test_read_only_token_refused_before_pushing(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    w.commit("new")
    w.publish("refs/heads/main")
    ro = "ATATT" + "r" * 30
    w.bb.add_credential("api-token", ro, user=w.email, scopes=["read:user:bitbucket", "read:repository:bitbucket"])
    before = w.target_refs()
    w.git_server.clear_transcript()
    res = w.mirror(token=ro)
    assert not res.ok
    assert "error: The user API token can read" in res.output and "but not write to it; nothing was pushed" in res.output
    assert w.target_refs() == before
    assert not [r for r in w.git_server.transcript if "receive-pack" in r.path]


def test_repository_permission_read_refused(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    w.commit("new")
    w.publish("refs/heads/main")
    t = "ATATT" + "p" * 30
    w.bb.add_credential("api-token", t, user=w.email, permission="read")
    res = w.mirror(token=t)
    assert not res.ok and "not write" in res.output
    assert w.bb.calls("GET", r"/2\.0/user/permissions/repositories")


def test_git_side_read_only_refused_by_push_dry_run(seeded: World) -> None:
    """When REST can not tell (no scopes header), the push --dry-run write check refuses before sending."""
    w = seeded
    assert w.mirror().ok
    w.commit("new")
    w.publish("refs/heads/main")
    t = "access-" + "q" * 30
    w.bb.add_credential("access-token", t, scopes=[])
    w.git_server.add_token(t, "read")
    before = w.target_refs()
    res = w.mirror(token=t, username="", auth="access-token")
    assert not res.ok
    assert "Pre-flight push check failed, nothing was pushed" in res.output and "403" in res.output
    assert w.target_refs() == before


def test_protected_branch_rejection_names_the_fix(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    hook = w.git_server.repo_path(w.target) / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read old new ref; do\n  if [ \"$ref\" = refs/heads/main ]; then\n"
                    "    echo \"Branch refs/heads/main is protected: changes need a pull request\"; exit 1\n"
                    "  fi\ndone\nexit 0\n")
    hook.chmod(0o755)
    w.commit("direct to main")
    w.commit("other", branch="feature/y")
    w.publish("refs/heads/main", "refs/heads/feature/y")
    before = w.target_refs()
    res = w.mirror()
    assert not res.ok
    assert "Bitbucket rejected the push: refs/heads/main" in res.output
    assert "protected" in res.output and "Branch restrictions" in res.output
    assert w.target_refs() == before  # atomic: feature/y did not land either


def test_app_password_removed_401_and_410(seeded: World) -> None:
    w = seeded
    for status in (401, 410):
        pw = f"ATBB{status}" + "x" * 20
        w.bb.add_credential("app-password", pw, user="devuser", gone=status)
        res = w.mirror(token=pw, username="devuser")
        assert not res.ok
        assert "app passwords were removed by bitbucket cloud on 2026-07-28" in res.output.lower()
        assert f"({status}:" in res.output
        assert "API token" in res.output
        assert "warning: App passwords were removed" in res.output


def test_missing_workspace(seeded: World) -> None:
    res = seeded.mirror(workspace="nope-ws")
    assert not res.ok and "workspace 'nope-ws' does not exist" in res.output


def test_bad_token(seeded: World) -> None:
    res = seeded.mirror(token="ATATT" + "z" * 30)
    assert not res.ok and "rejected the user API token (401" in res.output


def test_api_token_with_wrong_username(seeded: World) -> None:
    res = seeded.mirror(username="someone@else.example")
    assert not res.ok and "Atlassian account email" in res.output


def test_rate_limited_create_is_retried(seeded: World) -> None:
    w = seeded
    w.bb.inject("status", 429, match="POST /2.0/repositories", headers={"Retry-After": "1"})
    res = w.mirror()
    assert res.ok, res.output
    assert [c.status for c in w.bb.calls("POST")] == [429, 200]


def test_slug_rules_applied_and_reported(seeded: World) -> None:
    w = seeded
    w.name = "My Service!!  v2"
    res = w.mirror()
    assert res.ok, res.output
    assert "becomes the Bitbucket slug 'my-service-v2'" in res.output
    assert w.git_server.refs(f"{w.ws}/my-service-v2.git") == w.source_refs()


def test_access_token_on_existing_repo(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    t = "ATCTT" + "a" * 30
    w.bb.add_credential("access-token", t, repos=[f"{w.ws}/service"])
    w.commit("via access token")
    w.publish("refs/heads/main")
    res = w.mirror(token=t, username="")
    assert res.ok, res.output
    assert "access token (repository/project/workspace)" in res.output
    rest = w.bb.calls("GET", rf"/2\.0/repositories/{w.ws}/service")[-1]
    assert rest.headers["authorization"] == f"Bearer {t}"
    assert not [c for c in w.bb.calls("GET", r"/2\.0/user") if c.headers.get("authorization", "").endswith(t)]
    assert w.target_refs() == w.source_refs()


def test_dry_run_changes_nothing(seeded: World) -> None:
    w = seeded
    res = w.mirror(dry_run=True)
    assert res.ok, res.output
    assert "would create" in res.output
    assert not w.bb.calls("POST")
    assert not w.git_server.repo_path(w.target).exists()


def test_data_center_create_and_mirror(seeded: World) -> None:
    w = seeded
    w.bb.add_project("OPS")
    t = "BBDC-" + "d" * 40
    w.bb.add_credential("access-token", t, project_admin=["OPS"])
    res = w.mirror(platform="datacenter", server_url=w.bb.url, project="ops", workspace="", token=t, username="",
                   git_url=w.git_server.base_url + "/{project}/{slug}.git")
    assert res.ok, res.output
    post = w.bb.calls("POST", r"/rest/api/latest/projects/OPS/repos")
    assert post and post[0].status == 201 and post[0].body["scmId"] == "git" and post[0].body["forkable"] is True
    assert w.git_server.refs("ops/service.git") == w.source_refs()
    res = w.mirror(platform="datacenter", server_url=w.bb.url, project="OPS", workspace="", token=t, username="",
                   git_url=w.git_server.base_url + "/{project}/{slug}.git")
    assert res.outputs["skipped"] == "true", res.output


def test_data_center_missing_project(seeded: World) -> None:
    t = "BBDC-" + "e" * 40
    seeded.bb.add_credential("access-token", t)
    res = seeded.mirror(platform="datacenter", server_url=seeded.bb.url, project="NOPE", token=t, username="")
    assert not res.ok and "project 'NOPE' does not exist" in res.output


@pytest.mark.parametrize("kind", ["hidden"])
def test_hidden_refs_never_mirrored(seeded: World, kind: str) -> None:
    w = seeded
    sha = w.source_refs()["refs/heads/main"]
    bare = w.git_server.repo_path(w.src_name)
    git("update-ref", "refs/pull/1/head", sha, cwd=bare)
    git("update-ref", "refs/remotes/origin/HEAD", sha, cwd=bare)
    git("symbolic-ref", "refs/heads/HEAD", "refs/heads/main", cwd=bare, check=False)
    res = w.mirror()
    assert res.ok, res.output
    assert all(r.startswith(("refs/heads/", "refs/tags/")) for r in w.target_refs())
    assert "refs/heads/HEAD" not in w.target_refs()
