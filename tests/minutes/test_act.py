"""The organisation workflow template under act (host mode) against the GitHub Actions/billing double: the real
template file, the real action, stubs for actions/checkout and actions/cache (no network)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.doubles.github_actions import GitHubActionsDouble
from tests.minutes.fixture import Org
from tests.stack.act import ROOT, ActRunner

pytestmark = pytest.mark.act

TEMPLATE = ROOT / "workflow-templates" / "shipyard-minutes.yml"
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
CACHE = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684"

STUB = """\
name: stub {name}
inputs:
  path: {{required: false, default: ""}}
  key: {{required: false, default: ""}}
  restore-keys: {{required: false, default: ""}}
  persist-credentials: {{required: false, default: ""}}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        KEY: ${{{{ inputs.key }}}}
      run: echo "stub {name} key=$KEY" >> "$OUT_DIR/{name}.log"
"""


def stubs(base: Path) -> dict[str, Path]:
    checkout = base / "checkout"
    checkout.mkdir(parents=True, exist_ok=True)
    (checkout / "action.yml").write_text(STUB.format(name="checkout"))
    cache = base / "cache"
    for part in ("restore", "save"):
        (cache / part).mkdir(parents=True, exist_ok=True)
        (cache / part / "action.yml").write_text(STUB.format(name=f"cache-{part}"))
    return {CHECKOUT: checkout, CACHE: cache}


def test_the_template_runs_the_guard_once_a_day(act: ActRunner, small_org: Org, tmp_path: Path) -> None:
    with GitHubActionsDouble(small_org, now=time.time()) as double:
        assert isinstance(double, GitHubActionsDouble)
        token = double.add_token()
        result = act.run(
            TEMPLATE.read_text(encoding="utf-8"), event="workflow_dispatch",
            event_payload={"inputs": {"month": "2026-11"}},
            secrets={"SHIPYARD_MINUTES_TOKEN": token},
            extra_args=["--var", f"SHIPYARD_GITHUB_API_URL={double.url}", "--var", "SHIPYARD_INCLUDED_MINUTES=500000"],
            local_actions=stubs(tmp_path / "stubs"), timeout=300)
        assert result.ok, result.output
        assert token not in result.output
        assert "Actions minutes: acme, 2026-11" in result.output
        assert "xychart-beta" in result.output
        # the cache steps ran around it with one key per run attempt (the save has `if: always()`)
        saved = result.file("cache-save.log")
        assert "key=shipyard-minutes-" in saved
        expected = sum(len(r.counted_jobs(time.time())) for r in small_org.runs)
        assert f"runs listed, {expected} new jobs" in result.output
        assert double.calls("GET", r"/organizations/acme/settings/billing/usage/summary")[0].headers[
            "authorization"] == f"Bearer {token}"
