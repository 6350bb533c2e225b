"""Cold build vs unchanged re-run of the build stage, on the real local stack (registry + buildah).

A sample service (default: examples/go-service, host build mode on the local busybox base, since there is no
internet for the toolchain images) is committed to a throw-away git repository and built by the stage's CLI
(`python -m shipyard build`, the same code the action runs) into a fresh buildah storage and an empty
repository: that is the cold build. Then the same commit is "re-run" (new run, new SHA/branch tags) several
times: the stage finds the content-hash tag and only retags server-side.

    python benchmarks/build_skip.py [--example java-service] [--reruns 3]

prints one JSON line: example, cold_build_s, unchanged_rerun_s (median), ratio, skipped, target_met (rerun
<= 2 s and < 10% of the cold build).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.stack import buildah as stack_buildah  # noqa: E402
from tests.stack.registry import Registry  # noqa: E402

HOST_EXTRA = {"java-service": {"INPUT_BUILD_COMMAND": "mvn -o -B -q -DskipTests package"},
              "vue-app": {"INPUT_INSTALL_COMMAND": "none"}, "python-service": {"INPUT_INSTALL_COMMAND": "none"}}
TOOLCHAIN = {"go-service": "go", "java-service": "mvn", "node-service": "npm", "vue-app": "npm"}
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@example.com"}


def run_stage(env: dict[str, str]) -> tuple[float, dict[str, str], str]:
    outputs_file = Path(env["GITHUB_OUTPUT"])
    outputs_file.write_text("")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "shipyard", "build"], env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"build stage failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    outputs: dict[str, str] = {}
    lines = outputs_file.read_text().splitlines()
    i = 0
    while i < len(lines):  # KEY=VALUE or KEY<<DELIM ... DELIM
        line = lines[i]
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            key, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            outputs[key] = "\n".join(lines[i + 1:j])
            i = j + 1
            continue
        key, _, value = line.partition("=")
        outputs[key] = value
        i += 1
    return elapsed, outputs, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--example", default=None, help="default: go-service (python-service without Go)")
    parser.add_argument("--reruns", type=int, default=3)
    args = parser.parse_args()
    fallback = args.example is None and shutil.which("go") is None
    args.example = args.example or ("python-service" if fallback else "go-service")
    needed = TOOLCHAIN.get(args.example)
    if needed and shutil.which(needed) is None:
        raise SystemExit(f"{args.example} is built on the host (build-mode: host) and needs '{needed}': run "
                         "scripts/setup.sh (it installs Go, Maven and a JDK) or pick --example python-service.")
    work = Path(tempfile.mkdtemp(prefix="shipyard-bench-build-"))
    registry = Registry(work / "registry")
    try:
        registry.start()
        benv = stack_buildah.buildah_env(work / "buildah", [registry.host])
        stack_buildah.login(registry, benv)
        base = stack_buildah.make_base_image(registry, benv, "base/busybox:1")
        # the cold build must not find the base image already pulled: fresh storage for the build
        build_env = stack_buildah.buildah_env(work / "buildah-build", [registry.host])
        shutil.copy(benv["REGISTRY_AUTH_FILE"], build_env["REGISTRY_AUTH_FILE"])
        repo = work / "repo"
        shutil.copytree(ROOT / "examples" / args.example, repo,
                        ignore=shutil.ignore_patterns("node_modules", "dist", "target", "__pycache__"))
        git_env = {**os.environ, **GIT_ENV}
        for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "sample"]):
            subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=git_env)
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
        env.update(build_env)
        env.update({
            "PYTHONPATH": str(ROOT / "src"), "GITHUB_WORKSPACE": str(repo), "GITHUB_SHA": sha,
            "GITHUB_REF": "refs/heads/main", "GITHUB_REPOSITORY": "acme/bench", "GITHUB_OUTPUT": str(work / "out"),
            "GITHUB_STEP_SUMMARY": str(work / "summary.md"),
            "INPUT_IMAGE": f"{registry.host}/bench/{args.example}", "INPUT_BUILDER": "buildah",
            "INPUT_BUILD_MODE": "host", "INPUT_BASE_IMAGES": f"runtime={base}",
            # really cold: no Go build cache, no Maven target/ (the repo is fresh anyway)
            "GOCACHE": str(work / "gocache"),
            **HOST_EXTRA.get(args.example, {}),
        })
        cold, cold_out, _ = run_stage(env)
        reruns: list[float] = []
        skipped = True
        for n in range(max(1, args.reruns)):
            env["GITHUB_SHA"] = f"{n + 1:040x}"
            env["GITHUB_REF"] = f"refs/heads/rerun-{n}"
            elapsed, out, _ = run_stage(env)
            reruns.append(elapsed)
            skipped = skipped and out.get("skipped") == "true" and out.get("digest") == cold_out.get("digest")
        rerun = statistics.median(reruns)
        ratio = rerun / cold if cold else 0.0
        print(json.dumps({
            "benchmark": "build_skip", "example": args.example, "example_fallback": fallback, "builder": "buildah", "build_mode": "host",
            "cold_build_s": round(cold, 3), "unchanged_rerun_s": round(rerun, 3),
            "rerun_samples_s": [round(r, 3) for r in reruns], "ratio": round(ratio, 4), "skipped": skipped,
            "target_met": bool(skipped and rerun <= 2.0 and ratio < 0.10),
        }))
        return 0
    finally:
        registry.stop()
        for sub in ("buildah", "buildah-build"):
            env_dir = work / sub
            if env_dir.exists():
                subprocess.run(["buildah", "rmi", "--all", "--force"], capture_output=True, check=False,
                               env={**os.environ, **stack_buildah.buildah_env(env_dir)})
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
