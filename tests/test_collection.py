"""Every test file under tests/ is collected by the README's test command (``bash scripts/test.sh`` runs
``python -m pytest`` from the repository root with ``testpaths = ["tests"]``).

pytest silently skips folders it is told to skip (``norecursedirs`` defaults include ``build``, ``dist``,
``*.egg``, dot-folders): a whole stage's tests can disappear without a red line. This test collects the suite
the way CI does and names every test file that produced nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def uncollected(root: Path) -> tuple[list[str], int]:
    """Test files under ``root/tests`` that ``python -m pytest`` run from ``root`` does not collect, and the
    number of tests it collects."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )
    assert proc.returncode in (0, 5), proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = {line.split("::", 1)[0] for line in proc.stdout.splitlines() if "::" in line}
    # a module that skips itself on purpose (pytest.skip(allow_module_level=True)) is reported, so it counts
    seen |= set(re.findall(r"SKIPPED \[\d+\] (tests/[^\s:]+\.py)", proc.stdout))
    files = {
        p.relative_to(root).as_posix()
        for pattern in ("test_*.py", "*_test.py")
        for p in (root / "tests").rglob(pattern)
        if "__pycache__" not in p.parts
    }
    count = re.search(r"(\d+) tests? collected", proc.stdout)
    return sorted(files - seen), int(count.group(1)) if count else 0


def test_every_test_file_is_collected() -> None:
    missing, count = uncollected(ROOT)
    assert not missing, (
        f"{len(missing)} test file(s) are never run by the test command (a norecursedirs default such as "
        f"'build'? a collection error?): {missing}"
    )
    assert count > 0


def test_the_check_sees_a_skipped_build_folder(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    for folder in ("build", "ok"):
        (tmp_path / "tests" / folder).mkdir(parents=True)
        (tmp_path / "tests" / folder / f"test_{folder}.py").write_text("def test_it():\n    pass\n")
    missing, count = uncollected(tmp_path)
    assert missing == ["tests/build/test_build.py"] and count == 1
