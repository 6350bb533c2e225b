"""The fleet stage against the 60-repository fixture organisation: plan, PRs, re-runs, drift repair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.doubles.github_fleet import FleetGitHubDouble
from tests.fleet.conftest import DAY, GOLDEN, NOW, ORG, SHA, Fleet, build_org, run_fleet

BRANCH = "heads/shipyard/fleet"


def _rows(outputs: dict[str, str]) -> dict[str, dict[str, object]]:
    return {str(r["repository"]).split("/", 1)[1]: r for r in json.loads(outputs["report"])}


def _writes(double: FleetGitHubDouble) -> list[str]:
    return [f"{e.method} {e.path}" for e in double.transcript if e.method != "GET"]


def _applied(double: FleetGitHubDouble) -> list[str]:
    """Writes GitHub carried out."""
    return [f"{e.method} {e.path}" for e in double.transcript if e.method != "GET" and e.status < 300]


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[FleetGitHubDouble, Fleet, Path, object, object]:
    """One fleet, run twice: most tests only read what happened (a run over 60 repositories is not free)."""
    double = FleetGitHubDouble().start()
    assert isinstance(double, FleetGitHubDouble)
    fleet = build_org(double)
    state = tmp_path_factory.mktemp("fleet-state")
    one = run_fleet({"token": fleet.token}, api=double.url, state=state)
    writes_after_one = len(_applied(double))
    heads = {name: dict(r.refs) for name, r in double.fleet.items()}
    pulls = {name: len(r.pulls) for name, r in double.fleet.items()}
    commits = set(double.commits)
    two = run_fleet({"token": fleet.token}, api=double.url, state=state)
    yield double, fleet, state, (one, writes_after_one, heads, pulls, commits), two
    double.stop()


def test_first_run_plans_every_state(first: tuple) -> None:  # type: ignore[type-arg]
    double, fleet, _, (one, *_), _ = first
    assert one.code == 0, one.out
    rows = _rows(one.outputs)
    assert len(rows) == 60
    assert {name: r["action"] for name, r in rows.items()} == fleet.expect
    assert rows["adopt-vue"]["language"] == "spa" and rows["adopt-kotlin"]["language"] == "kotlin"
    assert rows["adopt-java"]["language"] == "java" and rows["adopt-swift"]["language"] == "swift"
    assert rows["archived-svc"]["reason"] == "archived" and rows["forked-lib"]["reason"] == "fork"
    assert "topic shipyard-opt-out" in str(rows["opted-out-topic"]["reason"])
    assert ".shipyard.yml" in str(rows["opted-out-file"]["reason"])
    assert rows["sha-old-0"]["version"] == "v1.1.0 (SHA 2222222), 3 behind"
    assert rows["tag-old-0"]["version"] == "v1.2.0, 2 behind"
    assert rows["branch-pin"]["reason"] == "pinned to a branch (never moved)"
    assert "does not parse (line 3" in str(rows["broken-workflow"]["reason"])
    # nothing was ever written to a skipped, up-to-date or broken repository
    touched = {path.split("/")[3] for path in _writes(double)}
    assert [w for w in _writes(double) if "/blocked/" in w] == ["POST /repos/acme/blocked/git/refs"] * 2
    assert not touched & {n for n, a in fleet.expect.items() if a in ("skip", "nothing", "error")}
    assert "| repository | language | pipeline | version | drift | action | pr |" in one.summary
    assert "pie title Fleet plan" in one.summary


def test_one_pr_per_repository_with_the_change_explained(first: tuple) -> None:  # type: ignore[type-arg]
    double, _, _, (one, *_), _ = first
    rows = _rows(one.outputs)
    opened = sorted(n for n, r in rows.items() if r["pr_status"] == "opened")
    assert len(opened) == 23  # 10 adopt - blocked - closed-pr (respected) + 12 upgrade + 3 repair
    for name in opened:
        repo = double.fleet[f"{ORG}/{name}"]
        assert [p["state"] for p in repo.pulls if p["head"] == "shipyard/fleet"][-1] == "open"
        assert sum(p["state"] == "open" for p in repo.pulls) == 1
    pr = double.fleet[f"{ORG}/tag-old-3"].pulls[0]
    assert pr["title"] == "Shipyard: upgrade to v1.4.0"
    assert "```diff" in pr["body"] and "-    uses: shipyard/shipyard/.github/workflows/pipeline-python.yml@v1.2.0" \
        in pr["body"] and "+    uses: shipyard/shipyard/.github/workflows/pipeline-python.yml@v1.4.0" in pr["body"]
    assert "<!-- shipyard-fleet digest=" in pr["body"]
    # adoption: the language's template on a branch off the default branch, nothing else changed
    files = double.files_at(f"{ORG}/adopt-go", BRANCH)
    base = double.files_at(f"{ORG}/adopt-go", "heads/main")
    assert set(files) - set(base) == {".github/workflows/shipyard.yml"}
    assert "pipeline-go.yml@v1" in files[".github/workflows/shipyard.yml"]
    assert "branches: [main]" in files[".github/workflows/shipyard.yml"]


def test_closed_pr_respected_for_the_configured_days(first: tuple) -> None:  # type: ignore[type-arg]
    double, _, _, (one, *_), _ = first
    rows = _rows(one.outputs)
    assert rows["closed-pr"]["pr_status"] == "respected"
    assert "not proposed again before 2026-10-18" in str(rows["closed-pr"]["pr_detail"])
    assert len(double.fleet[f"{ORG}/closed-pr"].pulls) == 1
    assert BRANCH not in double.fleet[f"{ORG}/closed-pr"].refs
    assert rows["closed-pr-old"]["pr_status"] == "opened"  # closed 90 days ago: proposed again


def test_blocked_repository_is_reported_and_the_run_goes_on(first: tuple) -> None:  # type: ignore[type-arg]
    double, _, _, (one, *_), _ = first
    rows = _rows(one.outputs)
    assert rows["blocked"]["pr_status"] == "failed"
    assert "Repository rule violations found" in str(rows["blocked"]["pr_detail"])
    assert "bypass actor" in str(rows["blocked"]["pr_detail"])
    assert BRANCH not in double.fleet[f"{ORG}/blocked"].refs and not double.fleet[f"{ORG}/blocked"].pulls
    assert one.code == 0  # one repository's problem is a warning, the others got their PRs


def test_sha_pin_stays_a_sha_with_its_version_comment(first: tuple) -> None:  # type: ignore[type-arg]
    double, *_ = first
    text = double.files_at(f"{ORG}/sha-old-2", BRANCH)[".github/workflows/ship.yml"]
    before = double.files_at(f"{ORG}/sha-old-2", "heads/main")[".github/workflows/ship.yml"]
    assert f"pipeline-vue.yml@{SHA['v1.4.0']} # v1.4.0\n" in text
    assert text.replace(SHA["v1.4.0"], SHA["v1.1.0"]).replace("# v1.4.0", "# v1.1.0") == before
    steps = double.files_at(f"{ORG}/steps-only", BRANCH)[".github/workflows/build.yml"]
    assert "shipyard/shipyard/actions/build@v1.4.0\n" in steps
    assert "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2" in steps


@pytest.mark.parametrize("lang", ["go", "python", "node"])
def test_repair_keeps_local_edits_golden(first: tuple, lang: str) -> None:  # type: ignore[type-arg]
    double, *_ = first
    text = double.files_at(f"{ORG}/drifted-{lang}", BRANCH)[".github/workflows/ship.yml"]
    golden = GOLDEN / f"drifted-{lang}.yml"
    assert text == golden.read_text(encoding="utf-8")
    for kept in ("# payments: our copy", "branches: [main, release]   # release branches deploy to prd",
                 "aws-region: eu-west-1   # pinned on purpose: data residency", "service: payments",
                 "TEAM: payments", "  lint:\n"):
        assert kept in text


def test_second_run_on_an_unchanged_fleet_changes_nothing(first: tuple) -> None:  # type: ignore[type-arg]
    double, _, _, (one, writes_after_one, heads, pulls, commits), two = first
    assert two.code == 0, two.out
    assert len(_applied(double)) == writes_after_one  # no commit, no ref, no PR, no edit
    assert double.commits.keys() == commits
    assert {n: dict(r.refs) for n, r in double.fleet.items()} == heads
    assert {n: len(r.pulls) for n, r in double.fleet.items()} == pulls
    rows = _rows(two.outputs)
    assert {r["pr_status"] for r in rows.values() if r["pr_status"]} <= {"unchanged", "respected", "failed"}
    assert int(two.outputs["requests"]) <= 2 * 60
    assert int(two.outputs["requests"]) < int(one.outputs["requests"]) / 2


def test_new_release_updates_the_open_pr_instead_of_opening_another(tmp_path: Path) -> None:
    with FleetGitHubDouble() as double:
        assert isinstance(double, FleetGitHubDouble)
        fleet = build_org(double)
        assert run_fleet({"token": fleet.token}, api=double.url, state=tmp_path).code == 0
        repo = double.fleet[f"{ORG}/tag-old-0"]
        first_head = repo.refs[BRANCH]
        double.tags["shipyard/shipyard"]["v1.5.0"] = "6" * 40
        again = run_fleet({"token": fleet.token}, api=double.url, state=tmp_path, now=NOW + DAY)
        assert again.code == 0, again.out
        assert len(repo.pulls) == 1 and repo.pulls[0]["state"] == "open"
        assert repo.refs[BRANCH] != first_head
        assert "pipeline-go.yml@v1.5.0" in double.files_at(f"{ORG}/tag-old-0", BRANCH)[".github/workflows/ship.yml"]
        assert repo.pulls[0]["title"] == "Shipyard: upgrade to v1.5.0"
        assert _rows(again.outputs)["tag-old-0"]["pr_status"] == "updated"
        # a maintainer pushes a fix onto the PR's branch: a later release never overwrites it
        repo.refs[BRANCH] = double.commit_files(repo.refs[BRANCH], {"extra.txt": "mine\n"}, "fix the build")
        double.tags["shipyard/shipyard"]["v1.5.1"] = "8" * 40
        kept = run_fleet({"token": fleet.token}, api=double.url, state=tmp_path, now=NOW + DAY)
        assert _rows(kept.outputs)["tag-old-0"]["pr_status"] == "kept"
        assert double.files_at(f"{ORG}/tag-old-0", BRANCH)["extra.txt"] == "mine\n"
        assert _rows(kept.outputs)["tag-old-1"]["pr_status"] == "updated"
        # the owners close it: the next run respects that
        double.close_pull(f"{ORG}/tag-old-0", 1, NOW + DAY)
        double.tags["shipyard/shipyard"]["v1.6.0"] = "7" * 40
        third = run_fleet({"token": fleet.token}, api=double.url, state=tmp_path, now=NOW + 2 * DAY)
        assert _rows(third.outputs)["tag-old-0"]["pr_status"] == "respected"
        assert len(repo.pulls) == 1 and repo.pulls[0]["state"] == "closed"


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    with FleetGitHubDouble() as double:
        assert isinstance(double, FleetGitHubDouble)
        fleet = build_org(double)
        result = run_fleet({"token": fleet.token, "dry-run": "true"}, api=double.url, state=tmp_path)
        assert result.code == 0, result.out
        assert _writes(double) == []
        assert "repository  " in result.out and "acme/drifted-go" in result.out
        rows = _rows(result.outputs)
        assert rows["adopt-go"]["pr_status"] == "planned"
        assert "(dry run)" in result.summary
