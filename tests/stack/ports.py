"""Loopback port and child-process helpers shared by the local stack services.

Every service of the stack listens on 127.0.0.1 only.  Child processes are started in their own
session (so a Ctrl-C in the terminal reaches only the parent, which then stops them in order) and,
on Linux, with ``PR_SET_PDEATHSIG`` so they die with the thread that started them even when the
parent is killed with SIGKILL.  Start services from the main thread (pytest fixtures and
``scripts/stack.py`` do): the death signal fires when the *starting thread* exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

LOOPBACK = "127.0.0.1"

_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A local service failed to start; the message carries the tail of its log."""


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port on ``host`` that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    host: str,
    port: int,
    timeout: float = 15.0,
    *,
    proc: subprocess.Popen[bytes] | None = None,
    log_file: Path | None = None,
) -> None:
    """Block until ``host:port`` accepts connections.

    Raises :class:`ServiceError` (with the log tail) if ``proc`` exits first, or when ``timeout``
    seconds pass.
    """
    deadline = time.monotonic() + timeout
    while True:
        if port_is_open(host, port):
            return
        if proc is not None and proc.poll() is not None:
            raise ServiceError(
                f"process {proc.args!r} exited with {proc.returncode} before listening on "
                f"{host}:{port}{log_tail(log_file)}"
            )
        if time.monotonic() > deadline:
            raise ServiceError(f"nothing listens on {host}:{port} after {timeout:.0f}s{log_tail(log_file)}")
        time.sleep(0.05)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, log_file: Path | None = None) -> None:
    """Poll ``predicate`` until it is true; raise :class:`ServiceError` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise ServiceError(f"timed out after {timeout:.0f}s waiting for {what}{log_tail(log_file)}")
        time.sleep(0.05)


def log_tail(log_file: Path | None, lines: int = 40) -> str:
    """The last ``lines`` lines of ``log_file``, formatted for an error message ("" if none)."""
    if log_file is None or not log_file.exists():
        return ""
    text = log_file.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log_file} ---\n" + "\n".join(text)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def spawn(
    argv: Sequence[str],
    log_file: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running service with stdout+stderr appended to ``log_file``.

    stdin is /dev/null; the child gets its own session and dies with its parent (Linux).
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    """SIGTERM ``proc`` (its whole process group), wait, then SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, timeout)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


_S = TypeVar("_S", bound="ChildService")


class ChildService:
    """A service of the stack that runs as one child process on a free loopback port.

    Subclasses set ``title`` and implement ``start()`` by calling :meth:`_launch`. ``workdir`` (default: a new
    temp dir, removed on stop) holds the service's files and ``log_file``.
    """

    title = "service"

    def __init__(self, workdir: Path | str | None, prefix: str, log_name: str) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix=prefix))
        self.port = 0
        self.log_file = self.workdir / log_name
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _launch(
        self,
        argv: Callable[[int], Sequence[str]],
        ready: Callable[[], bool],
        *,
        timeout: float,
        attempts: int,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Start ``argv(port)`` on a free port and wait until ``ready()``. A free port can be taken between
        the probe and the bind, so "address already in use" is retried on another port."""
        last_error: ServiceError | None = None
        for _ in range(attempts):
            self.port = free_port()
            self._proc = spawn(argv(self.port), self.log_file, env=env)
            try:
                wait_for_port(LOOPBACK, self.port, timeout, proc=self._proc, log_file=self.log_file)
                wait_until(ready, timeout, f"{self.title} on {LOOPBACK}:{self.port}", self.log_file)
                return
            except ServiceError as exc:
                last_error = exc
                stop_process(self._proc)
                self._proc = None
                if "address already in use" not in log_tail(self.log_file).lower():
                    break
        raise ServiceError(f"{self.title} did not start: {last_error}")

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        stop_process(self._proc)
        self._proc = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
