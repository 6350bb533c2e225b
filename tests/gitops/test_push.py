"""Push mode against the real git smart-HTTP server: commits, idempotency, races, guard, errors."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.git import GitAuth
from shipyard.gitops import message as msg
from shipyard.gitops.gitrepo import WorkClone
from shipyard.gitops.imageref import ImageUpdate
from shipyard.gitops.updater import Updater, UpdateRequest, queue_key
from tests.gitops.conftest import OVERLAY, ConfigRepo, push_inputs, run_gitops, service_files

D = "sha256:" + "c" * 64


def test_push_mode_changes_one_scalar_in_one_commit(config_repo: ConfigRepo) -> None:
    before = config_repo.show("apps/orders/overlays/dev/kustomization.yaml")
    result = run_gitops(push_inputs(config_repo, tag="v1.1.0@" + D))
    assert result.code == 0, result.log
    assert result.outputs["changed"] == "true"
    assert result.outputs["previous-tag"] == "v1.0.0"
    assert result.outputs["previous-digest"] == ""
    assert result.outputs["commit"] == config_repo.tip()
    after = config_repo.show("apps/orders/overlays/dev/kustomization.yaml")
    assert after == before.replace('newTag: "v1.0.0"   # set by CI', 'newTag: "v1.1.0"   # set by CI\n    digest: ' + D)
    message = config_repo.message()
    assert message.startswith("deploy(orders/dev): v1.0.0 -> v1.1.0@sha256:cccccccccccc")
    trailers = msg.parse_trailers(message)
    assert trailers["Shipyard-Service"] == "orders"
    assert trailers["Shipyard-Source-Commit"] == "a" * 40
    assert config_repo.changed_files() == ["apps/orders/overlays/dev/kustomization.yaml"]
    assert "| **status** | :rocket: updated |" in result.log
    assert config_repo.token not in result.log
    # the credential never travelled in a URL
    assert all(config_repo.token not in r.path for r in config_repo.server.transcript)


def test_second_run_is_idempotent_no_empty_commit(config_repo: ConfigRepo) -> None:
    assert run_gitops(push_inputs(config_repo)).code == 0
    tip = config_repo.tip()
    again = run_gitops(push_inputs(config_repo))
    assert again.code == 0, again.log
    assert again.outputs["changed"] == "false"
    assert again.outputs["status"] == "up-to-date"
    assert again.outputs["commit"] == tip == config_repo.tip()


def test_all_overlays_in_one_atomic_commit(config_repo: ConfigRepo) -> None:
    count = config_repo.count()
    result = run_gitops(push_inputs(config_repo, paths="apps/orders/overlays/*/kustomization.yaml", tag="v2"))
    assert result.code == 0, result.log
    assert config_repo.count() == count + 1
    assert sorted(config_repo.changed_files()) == [
        "apps/orders/overlays/dev/kustomization.yaml", "apps/orders/overlays/stg/kustomization.yaml"]
    assert result.outputs["files"].splitlines() == sorted(config_repo.changed_files())


def test_lost_race_is_replayed_without_reverting_the_other_change(config_repo: ConfigRepo) -> None:
    """Another writer lands in the same file between our fetch and our push: we re-apply on its commit."""
    path = "apps/orders/overlays/dev/kustomization.yaml"
    original_commit = WorkClone.commit_files
    raced = []

    def racing_commit(self: WorkClone, *args: object, **kwargs: object) -> str:
        if not raced:
            raced.append(True)
            other = config_repo.show(path).replace("# shared base\n", "# shared base\n  - extra.yaml\n")
            config_repo.commit_files({path: other, "apps/orders/base/extra.yaml": "apiVersion: v1\nkind: "
                                      "ConfigMap\nmetadata:\n  name: extra\n"}, "someone else")
        return original_commit(self, *args, **kwargs)  # type: ignore[arg-type]

    mp = pytest.MonkeyPatch()
    mp.setattr(WorkClone, "commit_files", racing_commit)
    try:
        result = run_gitops(push_inputs(config_repo, tag="v3", validate="parse"))
    finally:
        mp.undo()
    assert result.code == 0, result.log
    assert "lost the race" in result.log
    text = config_repo.show(path)
    assert "  - extra.yaml\n" in text and 'newTag: "v3"' in text
    assert config_repo.message("main~1").startswith("someone else")


def _with_services(config_repo: ConfigRepo, services: list[str]) -> GitAuth:
    """Add a dev overlay per service to the config repository; the credential for updaters."""
    files: dict[str, str] = {}
    for svc in services:
        files.update(service_files(svc, ("dev",)))
    config_repo.commit_files(files, "add services")
    return GitAuth("bearer", secret=config_repo.token, scope_url=config_repo.server.base_url + "/")


def _all_at_once(writer: Callable[[str], None], services: list[str]) -> None:
    threads = [threading.Thread(target=writer, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


def test_concurrent_writers_all_land(config_repo: ConfigRepo) -> None:
    services = [f"svc{i}" for i in range(12)]
    auth = _with_services(config_repo, services)
    outcomes: dict[str, str] = {}
    errors: list[BaseException] = []

    def writer(svc: str) -> None:
        clone = WorkClone(config_repo.url, auth)
        req = UpdateRequest(service=svc, environment="dev", branch="main",
                            paths=[f"apps/{svc}/overlays/dev/kustomization.yaml"],
                            update=ImageUpdate(svc, "v9", None), validate="parse", source_commit="b" * 40)
        try:
            outcomes[svc] = Updater(clone, req).run().status
        except BaseException as exc:
            errors.append(exc)
        finally:
            clone.close()

    _all_at_once(writer, services)
    assert not errors
    assert set(outcomes.values()) == {"updated"}
    for svc in services:
        assert 'newTag: "v9"' in config_repo.show(f"apps/{svc}/overlays/dev/kustomization.yaml")
    assert 'newTag: "v1.0.0"' in config_repo.show("apps/orders/overlays/dev/kustomization.yaml")
    # every lost race queued a ticket; each ticket left with its owner's update
    assert not [r for r in config_repo.server.refs(config_repo.name) if r.startswith("refs/shipyard/")]


def test_out_of_order_build_is_refused_with_a_warning(config_repo: ConfigRepo) -> None:
    newer = run_gitops(push_inputs(config_repo, tag="v5", built_at="2026-01-01T10:00:00Z",
                                   source_commit="5" * 40))
    assert newer.code == 0, newer.log
    tip = config_repo.tip()
    older = run_gitops(push_inputs(config_repo, tag="v4", built_at="2026-01-01T09:00:00Z", source_commit="4" * 40))
    assert older.code == 0, older.log
    assert older.outputs["changed"] == "false"
    assert older.outputs["status"] == "out-of-order"
    assert "warning: Not deploying orders:v4 to dev" in older.log
    assert config_repo.tip() == tip
    # another service's commit on top does not hide the record
    config_repo.commit_files({"README.md": "hello\n"}, "docs")
    still = run_gitops(push_inputs(config_repo, tag="v4", built_at="2026-01-01T09:30:00Z", source_commit="4" * 40))
    assert still.outputs["status"] == "out-of-order"
    later = run_gitops(push_inputs(config_repo, tag="v6", built_at="2026-01-01T11:00:00Z", source_commit="6" * 40))
    assert later.outputs["status"] == "updated"


def test_bad_token_fails_with_the_fix_and_pushes_nothing(config_repo: ConfigRepo) -> None:
    tip = config_repo.tip()
    result = run_gitops(push_inputs(config_repo, token="not-a-valid-token"))
    assert result.code == 1
    assert "error: The config repository" in result.log and "HTTP 401" in result.log
    assert "check the `token` input" in result.log
    assert "not-a-valid-token" not in result.log
    assert config_repo.tip() == tip


def test_read_only_token_is_a_403_error(config_repo: ConfigRepo) -> None:
    tip = config_repo.tip()
    result = run_gitops(push_inputs(config_repo, token=config_repo.read_token))
    assert result.code == 1
    assert "HTTP 403" in result.log and "write access" in result.log
    assert config_repo.tip() == tip


def test_kustomize_build_failure_refuses_the_push(config_repo: ConfigRepo) -> None:
    path = "apps/orders/overlays/dev/kustomization.yaml"
    broken = OVERLAY.format(svc="orders", env="dev").replace("../../base", "../../missing-base")
    tip = config_repo.commit_files({path: broken}, "break the overlay")
    result = run_gitops(push_inputs(config_repo))
    assert result.code == 1
    assert "`kustomize build apps/orders/overlays/dev` fails" in result.log
    assert "nothing was pushed" in result.log
    assert config_repo.tip() == tip


def test_missing_file_and_missing_image_are_clear_errors(config_repo: ConfigRepo) -> None:
    missing = run_gitops(push_inputs(config_repo, paths="apps/nope/overlays/dev/kustomization.yaml"))
    assert missing.code == 1 and "No file in branch 'main' matches `paths`" in missing.log
    no_image = run_gitops(push_inputs(config_repo, image="not-there", add_if_missing="false"))
    assert no_image.code == 1 and "no `images:` entry named 'not-there'" in no_image.log
    config_repo.commit_files({"apps/orders/overlays/dev/kustomization.yaml": "images: [oops\n"}, "bad yaml")
    bad = run_gitops(push_inputs(config_repo))
    assert bad.code == 1 and "is not valid YAML" in bad.log


def test_dry_run_pushes_nothing_and_shows_the_diff(config_repo: ConfigRepo) -> None:
    tip = config_repo.tip()
    result = run_gitops(push_inputs(config_repo, dry_run="true"))
    assert result.code == 0, result.log
    assert result.outputs["status"] == "dry-run"
    assert '+    newTag: "v1.1.0"   # set by CI' in result.log
    assert config_repo.tip() == tip


def test_bad_inputs_fail_fast(config_repo: ConfigRepo) -> None:
    creds = run_gitops(push_inputs(config_repo, repository=config_repo.url.replace("http://", "http://u:secret@")))
    assert creds.code == 1 and "carries credentials in the URL" in creds.log and "secret" not in creds.log
    tmpl = run_gitops(push_inputs(config_repo, commit_message="deploy {nope}"))
    assert tmpl.code == 1 and "unknown placeholder {nope}" in tmpl.log
    branch = run_gitops(push_inputs(config_repo, branch="does-not-exist"))
    assert branch.code == 1 and "check the `branch` input" in branch.log


def test_retries_exhausted_is_an_error_and_pushes_nothing(config_repo: ConfigRepo) -> None:
    path = "apps/orders/overlays/dev/kustomization.yaml"
    original_commit = WorkClone.commit_files
    n = [0]

    def always_racing(self: WorkClone, *args: object, **kwargs: object) -> str:
        n[0] += 1  # someone else lands before every one of our pushes
        config_repo.commit_files({"README.md": f"other change {n[0]}\n"}, f"other {n[0]}")
        return original_commit(self, *args, **kwargs)  # type: ignore[arg-type]

    mp = pytest.MonkeyPatch()
    mp.setattr(WorkClone, "commit_files", always_racing)
    try:
        result = run_gitops(push_inputs(config_repo, tag="v8", validate="parse", max_attempts="2", queue="false"))
    finally:
        mp.undo()
    assert result.code == 1
    assert "Gave up after 2 attempts" in result.log and "Nothing was pushed" in result.log
    assert 'newTag: "v1.0.0"' in config_repo.show(path)


def test_guard_uses_source_ancestry_when_the_checkout_has_both_commits(config_repo: ConfigRepo,
                                                                        tmp_path: Path) -> None:
    src = tmp_path / "service"
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@x"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(src)], check=True, env=env)
    shas = []
    for i in range(2):
        (src / "f").write_text(str(i))
        subprocess.run(["git", "-C", str(src), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(src), "commit", "-qm", f"c{i}"], check=True, env=env)
        shas.append(subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                                   check=True).stdout.strip())
    # the newer commit is deployed first but claims an OLDER build time: ancestry still wins
    newer = run_gitops(push_inputs(config_repo, tag="v2", source_commit=shas[1], source_repo_path=str(src),
                                   built_at="2026-01-01T08:00:00Z", validate="parse"))
    assert newer.outputs["status"] == "updated", newer.log
    older = run_gitops(push_inputs(config_repo, tag="v1", source_commit=shas[0], source_repo_path=str(src),
                                   built_at="2026-01-01T09:00:00Z", validate="parse"))
    assert older.outputs["status"] == "out-of-order", older.log


def test_server_refusing_queue_refs_falls_back_to_backoff(config_repo: ConfigRepo) -> None:
    hook = config_repo.path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\nwhile read -r old new ref; do\n  case \"$ref\" in refs/shipyard/*) "
                    "echo \"custom refs are not allowed\" >&2; exit 1;; esac\ndone\nexit 0\n")
    hook.chmod(0o755)
    services = [f"q{i}" for i in range(6)]
    auth = _with_services(config_repo, services)
    statuses: list[str] = []

    def writer(svc: str) -> None:
        clone = WorkClone(config_repo.url, auth)
        req = UpdateRequest(service=svc, environment="dev", branch="main",
                            paths=[f"apps/{svc}/overlays/dev/kustomization.yaml"],
                            update=ImageUpdate(svc, "v3", None), validate="parse")
        try:
            statuses.append(Updater(clone, req).run().status)
        finally:
            clone.close()

    _all_at_once(writer, services)
    assert statuses == ["updated"] * len(services)
    for svc in services:
        assert 'newTag: "v3"' in config_repo.show(f"apps/{svc}/overlays/dev/kustomization.yaml")


def _queued(config_repo: ConfigRepo, auth: GitAuth, svc: str, tag: str,
            key: bytes | None = None) -> tuple[Updater, WorkClone]:
    """An updater for ``svc`` that has taken its ticket (with its intended commit) and then stalls."""
    clone = WorkClone(config_repo.url, auth)
    req = UpdateRequest(service=svc, environment="dev", branch="main",
                        paths=[f"apps/{svc}/overlays/dev/kustomization.yaml"], update=ImageUpdate(svc, tag, None),
                        validate="parse", source_commit="c" * 40, queue_key=key)
    up = Updater(clone, req)
    clone.init()
    tip = clone.fetch("main")
    assert tip
    results, entries = up._apply(tip)
    files = {r.path: (entries[r.path].mode, r.new_text.encode()) for r in results if r.changed}
    up._enqueue(tip, files, entries, up._message(results), {"GIT_AUTHOR_NAME": "bot", "GIT_AUTHOR_EMAIL": "b@x",
                                                            "GIT_COMMITTER_NAME": "bot", "GIT_COMMITTER_EMAIL": "b@x"})
    assert up._ticket is not None
    return up, clone


def test_head_of_queue_carries_the_queued_updates_each_as_its_own_commit(config_repo: ConfigRepo) -> None:
    auth = _with_services(config_repo, ["alpha", "beta", "gamma", "delta"])
    beta, beta_clone = _queued(config_repo, auth, "beta", "v2")
    gamma, gamma_clone = _queued(config_repo, auth, "gamma", "v3")
    # a ticket written with another secret (anyone else able to create refs) is never landed by the bot
    forged, forged_clone = _queued(config_repo, auth, "delta", "evil", key=queue_key("not-the-token"))
    forged_clone.close()
    # gamma's file changes under it (a human edit): its queued edit must not be carried
    config_repo.commit_files({"apps/gamma/overlays/dev/kustomization.yaml":
                              OVERLAY.format(svc="gamma", env="dev").replace("v1.0.0", "v1.0.1")}, "hotfix")
    clone = WorkClone(config_repo.url, auth)
    try:
        # alpha finds the queue busy, queues behind beta (asleep), steps over it, and lands both
        out = Updater(clone, UpdateRequest(service="alpha", environment="dev", branch="main",
                                           paths=["apps/alpha/overlays/dev/kustomization.yaml"],
                                           update=ImageUpdate("alpha", "v1", None), validate="parse")).run()
    finally:
        clone.close()
    assert out.status == "updated"
    refs = config_repo.server.refs(config_repo.name)
    assert beta._ticket is not None and gamma._ticket is not None
    done = refs[beta._ticket[0].replace("/queue/", "/done/")]
    assert done == config_repo.tip()
    assert config_repo.tip("main~1") == out.commit  # beta's commit on top of alpha's
    message = config_repo.message()
    assert msg.parse_trailers(message)["Shipyard-Service"] == "beta"
    assert "Queued-Edit" not in message
    assert message.startswith("deploy(beta/dev): v1.0.0 -> v2")
    assert config_repo.changed_files() == ["apps/beta/overlays/dev/kustomization.yaml"]
    assert 'newTag: "v2"' in config_repo.show("apps/beta/overlays/dev/kustomization.yaml")
    assert 'newTag: "v1"' in config_repo.show("apps/alpha/overlays/dev/kustomization.yaml")
    # gamma's ticket was left for its owner (the file it read has changed), nothing of its edit landed
    assert gamma._ticket[0] in refs
    assert "v1.0.1" in config_repo.show("apps/gamma/overlays/dev/kustomization.yaml")
    assert forged._ticket is not None and forged._ticket[0] in refs
    assert "evil" not in config_repo.show("apps/delta/overlays/dev/kustomization.yaml")
    # beta's owner finds its update landed; gamma's owner re-applies its own edit on its turn
    beta_out = beta.run()
    gamma_out = gamma.run()
    beta_clone.close()
    gamma_clone.close()
    assert (beta_out.status, beta_out.commit) == ("updated", done)
    assert gamma_out.status == "updated"
    assert gamma_out.previous_tag == "v1.0.1"
    assert [r for r in config_repo.server.refs(config_repo.name) if r.startswith("refs/shipyard/")] == [
        forged._ticket[0]]


def test_server_without_partial_clone_support_gets_the_git_cli(config_repo: ConfigRepo) -> None:
    config_repo.server.git_config(config_repo.name, "uploadpack.allowFilter", "false")
    result = run_gitops(push_inputs(config_repo, tag="v7", validate="parse"))
    assert result.code == 0, result.log
    assert result.outputs["changed"] == "true"
    assert 'newTag: "v7"' in config_repo.show("apps/orders/overlays/dev/kustomization.yaml")
    # no filtered fetch was asked of a server that does not offer it; git fetched whole objects instead
    assert any(r.method == "POST" and r.path.endswith("git-upload-pack") for r in config_repo.server.transcript)


def test_in_process_fetch_needs_no_git_process(config_repo: ConfigRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def popen(args: object, *a: object, **k: object) -> object:
        if isinstance(args, list) and args[:1] == ["git"] and "http-backend" not in args:
            started.append(args)  # the updater's own git processes (the server's backend is allowed)
        return real_popen(args, *a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(subprocess, "Popen", popen)
    result = run_gitops(push_inputs(config_repo, tag="v8", validate="parse", built_at="2026-01-01T10:00:00Z"))
    assert result.code == 0, result.log
    assert result.outputs["changed"] == "true"
    assert started == []
