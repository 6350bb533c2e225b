"""The deploy-board action.yml under act (host mode) against the fleet fixture."""

from __future__ import annotations

import json

import pytest

from tests.board.conftest import Fleet, aws_env
from tests.board.fleetfix import LAYOUT, SERVICES
from tests.stack.act import ActRunner, dump_step

pytestmark = pytest.mark.act

WORKFLOW = """\
on: workflow_dispatch
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - id: board
        uses: shipyard/shipyard/actions/deploy-board@v1
        with:
          repository: ${{ env.CONFIG_URL }}
          github-repository: acme/config
          token: ${{ secrets.CONFIG_TOKEN }}
          layout: ${{ env.LAYOUT }}
          argocd-server: ${{ env.ARGO_URL }}
          argocd-token: ${{ secrets.ARGOCD_TOKEN }}
          aws-region: us-east-1
          aws-access-key-id: ${{ secrets.AWS_KEY }}
          aws-secret-access-key: ${{ secrets.AWS_SECRET }}
          output-dir: ${{ env.OUT_DIR }}/site
""" + dump_step("outputs", {"markers": "steps.board.outputs.markers", "services": "steps.board.outputs.services",
                            "html": "steps.board.outputs.html-path", "argocd": "steps.board.outputs.argocd-state"})


def test_action_writes_the_page_and_the_summary(act: ActRunner, fleet: Fleet) -> None:
    env = {**aws_env(fleet), "CONFIG_URL": fleet.repo.url, "LAYOUT": LAYOUT, "ARGO_URL": fleet.argo.url}
    secrets = {"CONFIG_TOKEN": fleet.repo.token, "ARGOCD_TOKEN": fleet.argo_token, "AWS_KEY": "testing",
               "AWS_SECRET": "testing-secret"}
    result = act.run(WORKFLOW, env=env, secrets=secrets, event="workflow_dispatch")
    assert result.ok, result.output[-4000:]
    outputs = result.json("outputs")
    assert outputs["services"] == str(len(SERVICES)) and outputs["argocd"] == "ok"
    assert json.loads(str(outputs["markers"]))["drift"] == 1
    page = (result.workdir / "out" / "site" / "index.html").read_text()
    assert page.startswith("<!doctype html>") and 'id="board"' in page
    assert "pie showData title Markers across the fleet" in result.output
    assert fleet.repo.token not in result.output and fleet.argo_token not in result.output
