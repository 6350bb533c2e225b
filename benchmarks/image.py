#!/usr/bin/env python3
"""The suite image against the composite flavour, measured in one run. Prints one JSON line.

* ``image_build_s``, ``image_size_mb``: ``image/build.sh`` (mmdebstrap + buildah, vfs) and the image it made.
* ``image_stage_start_s``: the Docker flavour's start, image present: ``image/run-stage.sh selftest`` with buildah
  (container from the image, the stage, container removed), median of ``--rounds``.
* ``composite_cold_bootstrap_s``: the composite flavour's first stage of a job on a new runner: a new venv with
  an empty wheel cache (wheels downloaded from the package index).
* ``composite_cached_bootstrap_s``: the same with the wheel cache of an earlier job (``actions/cache`` restored).
* ``composite_warm_start_s``: a later stage of the same job (the venv exists), median of ``--rounds``.
* ``image_vs_*``: the image's stage start divided by each composite figure (below 1: the image starts faster).

The pull of the image is not included (no remote registry here); add it from the registry's figures for a
~``image_size_mb`` image. Needs buildah, mmdebstrap and the network to Debian's archive and the package index.

    python benchmarks/image.py [--rounds 3]
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from startup import bootstrap, timed  # noqa: E402

from tests.stack.buildah import buildah_env  # noqa: E402

TAG = "localhost/shipyard:benchmark"


def image_size_mb(env: dict[str, str]) -> float:
    out = subprocess.run(["buildah", "images", "--json", TAG], env=env, capture_output=True, text=True, check=True,
                         timeout=120).stdout
    [image] = json.loads(out)
    size = str(image["size"]).strip()  # buildah prints it for people: "432 MB" (SI units), or bytes
    units = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}
    number, _, unit = size.partition(" ")
    return round(float(number) * units.get(unit or "B", 1) / 1e6, 1)


def stage_in_image(env: dict[str, str], work: Path) -> float:
    """One Docker-flavour stage as a workflow step runs it: inputs in INPUT_*, outputs to GITHUB_OUTPUT."""
    work.mkdir(parents=True, exist_ok=True)
    output = work / "output"
    output.write_text("")
    step_env = {**env, "SHIPYARD_CONTAINER_IMAGE": TAG, "SHIPYARD_CONTAINER_RUNTIME": "buildah",
                "INPUT_MESSAGE": "benchmark", "GITHUB_OUTPUT": str(output), "GITHUB_WORKSPACE": str(work),
                "RUNNER_TEMP": str(work)}
    elapsed = timed(["bash", str(ROOT / "image" / "run-stage.sh"), "selftest"], step_env)
    if "message" not in output.read_text():
        raise SystemExit("the stage in the image wrote no output: the measurement would be of a failure")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shipyard-image-bench-"))
    env = buildah_env(tmp / "buildah")
    try:
        result: dict[str, object] = {"benchmark": "image"}
        start = time.perf_counter()
        subprocess.run(["bash", str(ROOT / "image" / "build.sh"), "--tag", TAG], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
        result["image_build_s"] = round(time.perf_counter() - start, 1)
        result["image_size_mb"] = image_size_mb(env)
        starts = [stage_in_image(env, tmp / f"job{i}") for i in range(args.rounds)]
        result["image_stage_start_s"] = round(statistics.median(starts), 2)

        cache = tmp / "wheel-cache"
        result["composite_cold_bootstrap_s"] = round(bootstrap(tmp / "venv-cold", cache), 2)
        result["composite_cached_bootstrap_s"] = round(bootstrap(tmp / "venv-cached", cache), 2)
        launcher_env = {**os.environ, "SHIPYARD_VENV": str(tmp / "venv-cached"), "INPUT_MESSAGE": "x"}
        warm = [timed([str(ROOT / "scripts" / "shipyard"), "selftest"], launcher_env) for _ in range(args.rounds)]
        result["composite_warm_start_s"] = round(statistics.median(warm), 3)

        image_start = float(result["image_stage_start_s"])  # type: ignore[arg-type]
        for name in ("cold_bootstrap", "cached_bootstrap", "warm_start"):
            composite = float(result[f"composite_{name}_s"])  # type: ignore[arg-type]
            result[f"image_vs_composite_{name}"] = round(image_start / composite, 2) if composite else None
        result["rounds"] = args.rounds
        print(json.dumps(result))
    finally:
        subprocess.run(["buildah", "rmi", "-f", TAG], env=env, capture_output=True, timeout=300, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
