"""actions/slack-notify under act against the Slack double: start -> stages -> a failing step -> the
``if: always()`` finish, in one job, exactly as a service repository would write it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.doubles.slack import BOT_TOKEN, SlackDouble
from tests.secrets_sweep import SecretsSweep
from tests.stack.act import ActRunner, dump_step

pytestmark = pytest.mark.act

WORKFLOW = """\
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - run: git --version  # proves the secrets sweep's PATH shims are what the steps call
      - id: slack
        uses: shipyard/shipyard/actions/slack-notify@v1
        with:
          event: start
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: "#deploys"
          environment: prod
          stages: build, ecr-push
      - uses: shipyard/shipyard/actions/slack-notify@v1
        with:
          event: stage
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: "#deploys"
          environment: prod
          stage: build
          details: "image tag `1.0.0`"
          duration: "42"
      - uses: shipyard/shipyard/actions/slack-notify@v1
        with:
          event: stage
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: "#deploys"
          environment: prod
          stage: ecr-push
          status: running
      - name: push fails
        shell: bash
        run: exit 3
      - id: finish
        if: always()
        uses: shipyard/shipyard/actions/slack-notify@v1
        with:
          event: finish
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: "#deploys"
          environment: prod
          job-status: ${{ job.status }}
""" + dump_step("outputs", {"start_ts": "steps.slack.outputs.ts", "finish_ts": "steps.finish.outputs.ts",
                            "status": "steps.finish.outputs.status", "channel": "steps.finish.outputs.channel"})


def test_action_runs_start_stage_finish_under_act(act: ActRunner, slack: SlackDouble, tmp_path: Path) -> None:
    sweep = SecretsSweep([BOT_TOKEN])
    shim = sweep.shim_dir(tmp_path)  # git, curl, ... called by the steps log their argv
    result = act.run(
        WORKFLOW,
        env={"SHIPYARD_SLACK_API_URL": slack.api_url, "SHIPYARD_SLACK_BACKOFF": "0.05",
             "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"},
        secrets={"SLACK_BOT_TOKEN": BOT_TOKEN},
    )
    assert not result.ok, "the job fails because of the failing step"
    outputs = result.json("outputs")
    assert outputs["start_ts"] and outputs["start_ts"] == outputs["finish_ts"]
    assert outputs["status"] == "failure" and outputs["channel"] == "C0DEPLOYS1"
    tops = [m for m in slack.messages() if m.thread_ts is None]
    assert len(tops) == 1
    parent = tops[0]
    assert parent.ts == outputs["start_ts"]
    header = parent.blocks[0]["text"]["text"]
    assert header == ":x: service: failed at ECR push (prod)", header
    assert parent.metadata["event_payload"]["status"] == "failure"
    assert [c.path.rsplit("/", 1)[1] for c in slack.calls() if c.status == 200 and "chat" in c.path] == [
        "chat.postMessage", "chat.update", "chat.postMessage", "chat.update", "chat.update", "chat.postMessage",
    ]
    assert BOT_TOKEN not in result.output
    assert b"git\0--version" in sweep.shim_logs[0].read_bytes(), "the steps ran the shimmed tools"
    sweep.assert_clean({"act output": result.output}, [p for p in result.workdir.rglob("*") if p.is_file()
                                                       and ".git" not in p.parts and p.name != "act.secrets"])


CROSS_JOB = """\
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      slack-state: ${{ steps.built.outputs.state }}
    steps:
      - uses: shipyard/shipyard/actions/slack-notify@v1
        with:
          event: start
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: C0DEPLOYS1
          matrix-key: ${{ toJSON(matrix) }}
      - id: built
        uses: shipyard/shipyard/actions/slack-notify@v1
        with:
          event: stage
          stage: build
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: C0DEPLOYS1
  finish:
    needs: build
    if: always()
    runs-on: ubuntu-latest
    steps:
      - id: done
        uses: shipyard/shipyard/actions/slack-notify@v1
        with:
          event: finish
          state: ${{ needs.build.outputs.slack-state }}
          job-status: ${{ needs.build.result }}
          token: ${{ secrets.SLACK_BOT_TOKEN }}
""" + dump_step("final", {"status": "steps.done.outputs.status", "ts": "steps.done.outputs.ts"})


def test_state_carries_across_jobs_under_act(act: ActRunner, slack: SlackDouble) -> None:
    result = act.run(
        CROSS_JOB,
        env={"SHIPYARD_SLACK_API_URL": slack.api_url, "SHIPYARD_SLACK_BACKOFF": "0.05"},
        secrets={"SLACK_BOT_TOKEN": BOT_TOKEN},
    )
    assert result.ok, result.output
    final = result.json("final")
    tops = [m for m in slack.messages() if m.thread_ts is None]
    assert len(tops) == 1 and final == {"status": "success", "ts": tops[0].ts}
    assert tops[0].blocks[0]["text"]["text"] == ":white_check_mark: service: deployed"
