"""The action.yml under act (host mode) against the git server and the Bitbucket double, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.mirror.conftest import World
from tests.stack.act import ROOT, ActRunner, dump_step


@pytest.mark.act
def test_action_mirrors_then_skips_under_act(seeded: World, act: ActRunner) -> None:
    w = seeded
    workflow = """\
on: push
jobs:
  mirror:
    runs-on: ubuntu-latest
    steps:
      - id: first
        uses: shipyard/shipyard/actions/bitbucket-mirror@v1
        with:
          workspace: ${{ env.BB_WS }}
          repository: Service
          username: dev@example.com
          token: ${{ secrets.BB_TOKEN }}
          api-url: ${{ env.BB_API }}
          git-url: ${{ env.BB_GIT }}
          source-url: ${{ env.SRC_URL }}
          source-token: ${{ secrets.SRC_TOKEN }}
      - id: again
        uses: shipyard/shipyard/actions/bitbucket-mirror@v1
        with:
          workspace: ${{ env.BB_WS }}
          repository: Service
          username: dev@example.com
          token: ${{ secrets.BB_TOKEN }}
          api-url: ${{ env.BB_API }}
          git-url: ${{ env.BB_GIT }}
          source-url: ${{ env.SRC_URL }}
          source-token: ${{ secrets.SRC_TOKEN }}
""" + dump_step("outputs", {
        "pushed": "steps.first.outputs.pushed-refs", "skipped1": "steps.first.outputs.skipped",
        "skipped2": "steps.again.outputs.skipped", "url": "steps.first.outputs.target-url",
    })
    result = act.run(
        workflow,
        env={"BB_WS": w.ws, "BB_API": w.bb.url, "BB_GIT": w.git_server.base_url + "/{workspace}/{slug}.git",
             "SRC_URL": w.src_url},
        secrets={"BB_TOKEN": w.token, "SRC_TOKEN": w.src_token},
    )
    assert result.ok, result.output[-4000:]
    out = result.json("outputs")
    assert sorted(str(out["pushed"]).splitlines()) == sorted(w.source_refs())
    assert (out["skipped1"], out["skipped2"]) == ("false", "true")
    assert str(out["url"]).endswith(f"/{w.ws}/service.git")
    assert w.target_refs() == w.source_refs()
    assert w.token not in result.output and w.src_token not in result.output


def test_cli_runs_the_same_stage(seeded: World) -> None:
    w = seeded
    checkout = w.checkout()
    inputs = w.inputs()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update({"PYTHONPATH": str(ROOT / "src"), "INPUT_TOKEN": inputs.pop("token"),
                "INPUT_SOURCE_TOKEN": inputs.pop("source-token")})  # secrets via env, never argv
    args = [sys.executable, "-m", "shipyard", "bitbucket-mirror", "--path", str(checkout)]
    for k, v in inputs.items():
        args += [f"--{k}", v]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "output skipped=false" in proc.stdout
    assert w.target_refs() == w.source_refs()


@pytest.mark.act
def test_action_reports_one_error_for_a_bad_token(seeded: World, act: ActRunner) -> None:
    w = seeded
    workflow = """\
on: push
jobs:
  mirror:
    runs-on: ubuntu-latest
    steps:
      - uses: shipyard/shipyard/actions/bitbucket-mirror@v1
        with:
          workspace: ${{ env.BB_WS }}
          username: dev@example.com
          token: ${{ secrets.BB_TOKEN }}
          api-url: ${{ env.BB_API }}
          git-url: ${{ env.BB_GIT }}
          source-url: ${{ env.SRC_URL }}
          source-token: ${{ secrets.SRC_TOKEN }}
"""
    bad = "ATATT" + "n" * 30
    result = act.run(
        workflow,
        env={"BB_WS": w.ws, "BB_API": w.bb.url, "BB_GIT": w.git_server.base_url + "/{workspace}/{slug}.git",
             "SRC_URL": w.src_url},
        secrets={"BB_TOKEN": bad, "SRC_TOKEN": w.src_token},
    )
    assert not result.ok
    errors = [ln for ln in result.output.splitlines() if "::error" in ln]
    assert len(errors) == 1, result.output[-3000:]
    assert "rejected the user API token (401" in errors[0] and "Fix:" in errors[0]
    assert bad not in result.output
