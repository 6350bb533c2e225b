"""The stage against the Slack double: one parent per run, updates, threads, final states, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doubles.slack import BOT_TOKEN, SlackDouble
from tests.slack.conftest import Pipeline

ROOT = Path(__file__).resolve().parents[2]


def parents(double: SlackDouble, channel: str = "C0DEPLOYS1") -> list:
    """Top-level messages that are run messages (broadcast replies also show in the channel)."""
    return [m for m in double.messages(channel) if m.thread_ts is None]


def blocks_text(msg) -> str:
    parts = []
    for b in msg.blocks or []:
        if isinstance(b.get("text"), dict):
            parts.append(b["text"]["text"])
        parts += [f["text"] for f in b.get("fields") or []]
        parts += [e.get("text", "") for e in b.get("elements") or []]
    return "\n".join(parts)


def test_full_run_with_a_failing_stage(pipeline: Pipeline, slack: SlackDouble) -> None:
    r = pipeline.start(stages="build,ecr-push,gitops-update,argocd-wait", environment="prod")
    assert r.code == 0, r.out
    ts = r.outputs["ts"]
    assert isinstance(ts, str) and ts.count(".") == 1 and len(ts.split(".")[1]) == 6
    assert r.outputs["channel"] == "C0DEPLOYS1"
    assert pipeline.stage("build", "running", environment="prod").code == 0
    assert pipeline.stage("build", details="tag `1.4.2`\nbuilt in cache", environment="prod").code == 0
    digest = "sha256:" + "ab" * 32
    assert pipeline.stage("ecr-push", details=f"`123.dkr.ecr/payments:1.4.2` {digest}", image_tag="1.4.2",
                          image_digest=digest, environment="prod").code == 0
    assert pipeline.stage("gitops-update", details="[config commit](https://ghe.acme.internal/acme/config/commit/f00)",
                          environment="prod").code == 0
    r = pipeline.stage("argocd-wait", "failure", error="app payments-prod Degraded: CrashLoopBackOff",
                       environment="prod")
    assert r.code == 0
    r = pipeline.finish(job_status="failure", environment="prod")
    assert r.code == 0, r.out
    assert r.outputs["status"] == "failure" and r.outputs["ts"] == ts

    tops = parents(slack)
    assert len(tops) == 1, "one parent message per run"
    parent = tops[0]
    assert parent.ts == ts
    posts = slack.calls("POST", r"/api/chat\.postMessage")
    assert "thread_ts" not in posts[0].body
    assert all(c.body.get("thread_ts") == ts for c in posts[1:]), "everything after the parent is a thread reply"
    updates = slack.calls("POST", r"/api/chat\.update")
    assert len(updates) == 6 and all(c.body["ts"] == ts and c.status == 200 for c in updates)
    text = blocks_text(parent)
    assert "payments: failed at ArgoCD sync (prod)" in text
    assert ":white_check_mark: *Build*" in text and ":x: *ArgoCD sync*" in text
    assert "CrashLoopBackOff" in text and "Open the failing job" in text
    assert "https://ghe.acme.internal/acme/payments/actions/runs/1001" in text
    assert "`1.4.2`" in text and digest in text
    assert "<https://ghe.acme.internal/acme/payments/commit/0123456789abcdef0123456789abcdef01234567|0123456>" in text
    assert "Fix the payment retries" in text and "octocat" in text
    assert "*Environment*\nprod" in text
    assert parent.metadata and parent.metadata["event_payload"]["status"] == "failure"
    replies = [m.text for m in parent.replies]
    assert any("*Build* success" in t and "built in cache" in t for t in replies)
    assert any("<https://ghe.acme.internal/acme/config/commit/f00|config commit>" in t for t in replies)
    assert replies[-1].startswith(":rotating_light:"), "the failure alert is the last reply"


def test_cancelled_run_is_finished_not_left_running(pipeline: Pipeline, slack: SlackDouble) -> None:
    pipeline.start(stages="build,ecr-push")
    pipeline.stage("build", "running")
    r = pipeline.finish(job_status="cancelled")  # the if: always() step of a cancelled job
    assert r.code == 0
    parent = parents(slack)[0]
    text = blocks_text(parent)
    assert r.outputs["status"] == "cancelled"
    assert "payments: cancelled" in text and "running" not in text.split("\n")[0]
    assert ":no_entry_sign: *Build*" in text and ":fast_forward: *ECR push*" in text
    assert "hourglass" not in text
    assert not [m for m in parent.replies if "rotating_light" in m.text], "no pager noise on cancel"


def test_timed_out_when_cancelled_past_timeout(pipeline: Pipeline, slack: SlackDouble, tmp_path: Path) -> None:
    r = pipeline.start()
    state = json.loads(r.outputs["state"])
    state["st"] -= 601  # the run started ten minutes ago; a later job carries the state on
    later = Pipeline(slack, tmp_path / "later")
    r = later.finish(job_status="cancelled", timeout_minutes="10", state=json.dumps(state))
    assert r.outputs["status"] == "timed-out"
    assert "payments: timed out" in blocks_text(parents(slack)[0])


def test_failed_job_marks_the_running_stage_as_the_failure(pipeline: Pipeline, slack: SlackDouble) -> None:
    pipeline.start()
    pipeline.stage("build")
    pipeline.stage("ecr-push", "running")
    r = pipeline.finish(job_status="failure")
    assert r.state["fs"] == "ecr-push"
    assert "failed at ECR push" in blocks_text(parents(slack)[0])


def test_rerun_attempt_two_updates_the_same_parent(slack: SlackDouble, tmp_path: Path) -> None:
    first = Pipeline(slack, tmp_path / "a1")
    ts = first.start().outputs["ts"]
    first.stage("build", "failure", error="compile error")
    first.finish(job_status="failure")
    second = Pipeline(slack, tmp_path / "a2", attempt="2")  # a fresh runner: no state file
    r = second.start()
    assert r.code == 0 and r.outputs["ts"] == ts
    second.stage("build")
    r = second.finish(job_status="success")
    assert r.outputs["ts"] == ts and r.outputs["status"] == "success"
    assert len(parents(slack)) == 1
    parent = parents(slack)[0]
    text = blocks_text(parent)
    assert "deploy #1001 (attempt 2)" in text and "/actions/runs/1001/attempts/2" in text
    assert "payments: deployed" in text and "compile error" not in text
    assert any("Re-run: attempt 2" in m.text for m in parent.replies)
    assert "is fixed" in parent.replies[-1].text, "attempt 1 paged the owners; attempt 2 tells them it is fixed"
    history = slack.calls(None, r"/api/conversations\.history")
    assert len(history) == 1, "one look-up, at the re-run's start"
    assert history[0].body["include_all_metadata"] == "true" and "oldest" in history[0].body


def test_matrix_entries_get_their_own_messages(slack: SlackDouble, tmp_path: Path) -> None:
    runs = {}
    for key in ('{"arch":"amd64"}', '{"arch":"arm64"}'):
        p = Pipeline(slack, tmp_path / key[10:15], INPUT_MATRIX_KEY=key)
        runs[key] = p.start().outputs["ts"]
        p.stage("build", duration="5")
    assert len(set(runs.values())) == 2
    for m in parents(slack):
        text = blocks_text(m)
        assert "[arch=amd64]" in text or "[arch=arm64]" in text
        assert "matrix: arch=" in text
        assert "5.0s" in text


def test_cross_job_state_and_parallel_jobs_merge(slack: SlackDouble, tmp_path: Path) -> None:
    build = Pipeline(slack, tmp_path / "build")
    r = build.start()
    build.stage("build")
    state = build.stage("ecr-push").outputs["state"]
    mirror = Pipeline(slack, tmp_path / "mirror")
    postman = Pipeline(slack, tmp_path / "postman")
    assert mirror.stage("bitbucket-mirror", "running", state=state).code == 0
    assert postman.stage("postman-publish", "running", state=state).code == 0
    assert mirror.stage("bitbucket-mirror", state=state).code == 0  # later steps of each job read back first
    assert postman.stage("postman-publish", state=state).code == 0
    payload = slack.message(r.outputs["ts"]).metadata["event_payload"]
    shown = {s[0]: s[1] for s in json.loads(payload["state"])["s"]}
    assert shown == {"build": "success", "ecr-push": "success", "bitbucket-mirror": "success",
                     "postman-publish": "success"}
    final = Pipeline(slack, tmp_path / "final")
    out = final.finish(job_status="success", ts=r.outputs["ts"], channel=r.outputs["channel"])
    names = [s[0] for s in out.state["s"]]
    assert names == ["build", "ecr-push", "bitbucket-mirror", "postman-publish"]
    assert len(parents(slack)) == 1


def test_stage_without_start_still_posts_one_message(pipeline: Pipeline, slack: SlackDouble) -> None:
    assert pipeline.stage("build").code == 0
    assert pipeline.finish(job_status="success").code == 0
    assert len(parents(slack)) == 1


def test_config_errors_warn_by_default_and_fail_with_fix_when_asked(pipeline: Pipeline, slack: SlackDouble) -> None:
    r = pipeline.start(channel="C0OTHERS01")
    assert r.code == 0
    assert "not_in_channel" in r.out and "/invite @shipyard" in r.out and "::error" not in r.out
    assert r.outputs["delivered"] == "false"
    r = pipeline.start(channel="C0OTHERS01", fail_on_error="true")
    assert r.code == 1
    assert "error: Slack refused chat.postMessage: not_in_channel." in r.out
    assert "invite the bot to C0OTHERS01: type `/invite @shipyard`" in r.out


def test_each_config_error_names_its_fix(slack: SlackDouble, tmp_path: Path) -> None:
    slack.add_token("xoxb-revoked", revoked=True)
    slack.add_token("xoxb-noscope", scopes=frozenset({"channels:history"}))
    cases = {
        "invalid_auth": ({"INPUT_TOKEN": "xoxb-nope"}, "Bot User OAuth Token"),
        "token_revoked": ({"INPUT_TOKEN": "xoxb-revoked"}, "reinstall the Slack app"),
        "missing_scope": ({"INPUT_TOKEN": "xoxb-noscope"}, "add the chat:write scope"),
        "channel_not_found": ({"INPUT_CHANNEL": "#nope"}, "use the channel ID"),
        "is_archived": ({"INPUT_CHANNEL": "C0ARCHIVE1"}, "unarchive it"),
    }
    for i, (code, (env, fix)) in enumerate(cases.items()):
        p = Pipeline(slack, tmp_path / str(i), **env)
        before = len(slack.calls())
        r = p.start(fail_on_error="true")
        assert r.code == 1, code
        assert code in r.out and fix in r.out, (code, r.out)
        calls = slack.calls()[before:]
        assert len([c for c in calls if c.path.endswith("postMessage")]) == 1, f"{code}: failed fast, no retry"


def test_missing_token_and_bad_inputs_fail_with_one_error(pipeline: Pipeline) -> None:
    r = pipeline.run(event="start", token="", fail_on_error="true")
    assert r.code == 1 and "needs a bot token or an incoming webhook URL" in r.out
    r = pipeline.run(event="finish", job_status="weird")
    assert r.code == 1 and "Input 'job-status' has unknown value 'weird'" in r.out
    r = pipeline.run(event="stage", stage="build", status="done")
    assert r.code == 1 and "Input 'status' has unknown value 'done'" in r.out
    r = pipeline.run(event="start", token="abc-123")
    assert r.code == 1 and "should start with xoxb-" in r.out
    r = pipeline.run(event="stage", stage="b", state="{not json")
    assert r.code == 1 and "Input 'state' is not a state from slack-notify" in r.out


def test_transient_5xx_is_retried(pipeline: Pipeline, slack: SlackDouble) -> None:
    ts = pipeline.start().outputs["ts"]
    slack.inject("status", 503, match=r"chat\.update", count=2)
    r = pipeline.stage("build")
    assert r.code == 0 and r.outputs["delivered"] == "true", r.out
    updates = slack.calls("POST", r"/api/chat\.update")
    assert [u.status for u in updates] == [503, 503, 200]
    assert "<title>Slack | Server Error</title>" in updates[0].response.decode()
    assert parents(slack)[0].ts == ts


def test_slack_down_warns_and_goes_on_or_fails_when_asked(pipeline: Pipeline, slack: SlackDouble) -> None:
    slack.inject("status", 500, match=r"chat\.postMessage|conversations", count=100)
    r = pipeline.start()
    assert r.code == 0 and "Slack is unavailable" in r.out and r.outputs["delivered"] == "false"
    r = pipeline.start(fail_on_error="true")
    assert r.code == 1 and "Slack is unavailable" in r.out
    r = pipeline.stage("build", details="built while Slack was down")
    assert r.code == 0 and r.outputs["delivered"] == "false"
    slack.faults.clear()
    r = pipeline.finish(job_status="success")  # Slack is back: the finish posts the one message
    assert r.code == 0 and len(parents(slack)) == 1
    assert ":white_check_mark: *Build*" in blocks_text(parents(slack)[0]), "the checklist survived the outage"


def test_ambiguous_parent_post_is_not_duplicated(pipeline: Pipeline, slack: SlackDouble) -> None:
    slack.inject("applied_status", 500, match=r"chat\.postMessage", count=1)
    r = pipeline.start()
    assert r.code == 0, r.out
    assert len(parents(slack)) == 1
    assert r.outputs["ts"] == parents(slack)[0].ts


def test_deleted_parent_is_replaced(pipeline: Pipeline, slack: SlackDouble) -> None:
    pipeline.start()
    slack.channel("C0DEPLOYS1").messages.clear()
    r = pipeline.stage("build")
    assert r.code == 0 and "cannot be updated (message_not_found)" in r.out
    assert len(parents(slack)) == 1


def test_dry_run_prints_payload_and_calls_nothing(pipeline: Pipeline, slack: SlackDouble) -> None:
    r = pipeline.start(dry_run="true", token="")
    assert r.code == 0
    payload = json.loads(r.out.split("--- Slack payload (dry run: nothing was sent)\n", 1)[1].split("\n---", 1)[0])
    assert payload[0]["method"] == "chat.postMessage" and payload[0]["blocks"][0]["type"] == "header"
    r = pipeline.finish(dry_run="true", job_status="failure")
    assert '"reply_broadcast": true' in r.out
    assert slack.calls() == []


def test_long_details_and_many_stages_are_trimmed_and_accepted(pipeline: Pipeline, slack: SlackDouble) -> None:
    pipeline.start(stages=",".join(f"step-{i}" for i in range(80)))
    for i in range(0, 80, 20):
        r = pipeline.stage(f"step-{i}", "failure", details="x" * 5000, error="e" * 9000)
        assert r.code == 0 and r.outputs["delivered"] == "true", r.out
    r = pipeline.finish(job_status="failure", error="boom " * 3000)
    assert r.code == 0 and r.outputs["delivered"] == "true", r.out
    assert all(c.status == 200 for c in slack.calls())
    parent = parents(slack)[0]
    assert len(parent.blocks) <= 50
    assert "trimmed to fit Slack's limits" in blocks_text(parent) or "…" in blocks_text(parent)


ROUTING = """\
defaults:
  channel: C0DEPLOYS1
services:
  payments:
    team: S0PAYMENTS
    environments:
      prod: {channel: "#deploys", team: [S0PAYMENTS, S0SRE]}
users:
  octocat: U0OCTOCAT
"""


def test_routing_and_mentions_only_on_failure_and_recovery(slack: SlackDouble, tmp_path: Path) -> None:
    routing = tmp_path / "routing.yml"
    routing.write_text(ROUTING)

    def run(run_id: str, outcome: str) -> list[str]:
        p = Pipeline(slack, tmp_path / run_id, run_id=run_id, INPUT_CHANNEL="", INPUT_ROUTING_FILE=str(routing),
                     INPUT_ENVIRONMENT="prod")
        r = p.start()
        assert r.code == 0 and r.outputs["channel"] == "C0DEPLOYS1", r.out
        p.stage("build", "failure" if outcome == "failure" else "success")
        p.finish(job_status=outcome)
        parent = slack.message(r.outputs["ts"])
        return [m.text for m in parent.replies if "<!subteam^" in m.text or "<@" in m.text]

    assert run("1", "success") == []
    failed = run("2", "failure")
    assert len(failed) == 1 and failed[0].startswith("<!subteam^S0PAYMENTS> <!subteam^S0SRE> <@U0OCTOCAT>")
    assert run("3", "failure")  # still failing: owners hear it again
    recovered = run("4", "success")
    assert len(recovered) == 1 and "is fixed" in recovered[0] and "<@U0OCTOCAT>" in recovered[0]
    assert run("5", "success") == [], "no mention on a plain success"
    assert "<@U0OCTOCAT>" in blocks_text(parents(slack)[-1]), "the author is shown as a Slack mention"


def test_webhook_fallback_posts_once_at_finish(slack: SlackDouble, tmp_path: Path) -> None:
    p = Pipeline(slack, tmp_path / "hook", INPUT_TOKEN="", INPUT_WEBHOOK_URL=slack.webhook_url)
    r = p.start()
    assert r.code == 0 and "no message ts, so the message cannot be updated" in r.out
    assert r.outputs["delivered"] == "false", "nothing is sent before the finish in webhook mode"
    p.stage("build")
    r = p.finish(job_status="success")
    assert r.code == 0 and r.outputs["delivered"] == "true"
    msgs = slack.messages()
    assert len(msgs) == 1 and "no live updates or thread details" in blocks_text(msgs[0])
    assert ":white_check_mark: *Build*" in blocks_text(msgs[0])
    bad = Pipeline(slack, tmp_path / "bad", INPUT_TOKEN="", INPUT_WEBHOOK_URL=slack.url + "/services/T0/B0/wrong")
    r = bad.finish(job_status="success", fail_on_error="true")
    assert r.code == 1 and "no_service" in r.out and "create a new incoming webhook" in r.out


def test_cli_runs_the_same_code(slack: SlackDouble, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RUNNER_TEMP": str(tmp_path), "INPUT_TOKEN": BOT_TOKEN,
           "GITHUB_REPOSITORY": "acme/cli", "GITHUB_RUN_ID": "7"}
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "slack-notify", "--event", "start", "--channel", "#deploys",
         "--api-url", slack.api_url], env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "output channel=C0DEPLOYS1" in proc.stdout
    assert BOT_TOKEN not in proc.stdout + proc.stderr


def test_stage_never_imports_boto3_or_github(slack: SlackDouble, tmp_path: Path) -> None:
    code = (
        "import sys, os\n"
        "from shipyard.runtime import Action, run_stage\n"
        "from shipyard.stages import load\n"
        "rc = run_stage(load('slack-notify'), Action(), name='slack-notify')\n"
        "bad = [m for m in ('boto3', 'github', 'botocore') if m in sys.modules]\n"
        "print('HEAVY', bad)\n"
        "sys.exit(rc or (1 if bad else 0))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RUNNER_TEMP": str(tmp_path), "INPUT_TOKEN": BOT_TOKEN,
           "INPUT_EVENT": "start", "INPUT_CHANNEL": "C0DEPLOYS1", "INPUT_API_URL": slack.api_url,
           "GITHUB_REPOSITORY": "acme/lazy", "GITHUB_RUN_ID": "9"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HEAVY []" in proc.stdout


def test_rerun_by_channel_name_and_without_history_scope(slack: SlackDouble, tmp_path: Path) -> None:
    first = Pipeline(slack, tmp_path / "a1", INPUT_CHANNEL="#deploys")
    ts = first.start().outputs["ts"]
    second = Pipeline(slack, tmp_path / "a2", attempt="2", INPUT_CHANNEL="#deploys")
    assert second.start().outputs["ts"] == ts, "name resolved through conversations.list, then history"
    assert slack.calls(None, r"/api/conversations\.list")
    slack.add_token("xoxb-nohistory", scopes=frozenset({"chat:write"}))
    third = Pipeline(slack, tmp_path / "a3", attempt="3", INPUT_TOKEN="xoxb-nohistory")
    r = third.start()
    assert r.code == 0 and r.outputs["ts"] != ts, "without history access a re-run posts a new message"
    assert "add the channels:history scope" in r.out


def test_rate_limit_retries_stop_at_the_budget(pipeline: Pipeline, slack: SlackDouble) -> None:
    import time

    slack.inject("status", 429, match="postMessage", count=1000)
    t0 = time.monotonic()
    r = pipeline.start(rate_limit_budget="2")
    elapsed = time.monotonic() - t0
    assert r.code == 0 and "still rate limited" in r.out and r.outputs["delivered"] == "false"
    limited = slack.calls(None, r"/api/chat\.postMessage")
    assert 2 <= len(limited) <= 4 and elapsed < 8, (len(limited), elapsed)
    assert all(c.status == 429 for c in limited)


def test_later_steps_keep_the_start_steps_inputs_whatever_slack_answered(slack: SlackDouble, tmp_path: Path) -> None:
    routing = tmp_path / "routing.yml"
    routing.write_text(ROUTING)
    p = Pipeline(slack, tmp_path / "job", INPUT_CHANNEL="")
    slack.inject("status", 500, match=r"chat\.postMessage|conversations", count=100)  # Slack down at the start
    r = p.start(routing_file=str(routing), environment="prod", matrix_key='{"arch":"arm64"}', stages="build")
    assert r.code == 0 and r.outputs["delivered"] == "false", r.out
    slack.faults.clear()
    r = p.stage("build", "failure", error="exit 2")  # only event, stage and the token, as in the README
    assert r.code == 0 and r.outputs["delivered"] == "true", r.out
    assert "No Slack channel" not in r.out
    r = p.finish(job_status="failure")
    assert r.code == 0 and r.outputs["delivered"] == "true", r.out
    (parent,) = parents(slack)
    text = blocks_text(parent)
    assert "*Environment*\nprod" in text and "[arch=arm64]" in text, "environment and matrix key carried"
    assert parent.metadata["event_payload"]["key"] == "arch=arm64", "the re-run key carried"
    assert parent.replies[-1].text.startswith("<!subteam^S0PAYMENTS> <!subteam^S0SRE>"), "the routing file carried"


def test_a_refused_start_does_not_stop_the_later_steps(slack: SlackDouble, tmp_path: Path) -> None:
    p = Pipeline(slack, tmp_path / "job", INPUT_CHANNEL="", INPUT_TOKEN="xoxb-not-a-known-token")
    assert p.start(channel="C0DEPLOYS1").code == 0
    for r in (p.stage("build"), p.finish(job_status="success")):
        assert r.code == 0 and "No Slack channel" not in r.out and "invalid_auth" in r.out, r.out
    nowhere = Pipeline(slack, tmp_path / "nowhere", INPUT_CHANNEL="")
    r = nowhere.start()
    assert r.code == 0 and "warning: Slack notification not delivered: No Slack channel" in r.out, r.out
    assert nowhere.start(fail_on_error="true").code == 1


def test_ambiguous_post_without_history_access_is_never_reposted(slack: SlackDouble, tmp_path: Path) -> None:
    slack.add_token("xoxb-nohistory", scopes=frozenset({"chat:write"}))
    p = Pipeline(slack, tmp_path / "job", INPUT_TOKEN="xoxb-nohistory")
    slack.inject("applied_status", 500, match=r"chat\.postMessage")  # the post landed, the answer was a 500
    r = p.start()
    assert r.code == 0 and "it is not posted again" in r.out and "channels:history" in r.out, r.out
    assert len(parents(slack)) == 1
    for r in (p.stage("build"), p.finish(job_status="success")):
        assert r.code == 0, r.out
    assert len(parents(slack)) == 1, "could not look is not the same as not there"


def test_a_hanging_slack_costs_seconds_per_job_not_minutes(
    slack: SlackDouble, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from shipyard.slack import stage

    monkeypatch.setattr(stage, "DOWN_BUDGET", 1.0)
    p = Pipeline(slack, tmp_path / "job", SHIPYARD_SLACK_TIMEOUT="3")
    slack.inject("timeout", match="/api/", count=1000, delay=30)
    took = []
    for step in (p.start, lambda: p.stage("build"), lambda: p.stage("push"), lambda: p.finish(job_status="success")):
        t0 = time.monotonic()
        r = step()
        took.append(time.monotonic() - t0)
        assert r.code == 0 and r.outputs["delivered"] == "false" and "Slack is unavailable" in r.out, r.out
    assert took[0] < 3 + 2, took
    assert max(took[1:]) < 1 + 1.5, f"after one step found Slack hanging, the others try briefly: {took}"


def test_default_bounds(pipeline: Pipeline) -> None:
    from shipyard.runtime import Action
    from shipyard.slack.stage import Notifier

    n = Notifier(Action({**pipeline.env, "INPUT_EVENT": "start"}))
    assert n.time_budget == 15.0 and n.api is not None and n.api.timeout == 5.0


def test_no_token_warns_once_per_job(slack: SlackDouble, tmp_path: Path) -> None:
    event = tmp_path / "pr.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"repo": {"fork": True}}}}))
    p = Pipeline(slack, tmp_path / "job", INPUT_TOKEN="", GITHUB_EVENT_NAME="pull_request",
                 GITHUB_EVENT_PATH=str(event))
    results = [p.start(stages="build"), p.stage("build"), p.finish(job_status="success")]
    assert [r.code for r in results] == [0, 0, 0]
    warnings = [line for r in results for line in r.out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "forked pull requests get no secrets" in warnings[0], warnings
    assert all("forked pull requests" in r.out for r in results), "each step's summary still says why"
    assert results[-1].outputs["delivered"] == "false" and slack.calls() == []
