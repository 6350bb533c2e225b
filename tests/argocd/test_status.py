"""Unit tests of the readiness logic and the application reference parser."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from shipyard.argocd.apps import AppRef, parse_app, parse_apps
from shipyard.argocd.status import FAILED, HEALTHY, WAITING, evaluate
from shipyard.runtime import UserError
from tests.doubles.argocd import frame, ts

OURS = "a" * 40
LATER = "b" * 40
OLDER = "c" * 40


def contains(rev: str) -> bool | None:
    return {OURS: True, LATER: True, OLDER: False}.get(rev)


def judge(f: dict[str, Any], want: str | None = OURS, since: datetime | None = None) -> tuple[str, str]:
    obs = evaluate(f, want, contains, since)
    return obs.state, obs.tag


def test_healthy_at_our_revision() -> None:
    assert judge(frame(OURS, reconciled=ts(0))) == (HEALTHY, "healthy")


def test_descendant_revision_counts() -> None:
    assert judge(frame(LATER, reconciled=ts(0))) == (HEALTHY, "healthy")


def test_revision_checked_before_health() -> None:
    # Degraded at an older revision is the old deployment: wait for ours, do not fail
    assert judge(frame(OLDER, health="Degraded")) == (WAITING, "lagging")
    assert judge(frame(OLDER, health="Healthy")) == (WAITING, "lagging")
    assert judge(frame(None, sync="Unknown", health="Unknown")) == (WAITING, "lagging")


def test_unknown_relation_waits() -> None:
    assert judge(frame("d" * 40)) == (WAITING, "revision-unknown")


def test_out_of_sync_and_operations_wait() -> None:
    assert judge(frame(OURS, sync="OutOfSync", health="Healthy")) == (WAITING, "out-of-sync")
    assert judge(frame(OURS, phase="Running", health="Healthy")) == (WAITING, "operation")
    assert judge(frame(OURS, pending_operation=True)) == (WAITING, "operation")


@pytest.mark.parametrize("health", ["Progressing", "Suspended", "Missing", "Unknown", ""])
def test_not_yet_healthy(health: str) -> None:
    assert judge(frame(OURS, health=health, reconciled=ts(0))) == (WAITING, "progressing")


def test_degraded_fails_with_culprits() -> None:
    f = frame(OURS, health="Degraded", resources=[
        {"kind": "Deployment", "name": "api", "health": {"status": "Degraded", "message": "exceeded its progress deadline"}},
        {"kind": "Service", "name": "api", "health": {"status": "Healthy"}},
    ])
    obs = evaluate(f, OURS, contains)
    assert (obs.state, obs.tag) == (FAILED, "degraded")
    assert "Deployment/api (exceeded its progress deadline)" in obs.reason


def test_stale_health_asks_for_refresh() -> None:
    obs = evaluate(frame(OURS, phase="Succeeded", finished=ts(-5), reconciled=ts(-30)), OURS, contains)
    assert (obs.state, obs.tag, obs.refresh) == (WAITING, "stale-health", True)
    fresh = evaluate(frame(OURS, phase="Succeeded", finished=ts(-30), reconciled=ts(-5)), OURS, contains)
    assert fresh.state == HEALTHY


def test_failed_operation_for_our_revision_fails() -> None:
    obs = evaluate(frame(OURS, sync="OutOfSync", phase="Failed", op_message="one or more objects failed to apply",
                         retry_count=2), OURS, contains)
    assert (obs.state, obs.tag) == (FAILED, "operation-failed")
    assert "Failed after 2 retries: one or more objects failed to apply" in obs.reason
    assert judge(frame(LATER, phase="Error", op_message="boom")) == (FAILED, "operation-failed")


def test_failed_operation_for_an_older_revision_is_history() -> None:
    assert judge(frame(OLDER, sync="OutOfSync", phase="Failed", op_revision=OLDER)) == (WAITING, "lagging")


def test_failed_operation_without_revision_uses_time() -> None:
    f = frame(OURS, phase="Failed", finished=ts(-100))
    for holder in ("syncResult", "operation"):
        f["status"]["operationState"].pop(holder)
    now = datetime.now(timezone.utc)
    assert judge(f, since=now)[1] != "operation-failed"
    assert judge(f, since=now - timedelta(seconds=300)) == (FAILED, "operation-failed")


def test_error_conditions_fail_warnings_do_not() -> None:
    f = frame(OURS, conditions=[("ComparisonError", "rpc error: code = Unknown desc = kustomize build failed")])
    obs = evaluate(f, OURS, contains)
    assert (obs.state, obs.tag) == (FAILED, "error-condition")
    assert "ComparisonError: rpc error" in obs.reason
    assert judge(frame(OURS, conditions=[("SharedResourceWarning", "x")], reconciled=ts(0)))[0] == HEALTHY
    assert judge(frame(OURS, conditions=[("InvalidSpecError", "bad")]))[0] == FAILED


def test_multi_source_revisions() -> None:
    assert judge(frame(None, revisions=[OLDER, LATER], reconciled=ts(0))) == (HEALTHY, "healthy")
    assert judge(frame(None, revisions=[OLDER, OLDER])) == (WAITING, "lagging")


def test_no_revision_wanted_checks_health_only() -> None:
    assert judge(frame(OLDER, reconciled=ts(0)), want=None) == (HEALTHY, "healthy")
    now = datetime.now(timezone.utc)
    old_failure = frame(OLDER, phase="Failed", finished=ts(-100), reconciled=ts(0))
    assert judge(old_failure, want=None, since=now) == (HEALTHY, "healthy")
    assert judge(frame(OLDER, phase="Failed", finished=ts(0)), want=None, since=now - timedelta(seconds=5))[0] == FAILED


def test_parse_app_refs() -> None:
    assert parse_app("api") == AppRef("api")
    assert parse_app("api@team-a") == AppRef("api", "team-a")
    assert parse_app("payments/api-dev") == AppRef("api-dev", "", "payments")
    assert parse_app("payments/api@ns", "dflt") == AppRef("api", "ns", "payments")
    assert parse_app("api", "dflt").project == "dflt"
    assert parse_app("payments/api@ns").query() == {"appNamespace": "ns", "project": "payments"}
    assert parse_app("payments/api@ns").label == "payments/api@ns"


@pytest.mark.parametrize("bad", ["API", "a b", "p/", "/x", "x@", "a/b/c", "x@Bad_NS"])
def test_bad_app_refs(bad: str) -> None:
    with pytest.raises(UserError) as info:
        parse_app(bad)
    assert info.value.input_name == "applications"


def test_duplicate_apps_refused() -> None:
    with pytest.raises(UserError, match="twice"):
        parse_apps(["api", "p/api"])
