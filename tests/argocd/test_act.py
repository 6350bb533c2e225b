"""The argocd-wait action.yml under act (host mode) against the ArgoCD double."""

from __future__ import annotations

import json

import pytest

from tests.argocd.conftest import ConfigRepo
from tests.doubles.argocd import ArgoCDDouble, frame, ts
from tests.stack.act import ActRunner, dump_step

pytestmark = pytest.mark.act

WORKFLOW = """\
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - id: wait
        uses: shipyard/shipyard/actions/argocd-wait@v1
        with:
          argocd-server: ${{ env.ARGOCD_URL }}
          argocd-token: ${{ secrets.ARGOCD_TOKEN }}
          applications: |
            api-eu1
            payments/api-us1
          revision: ${{ env.REVISION }}
          config-repo-path: ${{ env.CONFIG_REPO }}
          poll-interval: "0.05"
          timeout: "30"
""" + dump_step("outputs", {"healthy": "steps.wait.outputs.healthy", "results": "steps.wait.outputs.results",
                            "revisions": "steps.wait.outputs.revisions"})


def test_action_waits_for_two_clusters(act: ActRunner, argocd: ArgoCDDouble, config_repo: ConfigRepo) -> None:
    token = argocd.issue_token("ci")
    argocd.add_app("api-eu1", [frame(config_repo.base), frame(config_repo.ours, health="Progressing"),
                               frame(config_repo.ours, reconciled=ts(0))])
    # the us1 cluster is already past ours: another service pushed on top
    argocd.add_app("api-us1", [frame(config_repo.base), frame(config_repo.later, reconciled=ts(0))],
                   project="payments")
    env = {"ARGOCD_URL": argocd.url, "REVISION": config_repo.ours, "CONFIG_REPO": str(config_repo.path)}
    result = act.run(WORKFLOW, env=env, secrets={"ARGOCD_TOKEN": token})
    assert result.ok, result.output
    outputs = result.json("outputs")
    assert outputs["healthy"] == "true"
    assert json.loads(str(outputs["revisions"])) == {"api-eu1": config_repo.ours,
                                                     "payments/api-us1": config_repo.later}
    assert [r["result"] for r in json.loads(str(outputs["results"]))] == ["healthy", "healthy"]
    assert token not in result.output
    assert "| app | sync | health | revision | time | result |" in result.output
    assert "::group::Waiting up to 30.0s for 2 ArgoCD application(s): api-eu1, payments/api-us1" in result.output
    assert argocd.calls("GET")[0].headers["authorization"] == f"Bearer {token}"


def test_action_fails_with_one_error_on_degraded(act: ActRunner, argocd: ArgoCDDouble,
                                                 config_repo: ConfigRepo) -> None:
    token = argocd.issue_token("ci")
    argocd.add_app("api-eu1", [frame(config_repo.ours, health="Degraded", health_message="pods crash-looping")])
    argocd.add_app("api-us1", [frame(config_repo.ours, health="Progressing")], project="payments")
    env = {"ARGOCD_URL": argocd.url, "REVISION": config_repo.ours, "CONFIG_REPO": str(config_repo.path)}
    result = act.run(WORKFLOW, env=env, secrets={"ARGOCD_TOKEN": token})
    assert not result.ok
    assert result.output.count("::error title=argocd-wait") == 1
    assert "api-eu1: failed: health Degraded: pods crash-looping" in result.output
    assert json.loads(result.file("outputs"))["healthy"] == "false"
    assert token not in result.output
