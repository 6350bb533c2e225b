"""Bad input, permissions, platform, rate limits and an API failing mid-scan, on a 4-repository organisation."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from tests.doubles.github_actions import GitHubActionsDouble
from tests.minutes.conftest import AS_OF, run_guard
from tests.minutes.fixture import Org

STATE = Path(".shipyard-minutes/state.json")


def exact(result_report: dict, org: Org, when: datetime = AS_OF) -> bool:
    return bool(result_report["attributed"]["by_sku"] == {k: int(v) for k, v in org.totals(when.timestamp()).items()})


def test_without_administration_names_the_permission_and_writes_nothing(small: tuple[GitHubActionsDouble, str],
                                                                        tmp_path: Path) -> None:
    double, _ = small
    token = double.add_token(permissions=frozenset({"actions"}))
    result = run_guard(double, token, tmp_path, AS_OF)
    assert result.code == 1
    assert len(result.errors) == 1
    assert "Resource not accessible by integration" in result.errors[0]
    assert "Administration: read" in result.errors[0]
    assert not (tmp_path / STATE).exists()
    assert not double.calls("GET", r"/repos/.*")


def test_not_on_the_enhanced_billing_platform(small: tuple[GitHubActionsDouble, str], tmp_path: Path) -> None:
    double, token = small
    double.settings.enhanced_billing = False
    result = run_guard(double, token, tmp_path, AS_OF)
    assert result.code == 1
    assert "enhanced billing platform" in result.errors[0]
    assert "410" in result.errors[0]  # says why the legacy endpoint is no way out


def test_the_legacy_endpoint_answers_410(small: tuple[GitHubActionsDouble, str]) -> None:
    import requests

    double, token = small
    r = requests.get(f"{double.url}/orgs/acme/settings/billing/actions", headers={"Authorization": f"Bearer {token}"},
                     timeout=5)
    assert r.status_code == 410
    assert r.json()["message"] == "This endpoint has been moved."
    assert r.headers["x-ratelimit-remaining"]


def test_bad_inputs_fail_before_any_request(small: tuple[GitHubActionsDouble, str], tmp_path: Path) -> None:
    double, token = small
    cases = {"organization": "acme\nevil", "month": "2026-13", "thresholds": "50,abc", "plan": "gold",
             "runner-skus": "linux-4core=Actions Linux", "github-api-url": "ftp://x", "as-of": "yesterday",
             "slack-channel": "C0DEPLOYS1\n#evil", "runner-variable": "RUNS_ON\nX", "state-file": "a\u0007b",
             "multipliers": "actions_windows=-2", "self-hosted-labels": "arc runners"}
    for name, value in cases.items():
        result = run_guard(double, token, tmp_path, AS_OF, **{name: value})
        assert result.code == 1, name
        assert f"'{name}'" in result.errors[0], (name, result.errors)
    result = run_guard(double, token, tmp_path, AS_OF, **{"route-runners": "true"})
    assert "self-hosted-labels" in result.errors[0]
    assert not double.transcript


def test_api_failing_mid_scan_resumes_and_counts_nothing_twice(small_org: Org, small: tuple[GitHubActionsDouble, str],
                                                               tmp_path: Path) -> None:
    double, token = small
    jobs_calls = len([r for r in small_org.runs if r.created <= AS_OF.timestamp()])
    double.inject("status", 502, match=r"GET /repos/acme/svc-02/actions/runs/\d+/jobs", count=50)
    first = run_guard(double, token, tmp_path, AS_OF)
    assert first.code == 1
    assert "GitHub API failed mid-scan" in first.out and "resumes" in first.errors[0]
    assert first.outputs["complete"] == "false"
    state = json.loads((tmp_path / STATE).read_text())
    assert 0 < len(state["jobs"]) < small_org.jobs
    double.faults.clear()
    second = run_guard(double, token, tmp_path, AS_OF)
    assert second.code == 0, second.out
    assert exact(second.report, small_org)
    assert len(double.calls("GET", r"/repos/[^/]+/[^/]+/actions/runs/\d+/jobs")) < jobs_calls + 60


def test_secondary_limits_are_waited_out(small_org: Org, small: tuple[GitHubActionsDouble, str], tmp_path: Path) -> None:
    double, token = small
    double.inject("status", 403, match=r"/actions/runs$", count=1, headers={"retry-after": "7"})
    double.inject("status", 429, match=r"/jobs$", count=1, headers={"retry-after": "3"})
    double.inject("status", 403, match=r"/jobs$", count=1)  # no retry-after: wait a minute
    result = run_guard(double, token, tmp_path, AS_OF)
    assert result.code == 0, result.out
    assert any(7 <= s < 8.5 for s in result.sleeps) and any(3 <= s < 4.5 for s in result.sleeps)
    assert any(60 <= s < 61.5 for s in result.sleeps)
    assert exact(result.report, small_org)


def test_primary_limit_stops_with_a_reserve_and_resumes(small_org: Org, tmp_path: Path) -> None:
    with GitHubActionsDouble(small_org, now=AS_OF.timestamp(), rate_limit=200) as double:
        assert isinstance(double, GitHubActionsDouble)
        token = double.add_token()
        first = run_guard(double, token, tmp_path, AS_OF)
        assert first.code == 0, first.out
        assert first.outputs["complete"] == "false"
        assert "primary rate limit" in first.out and "resumes" in first.out
        assert not any(e.status == 403 for e in double.transcript)  # stopped before the wall
        double.limit = 100_000
        second = run_guard(double, token, tmp_path, AS_OF)
        assert second.outputs["complete"] == "true"
        assert exact(second.report, small_org)


def test_conditional_requests_answer_304(small: tuple[GitHubActionsDouble, str], tmp_path: Path) -> None:
    double, token = small
    run_guard(double, token, tmp_path, AS_OF)
    run_guard(double, token, tmp_path, AS_OF)  # the first daily window (since the last scan minus 3 days)
    double.reset_counts()
    again = run_guard(double, token, tmp_path, AS_OF)  # the same window again: nothing changed
    assert again.code == 0
    listed = double.calls("GET", r"/repos/[^/]+/[^/]+/actions/runs")
    assert listed and all(e.status == 304 for e in listed)
    assert all(e.headers.get("if-none-match") for e in listed)
    assert not double.calls("GET", r"/repos/.*/jobs")


def test_unknown_labels_are_named_and_can_be_mapped(small_org: Org, tmp_path: Path) -> None:
    big = [r for r in small_org.runs if any(j.kind == "large" for a in r.attempts for j in a.jobs)]
    org = Org(small_org.name, small_org.repos, small_org.runs, {}, 0)
    assert big, "the small fixture has a larger runner"
    with GitHubActionsDouble(org, now=AS_OF.timestamp()) as double:
        assert isinstance(double, GitHubActionsDouble)
        token = double.add_token()
        result = run_guard(double, token, tmp_path, AS_OF)
        assert "linux-4core" in result.outputs["unmapped-labels"]
        assert "runner-skus" in result.out
        mapped = run_guard(double, token, tmp_path / "b", AS_OF, **{"runner-skus": "linux-4core=actions_linux_4_core"})
    assert mapped.outputs["unmapped-labels"] == ""
    rows = {r["sku"]: r for r in mapped.report["reconciliation"]["rows"]}
    assert rows["actions_linux_4_core"]["difference"] == 0
    assert mapped.report["reconciliation"]["difference"] == 0


def test_state_survives_a_corrupt_file(small_org: Org, small: tuple[GitHubActionsDouble, str], tmp_path: Path) -> None:
    double, token = small
    (tmp_path / STATE).parent.mkdir(parents=True)
    (tmp_path / STATE).write_text("{not json")
    result = run_guard(double, token, tmp_path, AS_OF)
    assert result.code == 0
    assert exact(result.report, small_org)
    assert "unreadable" in result.summary


def test_month_end_as_of_counts_the_whole_month(small_org: Org, small: tuple[GitHubActionsDouble, str],
                                                tmp_path: Path) -> None:
    double, token = small
    end = datetime(2026, 12, 2, tzinfo=timezone.utc)
    double.set_now(end.timestamp())
    result = run_guard(double, token, tmp_path, end, month="2026-11")
    assert result.code == 0, result.out
    assert exact(result.report, small_org, end)
    assert result.report["forecast"]["projected"] == result.report["used"]


def test_billing_api_down_is_one_clean_error(small: tuple[GitHubActionsDouble, str], tmp_path: Path) -> None:
    double, token = small
    double.inject("status", 503, match=r"/usage/summary$", count=20)
    result = run_guard(double, token, tmp_path, AS_OF, timeout="20")
    assert result.code == 1
    assert len(result.errors) == 1 and "billing API did not answer" in result.errors[0]
    assert "internal error" not in result.out
    assert not (tmp_path / STATE).exists()


def test_a_past_month_is_reported_without_touching_the_current_state(
        small_org: Org, small: tuple[GitHubActionsDouble, str], tmp_path: Path) -> None:
    double, token = small
    december = datetime(2026, 12, 3, 6, tzinfo=timezone.utc)
    double.set_now(december.timestamp())
    current = run_guard(double, token, tmp_path, december)
    assert current.code == 0, current.out
    before = (tmp_path / STATE).read_bytes()
    past = run_guard(double, token, tmp_path, december, month="2026-11")
    assert past.code == 0, past.out
    assert exact(past.report, small_org, december)
    assert (tmp_path / STATE).read_bytes() == before
    assert "past month 2026-11" in past.summary


def test_a_spent_primary_limit_stops_cleanly(small_org: Org, small: tuple[GitHubActionsDouble, str],
                                             tmp_path: Path) -> None:
    double, token = small
    body = {"message": "API rate limit exceeded for installation ID 1.", "status": "403"}
    double.inject("status", 403, match=r"/jobs$", count=1, headers={"x-ratelimit-remaining": "0"}, body=body)
    first = run_guard(double, token, tmp_path, AS_OF)
    assert first.code == 0, first.out
    assert first.outputs["complete"] == "false" and "primary rate limit" in first.out
    second = run_guard(double, token, tmp_path, AS_OF)
    assert second.outputs["complete"] == "true"
    assert exact(second.report, small_org)


def test_format_json_prints_the_report_as_one_line(small: tuple[GitHubActionsDouble, str], tmp_path: Path) -> None:
    double, token = small
    result = run_guard(double, token, tmp_path, AS_OF, format="json")
    lines = [line for line in result.out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["org"] == "acme" and data["month"] == "2026-11" and data["waste"]
    assert data == result.report


def test_the_guard_reports_its_own_cost(tmp_path: Path) -> None:
    import io

    from shipyard.minutes.jobs import SkuTable
    from shipyard.minutes.stage import _guard_cost
    from shipyard.minutes.state import State
    from shipyard.runtime import Action

    state = State("acme", "2026-11")
    for i in range(3):
        key = f"acme/.github#{i}"
        state.runs[key] = ["acme/.github", i, "minutes", ".github/workflows/shipyard-minutes.yml", "schedule",
                           "main", "a" * 40, 1.0, 1]
        state.jobs[str(i)] = [key, 1, "guard", "actions_linux", "ubuntu-latest", 100.0, 140.0, "success"]
    state.runs["acme/svc#9"] = ["acme/svc", 9, "ci", ".github/workflows/ci.yml", "push", "main", "b" * 40, 1.0, 1]
    state.jobs["9"] = ["acme/svc#9", 1, "test", "actions_linux", "ubuntu-latest", 0.0, 600.0, "success"]
    env = {"GITHUB_REPOSITORY": "acme/.github",
           "GITHUB_WORKFLOW_REF": "acme/.github/.github/workflows/shipyard-minutes.yml@refs/heads/main"}
    cost = _guard_cost(Action(env, io.StringIO()), state, SkuTable(), 0.0, 30)
    assert cost["minutes"] == 3 and cost["runs"] == 3 and cost["per_month"] == 30
