"""A fleet for the deploy board and promote tests: 12 services x dev/prd x 2 clusters in a config repository on
the real git smart-HTTP server, Argo CD (the double, plus the list endpoint and live images) in mixed states, ECR
on moto with scan findings, and the GitHub double.

Scenarios (``SCENARIO``): orders prd is 3 builds behind dev; cart's prd/us1 runs another image than git; search's
dev/eu1 is OutOfSync; checkout's prd/eu1 is Degraded; billing's dev build has CRITICAL findings; notify is a
CronJob with no live pod; inventory's dev digest is missing from ECR; payments is the same everywhere; gateway
carries hostile text (HTML/markdown) in its tag, commit message and Argo CD health message.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.doubles.argocd import ArgoCDDouble, frame, grpc_error, ts
from tests.doubles.base import Request, Response, json_response, route
from tests.doubles.github import GitHubDouble

ACCOUNT = "123456789012"
REGION = "us-east-1"
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
LAYOUT = "apps/{service}/overlays/{env}/{cluster}/kustomization.yaml"
SERVICES = ("accounts", "billing", "cart", "catalog", "checkout", "gateway", "inventory", "notify", "orders",
            "payments", "search", "shipping")
ENVS = ("dev", "prd")
CLUSTERS = ("eu1", "us1")
DAY = 86400.0
HOSTILE = '<img src=x onerror="window.__pwned=1">|**x**'
HOSTILE_TAG = "1.0.3-<b>x</b>"

# per service: number of dev builds, which build prd runs (1-based)
PLAN: dict[str, tuple[int, int]] = {
    "accounts": (2, 2), "billing": (3, 2), "cart": (2, 2), "catalog": (4, 3), "checkout": (2, 1),
    "gateway": (3, 3), "inventory": (3, 2), "notify": (1, 1), "orders": (5, 2), "payments": (2, 2),
    "search": (2, 1), "shipping": (3, 3),
}


def digest(service: str, build: int) -> str:
    return "sha256:" + hashlib.sha256(f"{service}-{build}".encode()).hexdigest()


def tag(service: str, build: int) -> str:
    if service == "gateway" and build == 3:
        return HOSTILE_TAG
    return f"1.0.{build}"


def overlay(service: str, env: str, cluster: str, build: int) -> str:
    return (f"# {service} in {env}/{cluster}\n"
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            "resources:\n"
            "  - ../../../base   # shared base\n"
            "images:\n"
            f"  - name: {service}\n"
            f"    newName: {REGISTRY}/{service}\n"
            f"    newTag: \"{tag(service, build)}\"   # set by CI\n"
            f"    digest: {digest(service, build)}\n")


def git(*args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None) -> str:
    full = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "CI", "GIT_AUTHOR_EMAIL": "ci@example.com",
            "GIT_COMMITTER_NAME": "CI", "GIT_COMMITTER_EMAIL": "ci@example.com", **(env or {})}
    return subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True, text=True, check=True).stdout


@dataclass
class BuildInfo:
    service: str
    build: int
    commit: str = ""
    time: float = 0.0


@dataclass
class FleetRepo:
    path: Path  # bare repository on the git server
    url: str
    token: str
    now: float
    commits: dict[tuple[str, str, int], str] = field(default_factory=dict)  # (service, env, build) -> sha
    times: dict[tuple[str, str, int], float] = field(default_factory=dict)

    def show(self, path: str, ref: str = "main") -> str:
        return git("--git-dir", str(self.path), "show", f"{ref}:{path}")

    def tip(self, ref: str = "main") -> str:
        return git("--git-dir", str(self.path), "rev-parse", ref).strip()

    def branches(self) -> list[str]:
        out = git("--git-dir", str(self.path), "for-each-ref", "--format=%(refname:short)", "refs/heads")
        return sorted(out.split())

    def commit_files(self, files: dict[str, str], message: str, ref: str = "main") -> str:
        with tempfile.TemporaryDirectory() as tmp:
            git("clone", "-q", "--branch", ref, str(self.path), tmp)
            for rel, text in files.items():
                target = Path(tmp) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            git("add", "-A", cwd=tmp)
            git("commit", "-qm", message, cwd=tmp)
            git("push", "-q", "origin", f"HEAD:{ref}", cwd=tmp)
        return self.tip(ref)


def build_repo(bare: Path, url: str, token: str, now: float) -> FleetRepo:
    """Seed the history: every service's base, then its dev builds one by one (two days apart), then prd."""
    repo = FleetRepo(bare, url, token, now)
    with tempfile.TemporaryDirectory() as tmp:
        git("init", "-q", "-b", "main", tmp)

        def commit(message: str, when: float) -> str:
            stamp = f"@{int(when)} +0000"
            git("add", "-A", cwd=tmp)
            git("commit", "-qm", message, cwd=tmp, env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})
            return git("rev-parse", "HEAD", cwd=tmp).strip()

        def write(rel: str, text: str) -> None:
            target = Path(tmp) / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

        start = now - 30 * DAY
        for svc in SERVICES:
            write(f"apps/{svc}/base/kustomization.yaml", "resources:\n  - deployment.yaml\n")
            write(f"apps/{svc}/base/deployment.yaml", f"kind: Deployment\nmetadata:\n  name: {svc}\n")
            for env in ENVS:
                for cl in CLUSTERS:
                    write(LAYOUT.format(service=svc, env=env, cluster=cl), overlay(svc, env, cl, 1))
        write("promotion.yaml", PROMOTION_YAML)
        first = commit("seed the fleet", start)
        for svc in SERVICES:
            for env in ENVS:
                repo.commits[(svc, env, 1)] = first
                repo.times[(svc, env, 1)] = start
        max_builds = max(n for n, _ in PLAN.values())
        for build in range(2, max_builds + 1):
            when = now - (2 * (max_builds - build) + 1.5) * DAY
            for svc in SERVICES:
                dev_builds, _ = PLAN[svc]
                if build > dev_builds:
                    continue
                for cl in CLUSTERS:
                    write(LAYOUT.format(service=svc, env="dev", cluster=cl), overlay(svc, "dev", cl, build))
                extra = f"\n\nnote: {HOSTILE}" if svc == "gateway" else ""
                sha = commit(f"deploy({svc}/dev): {tag(svc, build - 1)} -> {tag(svc, build)}\n\n"
                             f"Run: https://github.com/acme/{svc}/actions/runs/{1000 + build}\n"
                             f"Source: https://github.com/acme/{svc}/commit/{'ab' * 20}{extra}", when)
                repo.commits[(svc, "dev", build)] = sha
                repo.times[(svc, "dev", build)] = when
        for svc in SERVICES:
            _, prd = PLAN[svc]
            if prd == 1:
                continue
            for cl in CLUSTERS:
                write(LAYOUT.format(service=svc, env="prd", cluster=cl), overlay(svc, "prd", cl, prd))
            when = now - 0.5 * DAY
            sha = commit(f"promote {svc} to prd (#{40 + SERVICES.index(svc)})", when)
            repo.commits[(svc, "prd", prd)] = sha
            repo.times[(svc, "prd", prd)] = when
        git("push", "-q", str(bare), "HEAD:main", cwd=tmp)
    return repo


PROMOTION_YAML = """\
# how services move from dev to prd
waves:
  - [accounts, catalog, payments, shipping]
  - [billing, cart, inventory, search, notify]
  - [checkout, gateway, orders]
dependencies:
  orders: [payments, inventory]
  checkout: [cart]
soak-minutes: 30
freeze: []
"""


# ------------------------------------------------------------------------------------------------ Argo CD
class FleetArgo(ArgoCDDouble):
    """The double plus ``GET /api/v1/applications`` (the list) and each app's source path."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.paths: dict[str, str] = {}

    def document_for(self, app: Any) -> dict[str, Any]:
        doc = app.document()
        if app.name in self.paths:
            doc["spec"]["source"]["path"] = self.paths[app.name]
        return doc

    @route("GET", r"/api/v1/applications")
    def list_applications(self, req: Request) -> Response:
        project = req.query.get("project", "")
        subject = self._subject(req)
        items = []
        with self.lock:
            for app in self.apps.values():
                if project and app.project != project:
                    continue
                if not self._allowed(subject, app.project):
                    continue
                app.advance()
                items.append(self.document_for(app))
        return json_response({"metadata": {"resourceVersion": "1"}, "items": items})


def live_frame(images: list[str], *, sync: str = "Synced", health: str = "Healthy", message: str = "",
               healthy_for: float = 3600.0, revision: str = "") -> dict[str, Any]:
    f = frame(revision or "0" * 40, sync=sync, health=health, health_message=message, phase="Succeeded",
              finished=ts(-healthy_for), reconciled=ts(-5))
    f["status"]["summary"] = {"images": images} if images else {}
    f["status"]["health"]["lastTransitionTime"] = ts(-healthy_for)
    return f


def image_ref(service: str, build: int) -> str:
    return f"{REGISTRY}/{service}:{tag(service, build)}@{digest(service, build)}"


def populate_argo(argo: FleetArgo, repo_tip: str, *, soak: dict[str, float] | None = None) -> None:
    """One application per service, environment and cluster, in the scenario's state."""
    soak = soak or {}
    for svc in SERVICES:
        dev_builds, prd_build = PLAN[svc]
        for env in ENVS:
            build = dev_builds if env == "dev" else prd_build
            for cl in CLUSTERS:
                name = f"{svc}-{env}-{cl}"
                images = [image_ref(svc, build)]
                kw: dict[str, Any] = {"healthy_for": soak.get(svc, 7200.0) if env == "dev" else 7200.0}
                if svc == "cart" and env == "prd" and cl == "us1":
                    images = [image_ref(svc, 1).replace(digest(svc, 1), digest(svc, 9))]
                if svc == "search" and env == "dev" and cl == "eu1":
                    kw["sync"] = "OutOfSync"
                if svc == "checkout" and env == "prd" and cl == "eu1":
                    kw.update(health="Degraded", message="Deployment/checkout: 0 of 3 replicas available")
                if svc == "gateway" and env == "prd":
                    kw["message"] = HOSTILE
                if svc == "notify":
                    images = []
                argo.add_app(name, [live_frame(images, revision=repo_tip, **kw)])
                argo.paths[name] = f"apps/{svc}/overlays/{env}/{cl}"


# ------------------------------------------------------------------------------------------------ ECR (moto)
def populate_ecr(ecr: Any, moto: Any) -> None:
    results = []
    for svc in SERVICES:
        ecr.create_repository(repositoryName=svc)
        dev_builds, _ = PLAN[svc]
        for build in range(1, dev_builds + 1):
            if svc == "inventory" and build == dev_builds:
                continue  # the dev digest is missing from ECR
            manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                   "config": {"digest": digest(svc, build), "size": 1}, "layers": []})
            ecr.put_image(repositoryName=svc, imageManifest=manifest, imageTag=f"1.0.{build}",
                          imageDigest=digest(svc, build))
            ecr.start_image_scan(repositoryName=svc, imageId={"imageDigest": digest(svc, build)})
            counts = {"CRITICAL": 2, "HIGH": 1} if (svc == "billing" and build == dev_builds) else {"LOW": 1}
            findings = [{"name": f"CVE-2026-{i:04d}", "severity": sev, "uri": "https://cve.example/x",
                         "attributes": []} for sev, n in counts.items() for i in range(n)]
            results.append({"registryId": ACCOUNT, "repositoryName": svc, "imageId": {"imageDigest": digest(svc, build)},
                            "imageScanStatus": {"status": "COMPLETE", "description": "done"},
                            "imageScanFindings": {"findings": findings, "findingSeverityCounts": counts}})
    moto.post_scan_findings(results)


# ------------------------------------------------------------------------------------------------ GitHub
class FleetGitHub(GitHubDouble):
    """The double plus tokens without ``pull-requests: write`` (``readonly``: their PR calls answer 403) and tokens
    of users who may only read the repository (``pull_only``: ``permissions.push`` is false in the repo answer)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.readonly: set[str] = set()
        self.pull_only: set[str] = set()

    def _repo_json(self, repo: Any, req: Request) -> dict[str, Any]:
        data = super()._repo_json(repo, req)
        token = req.header("authorization").partition(" ")[2].strip()
        push = token not in self.pull_only
        data["permissions"] = {"admin": False, "maintain": False, "push": push, "triage": push, "pull": True}
        return data

    def dispatch(self, req: Request) -> tuple[Response, str | None]:
        token = req.header("authorization").partition(" ")[2].strip()
        if token in self.readonly and req.method in ("POST", "PATCH") and "/pulls" in req.path:
            return json_response({"message": "Resource not accessible by personal access token",
                                  "documentation_url": "https://docs.github.com/rest", "status": "403"}, 403), None
        return super().dispatch(req)


def now() -> float:
    return time.time()


__all__ = ["FleetArgo", "FleetGitHub", "FleetRepo", "build_repo", "grpc_error", "populate_argo", "populate_ecr"]
