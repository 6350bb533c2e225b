#!/usr/bin/env python3
"""Start-up cost of a Shipyard stage, measured in one run. Prints one JSON line.

* ``cold_bootstrap_s``: a new job venv with an empty wheel cache (downloads from the package registry).
* ``cold_bootstrap_without_uv_s``: the same on a runner without uv (pip installs the locked uv first).
* ``cached_bootstrap_s``: a new job venv with the wheel cache of an earlier job (``SHIPYARD_CACHE_DIR`` kept).
* ``warm_bootstrap_s``: the launcher when an earlier stage of the same job already made the venv.
* ``stage_overhead_s``: per stage, under act: a job running the selftest stage N times vs the same job with
  N plain ``run: true`` steps, divided by N.
* ``import_s``: per stage module, the import time in a fresh interpreter minus a bare interpreter's start.

    python benchmarks/startup.py [--steps 10] [--skip-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from shipyard.stages import STAGES  # noqa: E402
from tests.stack.act import ActRunner  # noqa: E402


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def bootstrap(venv: Path, cache: Path, *, hide_uv: bool = False) -> float:
    env = {**os.environ, "SHIPYARD_CACHE_DIR": str(cache)}
    if hide_uv:  # a runner without uv: the bootstrap installs its own from requirements/bootstrap.txt first
        env["PATH"] = os.pathsep.join(
            d for d in env["PATH"].split(os.pathsep) if not (Path(d) / "uv").exists()
        )
        env["SHIPYARD_PYTHON3"] = getattr(sys, "_base_executable", sys.executable)
    return timed([str(ROOT / "scripts" / "bootstrap.sh"), str(venv)], env)


def import_times(python: Path, repeats: int = 3) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
    base = min(timed([str(python), "-c", "pass"], env) for _ in range(repeats))
    result: dict[str, float] = {}
    for name, (module, _) in STAGES.items():
        try:
            t = min(timed([str(python), "-c", f"import {module}"], env) for _ in range(repeats))
        except subprocess.CalledProcessError:
            continue  # stage not built yet
        result[name] = round(max(0.0, t - base), 3)
    return result


def act_job(runner: ActRunner, steps: int, stage: bool) -> float:
    body = "".join(
        (
            f"      - uses: shipyard/shipyard/actions/selftest@v1\n        with: {{message: m{i}}}\n"
            if stage
            else "      - run: 'true'\n"
        )
        for i in range(steps)
    )
    workflow = "on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n" + body
    start = time.perf_counter()
    result = runner.run(workflow)
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(result.output[-3000:])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--skip-cold", action="store_true", help="skip the download-from-registry measurement")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="shipyard-startup-"))
    try:
        result: dict[str, object] = {"benchmark": "startup"}
        cache = tmp / "cache"
        if not args.skip_cold:
            result["cold_bootstrap_s"] = round(bootstrap(tmp / "venv-cold", cache), 2)
            result["cold_bootstrap_without_uv_s"] = round(
                bootstrap(tmp / "venv-cold-nouv", tmp / "cache-nouv", hide_uv=True), 2
            )
        else:
            bootstrap(tmp / "venv-cold", cache)
        result["cached_bootstrap_s"] = round(bootstrap(tmp / "venv-cached", cache), 2)
        venv = tmp / "venv-cached"
        launcher_env = {**os.environ, "SHIPYARD_VENV": str(venv), "INPUT_MESSAGE": "x"}
        warm = [timed([str(ROOT / "scripts" / "shipyard"), "selftest"], launcher_env) for _ in range(5)]
        result["warm_bootstrap_s"] = round(statistics.median(warm), 3)

        (tmp / "act").mkdir()
        runner = ActRunner(tmp / "act", venv=venv)
        act_job(runner, 1, True)  # warm act's caches
        overheads, baselines = [], []
        for _ in range(args.rounds):
            with_stage = act_job(runner, args.steps, True)
            plain = act_job(runner, args.steps, False)
            baselines.append(plain)
            overheads.append((with_stage - plain) / args.steps)
        result["stage_overhead_s"] = round(statistics.median(overheads), 3)
        result["plain_job_s"] = round(statistics.median(baselines), 3)
        result["steps_per_job"] = args.steps
        result["import_s"] = import_times(venv / "bin" / "python")
        result["target_stage_overhead_s"] = 0.3
        result["overhead_within_target"] = result["stage_overhead_s"] <= 0.3  # type: ignore[operator]
        print(json.dumps(result))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
