"""More checkouts and transports: persisted checkout credentials, no checkout, partial clone, SSH (through a
stand-in ssh that checks the options and runs git's pack programs locally), applied-but-5xx creation."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.mirror.conftest import World, git

FAKE_SSH = r'''#!{python}
"""Stand-in for ssh: checks the mirror's options, then runs the git command against the server's repos."""
import os, shlex, stat, subprocess, sys
args = sys.argv[1:]
log = open({log!r}, "a")
log.write(" ".join(args) + "\n")
opts, i = {{}}, 0
while i < len(args) and args[i].startswith("-"):
    flag = args[i]
    if flag in ("-F", "-i", "-o", "-p"):
        opts.setdefault(flag, []).append(args[i + 1]); i += 2
    else:
        i += 1
host, command = args[i], args[i + 1]
o = dict(x.split("=", 1) for x in opts.get("-o", []))
assert o.get("StrictHostKeyChecking") == "yes" and o.get("IdentitiesOnly") == "yes", o
assert o.get("BatchMode") == "yes" and opts.get("-F") == ["/dev/null"], opts
key = opts["-i"][0]
assert stat.S_IMODE(os.stat(key).st_mode) == 0o600 and "PRIVATE KEY" in open(key).read()
known = open(o["UserKnownHostsFile"]).read()
if host.split("@")[-1] not in known:
    sys.stderr.write("Host key verification failed.\n"); sys.exit(255)
log.write("KEY " + key + "\n")
prog, path = shlex.split(command)
sys.exit(subprocess.call([prog, path.lstrip("/")], cwd={root!r}))
'''


def test_persisted_checkout_credentials_do_not_duplicate_the_header(seeded: World) -> None:
    """actions/checkout persists an extraheader for the host; ours replaces it instead of adding a second
    Authorization header (which servers reject)."""
    w = seeded
    checkout = w.checkout()
    git("config", "--local", f"http.{w.git_server.base_url}/.extraheader", "AUTHORIZATION: basic c3RhbGU6c3RhbGU=",
        cwd=checkout)
    res = w.mirror(checkout)
    assert res.ok, res.output
    assert w.target_refs() == w.source_refs()
    assert git("config", "--local", "--get-all", f"http.{w.git_server.base_url}/.extraheader", cwd=checkout) == (
        "AUTHORIZATION: basic c3RhbGU6c3RhbGU=")  # the checkout's config is left alone


def test_no_checkout_uses_a_scratch_repository(seeded: World) -> None:
    w = seeded
    empty = w.tmp / "not-a-checkout"
    empty.mkdir()
    res = w.mirror(empty, source_url=w.src_url)
    assert res.ok, res.output
    assert "scratch repository" in res.output
    assert w.target_refs() == w.source_refs()
    assert not [p for p in w.tmp.iterdir() if p.name.startswith("shipyard-mirror-")]


def test_partial_clone_is_not_pushed_from(seeded: World) -> None:
    w = seeded
    checkout = w.checkout(shallow=False)
    git("config", "extensions.partialClone", "origin", cwd=checkout)
    res = w.mirror(checkout)
    assert res.ok, res.output
    assert "partial clone" in res.output
    assert w.target_refs() == w.source_refs()


def test_create_answered_500_but_applied_is_not_repeated(seeded: World) -> None:
    w = seeded
    w.bb.inject("applied_status", 500, match=r"POST /2\.0/repositories/")
    res = w.mirror()
    assert res.ok, res.output
    assert [c.status for c in w.bb.calls("POST")] == [500]  # looked up, found, not created twice
    assert w.target_refs() == w.source_refs()


def test_ssh_transport_with_pinned_host_key(seeded: World) -> None:
    w = seeded
    w.git_server.create_repo(f"{w.ws}/service.git")
    bindir = w.tmp / "bin"
    bindir.mkdir()
    log = w.tmp / "ssh.log"
    fake = bindir / "ssh"
    fake.write_text(FAKE_SSH.format(python=sys.executable, log=str(log), root=str(w.git_server.root)))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    path = f"{bindir}{os.pathsep}{os.environ['PATH']}"
    res = w.mirror(token="", username="", auth="ssh-key", ssh_private_key=key,
                   ssh_known_hosts="bitbucket.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIazz", git_url="",
                   env_extra={"PATH": path})
    assert res.ok, res.output
    assert w.target_refs() == w.source_refs()
    calls = log.read_text()
    assert "git@bitbucket.org" in calls and "git-receive-pack" in calls
    key_file = next(line.split(" ", 1)[1] for line in calls.splitlines() if line.startswith("KEY "))
    assert not Path(key_file).exists()  # removed after the step
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in res.output
    # a host that is not in known_hosts is refused, never trusted on first use
    res = w.mirror(token="", username="", auth="ssh-key", ssh_private_key=key,
                   ssh_known_hosts="other.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIazz", git_url="",
                   env_extra={"PATH": path})
    assert not res.ok and "host key verification failed" in res.output.lower()
    assert "ssh-known-hosts" in res.output


def test_create_race_400_already_exists_continues(seeded: World) -> None:
    w = seeded
    w.bb.create_repo(w.ws, "service", "Service", "cloud")  # another job created it a moment ago
    w.bb.inject("status", 404, match=rf"GET /2\.0/repositories/{w.ws}/service$",
                body={"type": "error", "error": {"message": f"Repository {w.ws}/service not found"}})
    res = w.mirror()
    assert res.ok, res.output
    post = w.bb.calls("POST")
    assert [c.status for c in post] == [400] and "already exists" in str(post[0].response)
    assert w.target_refs() == w.source_refs()


def test_retry_after_is_honoured(seeded: World) -> None:
    w = seeded
    w.bb.inject("status", 429, match=r"GET /2\.0/user$", headers={"Retry-After": "3"})
    res = w.mirror()
    assert res.ok, res.output
    assert res.sleeps and res.sleeps[0] >= 3


def test_data_center_read_only_refused(seeded: World) -> None:
    w = seeded
    w.bb.add_project("RO")
    w.bb.create_repo("RO", "service", "Service", "datacenter")
    t = "BBDC-" + "r" * 40
    w.bb.add_credential("api-token", t, user="jdoe", scopes=["repository"])
    res = w.mirror(platform="datacenter", server_url=w.bb.url, project="RO", token=t, username="jdoe",
                   auth="api-token", git_url=w.git_server.base_url + "/{project}/{slug}.git")
    assert not res.ok and "can read RO/service but not write" in res.output
    call = w.bb.calls("GET", r"/rest/api/latest/repos")[0]
    assert call.query["permission"] == "REPO_WRITE" and call.headers["authorization"].startswith("Basic ")
    assert w.git_server.refs("ro/service.git") == {}


def test_server_without_atomic_push_falls_back(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    w.git_server.git_config(w.target, "receive.advertiseAtomic", "false")
    w.commit("after atomic was switched off")
    w.publish("refs/heads/main")
    res = w.mirror()
    assert res.ok, res.output
    assert "does not support atomic pushes" in res.output
    assert w.target_refs() == w.source_refs()


def test_verification_catches_a_target_that_differs(seeded: World) -> None:
    w = seeded
    assert w.mirror().ok
    hook = w.git_server.repo_path(w.target) / "hooks" / "post-receive"
    hook.write_text("#!/bin/sh\nread old new ref\ngit update-ref refs/heads/sneaky \"$new\"\n")
    hook.chmod(0o755)
    w.commit("trigger")
    w.publish("refs/heads/main")
    res = w.mirror()
    assert not res.ok
    assert "Verification failed" in res.output and "refs/heads/sneaky (source absent" in res.output


def test_summary_table_and_preflight_facts(seeded: World) -> None:
    res = seeded.mirror()
    assert res.ok
    s = res.summary
    assert "### Bitbucket mirror" in s and "| ref | old | new | action | note |" in s
    assert "| refs/heads/main |  |" in s and "| create |" in s
    assert "user API token" in s and "Mirror Bot" in s and "| **write access** | yes |" in s


def test_deletion_is_leased_against_concurrent_changes(seeded: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipyard.mirror.transport import Git

    w = seeded
    assert w.mirror().ok
    git("push", "-q", w.src_url, ":refs/heads/feature/x", cwd=w.work,
        env={"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
             "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {w.src_token}"})
    original = Git.fetch_source
    main = w.source_refs()["refs/heads/main"]

    def racing_fetch(self: Git) -> dict[str, str]:
        result = original(self)
        # someone pushes to the mirror's feature/x after the plan's ls-remote
        git("update-ref", "refs/heads/feature/x", main, cwd=w.git_server.repo_path(w.target))
        return result

    monkeypatch.setattr(Git, "fetch_source", racing_fetch)
    res = w.mirror()
    assert not res.ok
    assert "changed while mirroring (refs/heads/feature/x)" in res.output
    assert w.target_refs()["refs/heads/feature/x"] == main  # not deleted: the lease saw it move


def test_api_token_without_user_scope_names_the_scope(seeded: World) -> None:
    w = seeded
    t = "ATATT" + "s" * 30
    w.bb.add_credential("api-token", t, user=w.email, scopes=["read:repository:bitbucket", "write:repository:bitbucket"])
    res = w.mirror(token=t)
    assert not res.ok and "read:user:bitbucket" in res.output


def test_working_app_password_is_accepted_with_a_warning(seeded: World) -> None:
    w = seeded
    pw = "ATBB" + "w" * 28
    w.bb.add_credential("app-password", pw, user="devuser")
    res = w.mirror(token=pw, username="devuser")
    assert res.ok, res.output
    assert "warning: App passwords were removed by Bitbucket Cloud on 2026-07-28" in res.output
    assert "app password" in res.summary
    assert w.target_refs() == w.source_refs()
