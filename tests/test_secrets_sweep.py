"""The secrets sweep catches a secret wherever it shows up, in any of its usual encodings."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.secrets_sweep import SecretsSweep, secret_forms

SECRET = "ghp_Sw33pTestSecret0123456789"


def test_catches_argv_files_texts_and_encodings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = SecretsSweep([SECRET], monkeypatch)
    subprocess.run([sys.executable, "-c", "pass", "--token", SECRET], check=True)
    out = tmp_path / "output"
    out.write_text("auth=" + base64.b64encode(f"x-access-token:{SECRET}".encode()).decode() + "\n")
    found = sweep.leaks({"stdout": "clean", "stderr": f"https://u:{SECRET}@host"}, [out])
    assert found == ["secret #1 in argv of " + os.path.basename(sys.executable) + " (child #1)",
                     "secret #1 in stderr", "secret #1 in file output"]
    with pytest.raises(AssertionError, match="secret leaked") as err:
        sweep.assert_clean({"stderr": SECRET})
    assert SECRET not in str(err.value), "the failure never prints the secret"


def test_clean_run_passes_and_short_secrets_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sweep = SecretsSweep([SECRET, "ab"], monkeypatch)
    subprocess.run([sys.executable, "-c", "pass"], check=True, env={**os.environ, "TOKEN": SECRET})
    sweep.assert_clean({"stdout": "ab ab ab"})


def test_every_base64_alignment_is_caught() -> None:
    forms = secret_forms(SECRET)
    for prefix in ("", "a", "ab", "user:"):
        encoded = base64.b64encode((prefix + SECRET + "!").encode())
        assert any(f in encoded for f in forms), prefix


def test_shim_logs_argv_of_tools_run_by_child_processes(tmp_path: Path) -> None:
    sweep = SecretsSweep([SECRET])
    shim = sweep.shim_dir(tmp_path, tools=("git",))
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["sh", "-c", f"git --version && git -c http.extraHeader={SECRET} --version"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "git version" in proc.stdout
    assert sweep.leaks() == ["secret #1 in argv of git (shim call #2)"]
