"""The promote workflow template (workflow_dispatch) under act, against the git server, Argo CD double, moto ECR
and the GitHub double."""

from __future__ import annotations

import pytest

from tests.board.fleetfix import LAYOUT
from tests.promote.conftest import World, pulls
from tests.stack.act import ROOT, ActRunner

pytestmark = pytest.mark.act

TEMPLATE = ROOT / "workflow-templates" / "shipyard-promote.yml"


def test_promote_template_opens_the_pull_request(act: ActRunner, world: World) -> None:
    workflow = TEMPLATE.read_text(encoding="utf-8")
    variables = {"SHIPYARD_CONFIG_REPO": world.repo.url, "SHIPYARD_LAYOUT": LAYOUT,
                 "SHIPYARD_ARGOCD_SERVER": world.argo.url, "SHIPYARD_AWS_REGION": "us-east-1",
                 "SHIPYARD_GITHUB_API_URL": world.github.url, "SHIPYARD_CONFIG_GITHUB_REPO": "acme/config"}
    extra = [arg for k, v in variables.items() for arg in ("--var", f"{k}={v}")]
    env = {**world.env(), "GITHUB_REPOSITORY": "acme/ops"}
    secrets = {"SHIPYARD_PROMOTE_TOKEN": world.repo.token, "ARGOCD_TOKEN": world.argo_token,
               "SHIPYARD_AWS_ACCESS_KEY_ID": "testing", "SHIPYARD_AWS_SECRET_ACCESS_KEY": "testing-secret"}
    result = act.run(workflow, env=env, secrets=secrets, event="workflow_dispatch", extra_args=extra,
                     event_payload={"inputs": {"services": "", "pr-mode": "single", "dry-run": "false"}})
    assert result.ok, result.output[-4000:]
    [pr] = pulls(world)
    assert pr["title"] == "promote dev → prd: catalog, checkout"
    assert world.repo.branches() == ["main", "shipyard/promote-dev-to-prd"]
    assert world.repo.token not in result.output and world.argo_token not in result.output
    assert "::warning" in result.output and "not promoting billing" in result.output
    assert "| catalog | 1 | promote | prd/eu1, prd/us1 |" in result.output  # the step summary
