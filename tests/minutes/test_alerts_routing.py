"""Slack alerts (one message a month, one reply per threshold, never twice) and runner routing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.doubles.github_actions import GitHubActionsDouble
from tests.doubles.slack import BOT_TOKEN, SlackDouble
from tests.minutes.conftest import AS_OF, run_guard

ROUTING = """\
defaults:
  channel: C0DEPLOYS1
services:
  minutes-guard: {team: S0PLATFORM}
  svc-00: {team: S0SVC00}
"""


@pytest.fixture(scope="module")
def slack_server() -> Iterator[SlackDouble]:
    double = SlackDouble(message_limit=(50, 1.0), app_limit=(200, 1.0))
    double.start()
    yield double
    double.stop()


@pytest.fixture
def slack(slack_server: SlackDouble) -> SlackDouble:
    slack_server.reset()
    return slack_server


def used_minutes(double: GitHubActionsDouble, token: str, tmp: Path) -> float:
    result = run_guard(double, token, tmp / "probe", AS_OF, **{"dry-run": "true"})
    assert result.code == 0, result.out
    return float(result.report["used"])


def slack_inputs(slack: SlackDouble, tmp: Path, included: float) -> dict[str, str]:
    (tmp / "routing.yml").write_text(ROUTING)
    return {"slack-token": BOT_TOKEN, "slack-api-url": slack.api_url, "routing-file": str(tmp / "routing.yml"),
            "included-minutes": str(int(included))}


def test_one_message_a_month_one_reply_per_threshold_never_twice(
        small: tuple[GitHubActionsDouble, str], slack: SlackDouble, tmp_path: Path) -> None:
    double, token = small
    used = used_minutes(double, token, tmp_path)
    inputs = slack_inputs(slack, tmp_path, used / 0.8)
    first = run_guard(double, token, tmp_path, AS_OF, **inputs)
    assert first.code == 0, first.out
    messages = slack.messages()
    assert len(messages) == 1
    parent = messages[0]
    assert [r.text.split(" ")[1] for r in parent.replies] == ["50%", "75%"]
    assert all("<!subteam^S0PLATFORM>" in r.text for r in parent.replies)
    assert all("<!subteam^S0SVC00>" in r.text for r in parent.replies)  # svc-00 is a top repository
    assert parent.metadata == {"event_type": "shipyard_minutes",
                               "event_payload": {"org": "acme", "month": "2026-11", "sent": ["50", "75"]}}
    # a re-run: the message is updated in place, nobody is alerted again
    again = run_guard(double, token, tmp_path, AS_OF, **inputs)
    assert again.code == 0
    assert len(slack.messages()) == 1 and len(parent.replies) == 2 and len(parent.edits) == 1
    # later the 90% line is crossed: one more reply, still one message
    more = slack_inputs(slack, tmp_path, used / 0.92)
    third = run_guard(double, token, tmp_path, AS_OF, **more)
    assert third.code == 0
    assert [r.text.split(" ")[1] for r in parent.replies] == ["50%", "75%", "90%"]
    # the state is lost (cache evicted): the message's metadata still prevents a second alert
    (tmp_path / ".shipyard-minutes" / "state.json").unlink()
    fourth = run_guard(double, token, tmp_path, AS_OF, **more)
    assert fourth.code == 0
    assert len(slack.messages()) == 1 and len(parent.replies) == 3


def test_forecast_over_budget_routes_to_self_hosted_and_back(
        small: tuple[GitHubActionsDouble, str], slack: SlackDouble, tmp_path: Path) -> None:
    double, token = small
    used = used_minutes(double, token, tmp_path)
    inputs = {**slack_inputs(slack, tmp_path, used * 1.01), "self-hosted-labels": "arc-runners"}
    dry = run_guard(double, token, tmp_path / "dry", AS_OF, **inputs)
    assert dry.code == 0, dry.out
    assert "would set SHIPYARD_RUNS_ON to \"arc-runners\"" in dry.out
    assert not double.variables
    slack.reset()
    routed = run_guard(double, token, tmp_path, AS_OF, **inputs, **{"route-runners": "true"})
    assert routed.code == 0, routed.out
    assert double.variables["SHIPYARD_RUNS_ON"].value == '"arc-runners"'
    assert routed.outputs["over-budget"] == "true"
    assert any("exceeds the budget" in r.text for r in slack.messages()[0].replies)
    # the month turns: the variable goes back
    december = datetime(2026, 12, 2, 6, tzinfo=timezone.utc)
    double.set_now(december.timestamp())
    back = run_guard(double, token, tmp_path, december, **inputs, **{"route-runners": "true"})
    assert back.code == 0, back.out
    assert double.variables["SHIPYARD_RUNS_ON"].value == '"ubuntu-latest"'
    state = json.loads((tmp_path / ".shipyard-minutes" / "state.json").read_text())
    assert state["routing"] == {}


def test_a_refused_variable_write_is_reported_and_the_alert_kept(
        small: tuple[GitHubActionsDouble, str], slack: SlackDouble, tmp_path: Path) -> None:
    double, token = small
    used = used_minutes(double, token, tmp_path)
    double.settings.refuse_variable_writes = True
    inputs = {**slack_inputs(slack, tmp_path, used * 1.01), "self-hosted-labels": "arc-runners",
              "route-runners": "true"}
    result = run_guard(double, token, tmp_path, AS_OF, **inputs)
    assert result.code == 0, result.out
    assert "warning: Runner routing: GitHub refused" in result.out and "Variables: Read and write" in result.out
    assert not double.variables
    replies = slack.messages()[0].replies
    assert any("exceeds the budget" in r.text for r in replies)
    state = json.loads((tmp_path / ".shipyard-minutes" / "state.json").read_text())
    assert state["routing"] == {} and "forecast" in state["alerts"]["2026-11"]["sent"]


def test_a_deleted_month_message_is_posted_again_without_repeating_thresholds(
        small: tuple[GitHubActionsDouble, str], slack: SlackDouble, tmp_path: Path) -> None:
    double, token = small
    used = used_minutes(double, token, tmp_path)
    inputs = slack_inputs(slack, tmp_path, used / 0.8)
    assert run_guard(double, token, tmp_path, AS_OF, **inputs).code == 0
    channel = slack.channel("C0DEPLOYS1")
    with slack.lock:
        channel.messages.clear()  # someone deleted the message
    again = run_guard(double, token, tmp_path, AS_OF, **inputs)
    assert again.code == 0, again.out
    messages = slack.messages()
    assert len(messages) == 1 and messages[0].replies == []
    assert messages[0].metadata["event_payload"]["sent"] == ["50", "75"]


def test_a_bad_slack_token_still_routes_then_fails_with_the_fix(
        small: tuple[GitHubActionsDouble, str], slack: SlackDouble, tmp_path: Path) -> None:
    double, token = small
    used = used_minutes(double, token, tmp_path)
    inputs = {**slack_inputs(slack, tmp_path, used * 1.01), "slack-token": "xoxb-not-a-known-token",
              "self-hosted-labels": "arc-runners", "route-runners": "true"}
    result = run_guard(double, token, tmp_path, AS_OF, **inputs)
    assert result.code == 1
    assert len(result.errors) == 1 and "invalid_auth" in result.errors[0] and "Fix:" in result.errors[0]
    assert double.variables["SHIPYARD_RUNS_ON"].value == '"arc-runners"'
    assert "xoxb-not-a-known-token" not in result.out
    assert not slack.messages()
