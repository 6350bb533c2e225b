"""The Docker flavour (actions/<stage>/docker/action.yml) under act: the stage runs in the suite image built by the
session fixture, with buildah as the runtime (the first one found on a PATH without docker and podman, neither of
which runs here), against the Slack double; bad input (a tag that does not exist, a platform the image was not
built for, a runner with no container runtime) gets one clear error and changes nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.doubles.slack import BOT_TOKEN, SlackDouble
from tests.image.conftest import BuiltImage
from tests.stack import buildah as bh
from tests.stack.act import ActRunner, dump_step
from tests.stack.registry import Registry

pytestmark = [pytest.mark.slow, pytest.mark.act]

GOOD = """\
on: push
jobs:
  ship:
    runs-on: ubuntu-latest
    steps:
      - id: selftest
        uses: shipyard/shipyard/actions/selftest/docker@v1
        with:
          message: in the image
          mode: loud
          container-image: ${{ env.IMAGE }}
      - id: slack
        uses: shipyard/shipyard/actions/slack-notify/docker@v1
        with:
          event: start
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: "#deploys"
          environment: dev
          service: orders
          stages: build, gitops-update
          api-url: ${{ env.SLACK_API }}
          container-image: ${{ env.IMAGE }}
      - id: no-tag
        continue-on-error: true
        uses: shipyard/shipyard/actions/slack-notify/docker@v1
        with:
          event: start
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: "#deploys"
          api-url: ${{ env.SLACK_API }}
          container-image: ${{ env.MISSING_IMAGE }}
      - id: no-platform
        continue-on-error: true
        uses: shipyard/shipyard/actions/slack-notify/docker@v1
        with:
          event: start
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: "#deploys"
          api-url: ${{ env.SLACK_API }}
          container-image: ${{ env.IMAGE }}
          container-platform: linux/arm64
""" + dump_step("outputs", {
    "message": "steps.selftest.outputs.message", "ts": "steps.slack.outputs.ts",
    "delivered": "steps.slack.outputs.delivered", "no_tag": "steps.no-tag.outcome",
    "no_platform": "steps.no-platform.outcome", "temp": "runner.temp"})

NO_RUNTIME = """\
on: push
jobs:
  ship:
    runs-on: ubuntu-latest
    steps:
      - uses: shipyard/shipyard/actions/slack-notify/docker@v1
        with:
          event: start
          token: ${{ secrets.SLACK_BOT_TOKEN }}
          channel: "#deploys"
          api-url: ${{ env.SLACK_API }}
          container-image: ${{ env.IMAGE }}
"""


def _shim_path(dest: Path, leave_out: set[str]) -> str:
    """A PATH of one folder linking every command of this PATH but LEAVE_OUT: a runner without those tools."""
    dest.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not folder or not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            link = dest / entry.name
            if entry.name in leave_out or link.exists() or not os.access(entry, os.X_OK) or entry.is_dir():
                continue
            link.symlink_to(entry)
    return str(dest)


@pytest.fixture
def slack() -> Iterator[SlackDouble]:
    double = SlackDouble()
    double.start()
    yield double
    double.stop()


def _containers(image: BuiltImage) -> set[str]:
    out = subprocess.run(["buildah", "containers", "--quiet"], env=image.env, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return set(out.split())


def _env(image: BuiltImage, slack: SlackDouble, path: str, **extra: str) -> dict[str, str]:
    env = {k: image.env[k] for k in bh.ENV_KEYS}
    env.update({"PATH": path, "IMAGE": image.tag, "SLACK_API": slack.api_url, "SHIPYARD_SLACK_BACKOFF": "0.05"})
    env.update(extra)
    return env


def test_stages_run_in_the_image_and_bad_input_is_refused(
    suite_image: BuiltImage, act: ActRunner, slack: SlackDouble, registry: Registry, tmp_path: Path
) -> None:
    before = _containers(suite_image)
    path = _shim_path(tmp_path / "bin", {"docker", "podman"})
    result = act.run(GOOD, env=_env(suite_image, slack, path, MISSING_IMAGE=f"{registry.host}/acme/shipyard:9.9.9"),
                     secrets={"SLACK_BOT_TOKEN": BOT_TOKEN}, timeout=400)
    out = result.output
    assert result.ok, out[-6000:]
    outputs = result.json("outputs")
    # the stage ran in the image (buildah found as the runtime) and its outputs reached the job
    assert "Shipyard selftest in localhost/shipyard:under-test (linux/amd64) with buildah" in out
    assert outputs["message"] == "IN THE IMAGE"
    # slack-notify, run in the image, posted one message to the double; its outputs came back through GITHUB_OUTPUT
    assert outputs["delivered"] == "true" and outputs["ts"]
    tops = [m for m in slack.messages() if m.thread_ts is None]
    assert [m.ts for m in tops] == [outputs["ts"]], "the refused steps posted nothing"
    # a tag that does not exist: one clear error naming the fix, before any container ran
    assert outputs["no_tag"] == "failure"
    assert f"Image '{registry.host}/acme/shipyard:9.9.9' does not exist" in out, out[-5000:]
    assert "Fix: set container-image to a published tag" in out
    # a platform the image was not built for: refused before running
    assert outputs["no_platform"] == "failure"
    assert "is not built for linux/arm64 (it has: linux/amd64)" in out
    assert BOT_TOKEN not in out
    # nothing left behind: no working container, no env file with the inputs
    assert _containers(suite_image) == before
    leftovers = list(Path(outputs["temp"]).glob("shipyard-env.*"))
    assert not leftovers, leftovers


def test_a_runner_without_a_container_runtime_is_sent_to_the_composite_flavour(
    suite_image: BuiltImage, act: ActRunner, slack: SlackDouble, tmp_path: Path
) -> None:
    path = _shim_path(tmp_path / "bin", {"docker", "podman", "buildah"})
    assert shutil.which("buildah", path=path) is None
    result = act.run(NO_RUNTIME, env=_env(suite_image, slack, path), secrets={"SLACK_BOT_TOKEN": BOT_TOKEN})
    assert not result.ok
    assert "No container runtime on this runner for the Docker flavour of slack-notify" in result.output
    assert "uses: shipyard/shipyard/actions/slack-notify@v" in result.output
    assert not slack.messages()
