"""promote end to end: the fleet repository on the git server, Argo CD double, moto ECR and the GitHub double."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from shipyard.promote.stage import run
from tests.board.conftest import StageRun, run_in_process
from tests.board.fleetfix import LAYOUT, PROMOTION_YAML, digest, image_ref, live_frame, overlay
from tests.promote.conftest import World, pulls

GOLDEN = Path(__file__).parent / "golden"
BRANCH = "shipyard/promote-dev-to-prd"


def promote(world: World, **inputs: str) -> StageRun:
    return run_in_process(run, "promote", world.inputs(**inputs), world.env())


def diff(world: World, branch: str = BRANCH) -> str:
    return subprocess.run(["git", "--git-dir", str(world.repo.path), "diff", f"main...{branch}"], capture_output=True,
                          text=True, check=True).stdout


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("SHIPYARD_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from the golden file (SHIPYARD_UPDATE_GOLDEN=1 rewrites it)"


def assert_nothing_written(world: World, result: StageRun) -> None:
    assert result.code == 1, result.log
    assert result.log.count("error:") + result.log.count("::error") == 1, result.log
    assert world.repo.branches() == ["main"]
    assert pulls(world) == []


def test_all_that_differ_one_pr_with_exact_changes(world: World) -> None:
    main = world.repo.tip()
    result = promote(world)
    assert result.code == 0, result.log
    assert result.outputs["status"] == "updated"
    assert json.loads(result.outputs["promoted"]) == ["catalog", "checkout"]
    refused = json.loads(result.outputs["refused"])
    assert set(refused) == {"billing", "inventory", "orders", "search"}
    assert "scan gate fails (2 CRITICAL, 1 HIGH; threshold CRITICAL)" in refused["billing"][0]
    assert "missing from ECR" in refused["inventory"][0]
    assert refused["orders"] == ["depends on inventory, which is not promoted in this run"]
    assert "OutOfSync/Healthy" in refused["search"][0]
    assert world.repo.tip() == main  # the base branch is untouched
    check_golden("all-that-differ.diff", diff(world))
    [pr] = pulls(world)
    assert pr["head"] == BRANCH and pr["base"] == "main" and pr["state"] == "open"
    assert result.outputs["pr-urls"] == "https://github.example/acme/config/pull/1"
    body = pr["body"]
    assert "| prd/eu1 | 1.0.3 @ 723d2769440c | 1.0.4 @ a3b7c3aab205 | 1 low |" in body
    assert f"{world.repo.commits[('catalog', 'dev', 4)][:8]}" in body
    assert "[run](https://github.com/acme/catalog/actions/runs/1004)" in body
    assert "**billing**: dev/eu1: the scan gate fails" in body
    assert pr["title"] == "promote dev → prd: catalog, checkout"
    # only the target overlays' image scalars changed, byte for byte
    text = world.repo.show(LAYOUT.format(service="catalog", env="prd", cluster="eu1"), BRANCH)
    assert text == overlay("catalog", "prd", "eu1", 4)
    message = subprocess.run(["git", "--git-dir", str(world.repo.path), "log", "-1", "--format=%an <%ae>%n%B",
                              BRANCH], capture_output=True, text=True, check=True).stdout
    assert message.startswith("shipyard-bot <shipyard-bot@users.noreply.github.com>\npromote dev → prd")
    assert f"catalog prd/eu1: {image_ref('catalog', 3)} -> {image_ref('catalog', 4)}" in message
    assert world.repo.token not in result.log and world.argo_token not in result.log


def test_rerun_updates_the_same_pr_never_a_duplicate(world: World) -> None:
    assert promote(world).code == 0
    head = world.repo.tip(BRANCH)
    again = promote(world)
    assert again.code == 0, again.log
    assert again.outputs["status"] == "pr-up-to-date" and again.outputs["changed"] == "false"
    assert world.repo.tip(BRANCH) == head
    # dev gets a new catalog build: the same branch is rewritten and the same PR updated
    new = {LAYOUT.format(service="catalog", env="dev", cluster=c): overlay("catalog", "dev", c, 5) for c in ("eu1", "us1")}
    world.repo.commit_files(new, "deploy(catalog/dev): 1.0.4 -> 1.0.5\n\nRun: https://github.com/acme/catalog/actions/runs/1005")
    for c in ("eu1", "us1"):
        world.argo.add_app(f"catalog-dev-{c}", [live_frame([image_ref("catalog", 5)], healthy_for=7200)])
    world.moto.client("ecr").put_image(
        repositoryName="catalog", imageTag="1.0.5", imageDigest=digest("catalog", 5),
        imageManifest=json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                  "config": {"digest": digest("catalog", 5), "size": 1}, "layers": []}))
    world.moto.client("ecr").start_image_scan(repositoryName="catalog", imageId={"imageDigest": digest("catalog", 5)})
    third = promote(world)
    assert third.code == 0, third.log
    assert third.outputs["status"] == "updated"
    assert world.repo.tip(BRANCH) != head
    assert len(pulls(world)) == 1 and "1.0.5" in pulls(world)[0]["body"]
    assert len(world.github.calls("POST", r"/repos/acme/config/pulls$")) == 1
    assert len(world.github.calls("PATCH", r"/repos/acme/config/pulls/1$")) == 2
    assert "digest: " + digest("catalog", 5) in world.repo.show(LAYOUT.format(service="catalog", env="prd",
                                                                                cluster="us1"), BRANCH)


def set_policy(world: World, text: str) -> None:
    world.repo.commit_files({"promotion.yaml": text}, "promotion policy")


def test_per_wave_prs_follow_the_dependencies(world: World) -> None:
    set_policy(world, "dependencies:\n  checkout: [catalog]\n")
    result = promote(world, **{"pr-mode": "per-wave"})
    assert result.code == 0, result.log
    first, second = pulls(world)
    assert first["head"] == f"{BRANCH}-wave-1" and second["head"] == f"{BRANCH}-wave-2"
    # without orders' dependency on inventory (still refused), orders goes in the first wave with catalog
    assert first["title"] == "promote dev → prd: catalog, orders (wave 1)"
    assert second["title"] == "promote dev → prd: checkout (wave 2)"
    assert "checkout" in second["title"] and "Merge after the pull request of wave 1 " in second["body"]
    check_golden("wave-1.diff", diff(world, f"{BRANCH}-wave-1"))
    check_golden("wave-2.diff", diff(world, f"{BRANCH}-wave-2"))
    assert "w0 --> w1" in result.summary


def test_soak_time_holds_back_a_fresh_deploy(world: World) -> None:
    set_policy(world, PROMOTION_YAML.replace("soak-minutes: 30", "soak-minutes: 30\nsoak: {checkout: 240}"))
    for c in ("eu1", "us1"):
        world.argo.add_app(f"catalog-dev-{c}", [live_frame([image_ref("catalog", 4)], healthy_for=600)])
    result = promote(world)
    assert_nothing_written(world, result)  # nothing else is promotable in the fixture
    assert "catalog: dev/eu1: Healthy for 10 min, soak time is 30 min" in result.log
    assert "checkout: dev/eu1: Healthy for 120 min, soak time is 240 min" in result.log
    for c in ("eu1", "us1"):  # soaked long enough now
        world.argo.add_app(f"catalog-dev-{c}", [live_frame([image_ref("catalog", 4)], healthy_for=1801)])
    result = promote(world)
    assert result.code == 0, result.log
    assert json.loads(result.outputs["promoted"]) == ["catalog"]


def test_named_service_refused_fails_and_writes_nothing(world: World) -> None:
    result = promote(world, services="orders")
    assert_nothing_written(world, result)
    assert "orders: depends on inventory, which is not promoted in this run" in result.log


def test_named_services_promote_only_those(world: World) -> None:
    result = promote(world, services="checkout")
    assert result.code == 0, result.log
    assert json.loads(result.outputs["promoted"]) == ["checkout"]
    assert set(json.loads(result.outputs["refused"])) == set()
    assert "catalog" not in diff(world)


def test_freeze_window_blocks_and_writes_nothing(world: World) -> None:
    set_policy(world, PROMOTION_YAML.replace(
        "freeze: []", "freeze:\n  - {start: 2020-01-01T00:00:00Z, end: 2099-01-01T00:00:00Z, reason: year-end "
                      "freeze, environments: [prd]}"))
    result = promote(world)
    assert_nothing_written(world, result)
    assert "prd is frozen until 2099-01-01 00:00 UTC (year-end freeze)" in result.log
    set_policy(world, PROMOTION_YAML.replace(
        "freeze: []", "freeze:\n  - {start: 2020-01-01T00:00:00Z, end: 2021-01-01T00:00:00Z}\n"
                      "  - {start: 2020-01-01T00:00:00Z, end: 2099-01-01T00:00:00Z, environments: [stg]}"))
    assert promote(world).code == 0


@pytest.mark.parametrize(("policy", "needle"), [
    ("waves: [[catalog, checkout]\n", "promotion.yaml: does not parse"),
    ("waves: [[catalog, warehouse]]\n", "unknown service(s) warehouse"),
    ("dependencies: {orders: [payments], payments: [orders]}\n", "dependency cycle orders -> payments -> orders"),
])
def test_bad_promotion_yaml(world: World, policy: str, needle: str) -> None:
    set_policy(world, policy)
    result = promote(world)
    assert_nothing_written(world, result)
    assert needle in result.log


def test_service_missing_from_the_source_environment(world: World) -> None:
    files = {LAYOUT.format(service="legacy", env="prd", cluster=c): overlay("legacy", "prd", c, 1)
             for c in ("eu1", "us1")}
    world.repo.commit_files(files, "legacy only runs in prd")
    result = promote(world, services="legacy")
    assert_nothing_written(world, result)
    assert "Service(s) legacy have no overlay in the source environment 'dev'" in result.log
    unknown = promote(world, services="nope")
    assert_nothing_written(world, unknown)
    assert "does not have: nope" in unknown.log


def test_token_that_cannot_open_prs_leaves_no_branch(world: World) -> None:
    world.github.readonly.add(world.repo.token)
    result = promote(world)
    assert_nothing_written(world, result)
    assert "The token cannot open the pull request: GitHub answered 403" in result.log
    assert f"The branch {BRANCH} this run pushed was deleted again." in result.log
    assert "pull-requests: write" in result.log
    assert world.pushes()  # it had pushed, then removed its branch


def test_read_only_token_is_refused_before_any_push(world: World) -> None:
    world.github.pull_only.add(world.repo.token)
    result = promote(world)
    assert_nothing_written(world, result)
    assert "The token can read acme/config but not write to it" in result.log
    assert world.pushes() == []


def test_argo_unreachable_refuses_everything(world: World) -> None:
    world.argo.stop()
    result = promote(world, timeout="3")
    assert_nothing_written(world, result)
    assert "Promote needs Argo CD to confirm what runs Healthy in dev: Argo CD at" in result.log
    assert "did not answer" in result.log


def test_dry_run_plans_only(world: World) -> None:
    result = promote(world, **{"dry-run": "true"})
    assert result.code == 0, result.log
    assert result.outputs["status"] == "dry-run" and world.repo.branches() == ["main"] and pulls(world) == []
    assert "apps/catalog/overlays/prd/eu1/kustomization.yaml" in result.log


def test_bad_inputs(world: World) -> None:
    for inputs, needle in (({"aws-region": ""}, "needs `aws-region`"), ({"pr-branch": "main"}, "pr-branch"),
                           ({"fail-on-severity": "SEVERE"}, "fail-on-severity"), ({"services": "Orders!"}, "services"),
                           ({"promotion-file": "../x.yaml"}, "promotion-file"), ({"token": ""}, "needs `token`"),
                           ({"pr-branch": "bot/{nope}"}, "not a usable template"),
                           ({"argocd-token": "x.y.z"}, "Promote needs Argo CD"),
                           ({"argocd-server": ""}, "Promote needs Argo CD")):
        result = promote(world, **inputs)
        assert_nothing_written(world, result)
        assert needle in result.log, (inputs, result.log)
