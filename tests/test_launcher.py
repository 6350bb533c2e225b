"""The launcher and bootstrap on runners unlike ours: BSD tools (no `mv -T`), no python3, an old python3,
and no package index at all (a wheelhouse)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEAD_INDEX = "http://127.0.0.1:9/simple"  # nothing listens on port 9: any index access fails at once

# The POSIX tools the launcher and the bootstrap may use; python3 is added (or not) per test.
TOOLS = ("bash", "dirname", "cat", "cksum", "cut", "rm", "mkdir", "touch", "awk", "printf", "env", "tr", "wc")


def _toolbox(tmp_path: Path, *, python: str | None, mv_without_t: bool = False) -> Path:
    """A bin folder holding only the named tools (symlinks), so nothing else on this machine is found."""
    box = tmp_path / "bin"
    box.mkdir()
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real, tool
        (box / tool).symlink_to(real)
    real_mv = shutil.which("mv")
    assert real_mv
    if mv_without_t:  # BSD/macOS mv: no -T
        shim = box / "mv"
        shim.write_text(
            "#!/bin/sh\n"
            'for a in "$@"; do [ "$a" = "-T" ] && { echo "mv: illegal option -- T" >&2; exit 64; }; done\n'
            f'exec {real_mv} "$@"\n'
        )
        shim.chmod(0o755)
    else:
        (box / "mv").symlink_to(real_mv)
    if python is not None:
        (box / "python3").symlink_to(python)
    return box


def _launch(box: Path, tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(box), "HOME": str(tmp_path), "RUNNER_TEMP": str(tmp_path / "runner-temp"),
           "SHIPYARD_CACHE_DIR": str(tmp_path / "cache"), **extra}
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    return subprocess.run([str(box / "bash"), str(ROOT / "scripts" / "shipyard"), *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


def _system_python() -> str:
    for name in ("python3.13", "python3.12", "python3.11", "python3.10", "python3"):
        found = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
        if found:
            return os.path.realpath(found)
    pytest.fail("no system python3 >= 3.10 to build a venv from")


def test_no_python3_is_one_error_naming_both_fixes(tmp_path: Path) -> None:
    box = _toolbox(tmp_path, python=None)
    result = _launch(box, tmp_path, "selftest")
    assert result.returncode == 1
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1, result.stdout + result.stderr
    assert "no python3" in errors[0]
    assert "install Python 3.10+" in errors[0] and "Shipyard image" in errors[0] and "container-image" in errors[0]
    assert not list((tmp_path / "runner-temp").iterdir())  # nothing half-made


def test_too_old_python3_is_the_same_clear_error(tmp_path: Path) -> None:
    old = tmp_path / "fake-python3"
    old.write_text('#!/bin/sh\n'
                   'case "$*" in *version_info*) exit 1 ;; *sys.version*) echo "python3 3.8.10"; exit 0 ;; esac\n'
                   'exit 0\n')
    old.chmod(0o755)
    box = _toolbox(tmp_path, python=None)
    (box / "python3").symlink_to(old)
    result = _launch(box, tmp_path, "selftest")
    assert result.returncode == 1
    assert "python3 3.8.10" in result.stdout and "Fix: install Python 3.10+" in result.stdout


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run(["bash", str(ROOT / "scripts" / "wheelhouse.sh"), str(dest)], check=True, capture_output=True,
                   env={**os.environ, "SHIPYARD_PYTHON3": _system_python()}, timeout=300)
    return dest


def test_bsd_mv_and_no_index_bootstrap_from_the_wheelhouse(tmp_path: Path, wheelhouse: Path) -> None:
    box = _toolbox(tmp_path, python=_system_python(), mv_without_t=True)
    result = _launch(box, tmp_path, "selftest", "--message", "air", SHIPYARD_WHEELHOUSE=str(wheelhouse),
                     PIP_INDEX_URL=DEAD_INDEX, UV_INDEX_URL=DEAD_INDEX, PIP_FIND_LINKS="", UV_FIND_LINKS="")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "output message=air" in result.stdout
    venvs = [p for p in (tmp_path / "runner-temp").iterdir() if p.name.startswith("shipyard-venv-")]
    assert len(venvs) == 1 and (venvs[0] / ".shipyard-ready").is_file()  # renamed into place, not moved inside
    # The second stage of the job: the warm path, no bootstrap.
    again = _launch(box, tmp_path, "selftest", SHIPYARD_WHEELHOUSE=str(wheelhouse), PIP_INDEX_URL=DEAD_INDEX)
    assert again.returncode == 0 and "shipyard bootstrap" not in again.stderr


def test_a_wheelhouse_that_is_not_a_folder_is_a_clear_error(tmp_path: Path) -> None:
    box = _toolbox(tmp_path, python=_system_python())
    result = _launch(box, tmp_path, "selftest", SHIPYARD_WHEELHOUSE=str(tmp_path / "missing"))
    assert result.returncode == 1
    assert "SHIPYARD_WHEELHOUSE" in result.stdout and "Fix:" in result.stdout
    assert not [p for p in (tmp_path / "runner-temp").iterdir() if p.name.startswith("shipyard-venv-")]
