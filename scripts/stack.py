#!/usr/bin/env python3
"""Run the local stack (registry + busybox base image, moto, git server) until stopped.

    python scripts/stack.py up [--dir DIR] [--repo NAME ...] [--keep]
    python scripts/stack.py status --dir DIR
    python scripts/stack.py down --dir DIR

``up`` starts every service on 127.0.0.1 (random ports), writes ``DIR/stack.json`` (mode 0600:
it holds the generated credentials) once everything is ready, prints it, and runs until Ctrl-C or
SIGTERM; then it stops the services and removes what it created under DIR (unless ``--keep``).
``down`` sends SIGTERM to the ``up`` process recorded in ``DIR/stack.json`` and waits for it.

stack.json layout::

    {"pid": 123, "dir": "...",
     "registry": {"host", "url", "username", "password", "base_image", "base_tag"},
     "buildah": {"stack_dir", "env": {CONTAINERS_STORAGE_CONF, REGISTRY_AUTH_FILE, ...}},
     "moto": {"endpoint_url", "region", "env": {AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...}},
     "git": {"base_url", "root", "repos": {name: url},
             "users": {name: {"password", "perm"}}, "tokens": {label: {"token", "perm"}}}}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stack import buildah as bh  # noqa: E402
from tests.stack.gitserver import READ, WRITE, GitServer  # noqa: E402
from tests.stack.moto_ecr import MotoServer  # noqa: E402
from tests.stack.registry import Registry  # noqa: E402

STATE_FILE = "stack.json"
_SUBDIRS = ("registry", "buildah", "moto", "git")


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(state, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def cmd_up(args: argparse.Namespace) -> int:
    stack_dir = Path(args.dir or tempfile.mkdtemp(prefix="shipyard-stack-")).resolve()
    stack_dir.mkdir(parents=True, exist_ok=True)
    state_file = stack_dir / STATE_FILE
    if state_file.exists():
        old = json.loads(state_file.read_text())
        if _alive(int(old.get("pid", 0))):
            print(f"a stack is already running from {stack_dir} (pid {old['pid']})", file=sys.stderr)
            return 1
        state_file.unlink()

    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    registry = Registry(stack_dir / "registry")
    moto = MotoServer(stack_dir / "moto")
    git = GitServer(stack_dir / "git")
    try:
        registry.start()
        env = bh.buildah_env(stack_dir / "buildah", [registry.host])
        bh.login(registry, env)
        base_image = bh.make_base_image(registry, env, "base/busybox:1")
        moto.start()
        git.start()
        users = {
            "shipyard": {"password": git.add_user("shipyard", perm=WRITE), "perm": WRITE},
            "reader": {"password": git.add_user("reader", perm=READ), "perm": READ},
        }
        tokens = {"ci": {"token": git.add_token(perm=WRITE, label="ci"), "perm": WRITE}}
        repos = {}
        for name in args.repo or []:
            git.create_repo(name)
            repos[name] = git.url(name)

        state = {
            "pid": os.getpid(),
            "dir": str(stack_dir),
            "registry": {
                "host": registry.host,
                "url": registry.url,
                "username": registry.username,
                "password": registry.password,
                "base_image": base_image,
                "base_tag": registry.ref("base/busybox", "1"),
            },
            "buildah": {
                "stack_dir": str(stack_dir / "buildah"),
                "env": bh.buildah_env(stack_dir / "buildah", overrides_only=True),
            },
            "moto": {"endpoint_url": moto.endpoint_url, "region": moto.region, "env": moto.env()},
            "git": {
                "base_url": git.base_url,
                "root": str(git.root),
                "repos": repos,
                "users": users,
                "tokens": tokens,
            },
        }
        _write_state(state_file, state)
        print(json.dumps(state, indent=2), flush=True)
        print(f"stack up; state in {state_file}; Ctrl-C or `stack.py down --dir {stack_dir}` stops it",
              file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            for name, svc in (("registry", registry), ("moto", moto)):
                if not svc.running:
                    print(f"{name} died; see {svc.log_file}", file=sys.stderr)
                    return 1
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        git.stop()
        moto.stop()
        registry.stop()
        with contextlib.suppress(FileNotFoundError):
            state_file.unlink()
        if not args.keep:
            for sub in _SUBDIRS:
                shutil.rmtree(stack_dir / sub, ignore_errors=True)
            with contextlib.suppress(OSError):
                stack_dir.rmdir()  # only if nothing else is in it
        print("stack down", file=sys.stderr, flush=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0); look at /proc when we can
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return True


def _read_state(stack_dir: Path) -> dict[str, Any] | None:
    path = stack_dir / STATE_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def cmd_status(args: argparse.Namespace) -> int:
    state = _read_state(Path(args.dir))
    if state is None or not _alive(int(state["pid"])):
        print("not running", file=sys.stderr)
        return 1
    print(json.dumps(state, indent=2))
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stack_dir = Path(args.dir)
    state = _read_state(stack_dir)
    if state is None:
        print(f"no {STATE_FILE} in {stack_dir}: nothing to stop", file=sys.stderr)
        return 0
    pid = int(state["pid"])
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + args.timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            print(f"stack process {pid} did not stop within {args.timeout}s", file=sys.stderr)
            return 1
    with contextlib.suppress(FileNotFoundError):
        (stack_dir / STATE_FILE).unlink()
    print("stopped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the stack and run until stopped")
    up.add_argument("--dir", help="state/work directory (default: a new temp dir)")
    up.add_argument("--repo", action="append", help="create this bare repo on the git server (repeatable)")
    up.add_argument("--keep", action="store_true", help="keep service data under --dir on exit")
    up.set_defaults(func=cmd_up)
    status = sub.add_parser("status", help="print stack.json if the stack is running")
    status.add_argument("--dir", required=True)
    status.set_defaults(func=cmd_status)
    down = sub.add_parser("down", help="stop a stack started with `up --dir DIR`")
    down.add_argument("--dir", required=True)
    down.add_argument("--timeout", type=float, default=30.0)
    down.set_defaults(func=cmd_down)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
