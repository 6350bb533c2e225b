"""ecr-push: first push vs idempotent re-run vs the naive one-push-per-tag approach, on the local stack.

moto (ECR/STS API) and an authenticated registry (data plane, user ``AWS`` with moto's token password) are
started; a buildah image with a random payload (default 24 MiB, incompressible) is built into a fresh storage.

* ``first_push_s``: the stage pushes it under N tags (blobs once, then server-side retags, PutImage per tag);
* ``rerun_s``: the same step re-run (all tags present with the same digest: nothing uploaded);
* ``raw_skopeo_per_tag_s``: the bare data-plane cost of ``skopeo copy`` once per tag into an empty repository
  (no credentials exchange, no repository checks, no conflict detection, no API confirmation): the floor the
  stage's own work sits on.

    python benchmarks/ecr_push.py [--size-mib 24] [--tags 5]

prints one JSON line with the timings and the ratios rerun/first and first/raw.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from shipyard.ecr.stage import run  # noqa: E402
from shipyard.runtime import Action, env_name, run_stage  # noqa: E402
from tests.stack import buildah as bh  # noqa: E402
from tests.stack.moto_ecr import DEFAULT_ACCOUNT_ID, MotoServer  # noqa: E402
from tests.stack.registry import Registry  # noqa: E402


def stage(env: dict[str, str], inputs: dict[str, str]) -> float:
    full = dict(env)
    full.update({env_name(k): v for k, v in inputs.items()})
    action = Action(env=full, out=io.StringIO())
    start = time.perf_counter()
    code = run_stage(run, action, name="ecr-push")
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"stage failed:\n{action.out.getvalue()}")  # type: ignore[attr-defined]
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=24)
    parser.add_argument("--tags", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-ecr-"))
    registry = Registry(work / "registry", username="AWS", password=f"{DEFAULT_ACCOUNT_ID}-auth-token")
    moto = MotoServer(work / "moto")
    try:
        registry.start()
        moto.start()
        env = bh.buildah_env(work / "buildah", [registry.host])
        payload = work / "payload.bin"
        payload.write_bytes(os.urandom(args.size_mib * 1024 * 1024))
        container = bh.run_buildah(["from", "--quiet", "scratch"], env).strip()
        bh.run_buildah(["add", "--quiet", container, str(payload), "/payload.bin"], env)
        bh.run_buildah(["commit", "--quiet", "--timestamp", "0", container, "localhost/bench:1"], env)
        env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
        env.update({"RUNNER_TEMP": str(work), "REGISTRY_AUTH_FILE": str(work / "auth.json"),
                    "AWS_EC2_METADATA_DISABLED": "true"})
        tags = "\n".join(f"v1.0.{i}" for i in range(args.tags))
        inputs = {"aws-region": "us-east-1", "aws-access-key-id": "AKIABENCH0000001", "aws-secret-access-key": "x" * 20,
                  "endpoint-url": moto.endpoint_url, "sts-endpoint-url": moto.endpoint_url,
                  "registry-endpoint": registry.url, "repository": "bench/app", "tags": tags,
                  "source-image": "containers-storage:localhost/bench:1", "scan": "false", "docker-login": "false"}
        first = stage(env, inputs)
        rerun = stage(env, inputs)
        # naive: one full copy per tag into a fresh repository
        start = time.perf_counter()
        for i in range(args.tags):
            subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--authfile", str(work / "auth.json"),
                            "containers-storage:localhost/bench:1", f"docker://{registry.host}/bench/naive:v1.0.{i}"],
                           env=env, check=True)
        raw = time.perf_counter() - start
        print(json.dumps({
            "size_mib": args.size_mib, "tags": args.tags,
            "first_push_s": round(first, 2), "rerun_s": round(rerun, 2), "raw_skopeo_per_tag_s": round(raw, 2),
            "rerun_vs_first": round(rerun / first, 3), "first_vs_raw": round(first / raw, 2),
        }))
        return 0
    finally:
        moto.stop()
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
