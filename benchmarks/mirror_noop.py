"""Benchmark: an unchanged Bitbucket mirror vs the full first mirror of the same repository.

A repository with 5,000 commits and 200 refs (150 branches, 50 tags) is made with ``git fast-import`` and
served by the real git smart-HTTP server (tests/stack/gitserver.py); Bitbucket's REST side is the double. The
stage runs through the CLI (``python -m shipyard bitbucket-mirror``), the way an action step runs it, from an
actions/checkout-style checkout (depth 1, one branch). Prints one JSON line.

    python benchmarks/mirror_noop.py [--commits 5000] [--refs 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.doubles.bitbucket import BitbucketDouble  # noqa: E402
from tests.stack.gitserver import GitServer  # noqa: E402

GIT = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}


def fast_import_stream(commits: int, refs: int) -> bytes:
    out: list[bytes] = []
    when = 1_700_000_000
    for i in range(1, commits + 1):
        data = f"line {i}\n".encode() * 3
        msg = f"commit {i}\n".encode()
        out.append(b"commit refs/heads/main\nmark :%d\n" % i)
        out.append(b"committer Dev <dev@example.com> %d +0000\n" % (when + i))
        out.append(b"data %d\n%s" % (len(msg), msg))
        if i > 1:
            out.append(b"from :%d\n" % (i - 1))
        out.append(b"M 644 inline src/file%d.txt\ndata %d\n%s\n" % (i % 97, len(data), data))
    branches = refs * 3 // 4 - 1  # main is one of the branches
    tags = refs - branches - 1
    for j in range(branches):
        out.append(b"reset refs/heads/branch-%03d\nfrom :%d\n\n" % (j, 1 + (j * 37) % commits))
    for j in range(tags):
        out.append(b"reset refs/tags/v%d.0\nfrom :%d\n\n" % (j, 1 + (j * 101) % commits))
    return b"".join(out)


def run_cli(env: dict[str, str], args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "shipyard", "bitbucket-mirror", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"mirror failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=5000)
    parser.add_argument("--refs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mirror-bench-") as tmp, GitServer(Path(tmp) / "git") as server, \
            BitbucketDouble(server) as bb:
        work = Path(tmp)
        server.create_repo("src.git")
        subprocess.run(["git", "fast-import", "--quiet"], input=fast_import_stream(opts.commits, opts.refs),
                       cwd=server.repo_path("src.git"), env=GIT, check=True)
        src_token = server.add_token(perm="read", label="source")
        checkout = work / "checkout"
        header = {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                  "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {src_token}"}
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--single-branch", server.url("src.git"),
                        str(checkout)], env={**GIT, **header}, check=True)
        bb.add_workspace("bench")
        token = "ATATT" + "b" * 40
        bb.add_credential("api-token", token, user="dev@example.com")
        env = {k: v for k, v in GIT.items() if not k.startswith(("INPUT_", "GITHUB_"))}
        env.update({"PYTHONPATH": str(ROOT / "src"), "INPUT_TOKEN": token, "INPUT_SOURCE_TOKEN": src_token,
                    "RUNNER_TEMP": tmp})
        args = ["--workspace", "bench", "--repository", "service", "--username", "dev@example.com",
                "--api-url", bb.url, "--git-url", server.base_url + "/{workspace}/{slug}.git",
                "--path", str(checkout)]
        first = run_cli(env, args)
        pushed = len(server.refs("bench/service.git"))
        noop = [run_cli(env, args) for _ in range(max(1, opts.repeat))]
    median = statistics.median(noop)
    print(json.dumps({
        "benchmark": "mirror_noop", "commits": opts.commits, "refs": opts.refs, "refs_on_target": pushed,
        "first_mirror_s": round(first, 3), "noop_s": round(median, 3), "noop_runs_s": [round(x, 3) for x in noop],
        "noop_vs_first_ratio": round(median / first, 4), "speedup": round(first / median, 1),
        "target_noop_s": 1.0, "noop_within_target": median <= 1.0,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
