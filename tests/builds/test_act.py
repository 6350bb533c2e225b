"""actions/build under act: the node example built with buildah, pushed to the registry, then skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stack.act import ActRunner, dump_step
from tests.stack.buildah import ENV_KEYS
from tests.stack.registry import Registry

pytestmark = pytest.mark.act

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node-service"

WORKFLOW = """\
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - name: checkout (stand-in for actions/checkout, with .git so the context is tracked)
        shell: bash
        run: cp -a "$OUT_DIR/../repo/." .
      - id: build
        uses: shipyard/shipyard/actions/build@v1
        with:
          image: ${{ env.IMAGE }}
          context: services/node
          builder: buildah
          build-mode: host
          base-images: runtime=${{ env.BASE_IMAGE }}
          tags: act-run
      - id: again
        uses: shipyard/shipyard/actions/build@v1
        with:
          image: ${{ env.IMAGE }}
          context: services/node
          builder: buildah
          build-mode: host
          base-images: runtime=${{ env.BASE_IMAGE }}
""" + dump_step("outputs", {
    "digest": "steps.build.outputs.digest", "tags": "steps.build.outputs.tags",
    "skipped": "steps.build.outputs.skipped", "hash": "steps.build.outputs.content-hash",
    "image": "steps.build.outputs.image", "again_skipped": "steps.again.outputs.skipped",
    "again_digest": "steps.again.outputs.digest",
})


def test_action_builds_pushes_then_skips(act: ActRunner, registry: Registry, buildah_env: dict[str, str],
                                         base_image: str) -> None:
    files = {f"services/node/{p.relative_to(EXAMPLE)}": p.read_text() for p in EXAMPLE.rglob("*") if p.is_file()}
    env = {k: buildah_env[k] for k in ENV_KEYS}
    env.update({"IMAGE": f"{registry.host}/act/node-service", "BASE_IMAGE": base_image})
    result = act.run(WORKFLOW, env=env, files=files, timeout=240)
    assert result.ok, result.output[-4000:]
    out = result.json("outputs")
    assert out["image"] == f"{registry.host}/act/node-service"
    assert out["skipped"] == "false" and out["again_skipped"] == "true"
    assert out["digest"] == out["again_digest"] and str(out["digest"]).startswith("sha256:")
    tags = str(out["tags"]).splitlines()
    assert tags[0] == f"{registry.host}/act/node-service:ch-{str(out['hash'])[:24]}"
    assert f"{registry.host}/act/node-service:act-run" in tags
    assert {"act-run", "branch-main"} <= set(registry.tags("act/node-service"))
    _, digest = registry.manifest("act/node-service", "act-run")
    assert digest == out["digest"]
    config = registry.image_config("act/node-service", "branch-main")
    assert config["config"]["Labels"]["org.opencontainers.image.source"] == "https://github.com/acme/service"
    assert "::group::Build node-service with buildah" in result.output and "STEP 1/" in result.output
    assert "skipped: unchanged content, tags added by server-side retag" in result.output
    assert registry.password not in result.output
