"""The end-to-end demo: the whole Shipyard pipeline (the root action.yml) on an example service under act,
against a local stack on loopback, then a report of where every result went.

    .venv/bin/python scripts/demo.py            # two runs: a first deploy, then the unchanged re-run
    .venv/bin/python scripts/demo.py --runs 1
    .venv/bin/python scripts/demo.py --scan-failure   # then a new commit whose image fails the scan gate
    .venv/bin/python scripts/demo.py --keep     # leave the work dir (act logs, repos) for inspection

The service repository (acme/orders: examples/node-service, its OpenAPI spec and .github/workflows/ship.yml from
tests/pipeline/workflow.yml) lives on the local git server; act starts from a clone of it, so ``github.sha`` is the
commit the job checks out. ``actions/checkout`` is mapped to tests/pipeline/checkout (an offline stand-in that
fetches from the git server); ``shipyard/shipyard@v1`` to an export of this checkout. act has no OIDC: the job
gets ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN of the OIDC double through act's env file, secrets through its secret file.

The stack (random ports, 127.0.0.1 only): an OCI registry as the ECR data plane, moto as the ECR/STS control
plane, isolated buildah with an offline busybox base image, a git smart-HTTP server standing in for GitHub (the
service repository and the Kustomize config repository) and for Bitbucket's git side, and the doubles for the
Slack Web API, GitHub's OIDC token endpoint, ArgoCD, Bitbucket's REST API and Postman. ArgoCD is scripted like a
real controller: each application reports the config repository's branch tip, first OutOfSync/Progressing,
then Synced and Healthy.

:class:`Demo` is the harness tests/test_pipeline.py imports (``from tests.pipeline.demo import Demo``): the same code,
asserting on :class:`Facts`. scripts/demo.py is the command-line entry point.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
for _path in (ROOT, ROOT / "src"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from tests.doubles.argocd import App, ArgoCDDouble, frame, ts  # noqa: E402
from tests.doubles.bitbucket import BitbucketDouble  # noqa: E402
from tests.doubles.oidc import OidcDouble  # noqa: E402
from tests.doubles.postman import PostmanDouble  # noqa: E402
from tests.doubles.slack import BOT_TOKEN, SlackDouble  # noqa: E402
from tests.stack import buildah as bh  # noqa: E402
from tests.stack.act import ActResult, ActRunner, dump_step  # noqa: E402
from tests.stack.gitserver import GitServer  # noqa: E402
from tests.stack.moto_ecr import DEFAULT_ACCOUNT_ID, MotoServer  # noqa: E402
from tests.stack.registry import Registry  # noqa: E402

FIXTURES = ROOT / "tests" / "pipeline"
ACCOUNT = DEFAULT_ACCOUNT_ID
REGION = "us-east-1"
ECR_HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
SERVICE = "orders"
SOURCE_REPO = "acme/orders"
CONFIG_REPO = "acme/k8s-config"
BB_WORKSPACE = "acme-backup"
CLUSTERS = ("dev-eu", "dev-us")
APPS = tuple(f"{SERVICE}-{c}" for c in CLUSTERS)
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
CACHE = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684"
# the adoption test's extra inputs (the local stack's endpoints, offline build): all reach the root action through
# the reusable workflow, which used to offer none of them
ADOPTION_WITH = {
    "service": "orders",
    "ecr-endpoint-url": "${{ vars.MOTO_URL }}", "sts-endpoint-url": "${{ vars.MOTO_URL }}",
    "registry-endpoint": "${{ vars.REGISTRY_URL }}", "scan-timeout": '"60"', "scan-poll-seconds": '"1"',
    "builder": "buildah", "build-mode": "host", "base-images": "runtime=${{ vars.BASE_IMAGE }}",
    "insecure-registry": "true", "slack-api-url": "${{ vars.SLACK_API }}",
    "argocd-applications": "orders-dev-eu, orders-dev-us", "argocd-timeout": '"120"',
    "argocd-poll-interval": '"0.5"', "bitbucket-repository": "orders", "bitbucket-username": "ci@acme.example",
    "bitbucket-api-url": "${{ vars.BITBUCKET_API }}", "bitbucket-git-url": "${{ vars.BITBUCKET_GIT }}",
    "postman-api-url": "${{ vars.POSTMAN_API }}",
}
ADOPTION_OUTPUTS = ("image-uri", "config-commit", "pr-url")
REPORT_LABEL = "test-harness"  # the job that reads the outputs back always runs on the host, whatever runs the pipeline
SLACK_CHANNEL = "C0DEPLOYS1"
POSTMAN_KEY = "PMAK-demo-0123456789abcdef0123"
POSTMAN_WORKSPACE = "5e1a9c3b-2f4d-4c1e-9a7b-0d8e6f5a4b3c"
BITBUCKET_TOKEN = "ATATT3xDemoBitbucketApiToken0123456789"
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@acme.example", "GIT_COMMITTER_NAME": "Dev",
           "GIT_COMMITTER_EMAIL": "dev@acme.example", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_TERMINAL_PROMPT": "0"}
STAGES = ("build", "ecr-push", "gitops-update", "argocd-wait", "bitbucket-mirror", "postman-publish")
STAGE_NAMES = {"plan the pipeline", "slack start", "ecr login", "slack finish", *STAGES,
               *(f"slack {s}" for s in STAGES)}
OUTPUTS = ("image-uri", "digest", "tags", "commit-tag", "build-skipped", "config-commit", "collection-url",
           "slack-ts")


def git(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV, **(env or {})},
                          capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def header_env(token: str) -> dict[str, str]:
    """Credentials for git as an HTTP header through the environment (never in a URL or argv)."""
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {token}"}


@dataclasses.dataclass
class _TipFollowingApp(App):
    """An ArgoCD application whose controller follows the config branch: after a new commit the next poll is
    OutOfSync/Progressing at the old revision, the one after Synced and Healthy at the new tip."""

    tip: Callable[[], str] | None = None
    synced: str = ""
    seen: str = ""

    def advance(self) -> None:
        assert self.tip is not None
        head = self.tip()
        if head != self.synced:
            if head != self.seen:  # the controller notices the commit: syncing
                self.seen = head
                self.frames = [frame(self.synced or None, sync="OutOfSync", health="Progressing",
                                     phase="Running", op_revision=head, started=ts(-1))]
            else:
                self.synced = head
                self.frames = [frame(head, phase="Succeeded", started=ts(-2), finished=ts(0))]
        super().advance()


@dataclasses.dataclass
class PipelineRun:
    label: str
    act: ActResult
    seconds: float
    outputs: dict[str, str]
    timings: list[tuple[str, str, float]]  # (step, Success|Failure, seconds)
    config_before: str
    slack_before: int
    git_requests: list[Any] = dataclasses.field(default_factory=list)  # the git server's transcript of the run
    postman_before: dict[str, float] = dataclasses.field(default_factory=dict)  # collection uid -> updated

    @property
    def ok(self) -> bool:
        return self.act.ok

    def log_tail(self, chars: int = 6000) -> str:
        return self.act.output[-chars:]


@dataclasses.dataclass
class Facts:
    """Where each result went, read back from the services themselves (not from the pipeline's own outputs)."""

    ok: bool
    seconds: float
    outputs: dict[str, str]
    timings: list[tuple[str, str, float]]
    slack: dict[str, Any]
    registry: dict[str, Any]
    ecr: list[dict[str, Any]]
    config: dict[str, Any]
    argocd: dict[str, dict[str, str]]
    bitbucket: dict[str, Any]
    postman: list[dict[str, Any]]


class Demo:
    """The local stack plus the demo's repositories; :meth:`run_pipeline` runs the workflow under act."""

    def __init__(self, workdir: Path, *, act: ActRunner | None = None, log: Callable[[str], None] = print,
                 language: str = "node") -> None:
        """``language`` picks the service: ``examples/<language>-service`` and ``shipyard-<language>.yml``."""
        self.workdir = workdir
        self.language = language
        self.example = ROOT / "examples" / f"{language}-service"
        if not self.example.is_dir():
            raise ValueError(f"no example service for {language!r}: {self.example}")
        self.log = log
        self._act = act
        self._stack = contextlib.ExitStack()
        self.runs = 0

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Demo:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stack.close()

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self) -> None:
        started = time.monotonic()
        # ECR data plane: a real registry whose user is ECR's (AWS + the token moto's GetAuthorizationToken gives)
        self.registry = Registry(self._dir("registry"), username="AWS", password=f"{ACCOUNT}-auth-token")
        self.registry.start()
        self._stack.callback(self.registry.stop)
        self.buildah_env = bh.buildah_env(self._dir("buildah"), [self.registry.host])
        bh.login(self.registry, self.buildah_env)
        self.base_image = bh.make_base_image(self.registry, self.buildah_env, "base/busybox:1")
        self.moto = MotoServer(self._dir("moto"))
        self.moto.start()
        self._stack.callback(self.moto.stop)
        self.git = GitServer(self._dir("git"))
        self.git.start()
        self._stack.callback(self.git.stop)
        self.slack = self._double(SlackDouble())  # Slack's own limits: 1 message/s per channel, burst of 3
        self.oidc = self._double(OidcDouble(repository="acme/service"))
        self.argocd = self._double(ArgoCDDouble(refresh_delay=0.05, refresh_deadline=5.0))
        self.bitbucket = self._double(BitbucketDouble(self.git))
        self.postman = self._double(PostmanDouble())
        self._seed()
        if self._act is None:
            self._act = ActRunner(self._dir("act"), venv=runtime_venv())
        self.log(f"local stack up in {time.monotonic() - started:.1f}s")

    def _double(self, double: Any) -> Any:
        double.start()
        self._stack.callback(double.stop)
        return double

    @property
    def act(self) -> ActRunner:
        assert self._act is not None
        return self._act

    def describe(self) -> str:
        rows = [
            ("registry (ECR data plane)", f"{self.registry.url}  base image {self.base_image}"),
            ("moto (ECR + STS API)", self.moto.endpoint_url),
            ("git server (GitHub side)", f"{self.git.url(self.source_name)}, {self.git.url(self.config_name)}"),
            ("git server (Bitbucket side)", self.git.base_url + f"/{BB_WORKSPACE}/<slug>.git"),
            ("Slack Web API double", self.slack.api_url),
            ("GitHub OIDC token double", self.oidc.url),
            ("ArgoCD double", f"{self.argocd.url}  apps {', '.join(APPS)}"),
            ("Bitbucket REST double", self.bitbucket.url),
            ("Postman API double", self.postman.url),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"  {name:<{width}}  {where}" for name, where in rows)

    # ------------------------------------------------------------------ the repositories and accounts
    def _seed(self) -> None:
        # GitHub's side: the service repository (the node example plus its OpenAPI spec) and the config repository
        self.source_token = self.git.add_token(perm="read", label="checkout")
        self.config_token = self.git.add_token(perm="write", label="config")
        self.admin_token = self.git.add_token(perm="write", label="admin")
        self.source_name = f"{SOURCE_REPO}.git"
        self.config_name = f"{CONFIG_REPO}.git"
        files = {p.relative_to(self.example).as_posix(): p.read_bytes() for p in self.example.rglob("*")
                 if p.is_file()}
        if "openapi.yaml" not in files:
            files["openapi.yaml"] = (FIXTURES / "service" / "openapi.yaml").read_bytes()
        files[".github/workflows/ship.yml"] = self.workflow().encode()
        self.git.create_repo(self.source_name)
        self._publish(self.source_name, files, "orders service", tag="v1.0.0")
        self.git.create_repo(self.config_name)
        self.git.git_config(self.config_name, "receive.denyNonFastForwards", "true")
        self.git.git_config(self.config_name, "uploadpack.allowFilter", "true")
        config_dir = FIXTURES / "config-repo"
        self._publish(self.config_name, {p.relative_to(config_dir).as_posix(): p.read_bytes()
                                         for p in config_dir.rglob("*") if p.is_file()}, "clusters: orders on dev")
        # Bitbucket: a workspace and a user API token (its git side is the same git server)
        self.bitbucket.add_workspace(BB_WORKSPACE, ["BAK"])
        self.bitbucket.add_credential("api-token", BITBUCKET_TOKEN, user="ci@acme.example")
        # ArgoCD: a read-only CI token and one application per cluster, following the config branch
        self.argocd_token = self.argocd.issue_token("ci", projects={"default"})
        for name in APPS:
            app = _TipFollowingApp(name, self.argocd.default_namespace, "default", [], tip=self.config_tip)
            app.synced = app.seen = self.config_tip()
            app.frames = [frame(app.synced)]
            app.status = {"reconciledAt": ts(-60)}
            with self.argocd.lock:
                self.argocd.apps[(app.namespace, name)] = app
        # Postman: an editor key and a team workspace
        self.postman.add_key(POSTMAN_KEY, role="editor", username="ci-bot")
        self.postman.add_workspace(POSTMAN_WORKSPACE, "Service APIs")

    def _publish(self, repo: str, files: dict[str, bytes], message: str, tag: str | None = None) -> str:
        work = Path(tempfile.mkdtemp(prefix="seed-", dir=self.workdir))
        try:
            git("clone", "-q", self.git.url(repo), str(work), env=header_env(self.admin_token))
            for rel, data in files.items():
                target = work / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            git("add", "-A", cwd=work)
            git("commit", "-qm", message, cwd=work)
            if tag:
                git("tag", "-a", tag, "-m", f"release {tag}", cwd=work)
            git("push", "-q", "--follow-tags", "origin", "HEAD:main", cwd=work, env=header_env(self.admin_token))
            return git("rev-parse", "HEAD", cwd=work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def change_source(self, message: str = "orders: say hello politely") -> str:
        """A developer's commit to the service (new content: the next run builds a new image)."""
        server = (self.example / "server.js").read_text().replace("`hello ${", "`hello, ${")
        return self._publish(self.source_name, {"server.js": server.encode()}, message)

    def set_inputs(self, message: str, **inputs: str) -> str:
        """Commit a change of the root action's inputs to the service's workflow (e.g. ``dry_run="true"``)."""
        workflow = self.workflow()
        lines = "".join(f"          {k.replace('_', '-')}: \"{v}\"\n" for k, v in inputs.items())
        workflow = workflow.replace("          environment: dev\n", "          environment: dev\n" + lines, 1)
        return self._publish(self.source_name, {".github/workflows/ship.yml": workflow.encode()}, message)

    def config_tip(self) -> str:
        return self.git.refs(self.config_name).get("refs/heads/main", "")

    def queue_critical_finding(self) -> None:
        """The next scan of the service's images reports a CRITICAL vulnerability (moto's custom findings)."""
        finding = {"name": "CVE-2026-0001", "severity": "CRITICAL", "uri": "https://nvd.example/CVE-2026-0001",
                   "description": "remote code execution in the demo's base image", "attributes": []}
        self.moto.post_scan_findings([{
            "registryId": ACCOUNT, "repositoryName": SERVICE, "imageId": {},
            "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
            "imageScanFindings": {"findings": [finding], "findingSeverityCounts": {"CRITICAL": 1}},
        }])

    # ------------------------------------------------------------------ running the pipeline
    def workflow(self) -> str:
        text = (FIXTURES / "workflow.yml").read_text(encoding="utf-8")
        return text + dump_step("outputs", {k: f"steps.ship.outputs.{k}" for k in OUTPUTS})

    def adoption_workflow(self, container: JobContainer | None = None) -> str:
        """What a Node service team commits: the org template as GitHub renders it for acme/orders, plus the inputs
        only this local stack needs (endpoints, the offline builder), all through the reusable workflow."""
        text = (ROOT / "workflow-templates" / f"shipyard-{self.language}.yml").read_text(encoding="utf-8")
        text = text.replace("$default-branch", "main")
        inputs = dict(ADOPTION_WITH)
        if container:
            inputs.update({"container-image": container.image, "container-options": container.options})
        extra = "".join(f"      {name}: {value}\n" for name, value in inputs.items())
        text = text.replace("    secrets:\n", extra + "    secrets:\n", 1)
        return text + "\n".join([
            "  report:", "    needs: ship", "    if: always()", f"    runs-on: {REPORT_LABEL}", "    permissions: {}",
            "    steps:", dump_step("outputs", {k: f"needs.ship.outputs.{k}" for k in ADOPTION_OUTPUTS}).rstrip(),
        ]) + "\n"

    def run_adoption(self, label: str, timeout: float = 420, container: JobContainer | None = None) -> PipelineRun:
        """The reusable workflow path: the template's caller -> pipeline-node.yml -> the root action; with
        ``container``, the template passes ``container-image`` and the pipeline job runs in that image."""
        workflow = self.adoption_workflow(container)
        self._publish(self.source_name, {".github/workflows/ship.yml": workflow.encode()},
                      f"ci: ship with the Shipyard template ({label})")
        env, _ = self.env()
        org_secrets = {  # the organisation's secrets, named as the template reads them
            "GITHUB_TOKEN": self.source_token,  # github.token: reads this private repository
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SHIPYARD_CONFIG_REPO_TOKEN": self.config_token,
            "SHIPYARD_ARGOCD_TOKEN": self.argocd_token, "SHIPYARD_BITBUCKET_TOKEN": BITBUCKET_TOKEN,
            "POSTMAN_API_KEY": POSTMAN_KEY,
        }
        variables = {
            "SHIPYARD_AWS_REGION": REGION, "SHIPYARD_ECR_ROLE": f"arn:aws:iam::{ACCOUNT}:role/github-ecr-push",
            "SHIPYARD_AWS_ACCOUNT_ID": ACCOUNT, "SHIPYARD_CONFIG_REPOSITORY": env["CONFIG_REPO"],
            "SHIPYARD_ARGOCD_SERVER": env["ARGOCD_URL"], "SHIPYARD_BITBUCKET_WORKSPACE": "acme-backup",
            "SHIPYARD_POSTMAN_WORKSPACE": POSTMAN_WORKSPACE, "SHIPYARD_SLACK_CHANNEL": SLACK_CHANNEL,
            **{k: env[k] for k in ("MOTO_URL", "REGISTRY_URL", "BASE_IMAGE", "SLACK_API", "BITBUCKET_API",
                                   "BITBUCKET_GIT", "POSTMAN_API")},
        }
        self.runs += 1
        before = (self.config_tip(), len(self._tops()), len(self.git.transcript),
                  {c.uid: c.updated for c in list(self.postman.collections.values())})
        started = time.monotonic()
        result = run_act(self.act, self.git.url(self.source_name), self.admin_token, env=env, secrets=org_secrets,
                         timeout=timeout, local_actions={CHECKOUT: FIXTURES / "checkout", CACHE: FIXTURES / "cache"},
                         variables=variables, github_origin=False, container=container)
        seconds = time.monotonic() - started
        try:
            outputs = {k: str(v) for k, v in result.json("outputs").items()}
        except (OSError, ValueError):
            outputs = {}
        return PipelineRun(label, result, seconds, outputs, parse_timings(result.output), before[0], before[1],
                           list(self.git.transcript[before[2]:]), before[3])

    def env(self) -> tuple[dict[str, str], dict[str, str]]:
        docker = self._dir("docker-config")
        (docker / "config.json").write_text("{}")
        env = {k: self.buildah_env[k] for k in bh.ENV_KEYS if k != "DOCKER_CONFIG"}
        env.update(self.oidc.env())
        env.update({
            "DOCKER_CONFIG": str(docker),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "SOURCE_SERVER": self.git.base_url,
            "MOTO_URL": self.moto.endpoint_url,
            "REGISTRY_URL": self.registry.url,
            "BASE_IMAGE": self.base_image,
            "SLACK_API": self.slack.api_url,
            "CONFIG_REPO": self.git.url(self.config_name),
            "ARGOCD_URL": self.argocd.url,
            "BITBUCKET_API": self.bitbucket.url,
            "BITBUCKET_GIT": self.git.base_url + "/{workspace}/{slug}.git",
            "POSTMAN_API": self.postman.url,
            "POSTMAN_WORKSPACE": POSTMAN_WORKSPACE,
        })
        secrets = {
            "SOURCE_TOKEN": self.source_token,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "CONFIG_TOKEN": self.config_token,
            "ARGOCD_TOKEN": self.argocd_token,
            "BITBUCKET_TOKEN": BITBUCKET_TOKEN,
            "POSTMAN_API_KEY": POSTMAN_KEY,
        }
        return env, secrets

    def run_pipeline(self, label: str, timeout: float = 420) -> PipelineRun:
        self.runs += 1
        env, secrets = self.env()
        before_config = self.config_tip()
        before_slack = len(self._tops())
        before_git = len(self.git.transcript)
        before_postman = {c.uid: c.updated for c in list(self.postman.collections.values())}
        started = time.monotonic()
        result = run_act(self.act, self.git.url(self.source_name), self.admin_token, env=env, secrets=secrets,
                         timeout=timeout, local_actions={CHECKOUT: FIXTURES / "checkout"})
        seconds = time.monotonic() - started
        try:
            outputs = {k: str(v) for k, v in result.json("outputs").items()}
        except (OSError, ValueError):
            outputs = {}
        return PipelineRun(label, result, seconds, outputs, parse_timings(result.output), before_config,
                           before_slack, list(self.git.transcript[before_git:]), before_postman)

    # ------------------------------------------------------------------ reading the results back
    def _tops(self) -> list[Any]:
        return [m for m in self.slack.messages(SLACK_CHANNEL) if m.thread_ts is None]

    def facts(self, run: PipelineRun) -> Facts:
        return Facts(
            ok=run.ok, seconds=run.seconds, outputs=run.outputs, timings=run.timings,
            slack=self._slack_facts(run), registry=self._registry_facts(run), ecr=self._ecr_facts(),
            config=self._config_facts(run), argocd=self._argocd_facts(), bitbucket=self._bitbucket_facts(run),
            postman=self._postman_facts(run),
        )

    def _slack_facts(self, run: PipelineRun) -> dict[str, Any]:
        tops = self._tops()
        new = tops[run.slack_before:]
        if not new:
            return {"messages": 0}
        parent = new[-1]
        header = ""
        for block in parent.blocks or []:
            if block.get("type") == "header":
                header = str(block["text"]["text"])
                break
        body = "\n".join(
            "\n".join([str(b.get("text", {}).get("text", "")),
                       *(str(f.get("text", "")) for f in b.get("fields") or [])])
            for b in parent.blocks or [] if b.get("type") == "section")
        metadata = (parent.metadata or {}).get("event_payload", {})
        return {"messages": len(new), "ts": parent.ts, "header": header, "text": parent.text, "body": body,
                "status": metadata.get("status"), "replies": len(parent.replies), "edits": len(parent.edits),
                "reply_texts": [r.text for r in parent.replies]}

    def _registry_facts(self, run: PipelineRun) -> dict[str, Any]:
        tags = self.registry.tags(SERVICE)
        images: dict[str, list[str]] = {}
        labels: dict[str, str] = {}
        for tag in tags:
            _, digest = self.registry.manifest(SERVICE, tag)
            images.setdefault(digest, []).append(tag)
        # the labels of the image this run built: the one its content-hash tag names (the build's first tag)
        built = next((line.rsplit(":", 1)[-1] for line in run.outputs.get("tags", "").splitlines() if line), "")
        if built in tags:
            config = self.registry.image_config(SERVICE, built)
            labels = dict((config.get("config") or {}).get("Labels") or {})
        return {"repository": f"{self.registry.host}/{SERVICE}", "images": images, "labels": labels}

    def _ecr_facts(self) -> list[dict[str, Any]]:
        ecr = self.moto.client("ecr")
        try:
            details = ecr.describe_images(repositoryName=SERVICE)["imageDetails"]
        except ecr.exceptions.RepositoryNotFoundException:
            return []
        return [{"digest": d["imageDigest"], "tags": sorted(d.get("imageTags") or []),
                 "scan": (d.get("imageScanStatus") or {}).get("status", "")} for d in details]

    def _config_facts(self, run: PipelineRun) -> dict[str, Any]:
        bare = str(self.git.repo_path(self.config_name))
        tip = self.config_tip()
        facts: dict[str, Any] = {"url": self.git.url(self.config_name), "tip": tip, "changed": tip != run.config_before,
                                 "files": [], "lines": []}
        if tip != run.config_before:
            facts["files"] = git("--git-dir", bare, "diff", "--name-only", run.config_before, tip).split()
            diff = git("--git-dir", bare, "diff", "-U0", run.config_before, tip)
            facts["lines"] = [line for line in diff.splitlines()
                              if line[:1] in "+-" and not line.startswith(("+++", "---"))]
            facts["message"] = git("--git-dir", bare, "log", "-1", "--format=%B", tip)
        facts["overlays"] = {c: git("--git-dir", bare, "show", f"{tip}:apps/{SERVICE}/overlays/{c}/kustomization.yaml")
                             for c in CLUSTERS}
        return facts

    def _argocd_facts(self) -> dict[str, dict[str, str]]:
        out = {}
        with self.argocd.lock:
            for name in APPS:
                status = self.argocd.app(name).status
                out[name] = {"sync": str(status.get("sync", {}).get("status", "")),
                             "revision": str(status.get("sync", {}).get("revision", "")),
                             "health": str(status.get("health", {}).get("status", "")),
                             "polls": str(self.argocd.app(name).polls)}
        return out

    def _bitbucket_facts(self, run: PipelineRun) -> dict[str, Any]:
        target = f"{BB_WORKSPACE}/{SERVICE}.git"
        pushes = [r for r in run.git_requests
                  if r.method == "POST" and r.path.startswith(f"/{target}/git-receive-pack") and r.status == 200]
        try:
            refs = self.git.refs(target)
        except (OSError, subprocess.CalledProcessError):
            refs = {}
        return {"url": self.git.url(target), "refs": refs, "source": self.git.refs(self.source_name),
                "rest": f"{BB_WORKSPACE}/{SERVICE}" in self.bitbucket.repos, "pushes": len(pushes)}

    def _postman_facts(self, run: PipelineRun) -> list[dict[str, Any]]:
        out = []
        for stored in list(self.postman.collections.values()):
            items = stored.data.get("item") or []
            count = 0
            stack = list(items)
            while stack:
                item = stack.pop()
                if isinstance(item, dict) and "item" in item:
                    stack.extend(item["item"])
                else:
                    count += 1
            before = run.postman_before.get(stored.uid)
            change = "created" if before is None else ("updated" if stored.updated != before else "unchanged")
            out.append({"uid": stored.uid, "name": (stored.data.get("info") or {}).get("name", ""),
                        "workspace": stored.workspace, "requests": count, "change": change})
        return out


# ---------------------------------------------------------------------- act
@dataclasses.dataclass(frozen=True)
class JobContainer:
    """act's container mode: jobs run in ``image`` through the Docker API at ``docker_host`` (podman's service
    here). ``options`` become the workflow's ``container-options``: buildah needs ``--privileged``, and /tmp is
    shared so the stack's files (buildah storage, registries.conf, OUT_DIR) are where the env says."""

    docker_host: str
    image: str
    options: str = "--privileged -v /tmp:/tmp"


def run_act(runner: ActRunner, source_url: str, token: str, *, env: dict[str, str], secrets: dict[str, str],
            timeout: float, local_actions: dict[str, Path], variables: dict[str, str] | None = None,
            github_origin: bool = True, container: JobContainer | None = None) -> ActResult:
    """Like :meth:`ActRunner.run`, but the scratch repository act starts from is a clone of the service repository
    (so ``github.sha`` is the commit the job checks out and ``github.repository`` is ``acme/orders``, as on GitHub),
    with the same act options: host mode, this checkout exported as ``shipyard/shipyard@v1``, env and secret files,
    offline actions."""
    runner.count += 1
    work = Path(tempfile.mkdtemp(prefix=f"act{runner.count}-", dir=runner.base_dir))
    repo = work / "repo"
    git("clone", "-q", "--branch", "main", source_url, str(repo), env=header_env(token))
    if github_origin:  # else act's own copy of the repository (a reusable workflow's checkout) keeps the server's
        git("remote", "set-url", "origin", f"https://github.com/{SOURCE_REPO}.git", cwd=repo)
    out_dir = work / "out"
    out_dir.mkdir()
    all_env = {"OUT_DIR": str(out_dir), **({"SHIPYARD_VENV": str(runner.venv)} if runner.venv else {}), **env}
    env_file = work / "act.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in all_env.items()), encoding="utf-8")
    secret_file = work / "act.secrets"
    secret_file.touch(mode=0o600)
    secret_file.write_text("".join(f"{k}={v}\n" for k, v in secrets.items()), encoding="utf-8")
    var_file = work / "act.vars"
    var_file.write_text("".join(f"{k}={v}\n" for k, v in (variables or {}).items()), encoding="utf-8")
    platform = f"ubuntu-latest={container.image}" if container else "ubuntu-latest=-self-hosted"
    args = ["act", "push", "-W", ".github/workflows/ship.yml", "-P", platform, "-P", f"{REPORT_LABEL}=-self-hosted",
            "--local-repository", f"shipyard/shipyard@v1={runner.export}", "--env-file", str(env_file),
            "--secret-file", str(secret_file), "--var-file", str(var_file), "--input-file", os.devnull,
            "--no-cache-server", "--action-offline-mode"]
    for ref, path in local_actions.items():
        args += ["--local-repository", f"{ref}={path}"]
    act_env = dict(os.environ)
    if container:  # the image is already in the Docker API's storage: never pulled
        args += ["--pull=false"]
        act_env["DOCKER_HOST"] = container.docker_host
    try:
        proc = subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env=act_env, check=False)
        return ActResult(proc.returncode, proc.stdout + proc.stderr, work)
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return ActResult(124, output + f"\nact timed out after {timeout:.0f}s", work)


ALL_STAGES = ("build", "ecr-push", "gitops-update", "argocd-wait", "bitbucket-mirror", "postman-publish")


def assert_shipped_everywhere(demo: Demo, run: PipelineRun, facts: Facts) -> None:
    """A first run of the adoption path with every stage on: each stage succeeded, and every remote holds the
    result (image in ECR by digest, config commit synced on every cluster, mirror, Postman, one Slack message),
    with no secret in act's output."""
    steps = {name: status for name, status, _ in facts.timings}
    for stage in ALL_STAGES:
        assert steps.get(stage) == "Success", (stage, facts.timings)
    assert run.outputs["image-uri"].startswith(f"{ECR_HOST}/{SERVICE}@sha256:"), run.outputs
    assert facts.config["changed"] and facts.config["tip"] == run.outputs["config-commit"]
    for name in APPS:
        assert facts.argocd[name]["revision"] == run.outputs["config-commit"]
    assert facts.bitbucket["refs"] == facts.bitbucket["source"] and facts.bitbucket["pushes"] == 1
    assert [c["change"] for c in facts.postman] == ["created"]
    assert facts.slack["messages"] == 1 and facts.slack["status"] == "success", facts.slack
    for secret in (demo.source_token, demo.config_token, demo.argocd_token, POSTMAN_KEY, BITBUCKET_TOKEN,
                   BOT_TOKEN):
        assert secret not in run.act.output


# ---------------------------------------------------------------------- act output
def parse_timings(output: str) -> list[tuple[str, str, float]]:
    """(step name, Success|Failure, seconds) of the root action's steps, from act's log."""
    rows: list[tuple[str, str, float]] = []
    for line in output.splitlines():
        if " - Main " not in line:
            continue
        match = re.search(r"(?:✅|❌)\s+(Success|Failure) - Main (.+?) \[([^\]]+)\]\s*$", line)
        if not match:
            continue
        name = match.group(2).strip()
        if name.startswith("actions/checkout@"):
            name = "checkout"
        elif name == "shipyard/shipyard@v1":
            name = "whole action"
        elif name not in STAGE_NAMES:
            continue
        rows.append((name, match.group(1), _seconds(match.group(3))))
    return rows


def _seconds(text: str) -> float:
    text = text.strip()
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)(ms|µs|us|ns|h|m|s)", text):
        factor = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}[unit]
        total += float(value) * factor
    return total


# ---------------------------------------------------------------------- the printed report
def render(run: PipelineRun, facts: Facts) -> str:
    o = facts.outputs
    lines = [f"== {run.label}: pipeline {'succeeded' if facts.ok else 'FAILED'} in {facts.seconds:.1f}s"]
    s = facts.slack
    if s.get("messages"):
        lines.append(f"Slack      #deploys ({SLACK_CHANNEL}): {s['messages']} new message ts={s['ts']}, "
                     f"{s['edits']} in-place updates, {s['replies']} thread replies")
        lines.append(f"             final: {s['header'] or s['text']}  [{s['text']}]")
        for row in s["body"].strip().splitlines():
            lines.append("             " + (row if len(row) <= 110 else row[:107] + "..."))
    else:
        lines.append("Slack      no message")
    reg = facts.registry
    lines.append(f"Registry   {reg['repository']}")
    for digest, tags in reg["images"].items():
        lines.append(f"             {digest}  tags: {', '.join(sorted(tags))}")
    oci = {k.rsplit('.', 1)[-1]: v for k, v in reg["labels"].items() if k.startswith("org.opencontainers.image.")}
    if oci:
        lines.append("             OCI labels of this run's image: "
                     + ", ".join(f"{k}={v}" for k, v in sorted(oci.items())))
    lines.append(f"ECR API    {ECR_HOST}/{SERVICE} (moto describe_images):")
    for image in facts.ecr:
        scan = f"  scan: {image['scan']}" if image["scan"] else ""
        lines.append(f"             {image['digest']}  tags: {', '.join(image['tags'])}{scan}")
    lines.append(f"Build      skipped={o.get('build-skipped', '?')}  image-uri={o.get('image-uri') or '-'}")
    c = facts.config
    if c["changed"]:
        lines.append(f"Config     {c['url']} commit {c['tip'][:12]} ({len(c['files'])} files)")
        for path in c["files"]:
            lines.append(f"             {path}")
        for line in c["lines"]:
            lines.append(f"               {line.strip()}")
    else:
        lines.append(f"Config     {c['url']} unchanged at {c['tip'][:12]} (no commit)")
    for name, app in facts.argocd.items():
        lines.append(f"ArgoCD     {name}: {app['sync']} at {app['revision'][:12] or '-'}, {app['health']} "
                     f"({app['polls']} polls so far)")
    b = facts.bitbucket
    same = b["refs"] == b["source"] and bool(b["refs"])
    pushed = f"{b['pushes']} push" if b["pushes"] else "nothing pushed"
    lines.append(f"Bitbucket  {b['url']}: {pushed}; {len(b['refs'])} refs, "
                 f"{'identical to' if same else 'DIFFERENT from'} the source "
                 f"({', '.join(sorted(r.split('/', 2)[-1] for r in b['refs'])) or '-'})")
    for coll in facts.postman:
        lines.append(f"Postman    collection '{coll['name']}' {coll['change']}: uid={coll['uid']}, "
                     f"{coll['requests']} requests, {o.get('collection-url') or '(no url output this run)'}")
    if not facts.postman:
        lines.append("Postman    no collection")
    if facts.timings:
        cells = [f"{n} {sec:.1f}s{'' if st == 'Success' else ' FAILED'}" for n, st, sec in facts.timings]
        row = "Timing    "
        for cell in cells:
            if len(row) + len(cell) + 2 > 118:
                lines.append(row.rstrip(","))
                row = "          "
            row += f" {cell},"
        lines.append(row.rstrip(","))
    return "\n".join(lines)


def runtime_venv() -> Path:
    """The job venv the actions use (scripts/bootstrap.sh, the same path a runner takes), cached between demos."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shipyard"
    venv = Path(os.environ.get("SHIPYARD_TEST_VENV") or cache / "demo-runtime-venv")
    if not (venv / ".shipyard-ready").exists():
        subprocess.run([str(ROOT / "scripts" / "bootstrap.sh"), str(venv)], check=True)
    return venv


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="shipyard-demo-"))
    try:
        yield path
    finally:
        if keep:
            print(f"work dir kept: {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, choices=(1, 2), help="1: first deploy only; 2: also the re-run")
    parser.add_argument("--scan-failure", action="store_true",
                        help="then a new commit whose image has a CRITICAL finding: the scan gate stops the pipeline "
                             "before GitOps (expected to fail; the demo still exits 0 when it fails that way)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (act logs, repositories)")
    parser.add_argument("--verbose", action="store_true", help="print act's whole log of each run")
    args = parser.parse_args(argv)
    # act (and the other dev tools) live beside this interpreter in .venv, also when it was run without activating
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    for tool in ("act", "buildah", "git", "docker-registry"):
        if not shutil.which(tool):
            print(f"error: '{tool}' is not installed; run `bash scripts/setup.sh` (or `bash scripts/demo.sh`).")
            return 2
    failed = False
    started = time.monotonic()
    with workdir(args.keep) as path, Demo(path) as demo:
        print("local stack on 127.0.0.1 (random ports):\n" + demo.describe())
        labels = ["run 1: first deploy", "run 2: same commit again (nothing changed)"][: args.runs]
        for label in labels:
            print(f"\n-- {label}: act runs the root action (checkout -> plan -> ... -> slack finish)", flush=True)
            run = demo.run_pipeline(label)
            if args.verbose or not run.ok:
                print(run.act.output if args.verbose else run.log_tail())
            print(render(run, demo.facts(run)), flush=True)
            failed = failed or not run.ok
        if args.scan_failure:
            print("\n-- run 3: a new commit, its image has a CRITICAL vulnerability (expected: stops at the scan gate)",
                  flush=True)
            sha = demo.change_source()
            demo.queue_critical_finding()
            print(f"   pushed {sha[:12]} to acme/orders; moto will report CVE-2026-0001 CRITICAL for the next scan")
            run = demo.run_pipeline("run 3: scan gate")
            facts = demo.facts(run)
            if args.verbose:
                print(run.act.output)
            print(render(run, facts), flush=True)
            steps = {name: status for name, status, _ in facts.timings}
            as_expected = (not run.ok and steps.get("ecr-push") == "Failure" and "gitops-update" not in steps
                           and facts.slack.get("status") == "failure")
            print(f"   {'as expected' if as_expected else 'NOT as expected'}: ecr-push {steps.get('ecr-push')}, "
                  f"gitops-update {'not run' if 'gitops-update' not in steps else 'ran'}, "
                  f"Slack finished as {facts.slack.get('status')}")
            failed = failed or not as_expected
        if args.keep:
            print(f"act logs and repositories under {path}")
    print(f"\ndemo {'FAILED' if failed else 'done'} in {time.monotonic() - started:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
