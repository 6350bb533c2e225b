"""End to end: the root action (the whole pipeline) under act on the example service, against the local stack --
the same code as ``bash scripts/demo.sh`` (the harness in tests/pipeline/demo.py). Every fact is read back from the service that
received it (Slack double, registry, moto, config repo, ArgoCD double, Bitbucket's git side, Postman double).

Three runs share one stack: a first deploy, the same commit again (skips and no-ops), and a new commit whose
image fails the scan gate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.pipeline import demo as demo_mod
from tests.stack.act import ActRunner

Demo, Facts, PipelineRun = demo_mod.Demo, demo_mod.Facts, demo_mod.PipelineRun
SERVICE, CLUSTERS, APPS = demo_mod.SERVICE, demo_mod.CLUSTERS, demo_mod.APPS
ECR_HOST = demo_mod.ECR_HOST
ALL_STAGES = ("build", "ecr-push", "gitops-update", "argocd-wait", "bitbucket-mirror", "postman-publish")


@pytest.fixture(scope="module")
def demo(act: ActRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with Demo(tmp_path_factory.mktemp("pipeline"), act=act, log=lambda _msg: None) as d:
        yield d


@pytest.fixture(scope="module")
def first(demo: Any) -> tuple[Any, Any]:
    run = demo.run_pipeline("first deploy")
    assert run.ok, run.log_tail()
    return run, demo.facts(run)


@pytest.fixture(scope="module")
def second(demo: Any, first: tuple[Any, Any]) -> tuple[Any, Any]:
    run = demo.run_pipeline("same commit again")
    assert run.ok, run.log_tail()
    return run, demo.facts(run)


@pytest.fixture(scope="module")
def failed(demo: Any, second: tuple[Any, Any]) -> tuple[Any, Any]:
    demo.change_source()
    demo.queue_critical_finding()
    run = demo.run_pipeline("critical finding")
    return run, demo.facts(run)


@pytest.mark.act
@pytest.mark.slow
def test_first_run_ships_everywhere(first: tuple[Any, Any], demo: Any) -> None:
    run, facts = first
    out = facts.outputs
    digest = out["digest"]
    assert digest.startswith("sha256:") and out["image-uri"] == f"{ECR_HOST}/{SERVICE}@{digest}"
    assert out["build-skipped"] == "false"

    # Slack: one parent message, finished as success, every stage listed; details in its thread
    slack = facts.slack
    assert slack["messages"] == 1 and slack["ts"] == out["slack-ts"]
    assert slack["status"] == "success", slack
    assert "deployed" in slack["header"] and ":white_check_mark:" in slack["header"], slack
    for stage in ALL_STAGES:
        assert stage.replace("-", " ").split()[0].lower() in (slack["body"] + slack["text"]).lower(), (stage, slack)
    assert slack["replies"] >= 1
    assert f"sha-{demo.git.refs(demo.source_name)['refs/heads/main'][:7]}" in slack["body"], slack  # the image tag

    # registry (the ECR data plane): the digest under the content-hash, sha and branch tags, with OCI labels
    images = facts.registry["images"]
    assert list(images) == [digest]
    tags = set(images[digest])
    source_sha = demo.git.refs(demo.source_name)["refs/heads/main"]
    assert {"branch-main", f"sha-{source_sha[:7]}"} <= tags and any(t.startswith("ch-") for t in tags)
    labels = facts.registry["labels"]
    assert labels["org.opencontainers.image.revision"] == source_sha
    assert labels["org.opencontainers.image.source"] == "https://github.com/acme/orders"
    assert labels["org.opencontainers.image.created"]
    # the service's own title and version, not the base image's
    assert labels["org.opencontainers.image.title"] == SERVICE
    assert labels["org.opencontainers.image.version"] == f"sha-{source_sha[:7]}" == out["commit-tag"]

    # ECR API (moto): the same image and tags registered on the control plane
    assert [(i["digest"], set(i["tags"])) for i in facts.ecr] == [(digest, tags)]

    # config repo: one commit, both clusters' overlays, only the image scalars changed
    config = facts.config
    assert config["changed"] and config["tip"] == out["config-commit"]
    assert sorted(config["files"]) == [f"apps/{SERVICE}/overlays/{c}/kustomization.yaml" for c in CLUSTERS]
    changed = [line[1:].split("#")[0].strip() for line in config["lines"]]
    # a readable newTag (the commit tag) and the digest that pins the image
    assert sorted(changed) == sorted(["newTag: bootstrap", f"newTag: sha-{source_sha[:7]}", f"digest: {digest}"] * 2), \
        config["lines"]
    for cluster in CLUSTERS:
        overlay = config["overlays"][cluster]
        assert f"  - name: {ECR_HOST}/{SERVICE}\n    newTag: sha-{source_sha[:7]}   # CI writes the image here\n" \
            f"    digest: {digest}" in overlay, overlay
        assert "replicas:\n  - name: orders\n    count: 1   # dev runs one pod\n" in overlay  # bytes kept

    # ArgoCD: both applications Synced at the pipeline's config commit and Healthy
    for name in APPS:
        assert facts.argocd[name]["sync"] == "Synced" and facts.argocd[name]["health"] == "Healthy"
        assert facts.argocd[name]["revision"] == out["config-commit"]

    # Bitbucket: every branch and tag of the source, identical
    assert facts.bitbucket["rest"] and facts.bitbucket["refs"] == facts.bitbucket["source"]
    assert set(facts.bitbucket["refs"]) == {"refs/heads/main", "refs/tags/v1.0.0"}
    assert facts.bitbucket["pushes"] == 1

    # Postman: one collection with the spec's two requests, the URL handed out as an output
    assert len(facts.postman) == 1
    coll = facts.postman[0]
    assert coll["name"] == SERVICE and coll["requests"] == 2 and out["collection-url"].endswith(coll["uid"])
    assert coll["change"] == "created"

    # timings per stage from act's log, every stage succeeded
    steps = {name: status for name, status, _ in facts.timings}
    for stage in ALL_STAGES:
        assert steps.get(stage) == "Success", facts.timings
    assert steps.get("slack finish") == "Success"
    # every request to the git server carried its credential: no anonymous attempt refused with 401 first (the
    # argocd-wait clone's lazy fetches used to go out without the token, four 401s per run)
    refused = [r for r in run.git_requests if r.status == 401 or r.user is None]
    assert refused == [], refused
    # no secret reached the log, or any file of the run, in any usual encoding (tests/secrets_sweep.py)
    from tests.secrets_sweep import SecretsSweep

    sweep = SecretsSweep([demo.source_token, demo.config_token, demo.argocd_token, demo_mod.POSTMAN_KEY,
                          demo_mod.BITBUCKET_TOKEN, demo_mod.BOT_TOKEN])
    files = [p for p in run.act.workdir.rglob("*") if p.is_file() and p.name not in ("act.secrets",)]
    sweep.assert_clean({"act output": run.act.output}, files)


@pytest.mark.act
@pytest.mark.slow
def test_second_run_skips_and_changes_nothing(first: tuple[Any, Any], second: tuple[Any, Any], demo: Any) -> None:
    _, before = first
    run, facts = second
    out = facts.outputs
    assert out["build-skipped"] == "true" and out["digest"] == before.outputs["digest"]
    assert "unchanged content" in run.act.output
    # a new Slack message for the new run, finished the same way
    assert facts.slack["messages"] == 1 and facts.slack["ts"] != before.slack["ts"]
    assert facts.slack["status"] == "success"
    for said in ("unchanged content, build skipped", "already up to date at", "Synced and Healthy",
                 "already identical, nothing pushed", "unchanged ("):
        assert said in facts.slack["body"], (said, facts.slack["body"])
    # same image and tags everywhere, no new config commit, mirror and collection unchanged
    assert facts.registry["images"] == before.registry["images"]
    assert facts.ecr == before.ecr
    assert not facts.config["changed"] and facts.config["tip"] == before.config["tip"]
    assert facts.bitbucket["refs"] == before.bitbucket["refs"] == facts.bitbucket["source"]
    assert [c["uid"] for c in facts.postman] == [c["uid"] for c in before.postman]
    assert [c["change"] for c in facts.postman] == ["unchanged"]
    assert facts.bitbucket["pushes"] == 0
    for name in APPS:
        assert facts.argocd[name]["revision"] == before.config["tip"]
    assert "already identical on the target" in run.act.output
    assert facts.seconds < before.seconds


@pytest.mark.act
@pytest.mark.slow
def test_critical_finding_stops_before_gitops(failed: tuple[Any, Any], second: tuple[Any, Any]) -> None:
    run, facts = failed
    _, before = second
    assert not run.ok
    # the new image was built and pushed, but the gate refused it: nothing reaches the config repository
    assert facts.outputs["build-skipped"] == "false" and not facts.outputs["image-uri"]
    assert "CVE-2026-0001" in run.act.output
    assert not facts.config["changed"] and facts.config["tip"] == before.config["tip"]
    steps = {name: status for name, status, _ in facts.timings}
    assert steps.get("ecr-push") == "Failure" and "gitops-update" not in steps and "argocd-wait" not in steps
    assert steps.get("slack finish") == "Success" and "postman-publish" not in steps
    assert [c["change"] for c in facts.postman] == ["unchanged"]
    # the refused image keeps its immutable tags (it had to be in ECR to be scanned) but never became branch-main:
    # the build deferred the moving tag and ecr-push applies it only after its gate (both planes checked)
    old = before.outputs["digest"]
    refused = next(d for d in facts.registry["images"] if d != old)
    assert facts.registry["images"][old].count("branch-main") == 1
    assert "branch-main" not in facts.registry["images"][refused]
    assert any(t.startswith("ch-") for t in facts.registry["images"][refused])
    assert {i["digest"]: "branch-main" in i["tags"] for i in facts.ecr} == {old: True, refused: False}
    assert "held back until the scan gate passes" in run.act.output or "not applied" in run.act.output
    slack = facts.slack
    assert slack["messages"] == 1 and slack["status"] == "failure", slack
    assert "ECR push" in slack["header"] or "ecr-push" in slack["header"], slack


@pytest.mark.act
@pytest.mark.slow
def test_dry_run_changes_nothing(demo: Any, failed: tuple[Any, Any]) -> None:
    _, before = failed
    demo.set_inputs("ci: dry run", dry_run="true")
    run = demo.run_pipeline("dry run")
    assert run.ok, run.log_tail()
    facts = demo.facts(run)
    steps = {name: status for name, status, _ in facts.timings}
    assert steps.get("build") == "Success" and "ecr-push" not in steps and "gitops-update" not in steps
    assert facts.slack["messages"] == 0
    assert facts.registry["images"] == before.registry["images"] and facts.ecr == before.ecr
    assert facts.config["tip"] == before.config["tip"]
    assert facts.bitbucket["pushes"] == 0 and facts.bitbucket["refs"] == before.bitbucket["refs"]
    assert [c["change"] for c in facts.postman] == ["unchanged"]


def test_stage_timings_are_read_from_acts_log() -> None:
    log = "\n".join([
        "[ship.yml/ship]   ✅  Success - Main actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 [212.5ms]",
        "[ship.yml/ship]   ✅  Success - Main add-mask command [3ms]",
        "[ship.yml/ship]   ✅  Success - Main build [4.401234s]",
        "[ship.yml/ship]   ❌  Failure - Main ecr-push [1m2.5s]",
        "[ship.yml/ship]   ✅  Success - Main slack finish [312.7µs]",
        "[ship.yml/ship]   ❌  Failure - Main shipyard/shipyard@v1 [1m9s]",
        "[ship.yml/ship]   | Success - Main build [9s] (a line the step printed is not a timing)",
    ])
    rows = demo_mod.parse_timings(log)
    assert [(n, st) for n, st, _ in rows] == [("checkout", "Success"), ("build", "Success"), ("ecr-push", "Failure"),
                                            ("slack finish", "Success"), ("whole action", "Failure")]
    seconds = [round(sec, 4) for _, _, sec in rows]
    assert seconds == [0.2125, 4.4012, 62.5, 0.0003, 69.0]
