"""Secrets sweep: during a stage run, watch every child process's argv and every output, and fail on any secret.

Two ways to watch child processes:

* in-process runs (``run_stage`` in the test's interpreter): :meth:`SecretsSweep.watch_popen` wraps
  ``subprocess.Popen`` so every argv (and ``os.exec*``-free child started through ``subprocess``) is recorded;
* act runs and other child interpreters: :meth:`SecretsSweep.shim_dir` writes a directory of wrapper scripts
  (git, buildah, skopeo, curl, ... by default) that append their argv to a log and exec the real binary; put it
  first on the PATH the run sees (``env["PATH"] = f"{shim}:{env['PATH']}"``).

Then :meth:`SecretsSweep.assert_clean` checks the recorded argv, the shim log, the given texts (stdout, stderr)
and files (``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_STEP_SUMMARY``, logs) for each secret in its raw,
percent-encoded and base64 forms (base64 at every alignment, so ``user:TOKEN`` Basic headers are caught too).
The failure names where a secret was found, never the secret.

    def test_x(secrets_sweep, tmp_path):
        sweep = secrets_sweep(["ghp_token..."])        # fixture from tests/conftest.py, Popen already wrapped
        ... run the stage ...
        sweep.assert_clean(texts={"stdout": out}, files=[tmp_path / "output", tmp_path / "summary"])
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

DEFAULT_TOOLS = ("git", "buildah", "skopeo", "curl", "docker", "aws", "ssh")


def secret_forms(secret: str) -> set[bytes]:
    """Byte strings whose presence means the secret leaked: raw, percent-encoded, and base64 at each alignment."""
    raw = secret.encode()
    forms = {raw, urllib.parse.quote(secret, safe="").encode(), urllib.parse.quote_plus(secret).encode()}
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw)
        # keep only the characters made of the secret's bits alone (6 bits each; the secret starts at bit 8*pad)
        start = -(-8 * pad // 6)
        end = 8 * (pad + len(raw)) // 6
        chunk = encoded[start:end]
        if len(chunk) >= 8:
            forms.add(chunk)
    return {f for f in forms if len(f) >= 4}


class SecretsSweep:
    def __init__(self, secrets: Iterable[str], monkeypatch: pytest.MonkeyPatch | None = None) -> None:
        self.secrets = [s for s in secrets if s and len(s) >= 4]
        self.argv: list[list[str]] = []
        self.shim_logs: list[Path] = []
        if monkeypatch is not None:
            self.watch_popen(monkeypatch)

    # ------------------------------------------------------------ watching
    def watch_popen(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Record the argv of every child started through ``subprocess`` in this interpreter."""
        original = subprocess.Popen.__init__
        sweep = self

        def recording_init(popen: Any, args: Any, *a: Any, **kw: Any) -> None:
            if isinstance(args, (str, bytes, os.PathLike)):
                argv = [os.fsdecode(args)]
            else:
                argv = [os.fsdecode(x) if isinstance(x, (bytes, os.PathLike)) else str(x) for x in args]
            sweep.argv.append(argv)
            original(popen, args, *a, **kw)

        monkeypatch.setattr(subprocess.Popen, "__init__", recording_init)

    def shim_dir(self, base: Path, tools: Iterable[str] = DEFAULT_TOOLS, path: str | None = None) -> Path:
        """Wrapper scripts that log their argv (one NUL-separated record per call) and exec the real tool."""
        shim = base / "secrets-sweep-shims"
        shim.mkdir(parents=True, exist_ok=True)
        log = base / "secrets-sweep-argv.log"
        log.touch()
        self.shim_logs.append(log)
        search = path if path is not None else os.environ.get("PATH", "")
        for tool in tools:
            real = shutil.which(tool, path=search)
            if real is None:
                continue
            script = shim / tool
            script.write_text(
                "#!/bin/sh\n"
                f'printf "%s\\0" "$0" "$@" >> {shlex.quote(str(log))}\n'
                f'printf "\\n" >> {shlex.quote(str(log))}\n'
                f'exec {shlex.quote(real)} "$@"\n'
            )
            script.chmod(0o755)
        return shim

    # ------------------------------------------------------------ checking
    def leaks(self, texts: Mapping[str, str | bytes] | None = None, files: Iterable[Path | str] = ()) -> list[str]:
        """Where a secret was found (``"argv of git #3"``, ``"file output"``), never the secret itself."""
        places: list[tuple[str, bytes]] = []
        for i, argv in enumerate(self.argv):
            places.append((f"argv of {os.path.basename(argv[0]) if argv else '?'} (child #{i + 1})",
                           "\0".join(argv).encode()))
        for log in self.shim_logs:
            for i, record in enumerate(log.read_bytes().split(b"\0\n")):
                if record:
                    name = os.path.basename(record.split(b"\0", 1)[0].decode(errors="replace"))
                    places.append((f"argv of {name} (shim call #{i + 1})", record))
        for label, text in (texts or {}).items():
            data = text.encode() if isinstance(text, str) else text
            # the runner consumes ::add-mask:: lines (that is how a secret gets masked); they are never shown
            data = b"\n".join(line for line in data.split(b"\n") if not line.lstrip().startswith(b"::add-mask::"))
            places.append((label, data))
        for file in files:
            p = Path(file)
            if p.is_file():
                places.append((f"file {p.name}", p.read_bytes()))
        found = []
        for n, secret in enumerate(self.secrets):
            forms = secret_forms(secret)
            for label, data in places:
                if any(form in data for form in forms):
                    found.append(f"secret #{n + 1} in {label}")
        return found

    def assert_clean(self, texts: Mapping[str, str | bytes] | None = None, files: Iterable[Path | str] = ()) -> None:
        found = self.leaks(texts, files)
        assert not found, "secret leaked: " + "; ".join(found)
