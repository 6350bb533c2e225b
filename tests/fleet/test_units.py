"""Pins, drift and repair on their own: pinning styles, formatting independence, comments kept."""

from __future__ import annotations

import pytest

from shipyard.fleet import drift, refs, repair, templates
from tests.fleet.conftest import SHA, template

RELEASES = refs.Releases({"v1.2.0": SHA["v1.2.0"], "v1.4.0": SHA["v1.4.0"], "v1": SHA["v1.4.0"],
                          "v2.0.0": "9" * 40, "v2": "9" * 40})
REPO = "shipyard/shipyard"


@pytest.mark.parametrize(("line", "want"), [
    ("uses: shipyard/shipyard/actions/build@v1.2.0", "uses: shipyard/shipyard/actions/build@v2.0.0"),
    ("uses: shipyard/shipyard/actions/build@v1", "uses: shipyard/shipyard/actions/build@v2"),
    ("uses: shipyard/shipyard/actions/build@v1.2", "uses: shipyard/shipyard/actions/build@v2.0"),
    ("- uses: 'shipyard/shipyard/actions/build@v1.2.0'  # keep", "- uses: 'shipyard/shipyard/actions/build@v2.0.0'  # keep"),
    (f"uses: Shipyard/Shipyard@{SHA['v1.2.0']} # v1.2.0 pinned by policy",
     f"uses: Shipyard/Shipyard@{'9' * 40} # v2.0.0 pinned by policy"),
    (f"uses: shipyard/shipyard/actions/build@{SHA['v1.2.0']}", f"uses: shipyard/shipyard/actions/build@{'9' * 40} # v2.0.0"),
    ("uses: shipyard/shipyard/actions/build@main", "uses: shipyard/shipyard/actions/build@main"),
    ("uses: other/shipyard/actions/build@v1.0.0", "uses: other/shipyard/actions/build@v1.0.0"),
    ("uses: shipyard/shipyard-fork/actions/build@v1.0.0", "uses: shipyard/shipyard-fork/actions/build@v1.0.0"),
])
def test_bump_keeps_the_pinning_style(line: str, want: str) -> None:
    assert refs.bump_text(line + "\n", REPO, RELEASES)[0] == want + "\n"


def test_behind_counts_releases_and_reads_sha_versions() -> None:
    (ref,) = refs.find_refs(f"uses: shipyard/shipyard@{SHA['v1.2.0']}\n", REPO, RELEASES)
    assert (ref.kind, ref.version, ref.behind(RELEASES)) == ("sha", "v1.2.0", 2)
    (major,) = refs.find_refs("uses: shipyard/shipyard@v1\n", REPO, RELEASES)
    assert major.behind(RELEASES) == 1  # v2.0.0 is a new major
    (branch,) = refs.find_refs("uses: shipyard/shipyard@main\n", REPO, RELEASES)
    assert (branch.kind, branch.behind(RELEASES)) == ("branch", None)


def test_drift_ignores_formatting_order_quotes_and_comments() -> None:
    tpl = templates.load_workflow(template("go"))
    reformatted = """\
'on':
  workflow_dispatch: {inputs: {environment: {type: choice, options: [dev, prd], default: dev,
                                             description: "Env"}}}
  push: {branches: ['main', 'develop'], paths-ignore: ['docs/**']}   # our branches
name: "deploy"
permissions: {}
jobs:
  ship:
    secrets: {SLACK_BOT_TOKEN: "${{ secrets.SLACK_BOT_TOKEN }}", CONFIG_REPO_TOKEN: x, ARGOCD_TOKEN: x,
              BITBUCKET_TOKEN: x, POSTMAN_API_KEY: x}
    with: {environment: prd, aws-region: eu-west-1, role-to-assume: r, allowed-account-ids: "1",
           config-repository: c, argocd-server: a, bitbucket-workspace: b, postman-workspace: p, slack-channel: s,
           service: extra-input-of-our-own}
    permissions: {id-token: write, contents: read}
    uses: "shipyard/shipyard/.github/workflows/pipeline-go.yml@0123456789012345678901234567890123456789"
    if: github.actor != 'dependabot[bot]'
  test:
    runs-on: ubuntu-latest
    steps: [{run: make test}]
"""
    assert drift.compare(templates.load_workflow(reformatted), tpl, REPO) == []


def test_repair_keeps_comments_and_own_values_and_is_then_clean() -> None:
    text = template("go").replace("    permissions:\n      contents: read\n", "    permissions:\n      contents: write\n")
    text = text.replace("      aws-region: ${{ vars.SHIPYARD_AWS_REGION }}\n",
                        "      aws-region: eu-central-1  # data residency\n")
    text = text.replace("      slack-channel: ${{ vars.SHIPYARD_SLACK_CHANNEL }}\n", "")
    tpl = template("go")
    assert drift.compare(templates.load_workflow(text), templates.load_workflow(tpl), REPO) == [
        'job `ship` permissions {"contents": "write", "id-token": "write"} (template: '
        '{"contents": "read", "id-token": "write"})', "input `slack-channel` missing"]
    fixed = repair.repair(text, tpl, REPO)
    assert "aws-region: eu-central-1  # data residency\n" in fixed
    assert fixed.startswith("# Shipyard: build and deploy this Go service.")
    assert drift.compare(templates.load_workflow(fixed), templates.load_workflow(tpl), REPO) == []
    assert repair.repair(fixed, tpl, REPO) == fixed  # idempotent


def test_alias_bombs_and_huge_files_do_not_parse() -> None:
    import yaml

    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(20))
    with pytest.raises(yaml.YAMLError, match="more than 100 YAML aliases"):
        templates.load_workflow(bomb)
    with pytest.raises(yaml.YAMLError, match="larger than 512 KiB"):
        templates.load_workflow("# x\n" * 200_000)
