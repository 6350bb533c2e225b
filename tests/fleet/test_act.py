"""The organisation's fleet template under act (host mode) against the GitHub double: the real template file,
the real action, stubs for actions/cache (no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles.github_fleet import FleetGitHubDouble
from tests.fleet.conftest import ORG, small_org
from tests.stack.act import ROOT, ActRunner

pytestmark = pytest.mark.act

TEMPLATE = ROOT / "workflow-templates" / "shipyard-fleet.yml"
CACHE = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684"
STUB = """\
name: stub {name}
inputs:
  path: {{required: false, default: ""}}
  key: {{required: false, default: ""}}
  restore-keys: {{required: false, default: ""}}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        KEY: ${{{{ inputs.key }}}}
      run: echo "stub {name} key=$KEY" >> "$OUT_DIR/{name}.log"
"""


def stubs(base: Path) -> dict[str, Path]:
    cache = base / "cache"
    for part in ("restore", "save"):
        (cache / part).mkdir(parents=True, exist_ok=True)
        (cache / part / "action.yml").write_text(STUB.format(name=f"cache-{part}"), encoding="utf-8")
    return {CACHE: cache}


def test_the_template_opens_the_fleet_prs(act: ActRunner, tmp_path: Path) -> None:
    with FleetGitHubDouble() as github:
        assert isinstance(github, FleetGitHubDouble)
        fleet = small_org(github)
        result = act.run(
            TEMPLATE.read_text(encoding="utf-8"), event="workflow_dispatch",
            event_payload={"inputs": {"dry-run": False}},
            secrets={"SHIPYARD_FLEET_TOKEN": fleet.token},
            extra_args=["--var", f"SHIPYARD_GITHUB_API_URL={github.url}", "--var",
                        "SHIPYARD_FLEET_REQUIRED_CHECKS=team"],
            local_actions=stubs(tmp_path / "stubs"), timeout=300)
        assert result.ok, result.output
        assert fleet.token not in result.output
        assert "| repository | language | pipeline | version | drift | action | pr |" in result.output
        assert [p["title"] for p in github.fleet[f"{ORG}/svc-new"].pulls] == ["Shipyard: adopt the pipeline (go)"]
        assert [p["title"] for p in github.fleet[f"{ORG}/svc-old"].pulls] == ["Shipyard: upgrade to v1.4.0"]
        assert not github.fleet[f"{ORG}/svc-ok"].pulls
        assert len(github.fleet[f"{ORG}/svc-ok"].rulesets) == 1
        assert "key=shipyard-fleet-" in result.file("cache-save.log")
        assert github.calls("GET", r"/orgs/acme/repos")[0].headers["authorization"] == f"Bearer {fleet.token}"
        assert github.fleet[f"{ORG}/svc-old"].pulls[0]["body"].count("```diff") == 1
