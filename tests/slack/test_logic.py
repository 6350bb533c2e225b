"""Unit tests of the pure parts: checklist state, final-state rules, rendering and limits, routing, context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipyard.runtime import UserError
from shipyard.slack import render, routing
from shipyard.slack.api import _handlers
from shipyard.slack.context import from_env, matrix_label
from shipyard.slack.model import RunState, auto_final, merge
from shipyard.slack.stage import compact_state


def test_state_round_trips_and_ts_stays_a_string() -> None:
    s = RunState(ts="1712345678.123450", channel="C1", started=100.0)
    s.set_stage("build", "running", now=110.0)
    s.set_stage("build", "success", details="tag 1", now=130.0)
    back = RunState.from_json(s.to_json())
    assert back.ts == "1712345678.123450"  # a float would give 1712345678.12345
    assert back.stage("build").duration == 20.0 and back.stage("build").details == "tag 1"
    with pytest.raises(ValueError):
        RunState.from_dict({"v": 1, "ts": 1712345678.12345})
    with pytest.raises(ValueError):
        RunState.from_dict({"v": 99})


def test_finish_closes_running_and_pending_stages() -> None:
    s = RunState(started=0.0)
    s.set_stage("build", "success", now=1.0)
    s.set_stage("push", "running", now=2.0)
    s.set_stage("gitops", "pending", now=2.0)
    s.finish("failure", now=12.0)
    assert [(e.name, e.status) for e in s.stages] == [("build", "success"), ("push", "failure"), ("gitops", "skipped")]
    assert s.failed_stage == "push" and s.stage("push").duration == 10.0
    c = RunState(started=0.0)
    c.set_stage("build", "running", now=1.0)
    c.finish("cancelled", now=5.0)
    assert c.stage("build").status == "cancelled" and c.status == "cancelled"


@pytest.mark.parametrize(
    ("stages", "job", "elapsed", "timeout", "expected"),
    [
        ([("build", "success")], "success", 10, None, "success"),
        ([("build", "failure")], "success", 10, None, "failure"),
        ([("build", "success")], "failure", 10, None, "failure"),
        ([("build", "running")], "cancelled", 10, None, "cancelled"),
        ([("build", "running")], "cancelled", 600, 10, "timed-out"),
        ([("build", "running")], "cancelled", 300, 10, "cancelled"),
        ([("build", "failure")], "cancelled", 10, None, "failure"),
    ],
)
def test_auto_final(stages: list, job: str, elapsed: float, timeout: float | None, expected: str) -> None:
    s = RunState()
    for name, status in stages:
        s.set_stage(name, status)
    assert auto_final(s, job, elapsed=elapsed, timeout_minutes=timeout) == expected


def test_merge_keeps_both_parallel_writers() -> None:
    base = RunState(ts="1.000001", started=0.0)
    base.set_stage("build", "success", now=1.0)
    a = RunState.from_json(base.to_json())
    b = RunState.from_json(base.to_json())
    a.set_stage("mirror", "success", now=5.0)
    b.set_stage("postman", "failure", now=6.0)
    b.set_stage("build", "success", details="newer", now=7.0)
    merged = merge(a, b)
    assert [e.name for e in merged.stages] == ["build", "mirror", "postman"]
    assert merged.stage("build").details == "newer"
    other_attempt = RunState(ts="1.000001", attempt="2")
    other_attempt.set_stage("x", "success")
    assert [e.name for e in merge(RunState.from_json(base.to_json()), other_attempt).stages] == ["build"]


def test_compact_state_fits_metadata() -> None:
    s = RunState()
    for i in range(200):
        s.set_stage(f"stage-{i}", "failure" if i % 2 else "pending", details="d" * 600, error="e" * 900)
    text = compact_state(s)
    assert len(text) <= 4000
    back = RunState.from_json(text)
    assert back.stages and all(e.details == "" for e in back.stages)


def test_fit_enforces_every_limit() -> None:
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 400}}]
    blocks += [render.section("s" * 5000) for _ in range(70)]
    blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 3000} for _ in range(14)]})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}]})
    out, text = render.fit(blocks, "t" * 50000)
    assert render.validate(out, text) == []
    assert len(out) <= 50 and len(out[0]["text"]["text"]) == 150
    assert out[-1]["type"] == "context", "the footer survives trimming"
    assert any("trimmed to fit" in (b.get("text") or {}).get("text", "") for b in out)
    assert len(text) <= 40000


def test_validate_flags_what_slack_rejects() -> None:
    bad = [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}, render.section("")]
    problems = render.validate(bad, "")
    assert any("header" in p for p in problems) and any("section text" in p for p in problems)


def test_mrkdwn_and_escaping() -> None:
    assert render.mrkdwn("see [PR 7](https://ghe/x/pull/7) **now**") == "see <https://ghe/x/pull/7|PR 7> *now*"
    assert render.esc("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert render.link("https://x", "a|b") == "<https://x|a/b>"


def test_parent_message_renders_all_fields() -> None:
    env = {"GITHUB_REPOSITORY": "acme/api", "GITHUB_RUN_ID": "5", "GITHUB_RUN_ATTEMPT": "3", "GITHUB_SHA": "f" * 40,
           "GITHUB_REF_NAME": "v1.2.0", "GITHUB_REF_TYPE": "tag", "GITHUB_SERVER_URL": "https://ghe.corp/"}
    ctx = from_env(env, {"environment": "prod", "pr-url": "https://ghe.corp/acme/api/pull/9", "author": "dev",
                         "matrix-key": '{"os": "linux"}'})
    s = RunState(started=0.0, image_tag="1.2.0", image_digest="sha256:" + "a" * 64)
    s.finish("success", now=75.0)
    blocks, text = render.parent_message(ctx, s, author="<@U1>")
    flat = json.dumps(blocks)
    assert blocks[0]["text"]["text"] == ":white_check_mark: api: deployed to prod [os=linux]"
    assert "https://ghe.corp/acme/api/actions/runs/5/attempts/3" in flat and "*Tag*" in flat
    assert "*Duration*\\n1m 15s" in flat and "sha256:" + "a" * 64 in flat and "<@U1>" in flat
    assert text.startswith("api: deployed to prod")


def test_context_from_pull_request_event(tmp_path: Path) -> None:
    event = tmp_path / "e.json"
    event.write_text(json.dumps({"pull_request": {"html_url": "https://github.com/a/b/pull/3", "number": 3,
                                                  "title": "Add retries\nmore", "user": {"login": "pr-author"},
                                                  "head": {"sha": "abc1234999"}}}))
    ctx = from_env({"GITHUB_EVENT_PATH": str(event), "GITHUB_REPOSITORY": "a/b", "GITHUB_HEAD_REF": "feat"}, {})
    assert (ctx.pr_url, ctx.pr_number, ctx.commit_title, ctx.author, ctx.sha, ctx.ref_name) == (
        "https://github.com/a/b/pull/3", "3", "Add retries", "pr-author", "abc1234999", "feat")
    assert ctx.server == "https://github.com" and ctx.service == "b"


def test_matrix_label() -> None:
    assert matrix_label('{"os": "linux", "arch": "arm64"}') == "arch=arm64, os=linux"
    assert matrix_label("null") == "" and matrix_label("  blue  green ") == "blue green"


ROUTES = """\
defaults:
  channel: C0DEFAULT1
  environments:
    prod: {channel: C0PRODALL}
services:
  payments:
    team: S0PAY
    environments:
      prod: {channel: "#pay-prod", team: [S0PAY, S0SRE]}
  "pay*": {channel: C0GLOB001}
users:
  OctoCat: U0OCTO
"""


def test_routing_precedence() -> None:
    r = routing.parse(ROUTES, "r.yml", "payments", "prod")
    assert (r.channel, r.teams, r.source) == ("#pay-prod", ["S0PAY", "S0SRE"], "services.payments.environments.prod")
    assert r.slack_user("octocat") == "U0OCTO"
    r = routing.parse(ROUTES, "r.yml", "payments", "dev")
    assert (r.channel, r.teams) == ("C0DEFAULT1", ["S0PAY"])
    assert routing.parse(ROUTES, "r.yml", "payroll", "dev").channel == "C0GLOB001"
    assert routing.parse(ROUTES, "r.yml", "other", "prod").channel == "C0PRODALL"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: [a]", "services must be a mapping"),
        ("users: {a: bob}", "users.a 'bob' is not a Slack member ID"),
        ("services: {a: {team: payments}}", "team 'payments' is not a Slack user group ID"),
        ("defaults: {chanel: C0X}", "unknown keys chanel"),
        ("defaults: {channel: 'Bad Name'}", "neither a channel ID"),
        ("a: [", "is not valid YAML"),
    ],
)
def test_routing_errors_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(UserError) as err:
        routing.parse(text, "r.yml", "a", "prod")
    assert message in str(err.value) and "r.yml" in str(err.value)


def test_retry_handlers_cover_429_5xx_and_connection_errors() -> None:
    from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

    handlers = _handlers(rate_limit_retries=5, rate_limit_budget=10, server_retries=3, connection_retries=2,
                         backoff=0.1)
    assert isinstance(handlers[0], RateLimitErrorRetryHandler) and handlers[0].max_retry_count == 5
    assert isinstance(handlers[2], ConnectionErrorRetryHandler)
    assert TimeoutError in handlers[2].error_types_to_do_retries

    class Resp:
        def __init__(self, status: int) -> None:
            self.status_code = status

    from slack_sdk.http_retry.state import RetryState

    assert all(handlers[1]._can_retry(state=RetryState(), request=None, response=Resp(s)) for s in (500, 502, 503, 504))
    assert not handlers[1]._can_retry(state=RetryState(), request=None, response=Resp(400))
