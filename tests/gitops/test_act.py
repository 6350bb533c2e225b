"""The action.yml under act (host mode) against the real git server: outputs reach the next step."""

from __future__ import annotations

import pytest

from tests.gitops.conftest import ConfigRepo
from tests.stack.act import ActRunner, dump_step

pytestmark = pytest.mark.act


def test_action_commits_the_tag_and_exposes_outputs(act: ActRunner, config_repo: ConfigRepo) -> None:
    workflow = """\
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - id: gitops
        uses: shipyard/shipyard/actions/gitops-update@v1
        with:
          repository: ${{ env.CONFIG_REPO }}
          token: ${{ secrets.CONFIG_TOKEN }}
          paths: apps/orders/overlays/*/kustomization.yaml
          environment: dev
          service: orders
          image-uri: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders:v9.9.9@sha256:""" + "e" * 64 + """
          image: orders
""" + dump_step("outputs", {"changed": "steps.gitops.outputs.changed", "commit": "steps.gitops.outputs.commit",
                            "previous-tag": "steps.gitops.outputs.previous-tag",
                            "files": "steps.gitops.outputs.files", "status": "steps.gitops.outputs.status"})
    result = act.run(workflow, env={"CONFIG_REPO": config_repo.url}, secrets={"CONFIG_TOKEN": config_repo.token})
    assert result.ok, result.output
    out = result.json("outputs")
    assert out["changed"] == "true" and out["status"] == "updated"
    assert out["commit"] == config_repo.tip()
    assert out["previous-tag"] == "v1.0.0"
    assert str(out["files"]).splitlines() == ["apps/orders/overlays/dev/kustomization.yaml",
                                              "apps/orders/overlays/stg/kustomization.yaml"]
    text = config_repo.show("apps/orders/overlays/stg/kustomization.yaml")
    assert 'newTag: "v9.9.9"   # set by CI\n    digest: sha256:' + "e" * 64 in text
    assert config_repo.token not in result.output
    assert "Shipyard-Source-Commit: " in config_repo.message()


def test_action_bad_token_fails_with_one_error(act: ActRunner, config_repo: ConfigRepo) -> None:
    workflow = """\
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: shipyard/shipyard/actions/gitops-update@v1
        with:
          repository: ${{ env.CONFIG_REPO }}
          token: ${{ secrets.CONFIG_TOKEN }}
          paths: apps/orders/overlays/dev/kustomization.yaml
          environment: dev
          image: orders
          tag: v2
"""
    tip = config_repo.tip()
    result = act.run(workflow, env={"CONFIG_REPO": config_repo.url}, secrets={"CONFIG_TOKEN": "wrong-token-123"})
    assert not result.ok
    assert "refused the credentials (HTTP 401)" in result.output
    assert "wrong-token-123" not in result.output
    assert config_repo.tip() == tip
