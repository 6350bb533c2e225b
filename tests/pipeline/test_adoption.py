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
    # the private repository mirrored with the workflow's github.token (no bitbucket-source-token given)
    demo_mod.assert_shipped_everywhere(demo, run, facts)
