"""The adoption path end to end under act, for two languages: a private service repository commits the org
template for its language (Node, Go; rendered as GitHub renders it), which calls ``pipeline-<language>.yml``,
which runs the root action, with every stage on, against the local stack. Nothing is passed for the mirror's source: the reusable workflow's
``github.token`` default reads the private repository."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.pipeline import demo as demo_mod
from tests.stack.act import ActRunner

ALL_STAGES = ("build", "ecr-push", "gitops-update", "argocd-wait", "bitbucket-mirror", "postman-publish")


@pytest.fixture(scope="module", params=["node", "go"])
def adopted(request: pytest.FixtureRequest, act: ActRunner,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    with demo_mod.Demo(tmp_path_factory.mktemp(f"adoption-{request.param}"), act=act, log=lambda _msg: None,
                       language=request.param) as demo:
        run = demo.run_adoption("template")
        yield demo, run, demo.facts(run)


@pytest.mark.act
@pytest.mark.slow
def test_the_template_ships_a_private_service_with_every_stage(adopted: tuple[Any, Any, Any]) -> None:
    demo, run, facts = adopted
    assert run.ok, run.log_tail()
    assert f"[ship/shipyard pipeline ({demo.language})/ship orders to dev]" in run.act.output  # its language's
    steps = {name: status for name, status, _ in facts.timings}
    for stage in ALL_STAGES:
        assert steps.get(stage) == "Success", (stage, facts.timings)
    image = run.outputs["image-uri"]
    assert image.startswith(f"{demo_mod.ECR_HOST}/{demo_mod.SERVICE}@sha256:"), run.outputs
    assert facts.config["changed"] and facts.config["tip"] == run.outputs["config-commit"]
    for name in demo_mod.APPS:
        assert facts.argocd[name]["revision"] == run.outputs["config-commit"]
    # the private repository mirrored with the workflow's github.token (no bitbucket-source-token given)
    assert facts.bitbucket["refs"] == facts.bitbucket["source"] and facts.bitbucket["pushes"] == 1
    assert [c["change"] for c in facts.postman] == ["created"]
    assert facts.slack["messages"] == 1 and facts.slack["status"] == "success", facts.slack
    for secret in (demo.source_token, demo.config_token, demo.argocd_token, demo_mod.POSTMAN_KEY,
                   demo_mod.BITBUCKET_TOKEN, demo_mod.BOT_TOKEN):
        assert secret not in run.act.output
