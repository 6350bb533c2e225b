"""Deploy board: requests made and wall time to read and render the board, for the test fixture (12 services x
dev/prd x 2 clusters) and a synthetic fleet (200 services x 4 environment/cluster columns), on the real git
smart-HTTP server, the Argo CD double and moto ECR. Prints ONE JSON line; the ratios compare the two fleets
measured in the same run.

    python benchmarks/board.py
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from shipyard.board import html, markdown  # noqa: E402
from shipyard.fleetview import configrepo  # noqa: E402
from shipyard.fleetview.gather import read_fleet  # noqa: E402
from shipyard.fleetview.sources import read_sources  # noqa: E402
from shipyard.runtime import Action  # noqa: E402
from tests.board import fleetfix as ff  # noqa: E402
from tests.stack.gitserver import GitServer  # noqa: E402
from tests.stack.moto_ecr import MotoServer  # noqa: E402


def synthetic_repo(server: GitServer, name: str, services: list[str], now: float) -> Any:
    """Four commits: seed at build 1, dev to build 2, half of dev to build 3, a third of prd to build 2."""
    server.create_repo(name)
    token = server.add_token(label=name)
    with tempfile.TemporaryDirectory() as tmp:
        ff.git("init", "-q", "-b", "main", tmp)

        def write(svc: str, env: str, build: int) -> None:
            for cl in ff.CLUSTERS:
                target = Path(tmp) / ff.LAYOUT.format(service=svc, env=env, cluster=cl)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(ff.overlay(svc, env, cl, build))

        def commit(message: str, when: float) -> None:
            stamp = f"@{int(when)} +0000"
            ff.git("add", "-A", cwd=tmp)
            ff.git("commit", "-qm", message, cwd=tmp, env={"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})

        for svc in services:
            write(svc, "dev", 1)
            write(svc, "prd", 1)
        commit("seed", now - 20 * ff.DAY)
        for svc in services:
            write(svc, "dev", 2)
        commit("dev builds 2", now - 10 * ff.DAY)
        for svc in services[::2]:
            write(svc, "dev", 3)
        commit("dev builds 3", now - 5 * ff.DAY)
        for svc in services[::3]:
            write(svc, "prd", 2)
        commit("promote a third", now - 1 * ff.DAY)
        ff.git("push", "-q", str(server.repo_path(name)), "HEAD:main", cwd=tmp)
    return token


def dev_build(svc: str, services: list[str]) -> int:
    return 3 if services.index(svc) % 2 == 0 else 2


def populate(argo: ff.FleetArgo, ecr: Any, services: list[str], tip: str) -> None:
    for i, svc in enumerate(services):
        for env in ff.ENVS:
            build = dev_build(svc, services) if env == "dev" else (2 if i % 3 == 0 else 1)
            for cl in ff.CLUSTERS:
                name = f"{svc}-{env}-{cl}"
                argo.add_app(name, [ff.live_frame([ff.image_ref(svc, build)], revision=tip)])
                argo.paths[name] = f"apps/{svc}/overlays/{env}/{cl}"
        ecr.create_repository(repositoryName=svc)
        for build in (1, 2, 3):
            manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                   "config": {"digest": ff.digest(svc, build), "size": 1}, "layers": []})
            ecr.put_image(repositoryName=svc, imageManifest=manifest, imageTag=f"1.0.{build}",
                          imageDigest=ff.digest(svc, build))
            ecr.start_image_scan(repositoryName=svc, imageId={"imageDigest": ff.digest(svc, build)})


def measure(server: GitServer, moto: MotoServer, url: str, token: str, argo: ff.FleetArgo) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "AWS_"))}
    env.update({"AWS_ENDPOINT_URL": moto.endpoint_url, "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    inputs = {"repository": url, "github-repository": "acme/config", "token": token, "layout": ff.LAYOUT,
              "argocd-server": argo.url, "argocd-token": argo.issue_token("bench"), "aws-region": "us-east-1",
              "aws-access-key-id": "testing", "aws-secret-access-key": "testing"}
    env.update({"INPUT_" + k.upper().replace("-", "_"): v for k, v in inputs.items()})
    action = Action(env, io.StringIO())
    git_before = len(server.transcript)
    argo_before = len(argo.transcript)
    started = time.perf_counter()
    src = read_sources(action)
    with tempfile.TemporaryDirectory() as tmp:
        git_dir = os.path.join(tmp, "c.git")
        configrepo.clone(src.url, src.auth, src.branch, git_dir, env=env)
        read_at = time.perf_counter()
        fleet = read_fleet(action, src, git_dir, time.time())
    gathered = time.perf_counter()
    page = html.render(fleet, title="Deploy board", web=src.web, slug=src.slug, repo_label="acme/config")
    summary = markdown.render(fleet, web=src.web, slug=src.slug, repo_label="acme/config")
    done = time.perf_counter()
    return {
        "services": len(fleet.services), "columns": len(fleet.columns), "environments": len(fleet.environments()),
        "cells": len(fleet.cells),
        "requests": {"git": len(server.transcript) - git_before, "argocd": len(argo.transcript) - argo_before,
                     "ecr": fleet.registry.requests},
        "seconds": {"clone": round(read_at - started, 3), "read": round(gathered - read_at, 3),
                    "render": round(done - gathered, 3), "total": round(done - started, 3)},
        "html_kb": round(len(page.encode()) / 1024, 1), "markdown_kb": round(len(summary.encode()) / 1024, 1),
    }


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-board-"))
    server = GitServer(work / "git")
    moto = MotoServer(work / "moto")
    server.start()
    moto.start()
    try:
        now = time.time()
        # the test fixture
        server.create_repo("fixture.git")
        token = server.add_token(label="fixture")
        repo = ff.build_repo(server.repo_path("fixture.git"), server.url("fixture.git"), token, now)
        argo = ff.FleetArgo()
        argo.start()
        ff.populate_argo(argo, repo.tip())
        moto.reset()
        ff.populate_ecr(moto.client("ecr"), moto)
        fixture = measure(server, moto, repo.url, token, argo)
        argo.stop()
        # a synthetic fleet: 200 services x dev/prd x 2 clusters
        services = [f"svc{i:03d}" for i in range(200)]
        token = synthetic_repo(server, "synthetic.git", services, now)
        tip = subprocess.run(["git", "--git-dir", str(server.repo_path("synthetic.git")), "rev-parse", "main"],
                             capture_output=True, text=True, check=True).stdout.strip()
        argo = ff.FleetArgo()
        argo.start()
        moto.reset()
        populate(argo, moto.client("ecr"), services, tip)
        synthetic = measure(server, moto, server.url("synthetic.git"), token, argo)
        argo.stop()
    finally:
        server.stop()
        moto.stop()
    ratios = {
        "services": round(synthetic["services"] / fixture["services"], 2),
        "cells": round(synthetic["cells"] / fixture["cells"], 2),
        "total_seconds": round(synthetic["seconds"]["total"] / max(fixture["seconds"]["total"], 1e-9), 2),
        "render_seconds": round(synthetic["seconds"]["render"] / max(fixture["seconds"]["render"], 1e-9), 2),
        "git_plus_argocd_requests": round(
            (synthetic["requests"]["git"] + synthetic["requests"]["argocd"])
            / max(1, fixture["requests"]["git"] + fixture["requests"]["argocd"]), 2),
        "ecr_requests": round(synthetic["requests"]["ecr"] / max(1, fixture["requests"]["ecr"]), 2),
    }
    print(json.dumps({"benchmark": "deploy-board", "fixture": fixture, "synthetic": synthetic,
                      "synthetic_over_fixture": ratios}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
