"""actions/ecr-push under act: login-only before a buildah build, then full mode pushing the built image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ecr.conftest import ECR_HOST, Images, wipe_registry
from tests.stack.act import ActRunner, dump_step
from tests.stack.buildah import ENV_KEYS
from tests.stack.moto_ecr import MotoServer
from tests.stack.registry import Registry

pytestmark = pytest.mark.act

WORKFLOW = """\
on: push
permissions:
  contents: read
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - id: login
        uses: shipyard/shipyard/actions/ecr-push@v1
        with:
          login-only: true
          aws-region: us-east-1
          repository: team/svc
          aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}
          aws-secret-access-key: ${{ secrets.AWS_SECRET_ACCESS_KEY }}
          allowed-account-ids: '123456789012'
          endpoint-url: ${{ env.MOTO_URL }}
          sts-endpoint-url: ${{ env.MOTO_URL }}
          registry-endpoint: ${{ env.REGISTRY_URL }}
          repository-tags: |
            team=payments
      - name: build (what the build stage does with the login)
        shell: bash
        env:
          PUSH_HOST: ${{ env.REGISTRY_HOST }}
        run: |
          set -euo pipefail
          test -s "$REGISTRY_AUTH_FILE"
          printf 'built in act\\n' > "$RUNNER_TEMP/payload.txt"
          c=$(buildah from --quiet scratch)
          buildah add --quiet "$c" "$RUNNER_TEMP/payload.txt" /payload.txt
          buildah commit --quiet --timestamp 0 "$c" localhost/act-svc:build
          buildah rm "$c"
          buildah push --quiet --tls-verify=false localhost/act-svc:build "docker://$PUSH_HOST/team/svc:buildcache-main"
      - id: push
        uses: shipyard/shipyard/actions/ecr-push@v1
        with:
          aws-region: us-east-1
          tags: |
            ${{ steps.login.outputs.repository-uri }}:v1.0.0
            sha-0123abc
          source-image: containers-storage:localhost/act-svc:build
          aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}
          aws-secret-access-key: ${{ secrets.AWS_SECRET_ACCESS_KEY }}
          endpoint-url: ${{ env.MOTO_URL }}
          sts-endpoint-url: ${{ env.MOTO_URL }}
          registry-endpoint: ${{ env.REGISTRY_URL }}
          fail-on-severity: HIGH
          allow-cves: CVE-9999-9999
          scan-poll-seconds: '0.2'
          repository-tags: |
            team=payments
"""


def test_action_logs_in_then_pushes_buildah_image(
    act: ActRunner, moto_server: MotoServer, ecr_registry: Registry, local_images: Images, tmp_path: Path
) -> None:
    moto_server.reset()
    wipe_registry(ecr_registry)
    docker_config = tmp_path / "docker"
    docker_config.mkdir()
    env = {k: local_images.env[k] for k in ENV_KEYS if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    env.update({
        "DOCKER_CONFIG": str(docker_config),
        "MOTO_URL": moto_server.endpoint_url,
        "REGISTRY_URL": ecr_registry.url,
        "REGISTRY_HOST": ecr_registry.host,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    workflow = WORKFLOW + dump_step("outputs", {
        "registry": "steps.login.outputs.registry",
        "repository-uri": "steps.login.outputs.repository-uri",
        "image-uri": "steps.push.outputs.image-uri",
        "digest": "steps.push.outputs.digest",
        "scan-status": "steps.push.outputs.scan-status",
    })
    result = act.run(workflow, env=env, secrets={"AWS_ACCESS_KEY_ID": "AKIAACTTESTING01",
                                                 "AWS_SECRET_ACCESS_KEY": "act-secret-value-123"})
    assert result.ok, result.output[-6000:]
    out = result.json("outputs")
    digest = str(out["digest"])
    assert out["registry"] == ECR_HOST and out["repository-uri"] == f"{ECR_HOST}/team/svc"
    assert out["image-uri"] == f"{ECR_HOST}/team/svc@{digest}" and out["scan-status"] == "COMPLETE"
    # data plane: the build's own cache push and the stage's tags; control plane: the tags registered
    assert ecr_registry.tags("team/svc") == ["buildcache-main", "sha-0123abc", "v1.0.0"]
    assert ecr_registry.manifest("team/svc", "v1.0.0")[1] == digest
    ecr = moto_server.client("ecr")
    details = ecr.describe_images(repositoryName="team/svc", imageIds=[{"imageDigest": digest}])["imageDetails"]
    assert sorted(details[0]["imageTags"]) == ["sha-0123abc", "v1.0.0"]
    repo = ecr.describe_repositories(repositoryNames=["team/svc"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    # docker's config got the login too (docker is installed here), and no secret reached the log
    auths = json.loads((docker_config / "config.json").read_text())["auths"]
    assert ECR_HOST in auths
    for secret in ("act-secret-value-123", "123456789012-auth-token"):
        assert secret not in result.output
    assert "Allowed by allow-cves: CVE-9999-9999" in result.output or "scan gate passed" in result.output
