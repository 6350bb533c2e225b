"""The action.yml under act against the Postman double: create, then an unchanged re-run skipped, outputs
reaching the next step; and a refused key failing with one clear error."""

from __future__ import annotations

import pytest

from tests.postman.conftest import EDITOR_KEY, SPECS, WORKSPACE
from tests.stack.act import ActRunner, dump_step

pytestmark = pytest.mark.act


def _workflow(extra: str = "") -> str:
    return """\
on: push
jobs:
  docs:
    runs-on: ubuntu-latest
    steps:
      - name: checkout (stand-in)
        shell: bash
        run: mkdir -p services/orders && cp "$SPEC_SRC" services/orders/openapi.yaml
      - id: first
        uses: shipyard/shipyard/actions/postman-publish@v1
        with:
          api-key: ${{ secrets.POSTMAN_API_KEY }}
          workspace: ${{ env.PM_WORKSPACE }}
          api-url: ${{ env.PM_API }}
          working-directory: services/orders
""" + extra


def test_action_publishes_then_skips_unchanged(act: ActRunner, postman: object) -> None:
    from tests.doubles.postman import PostmanDouble

    assert isinstance(postman, PostmanDouble)
    workflow = _workflow("""\
      - id: second
        uses: shipyard/shipyard/actions/postman-publish@v1
        with:
          api-key: ${{ secrets.POSTMAN_API_KEY }}
          workspace: ${{ env.PM_WORKSPACE }}
          api-url: ${{ env.PM_API }}
          working-directory: services/orders
""") + dump_step("outputs", {
        "uid1": "steps.first.outputs.collection-uid",
        "changed1": "steps.first.outputs.changed",
        "uid2": "steps.second.outputs.collection-uid",
        "changed2": "steps.second.outputs.changed",
        "breaking": "steps.second.outputs.breaking-changes",
        "url": "steps.first.outputs.collection-url",
    })
    result = act.run(
        workflow,
        env={"PM_API": postman.url, "PM_WORKSPACE": WORKSPACE, "SPEC_SRC": str(SPECS / "orders-3.0.yaml")},
        secrets={"POSTMAN_API_KEY": EDITOR_KEY},
    )
    assert result.ok, result.output[-4000:]
    out = result.json("outputs")
    assert out["uid1"] == out["uid2"] and out["uid1"]
    assert (out["changed1"], out["changed2"], out["breaking"]) == ("true", "false", "[]")
    assert str(out["url"]).endswith(f"/collection/{out['uid1']}")
    assert len(postman.collections) == 1
    assert EDITOR_KEY not in result.output


def test_action_with_refused_key_fails_with_one_error(act: ActRunner, postman: object) -> None:
    from tests.doubles.postman import PostmanDouble

    assert isinstance(postman, PostmanDouble)
    result = act.run(
        _workflow(),
        env={"PM_API": postman.url, "PM_WORKSPACE": WORKSPACE, "SPEC_SRC": str(SPECS / "orders-3.0.yaml")},
        secrets={"POSTMAN_API_KEY": "PMAK-revoked-key-000000"},
    )
    assert not result.ok
    assert "401 AuthenticationError" in result.output and "POSTMAN_API_KEY" in result.output
    assert "PMAK-revoked-key-000000" not in result.output
    assert not postman.collections


def test_action_publishes_the_fastapi_example(act: ActRunner, postman: object) -> None:
    """fastapi-app under the real launcher: the app is imported by the job's python3, not Shipyard's venv."""
    from tests.doubles.postman import PostmanDouble
    from tests.postman.conftest import EXAMPLE

    assert isinstance(postman, PostmanDouble)
    workflow = """\
on: push
jobs:
  docs:
    runs-on: ubuntu-latest
    steps:
      - name: checkout (stand-in)
        shell: bash
        run: mkdir -p examples && cp -r "$EXAMPLE_SRC" examples/python-service
      - id: pm
        uses: shipyard/shipyard/actions/postman-publish@v1
        with:
          api-key: ${{ secrets.POSTMAN_API_KEY }}
          workspace: ${{ env.PM_WORKSPACE }}
          api-url: ${{ env.PM_API }}
          working-directory: examples/python-service
          fastapi-app: app.main:app
          generate-env: APP_VERSION=1.2.3
""" + dump_step("outputs", {"uid": "steps.pm.outputs.collection-uid", "changed": "steps.pm.outputs.changed"})
    result = act.run(
        workflow,
        env={"PM_API": postman.url, "PM_WORKSPACE": WORKSPACE, "EXAMPLE_SRC": str(EXAMPLE)},
        secrets={"POSTMAN_API_KEY": EDITOR_KEY},
    )
    assert result.ok, result.output[-4000:]
    out = result.json("outputs")
    assert out["changed"] == "true"
    stored = postman.collection(str(out["uid"]))
    assert stored is not None and stored.data["info"]["name"] == "Inventory Service"
    assert "Version 1.2.3." in stored.data["info"]["description"]
