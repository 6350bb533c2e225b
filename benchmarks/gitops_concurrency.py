"""N independent gitops updaters on one config-repo branch over the real git smart-HTTP server.

Each writer is a different service with its own working clone (as N separate CI jobs would have) and runs
the same code as the gitops-update stage: fetch, re-apply, commit, push, retry. The same N updates are
also run one after another in the same run; the ratio compares the two wall times.

    python benchmarks/gitops_concurrency.py --writers 200

prints one JSON line: writers, landed, lost, wall_s, serial_s, ratio (+ attempts, latency, CPU seconds and
server requests by kind for both phases). ``--mode process`` runs each concurrent writer in its own process
(the default, threads, shares one interpreter with the git server).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from shipyard.git import GitAuth  # noqa: E402
from shipyard.gitops.gitrepo import WorkClone  # noqa: E402
from shipyard.gitops.imageref import ImageUpdate  # noqa: E402
from shipyard.gitops.updater import UpdateOutcome, Updater, UpdateRequest  # noqa: E402
from tests.stack import gitserver  # noqa: E402

OVERLAY = """\
# {svc} in dev
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: {svc}
    newTag: "v0"   # set by CI
"""
BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {svc}
spec:
  template:
    spec:
      containers:
        - name: app
          image: {svc}:latest
"""


def seed(server: gitserver.GitServer, name: str, writers: int) -> None:
    server.create_repo(name)
    server.git_config(name, "uploadpack.allowFilter", "true")
    server.git_config(name, "receive.denyNonFastForwards", "true")
    env = {**os.environ, "GIT_AUTHOR_NAME": "seed", "GIT_AUTHOR_EMAIL": "s@x", "GIT_COMMITTER_NAME": "seed",
           "GIT_COMMITTER_EMAIL": "s@x", "GIT_CONFIG_NOSYSTEM": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["git", "init", "-q", "-b", "main", tmp], check=True, env=env)
        for i in range(writers):
            svc = f"svc{i:03d}"
            for rel, text in ((f"apps/{svc}/overlays/dev/kustomization.yaml", OVERLAY),
                              (f"apps/{svc}/base/deployment.yaml", BASE),
                              (f"apps/{svc}/base/kustomization.yaml", "resources:\n  - deployment.yaml\n")):
                path = Path(tmp) / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text.format(svc=svc))
        subprocess.run(["git", "add", "-A"], cwd=tmp, check=True, env=env)
        subprocess.run(["git", "commit", "-qm", "seed"], cwd=tmp, check=True, env=env)
        subprocess.run(["git", "push", "-q", str(server.repo_path(name)), "HEAD:main"], cwd=tmp, check=True, env=env)


def one_update(url: str, auth: GitAuth, svc: str, tag: str, validate: str, built_at: float) -> UpdateOutcome:
    clone = WorkClone(url, auth)
    req = UpdateRequest(
        service=svc, environment="dev", branch="main", paths=[f"apps/{svc}/overlays/dev/kustomization.yaml"],
        update=ImageUpdate(svc, tag, None), validate=validate, source_commit=f"{abs(hash(svc + tag)):040d}"[:40],
        built_at=built_at, max_attempts=500, max_seconds=600,
    )
    try:
        return Updater(clone, req).run()
    finally:
        clone.close()


def final_tags(server: gitserver.GitServer, name: str, writers: int) -> dict[str, str]:
    out: dict[str, str] = {}
    repo = server.repo_path(name)
    for i in range(writers):
        svc = f"svc{i:03d}"
        text = subprocess.run(["git", "--git-dir", str(repo), "show", f"main:apps/{svc}/overlays/dev/kustomization.yaml"],
                              capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            if "newTag:" in line:
                out[svc] = line.split("newTag:")[1].split("#")[0].strip().strip('"')
    return out


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (git on both sides)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _request_counts(server: gitserver.GitServer) -> dict[str, int]:
    """Server requests by kind: refs (GET info/refs), fetch (POST upload-pack), push (POST receive-pack)."""
    counts = {"refs": 0, "fetch": 0, "push": 0}
    for req in list(server.transcript):
        if "info/refs" in req.path:
            counts["refs"] += 1
        elif req.path.endswith("git-upload-pack"):
            counts["fetch"] += 1
        elif req.path.endswith("git-receive-pack"):
            counts["push"] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--validate", choices=("parse", "auto"), default="parse",
                        help="auto also runs kustomize build for every update (both phases)")
    parser.add_argument("--mode", choices=("process", "thread"), default="thread",
                        help="run each concurrent writer in its own thread (default) or process")
    parser.add_argument("--nagle", action="store_true",
                        help="turn Nagle's algorithm back on in the test git server (adds ~40 ms per POST)")
    args = parser.parse_args()
    n = args.writers
    if args.nagle:
        gitserver._Handler.disable_nagle_algorithm = False
    work = Path(tempfile.mkdtemp(prefix="gitops-bench-"))
    server = gitserver.GitServer(work).start()
    try:
        token = server.add_token()
        auth = GitAuth("bearer", secret=token, scope_url=server.base_url + "/")
        name = "config.git"
        seed(server, name, n)
        url = server.url(name)
        services = [f"svc{i:03d}" for i in range(n)]

        # serial: the same N independent updates, one after another
        server.clear_transcript()
        cpu0 = _cpu()
        t0 = time.monotonic()
        serial = [one_update(url, auth, svc, "serial", args.validate, time.time()) for svc in services]
        serial_s = time.monotonic() - t0
        serial_cpu = _cpu() - cpu0
        serial_requests = _request_counts(server)
        server.clear_transcript()
        cpu0 = _cpu()

        # concurrent: N writers released together, each a thread (default; the work is mostly I/O and git) or a
        # forked process (--mode process).
        results: dict[str, tuple[str, int]] = {}
        errors: list[str] = []
        latencies: dict[str, float] = {}
        t0 = time.monotonic()
        if args.mode == "thread":
            barrier = threading.Barrier(n)

            def writer(svc: str) -> None:
                barrier.wait()
                start = time.monotonic()
                try:
                    out = one_update(url, auth, svc, "concurrent", args.validate, time.time())
                    results[svc] = (out.status, out.attempts)
                except Exception as exc:
                    errors.append(f"{svc}: {exc}")
                latencies[svc] = time.monotonic() - start

            threads = [threading.Thread(target=writer, args=(svc,)) for svc in services]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=900)
        else:
            ctx = multiprocessing.get_context("fork")
            mp_barrier = ctx.Barrier(n + 1)
            queue: Any = ctx.Queue()

            def child(svc: str) -> None:
                mp_barrier.wait()
                start = time.monotonic()
                try:
                    out = one_update(url, auth, svc, "concurrent", args.validate, time.time())
                    queue.put((svc, out.status, out.attempts, time.monotonic() - start, None))
                except Exception as exc:
                    queue.put((svc, "error", 0, time.monotonic() - start, str(exc)))

            procs = [ctx.Process(target=child, args=(svc,)) for svc in services]
            for p in procs:
                p.start()
            mp_barrier.wait()
            t0 = time.monotonic()
            for _ in services:
                svc, status, attempts, latency, error = queue.get(timeout=900)
                latencies[svc] = latency
                if error:
                    errors.append(f"{svc}: {error}")
                else:
                    results[svc] = (status, attempts)
            for p in procs:
                p.join(timeout=30)
        wall_s = time.monotonic() - t0
        concurrent_cpu = _cpu() - cpu0
        concurrent_requests = _request_counts(server)

        tags = final_tags(server, name, n)
        landed = sum(1 for r in results.values() if r[0] == "updated")
        lost = sum(1 for svc in services if svc in results and results[svc][0] == "updated"
                   and tags.get(svc) != "concurrent")
        attempts = [r[1] for r in results.values()]
        lat = sorted(latencies.values())
        print(json.dumps({
            "writers": n,
            "landed": landed,
            "lost": lost,
            "wall_s": round(wall_s, 2),
            "serial_s": round(serial_s, 2),
            "ratio": round(wall_s / serial_s, 3) if serial_s else None,
            "errors": len(errors),
            "attempts_total": sum(attempts),
            "attempts_max": max(attempts) if attempts else 0,
            "serial_attempts": sum(r.attempts for r in serial),
            "latency_p50_s": round(statistics.median(lat), 2) if lat else None,
            "latency_max_s": round(lat[-1], 2) if lat else None,
            "serial_cpu_s": round(serial_cpu, 1),
            "concurrent_cpu_s": round(concurrent_cpu, 1),
            "serial_requests": serial_requests,
            "concurrent_requests": concurrent_requests,
            "validate": args.validate,
            "mode": args.mode,
            "cpus": os.cpu_count(),
        }))
        if errors:
            print("\n".join(errors[:5]), file=sys.stderr)
        return 0 if landed == n and lost == 0 else 1
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
