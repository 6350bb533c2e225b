"""argocd-wait end to end against the ArgoCD double: the scenarios of the research note, several apps,
auth failures, refresh behaviour, retries and the outputs/summary."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time

from shipyard.argocd.client import ArgoClient
from shipyard.runtime import Action
from tests.argocd.conftest import ConfigRepo, run_argocd_wait
from tests.doubles.argocd import ArgoCDDouble, frame, ts
from tests.stack.act import ROOT

OURS = "a1" * 20
OLDER = "0f" * 20


def base_inputs(argocd: ArgoCDDouble, token: str, apps: str = "api-dev", **extra: str) -> dict[str, str]:
    return {"argocd-server": argocd.url, "argocd-token": token, "applications": apps, "revision": OURS, **extra}


def test_lagging_then_progressing_then_healthy(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [
        frame(OLDER),  # the refresh GET: ArgoCD has not seen our commit yet
        frame(OLDER),
        frame(OURS, sync="OutOfSync", phase="Running", op_revision=OURS),
        frame(OURS, phase="Running"),
        frame(OURS, health="Progressing", phase="Succeeded", finished=ts(-30)),
        frame(OURS, health="Healthy", phase="Succeeded", finished=ts(-30)),
    ])
    result = run_argocd_wait(base_inputs(argocd, token))
    assert result.code == 0, result.out
    assert result.outputs["healthy"] == "true"
    [row] = json.loads(result.outputs["results"])
    assert row["result"] == "healthy" and row["revision"] == OURS and row["sync"] == "Synced"
    assert json.loads(result.outputs["revisions"]) == {"api-dev": OURS}
    gets = argocd.calls("GET", "/api/v1/applications/api-dev")
    assert gets[0].query == {"refresh": "normal"}, "the first poll asks ArgoCD to refresh"
    assert [c.status for c in gets] == [200] * len(gets)
    log = result.out
    assert "waiting for a1a1a1a1a1a1 or later" in log
    assert "OutOfSync/Healthy op=Running" in log
    assert "Synced/Progressing" in log
    assert "| app | sync | health | revision | time | result |" in log
    assert "only ArgoCD reporting exactly a1a1a1a1a1a1 counts" in log  # no clone given: says so


def test_revision_skipping_ahead_is_accepted_with_a_clone(argocd: ArgoCDDouble, token: str,
                                                           config_repo: ConfigRepo) -> None:
    argocd.add_app("api-dev", [frame(config_repo.base), frame(config_repo.later, reconciled=ts(0))])
    inputs = base_inputs(argocd, token, revision=config_repo.ours, **{"config-repo-path": str(config_repo.path)})
    result = run_argocd_wait(inputs)
    assert result.code == 0, result.out
    assert json.loads(result.outputs["revisions"]) == {"api-dev": config_repo.later}
    assert "git merge-base --is-ancestor" in result.out


def test_unrelated_revision_is_not_accepted(argocd: ArgoCDDouble, token: str, config_repo: ConfigRepo) -> None:
    argocd.add_app("api-dev", [frame(config_repo.unrelated, reconciled=ts(0))])
    inputs = base_inputs(argocd, token, revision=config_repo.ours, timeout="1.2",
                         **{"config-repo-path": str(config_repo.path)})
    result = run_argocd_wait(inputs)
    assert result.code == 1
    assert result.outputs["healthy"] == "false"
    assert "api-dev: timeout" in result.out
    assert "ArgoCD never reported our commit" in result.out
    # lagging: ArgoCD is asked to refresh again now and then (no webhook), not on every poll
    refreshes = [c for c in argocd.calls("GET") if "refresh" in c.query]
    assert 2 <= len(refreshes) < len(argocd.calls("GET")) / 2


def test_without_a_clone_a_descendant_is_not_trusted(argocd: ArgoCDDouble, token: str,
                                                      config_repo: ConfigRepo) -> None:
    argocd.add_app("api-dev", [frame(config_repo.later, reconciled=ts(0))])
    result = run_argocd_wait(base_inputs(argocd, token, revision=config_repo.ours, timeout="0.4"))
    assert result.code == 1
    assert "exact match only" in result.out


def test_degraded_fails(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS, health="Progressing"), frame(OURS, health="Degraded", resources=[
        {"kind": "Deployment", "name": "api", "health": {"status": "Degraded",
                                                         "message": "Deployment exceeded its progress deadline"}}])])
    result = run_argocd_wait(base_inputs(argocd, token))
    assert result.code == 1
    assert result.outputs["healthy"] == "false"
    [error] = result.errors
    assert "api-dev: failed: health Degraded: Deployment/api (Deployment exceeded its progress deadline)" in error
    assert f"{argocd.url}/applications/api-dev" in error


def test_operation_running_then_failed(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [
        frame(OURS, sync="OutOfSync", phase="Running"),
        frame(OURS, sync="OutOfSync", phase="Running"),
        frame(OURS, sync="OutOfSync", phase="Failed", retry_count=5,
              op_message='one or more objects failed to apply, reason: Deployment.apps "api" is invalid'),
    ])
    result = run_argocd_wait(base_inputs(argocd, token))
    assert result.code == 1
    assert "sync operation Failed after 5 retries: one or more objects failed to apply" in result.errors[0]
    assert json.loads(result.outputs["results"])[0]["operation"] == "Failed"


def test_stale_health_is_not_trusted(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [
        frame(OLDER),
        # Synced at ours and "Healthy", but the sync finished after the last reconcile: stale
        frame(OURS, health="Healthy", phase="Succeeded", finished=ts(-10), reconciled=ts(-20)),
        frame(OURS, health="Progressing", phase="Succeeded", finished=ts(-10)),
        frame(OURS, health="Healthy", phase="Succeeded", finished=ts(-10)),
    ])
    result = run_argocd_wait(base_inputs(argocd, token))
    assert result.code == 0, result.out
    gets = argocd.calls("GET", "/api/v1/applications/api-dev")
    assert len(gets) == 4
    assert "refresh" not in gets[1].query and gets[2].query.get("refresh") == "normal"
    assert "health predates the last sync" in result.out
    assert "Synced/Progressing" in result.out


def test_comparison_error_is_confirmed_then_fails(argocd: ArgoCDDouble, token: str) -> None:
    error = ("ComparisonError", "Failed to load target state: rpc error: code = Unknown desc = "
             "`kustomize build apps/api/overlays/dev` failed exit status 1: Error: accumulating resources")
    argocd.add_app("api-dev", [frame(OLDER), frame(OLDER, sync="Unknown", conditions=[error])])
    result = run_argocd_wait(base_inputs(argocd, token))
    assert result.code == 1
    assert "ComparisonError: Failed to load target state" in result.errors[0]
    gets = argocd.calls("GET", "/api/v1/applications/api-dev")
    assert gets[-1].query.get("refresh") == "normal", "refreshed once to confirm before failing"


def test_passing_comparison_error_does_not_fail(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OLDER), frame(OLDER, sync="Unknown", conditions=[("ComparisonError", "timeout")]),
                               frame(OURS, reconciled=ts(0))])
    result = run_argocd_wait(base_inputs(argocd, token))
    assert result.code == 0, result.out


def test_several_apps_polled_concurrently(argocd: ArgoCDDouble, token: str) -> None:
    slow = [frame(OLDER)] * 8 + [frame(OURS, health="Progressing")] * 4 + [frame(OURS)]
    for name in ("api-eu1", "api-us1", "api-ap1"):
        argocd.add_app(name, slow, project="payments")
    argocd.add_app("api-ns", [frame(OURS)], namespace="team-a", project="payments")
    start = time.monotonic()
    result = run_argocd_wait(base_inputs(argocd, token, apps="api-eu1, payments/api-us1\napi-ap1\napi-ns@team-a",
                                         **{"poll-interval": "0.05"}))
    elapsed = time.monotonic() - start
    assert result.code == 0, result.out
    rows = json.loads(result.outputs["results"])
    assert [r["app"] for r in rows] == ["api-eu1", "payments/api-us1", "api-ap1", "api-ns@team-a"]
    assert all(r["result"] == "healthy" for r in rows)
    assert argocd.calls("GET", "/api/v1/applications/api-ns")[0].query == {"appNamespace": "team-a",
                                                                            "refresh": "normal"}
    assert argocd.calls("GET", "/api/v1/applications/api-us1")[0].query["project"] == "payments"
    # concurrently: every slow app was being polled before any of them finished
    slow_apps = ("api-eu1", "api-us1", "api-ap1")
    firsts = [argocd.calls("GET", f"/api/v1/applications/{n}")[0].at for n in slow_apps]
    lasts = [argocd.calls("GET", f"/api/v1/applications/{n}")[-1].at for n in slow_apps]
    assert max(firsts) < min(lasts)
    assert elapsed < 20
    for name in ("[api-eu1]", "[payments/api-us1]", "[api-ap1]", "[api-ns@team-a]"):
        assert name in result.out


def test_fail_fast_cancels_the_others(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-eu1", [frame(OURS, health="Degraded")])
    argocd.add_app("api-us1", [frame(OURS, health="Progressing")])
    result = run_argocd_wait(base_inputs(argocd, token, apps="api-eu1,api-us1", timeout="10"))
    assert result.code == 1
    rows = {r["app"]: r for r in json.loads(result.outputs["results"])}
    assert rows["api-eu1"]["result"] == "failed" and rows["api-us1"]["result"] == "cancelled"
    assert "1 of 2 application(s) not deployed" in result.errors[0]


def test_timeout_names_the_likely_cause(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS, sync="OutOfSync", reconciled=ts(0))])
    start = time.monotonic()
    result = run_argocd_wait(base_inputs(argocd, token, timeout="0.5"))
    assert time.monotonic() - start < 3
    assert result.code == 1
    assert "timed out after 0.5s" in result.errors[0]
    assert "enable automated sync" in result.errors[0]


def test_hard_refresh_and_multi_source(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(None, revisions=["9" * 40, OURS], reconciled=ts(0))])
    result = run_argocd_wait(base_inputs(argocd, token, refresh="hard"))
    assert result.code == 0, result.out
    assert argocd.calls("GET")[0].query == {"refresh": "hard"}


def test_refresh_deadline_falls_back_to_polling(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OLDER), frame(OURS, reconciled=ts(0))])
    argocd.stall_refresh("api-dev")
    result = run_argocd_wait(base_inputs(argocd, token))
    assert result.code == 0, result.out
    first = argocd.calls("GET")[0]
    assert first.status == 500 and first.response["error"] == "application refresh deadline exceeded"
    assert "could not complete a normal refresh" in result.out


def test_transient_errors_are_retried(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS, reconciled=ts(0))])
    argocd.inject("status", 503, match="GET /api/v1/applications/", count=2, headers={"Retry-After": "0"})
    result = run_argocd_wait(base_inputs(argocd, token, refresh="none"))
    assert result.code == 0, result.out
    assert [c.status for c in argocd.calls("GET")] == [503, 503, 200]


def test_unreachable_argocd_times_out_cleanly(token: str) -> None:
    result = run_argocd_wait({"argocd-server": "http://127.0.0.1:9", "argocd-token": token,
                              "applications": "api", "timeout": "1", "refresh": "none"})
    assert result.code == 1
    assert "api: timeout" in result.errors[0]


def test_expired_token(argocd: ArgoCDDouble) -> None:
    argocd.add_app("api-dev", [frame(OURS)])
    expired = argocd.issue_token("ci", expires_in=-10)
    result = run_argocd_wait(base_inputs(argocd, expired))
    assert result.code == 1
    [error] = result.errors
    assert "token expired or is invalid" in error and "argocd account generate-token" in error
    assert "code 16" in error
    assert expired not in result.out


def test_forged_and_missing_tokens(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS)])
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert run_argocd_wait(base_inputs(argocd, forged)).code == 1
    assert argocd.calls("GET")[-1].response["message"] == "invalid session: token signature is invalid"
    result = run_argocd_wait({"argocd-server": argocd.url, "applications": "api-dev"})
    assert result.code == 1 and "No ArgoCD credentials" in result.errors[0]


def test_missing_app_without_project_explains_the_403(argocd: ArgoCDDouble, token: str) -> None:
    result = run_argocd_wait(base_inputs(argocd, token, apps="api-typo"))
    assert result.code == 1
    [error] = result.errors
    assert "403 permission denied" in error
    assert "does not exist" in error and "applications, get" in error
    assert argocd.calls("GET")[-1].response["code"] == 7


def test_missing_app_with_project_is_404(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS)], project="payments")
    result = run_argocd_wait(base_inputs(argocd, token, apps="payments/api-typo"))
    assert result.code == 1
    assert "was not found in project 'payments'" in result.errors[0]
    assert argocd.calls("GET")[-1].response["code"] == 5
    # a project the app is not in: 404 too (no leak of its existence)
    assert run_argocd_wait(base_inputs(argocd, token, apps="other/api-dev")).code == 1
    assert argocd.calls("GET")[-1].status == 404


def test_no_permission_on_the_project(argocd: ArgoCDDouble) -> None:
    argocd.add_app("api-dev", [frame(OURS)], project="payments")
    limited = argocd.issue_token("limited", projects={"checkout"})
    result = run_argocd_wait(base_inputs(argocd, limited))
    assert result.code == 1 and "403 permission denied" in result.errors[0]


def test_username_password_login_masks_the_session_token(argocd: ArgoCDDouble) -> None:
    argocd.add_user("ci-bot", "correct horse battery")
    argocd.add_app("api-dev", [frame(OURS, reconciled=ts(0))])
    result = run_argocd_wait({"argocd-server": argocd.url, "argocd-username": "ci-bot",
                              "argocd-password": "correct horse battery", "applications": "api-dev",
                              "revision": OURS}, extra_env={"GITHUB_ACTIONS": "true"})
    assert result.code == 0, result.out
    [login] = argocd.calls("POST", "/api/v1/session")
    minted = login.response["token"]
    assert f"::add-mask::{minted}" in result.out
    assert argocd.calls("GET")[0].headers["authorization"] == f"Bearer {minted}"
    assert "correct horse battery" not in result.out.replace("::add-mask::correct horse battery", "")


def test_wrong_password(argocd: ArgoCDDouble) -> None:
    argocd.add_user("ci-bot", "right")
    result = run_argocd_wait({"argocd-server": argocd.url, "argocd-username": "ci-bot", "argocd-password": "wrong",
                              "applications": "api-dev"})
    assert result.code == 1
    assert "refused the login of 'ci-bot' (401: Invalid username or password)" in result.errors[0]
    assert argocd.calls("GET") == []


def test_ui_url_instead_of_server_root(argocd: ArgoCDDouble, token: str) -> None:
    result = run_argocd_wait(base_inputs(argocd, token) | {"argocd-server": argocd.url + "/argocd"})
    assert result.code == 1
    assert "not ArgoCD's JSON" in result.errors[0]
    result = run_argocd_wait(base_inputs(argocd, token) | {"argocd-server": argocd.url + "/applications/api"})
    assert result.code == 1 and "not an API or UI path" in result.errors[0]


def test_bad_inputs_fail_before_any_call(argocd: ArgoCDDouble, token: str) -> None:
    for inputs, needle in [
        ({"revision": "main"}, "Input 'revision' must be a commit id"),
        ({"applications": "Bad_App"}, "invalid application name"),
        ({"refresh": "soft"}, "Input 'refresh' has unknown value 'soft'"),
        ({"timeout": "ten"}, "Input 'timeout' must be a number"),
        ({"config-repo-path": "/nonexistent"}, "is not a git repository"),
        ({"config-repo": "acme/config"}, "needs `config-repo-token`"),
    ]:
        result = run_argocd_wait(base_inputs(argocd, token) | inputs)
        assert result.code == 1 and len(result.errors) == 1 and needle in result.errors[0], (needle, result.out)
    assert argocd.calls() == []


def test_session_expiry_mid_wait_logs_in_again(argocd: ArgoCDDouble) -> None:
    argocd.add_user("ci-bot", "pw")
    frames = [frame(OLDER)] * 3 + [frame(OURS, reconciled=ts(0))]
    argocd.add_app("api-dev", frames)
    rotated = threading.Timer(0.1, argocd.rotate_key)
    rotated.start()
    result = run_argocd_wait({"argocd-server": argocd.url, "argocd-username": "ci-bot", "argocd-password": "pw",
                              "applications": "api-dev", "revision": OURS, "poll-interval": "0.1"})
    rotated.join()
    assert result.code == 0, result.out
    assert len(argocd.calls("POST", "/api/v1/session")) == 2
    assert 401 in [c.status for c in argocd.calls("GET")]


def test_timeouts_and_429_are_retried(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS, reconciled=ts(0))])
    argocd.inject("timeout", match="GET /api/v1/applications/", delay=0.1)
    argocd.inject("status", 429, match="GET /api/v1/applications/", headers={"Retry-After": "0"})
    result = run_argocd_wait(base_inputs(argocd, token, refresh="none"))
    assert result.code == 0, result.out
    assert [c.status for c in argocd.calls("GET")] == [0, 429, 200]


def test_no_revision_warns_and_checks_health_only(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OLDER, reconciled=ts(0))])
    inputs = base_inputs(argocd, token)
    del inputs["revision"]
    result = run_argocd_wait(inputs)
    assert result.code == 0, result.out
    assert "no `revision` given, so any revision counts" in result.out


def test_insecure_warns_and_skips_verification(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS, reconciled=ts(0))])
    result = run_argocd_wait(base_inputs(argocd, token, insecure="true"))
    assert result.code == 0
    assert "TLS certificate checks are OFF" in result.out
    action = Action({}, io.StringIO())
    assert ArgoClient(action, "https://argocd.example.com", token="t0k3n", insecure=True).http.session.verify is False


def test_cli_runs_the_same_code(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(OURS, reconciled=ts(0))])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update({"INPUT_ARGOCD_TOKEN": token, "PYTHONPATH": str(ROOT / "src")})
    proc = subprocess.run([sys.executable, "-m", "shipyard", "argocd-wait", "--argocd-server", argocd.url,
                           "--applications", "api-dev", "--revision", OURS, "--poll-interval", "0.02"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "output healthy=true" in proc.stdout
    assert token not in proc.stdout + proc.stderr


def test_dry_run_reports_without_refreshing_or_waiting(argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-eu1", [frame(OLDER)])
    argocd.add_app("api-us1", [frame(OURS, health="Degraded")])
    result = run_argocd_wait(base_inputs(argocd, token, apps="api-eu1,api-us1", **{"dry-run": "true"}))
    assert result.code == 0, result.out
    assert all("refresh" not in c.query for c in argocd.calls("GET"))
    assert len(argocd.calls("GET")) == 2
    assert result.outputs["healthy"] == "false"
    rows = {r["app"]: r["result"] for r in json.loads(result.outputs["results"])}
    assert rows == {"api-eu1": "waiting", "api-us1": "failed"}
    # credentials and visibility are still checked
    assert run_argocd_wait(base_inputs(argocd, token, apps="nope", **{"dry-run": "true"})).code == 1


def test_persistently_stale_health_is_polled_with_backoff(argocd: ArgoCDDouble, token: str) -> None:
    # clocks skewed between ArgoCD components: finishedAt stays after reconciledAt whatever we do
    argocd.add_app("api-dev", [frame(OURS, phase="Succeeded", finished=ts(3600))])
    result = run_argocd_wait(base_inputs(argocd, token, timeout="1", **{"poll-interval": "0.05"}))
    assert result.code == 1
    assert "ArgoCD did not reconcile after the sync" in result.errors[0]
    assert len(argocd.calls("GET")) < 15  # backoff, not a refresh loop
