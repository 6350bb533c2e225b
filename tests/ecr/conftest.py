"""ECR stage fixtures: moto (control plane) + an authenticated registry (data plane) bridged by the stage.

The data-plane registry's htpasswd user is ``AWS`` with moto's authorization-token password
(``<registry id>-auth-token``), so the stage logs in with what GetAuthorizationToken returns -- exactly as on
ECR -- and the registry checks it. ``registry-endpoint: http://127.0.0.1:PORT`` maps the ECR hostname to it.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shipyard.ecr.stage import run
from shipyard.runtime import Action, env_name, run_stage
from tests.doubles.oidc import OidcDouble
from tests.stack import buildah as bh
from tests.stack.moto_ecr import DEFAULT_ACCOUNT_ID, MotoServer
from tests.stack.registry import Registry

ACCOUNT = DEFAULT_ACCOUNT_ID
REGION = "us-east-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/github-deploy"


@pytest.fixture(scope="session")
def ecr_registry() -> Iterator[Registry]:
    workdir = Path(tempfile.mkdtemp(prefix="shipyard-ecr-registry-"))
    reg = Registry(workdir, username="AWS", password=f"{ACCOUNT}-auth-token")
    try:
        reg.start()
        yield reg
    finally:
        reg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Images:
    env: dict[str, str]
    first: str  # containers-storage reference
    second: str  # different content -> different digest


@pytest.fixture(scope="session")
def local_images(ecr_registry: Registry) -> Iterator[Images]:
    """Two tiny reproducible images in an isolated containers-storage (what the build stage leaves behind)."""
    stack = Path(tempfile.mkdtemp(prefix="shipyard-ecr-buildah-"))
    env = bh.buildah_env(stack, [ecr_registry.host])
    refs = []
    try:
        for name, content in (("svc-a", "hello a\n"), ("svc-b", "hello b\n")):
            payload = stack / f"{name}.txt"
            payload.write_text(content)
            container = bh.run_buildah(["from", "--quiet", "scratch"], env).strip()
            bh.run_buildah(["add", "--quiet", container, str(payload), "/hello.txt"], env)
            bh.run_buildah(["config", "--cmd", '["/hello.txt"]', container], env)
            ref = f"localhost/{name}:build"
            bh.run_buildah(["commit", "--quiet", "--timestamp", "0", container, ref], env)
            bh.run_buildah(["rm", container], env)
            refs.append(f"containers-storage:{ref}")
        yield Images(env, refs[0], refs[1])
    finally:
        shutil.rmtree(stack, ignore_errors=True)


@dataclass
class Result:
    code: int
    output: str
    action: Action
    summary: str

    @property
    def outputs(self) -> dict[str, str]:
        return self.action.outputs


class Stage:
    """Runs the stage in-process with INPUT_* variables, as the action and the CLI do."""

    def __init__(self, moto: MotoServer, registry: Registry, images: Images | None, tmp: Path) -> None:
        self.moto = moto
        self.registry = registry
        self.images = images
        self.tmp = tmp
        self.sleeps: list[float] = []

    def base_env(self) -> dict[str, str]:
        env = dict(self.images.env) if self.images else {"PATH": "/usr/local/bin:/usr/bin:/bin"}
        for key in list(env):
            if key.startswith(("AWS_", "ACTIONS_ID_TOKEN", "GITHUB_")):
                del env[key]
        (self.tmp / "docker").mkdir(exist_ok=True)
        env.update({
            "RUNNER_TEMP": str(self.tmp),
            "REGISTRY_AUTH_FILE": str(self.tmp / "auth.json"),
            "DOCKER_CONFIG": str(self.tmp / "docker"),
            "HOME": str(self.tmp),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "GITHUB_REPOSITORY": "acme/service",
            "GITHUB_RUN_ID": "4242",
        })
        return env

    def inputs(self, **inputs: Any) -> dict[str, str]:
        defaults: dict[str, Any] = {
            "aws-region": REGION,
            "aws-access-key-id": "AKIATESTINGKEY01",
            "aws-secret-access-key": "testing-secret-key-value",
            "endpoint-url": self.moto.endpoint_url,
            "sts-endpoint-url": self.moto.endpoint_url,
            "registry-endpoint": self.registry.url,
            "repository": "team/svc",
            "scan-poll-seconds": "0.05",
            "scan-timeout": "5",
            "docker-login": "false",
            "max-attempts": "4",
        }
        defaults.update({k.replace("_", "-"): v for k, v in inputs.items()})
        return {env_name(k): ("" if v is None else str(v)) for k, v in defaults.items()}

    def run(self, env: dict[str, str] | None = None, **inputs: Any) -> Result:
        full = self.base_env()
        full.update(self.inputs(**inputs))
        full.update(env or {})
        out = io.StringIO()
        self.sleeps = []
        action = Action(env=full, out=out, sleep=self.sleeps.append, clock=lambda: sum(self.sleeps))
        summary_parts: list[str] = []
        original = action.write_summary

        def capture() -> None:
            summary_parts.append(action.summary.render())
            original()

        action.write_summary = capture  # type: ignore[method-assign]
        code = run_stage(run, action, name="ecr-push")
        return Result(code, out.getvalue(), action, "".join(summary_parts))


def wipe_registry(reg: Registry) -> None:
    """Delete every manifest (so every tag) the tests pushed: each test starts with an empty data plane."""
    for repo in reg.catalog():
        for tag in reg.tags(repo):
            try:
                _, digest = reg.manifest(repo, tag)
            except Exception:  # noqa: S112 - already deleted through another tag of the same digest
                continue
            reg.delete_manifest(repo, digest)


@pytest.fixture
def moto(moto_server: MotoServer, ecr_registry: Registry) -> MotoServer:
    moto_server.reset()
    wipe_registry(ecr_registry)
    return moto_server


@pytest.fixture
def stage(moto: MotoServer, ecr_registry: Registry, tmp_path: Path) -> Stage:
    return Stage(moto, ecr_registry, None, tmp_path)


@pytest.fixture
def image_stage(moto: MotoServer, ecr_registry: Registry, local_images: Images, tmp_path: Path) -> Stage:
    return Stage(moto, ecr_registry, local_images, tmp_path)


@pytest.fixture
def oidc() -> Iterator[OidcDouble]:
    double = OidcDouble()
    double.start()
    try:
        yield double
    finally:
        double.stop()


def findings_result(repo: str, digest: str, findings: list[tuple[str, str]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for _, sev in findings:
        counts[sev] = counts.get(sev, 0) + 1
    return {
        "registryId": ACCOUNT,
        "repositoryName": repo,
        "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
        "imageScanFindings": {
            "findings": [{"name": cve, "severity": sev, "uri": f"https://nvd.example/{cve}",
                          "attributes": [{"key": "package_name", "value": "openssl"},
                                         {"key": "package_version", "value": "3.0.1"}]} for cve, sev in findings],
            "findingSeverityCounts": counts,
        },
    }


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
