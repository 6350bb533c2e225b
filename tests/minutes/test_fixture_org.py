"""The guard against the generated 59-repository organisation: exact totals, forecast and waste, and an
incremental next day that costs a few percent of the full scan."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from shipyard.minutes.forecast import forecast
from tests.doubles.github_actions import GitHubActionsDouble
from tests.minutes.conftest import AS_OF, NEXT_DAY, Result, run_guard
from tests.minutes.fixture import Org


def test_the_fixture_is_a_fleet(org: Org) -> None:
    assert len(org.repos) == 59
    assert org.jobs >= 20_000
    kinds = {j.kind for r in org.runs for a in r.attempts for j in a.jobs}
    assert kinds == {"linux", "windows", "macos", "large", "self"}
    assert any(len(r.attempts) > 1 for r in org.runs)
    assert any(j.conclusion == "cancelled" for r in org.runs for a in r.attempts for j in a.jobs)


def test_totals_match_the_fixture_exactly(org: Org, full_scan: tuple[Result, Path, int]) -> None:
    result, _, _ = full_scan
    assert result.code == 0, result.out
    report = result.report
    expected = org.totals(AS_OF.timestamp())
    assert report["attributed"]["by_sku"] == {k: int(v) for k, v in expected.items()}
    assert report["attributed"]["self_hosted"] == expected["self_hosted"]
    assert report["attributed"]["by_day"] == pytest.approx(org.weighted_by_day(AS_OF.timestamp()))
    assert report["scan"]["complete"] is True
    assert result.outputs["unmapped-labels"] == "linux-4core"
    assert "linux-4core" in result.out and "runner-skus" in result.out


def test_forecast_matches_the_fixture(org: Org) -> None:
    by_day = org.weighted_by_day(AS_OF.timestamp())
    fc = forecast(by_day, "2026-11", AS_OF, 150_000, 150_000)
    complete = [date(2026, 11, 1) + timedelta(days=i) for i in range(28)]
    weekdays = [by_day.get(d.isoformat(), 0) for d in complete if d.weekday() < 5]
    weekends = [by_day.get(d.isoformat(), 0) for d in complete if d.weekday() >= 5]
    assert fc.weekday_rate == pytest.approx(sum(weekdays) / len(weekdays))
    assert fc.weekend_rate == pytest.approx(sum(weekends) / len(weekends))
    used = sum(by_day.values())
    assert fc.used == pytest.approx(used)
    today = by_day.get("2026-11-29", 0)  # a Sunday
    expected = used + max(0, fc.weekend_rate - today) + fc.weekday_rate  # the 30th is a Monday
    assert fc.projected == pytest.approx(expected)
    cumulative = 0.0
    runs_out = None
    for day, minutes, _actual, projected in fc.days:
        cumulative += minutes
        if projected >= 100_000 and runs_out is None:
            runs_out = day
    assert forecast(by_day, "2026-11", AS_OF, 100_000, 100_000).runs_out_on == runs_out


def test_waste_findings_match_the_fixture(org: Org, full_scan: tuple[Result, Path, int]) -> None:
    result, _, _ = full_scan
    found = {f["kind"]: f["minutes"] for f in result.report["waste"]}
    expected = org.waste(AS_OF.timestamp())
    for kind in ("duplicate", "superseded", "short_jobs", "rebuild", "os", "schedule", "rerun_whole"):
        assert found[kind] == pytest.approx(expected.get(kind, 0.0), abs=0.05), kind
        assert expected.get(kind, 0) > 0, f"the fixture plants no {kind}"
    fixes = {f["kind"]: f["fix"] for f in result.report["waste"]}
    assert "cancel-in-progress: true" in fixes["superseded"]
    assert "skip-unchanged" in fixes["rebuild"]
    assert "Re-run failed jobs" in fixes["rerun_whole"]


def test_reconciliation_explains_the_difference(org: Org, full_scan: tuple[Result, Path, int]) -> None:
    result, _, _ = full_scan
    rec = result.report["reconciliation"]
    assert rec["record"] > rec["attributed"]
    whys = " ".join(e["why"] for e in rec["explained"])
    assert "acme/retired-tool" in whys
    assert "actions_linux_4_core" in whys
    unseen = next(e["minutes"] for e in rec["explained"] if "retired-tool" in e["why"])
    assert unseen == 37.0


def test_summary_has_a_chart_and_tables(full_scan: tuple[Result, Path, int]) -> None:
    result, _, _ = full_scan
    summary = result.summary
    assert "```mermaid\nxychart-beta" in summary
    assert summary.count("    line [") == 2 and "    bar [" in summary
    for heading in ("Top repositories", "Top workflows", "Top jobs", "Where minutes are wasted",
                    "Reconciliation with the usage of record"):
        assert heading in summary
    assert "This guard's cost" in summary


def test_next_day_reads_a_few_percent_of_the_full_scan(org: Org, full_scan: tuple[Result, Path, int],
                                                       tmp_path: Path) -> None:
    _result, workspace, full_requests = full_scan
    shutil.copytree(workspace / ".shipyard-minutes", tmp_path / ".shipyard-minutes")
    with GitHubActionsDouble(org, now=NEXT_DAY.timestamp()) as double:
        assert isinstance(double, GitHubActionsDouble)
        token = double.add_token()
        nxt = run_guard(double, token, tmp_path, NEXT_DAY)
        requests = len(double.transcript)
        statuses: dict[int, int] = defaultdict(int)
        for e in double.transcript:
            statuses[e.status] += 1
    assert nxt.code == 0, nxt.out
    assert nxt.report["attributed"]["by_sku"] == {k: int(v) for k, v in org.totals(NEXT_DAY.timestamp()).items()}
    assert requests <= 0.05 * full_requests, (requests, full_requests)
    assert statuses[304] >= 1  # the repository listing and the usage summary are conditional
