"""Required checks by GitHub plan (idempotent, diff before apply) and the Slack digest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.github_fleet import FleetGitHubDouble
from tests.doubles.slack import BOT_TOKEN, SlackDouble
from tests.fleet.conftest import DAY, NOW, ORG, run_fleet, small_org

WORKFLOW = "acme/.github:.github/workflows/shipyard-required.yml@refs/heads/main"


def _checks(summary: str) -> str:
    return summary.split("#### Required checks", 1)[1] if "#### Required checks" in summary else ""


def test_enterprise_org_ruleset_created_once_then_unchanged(tmp_path: Path, github: FleetGitHubDouble) -> None:
    fleet = small_org(github, plan="enterprise")
    github.add_fleet_repo(ORG, ".github", {"README.md": "org\n", ".github/workflows/shipyard-required.yml": (
        "on: {push: {branches: [main]}}\nconcurrency: {group: x, cancel-in-progress: true}\njobs: {}\n")},
        visibility="private")
    inputs = {"token": fleet.token, "required-checks": "auto", "required-workflow": WORKFLOW,
              "bypass-actors": "OrganizationAdmin:1\nIntegration:4242:always", "enforcement": "active"}
    plan = run_fleet({**inputs, "dry-run": "true"}, api=github.url, state=tmp_path)
    assert plan.code == 0, plan.out
    assert github.orgs["acme"]["rulesets"] == {}
    assert "would create ruleset 'Shipyard required workflow'" in plan.out
    assert '+  "enforcement": "active",' in plan.out  # the diff is shown before anything is applied
    first = run_fleet(inputs, api=github.url, state=tmp_path)
    assert first.code == 0, first.out
    (ident, ruleset), = github.orgs["acme"]["rulesets"].items()
    assert ruleset["rules"] == [{"type": "workflows", "parameters": {"do_not_enforce_on_create": True, "workflows": [
        {"repository_id": github.fleet["acme/.github"].id, "path": ".github/workflows/shipyard-required.yml",
         "ref": "refs/heads/main"}]}}]
    assert ruleset["conditions"]["repository_name"]["include"] == ["svc-ok", "svc-old", "svc-public"]
    assert ruleset["conditions"]["ref_name"]["include"] == ["~DEFAULT_BRANCH"]
    assert ruleset["bypass_actors"] == [{"actor_id": 1, "actor_type": "OrganizationAdmin", "bypass_mode": "always"},
                                        {"actor_id": 4242, "actor_type": "Integration", "bypass_mode": "always"}]
    # the private .github repository cannot serve the public svc-public: said, not hidden
    assert "cannot serve the more visible repositories svc-public" in _checks(first.summary)
    assert "does not run on pull_request or merge_group" in _checks(first.summary)
    assert "`cancel-in-progress: true`" in _checks(first.summary)
    writes = len([e for e in github.transcript if e.method in ("POST", "PUT") and "rulesets" in e.path])
    again = run_fleet(inputs, api=github.url, state=tmp_path)
    assert "| acme | unchanged |" in _checks(again.summary)
    assert len([e for e in github.transcript if e.method in ("POST", "PUT") and "rulesets" in e.path]) == writes
    # someone loosens it by hand: the next run puts it back (PUT, same id)
    github.orgs["acme"]["rulesets"][ident]["enforcement"] = "disabled"
    fixed = run_fleet(inputs, api=github.url, state=tmp_path)
    assert "| acme | updated |" in _checks(fixed.summary)
    assert github.orgs["acme"]["rulesets"][ident]["enforcement"] == "active"
    assert len(github.orgs["acme"]["rulesets"]) == 1


def test_org_ruleset_on_team_is_reported_not_possible(tmp_path: Path, github: FleetGitHubDouble) -> None:
    fleet = small_org(github, plan="team")
    github.add_fleet_repo(ORG, ".github", {"README.md": "org\n"}, visibility="public")
    result = run_fleet({"token": fleet.token, "required-checks": "enterprise", "required-workflow": WORKFLOW,
                        "bypass-actors": "OrganizationAdmin:1"}, api=github.url, state=tmp_path)
    assert result.code == 0, result.out
    assert "| acme | not possible | organisation rulesets: Upgrade to GitHub Enterprise" in _checks(result.summary)


def test_team_repo_rulesets_require_the_check_where_the_pipeline_runs(tmp_path: Path,
                                                                      github: FleetGitHubDouble) -> None:
    fleet = small_org(github, plan="team")
    inputs = {"token": fleet.token, "required-checks": "auto", "bypass-actors": "RepositoryRole:5:pull_request"}
    first = run_fleet(inputs, api=github.url, state=tmp_path)
    assert first.code == 0, first.out
    checks = _checks(first.summary)
    assert "| svc-new | skipped | no pipeline on the default branch yet" in checks
    for name in ("svc-old", "svc-ok", "svc-public"):
        (ruleset,) = github.fleet[f"acme/{name}"].rulesets.values()
        assert ruleset["rules"][0]["parameters"]["required_status_checks"] == [{"context": "ship / pipeline / ship"}]
        assert ruleset["enforcement"] == "evaluate"
        assert f"| {name} | created |" in checks
    again = run_fleet(inputs, api=github.url, state=tmp_path)
    assert _checks(again.summary).count("| unchanged |") == 3


def test_free_plan_reports_what_cannot_be_enforced(tmp_path: Path, github: FleetGitHubDouble) -> None:
    fleet = small_org(github, plan="free")
    result = run_fleet({"token": fleet.token, "required-checks": "auto"}, api=github.url, state=tmp_path)
    assert result.code == 0, result.out
    checks = _checks(result.summary)
    assert "| svc-ok | not possible | GitHub Free has no rulesets or branch protection for private" in checks
    assert "| svc-public | created |" in checks  # public repositories get rulesets on Free
    assert github.fleet["acme/svc-ok"].rulesets == {}


def test_app_without_administration_is_told_per_repository(tmp_path: Path, github: FleetGitHubDouble) -> None:
    from tests.fleet.conftest import app_key

    small_org(github, plan="team")
    pem = app_key(github)
    result = run_fleet({"app-id": "4242", "app-private-key": pem, "required-checks": "team"},
                       api=github.url, state=tmp_path)
    assert result.code == 1
    assert "`Administration: write` (to create the repository rulesets)" in result.out


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    double = SlackDouble(message_limit=(20, 1.0), app_limit=(100, 1.0))
    double.start()
    yield double
    double.stop()


def test_slack_digest_says_what_changed_since_the_last_run(tmp_path: Path, github: FleetGitHubDouble,
                                                           slack: SlackDouble) -> None:
    fleet = small_org(github)
    inputs = {"token": fleet.token, "slack-token": BOT_TOKEN, "slack-channel": "C0DEPLOYS1"}
    env = {"SHIPYARD_SLACK_API_URL": slack.api_url}
    assert run_fleet(inputs, api=github.url, state=tmp_path, env_extra=env).code == 0
    (first,) = slack.messages()
    assert "acme/svc-new: PR opened" in first.text and "acme/svc-old: PR opened" in first.text
    assert run_fleet(inputs, api=github.url, state=tmp_path, env_extra=env, now=NOW + DAY).code == 0
    assert len(slack.messages()) == 1  # nothing changed: no digest
    # the owners merge the upgrade: the pin moves on the default branch
    repo = github.fleet["acme/svc-old"]
    repo.refs["heads/main"] = repo.refs["heads/shipyard/fleet"]
    github.close_pull("acme/svc-old", 1, NOW + DAY, merged=True)
    assert run_fleet(inputs, api=github.url, state=tmp_path, env_extra=env, now=NOW + 2 * DAY).code == 0
    last = slack.messages()[-1]
    assert "acme/svc-old: now on v1.4.0 (was v1.2.0, 2 behind)" in last.text
    assert BOT_TOKEN not in json.dumps([m.text for m in slack.messages()])


def test_slack_failure_is_a_warning(tmp_path: Path, github: FleetGitHubDouble, slack: SlackDouble) -> None:
    fleet = small_org(github)
    result = run_fleet({"token": fleet.token, "slack-token": "xoxb-wrong", "slack-channel": "C0DEPLOYS1"},
                       api=github.url, state=tmp_path, env_extra={"SHIPYARD_SLACK_API_URL": slack.api_url})
    assert result.code == 0
    assert "Slack digest not sent" in result.out
