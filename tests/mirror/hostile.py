"""Shared by every stage's ``test_hostile.py``: the hostile values, an argv spy and the checks each run must
pass (no traceback, nothing run, no option from a value, no leaked credential, no workflow command)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SECRET = "PWNEDSECRET0123456789"
HOSTILE = {
    "newline": "svc\nPWNED=1",
    "control characters": "svc\x1b[2J\x07\x00PWNED",
    "leading dash": "--upload-pack=touch PWNED;",
    "dash, no space": "--upload-pack=touch${IFS}PWNED",
    "workflow command": "::warning::PWNED",
    "stop-commands after a newline": "x\n::stop-commands::PWNED\n::error::PWNED",
    "slack and yaml markup": "<!channel> *PWNED* `x` {{ secrets.X }} key: [a, b] ${{ github.token }}",
    "embedded credentials": f"https://x-token:{SECRET}@bitbucket.org/ws/PWNED.git",
    "scp-like with password": f"git:{SECRET}@bitbucket.org:ws/PWNED.git",
}
ALLOWED_COMMANDS = ("::error", "::warning", "::notice", "::debug", "::group::", "::endgroup::", "::add-mask::")


@pytest.fixture
def argv(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every argv a child process is started with, while the stage runs."""
    seen: list[list[str]] = []
    original = subprocess.Popen.__init__

    def spy(self: subprocess.Popen[Any], args: Any, *rest: Any, **kw: Any) -> None:
        seen.append([str(a) for a in args] if isinstance(args, (list, tuple)) else [str(args)])
        original(self, args, *rest, **kw)

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    yield seen


def check_run(where: str, ok: bool, output: str, files: list[str], argv: list[list[str]], scratch: Path,
              named: Path | None = None) -> None:
    """The checks every hostile run must pass; ``output`` is the log of a run with GITHUB_ACTIONS=true,
    ``files`` the outputs and summary it wrote, ``named`` a file the input itself names (may be written)."""
    assert "Traceback" not in output and "internal error" not in output, where
    ran = [p for p in scratch.rglob("PWNED*") if named is None or not (p == named or named.is_relative_to(p))]
    assert not ran and not Path("PWNED").exists(), where  # no injected command ran
    for args in argv:
        for i, arg in enumerate(args):
            assert SECRET not in arg, (args, where)
            if "PWNED" in arg and args[:1] == ["git"]:
                assert "--end-of-options" in args[:i] and not arg.startswith("-"), (args, where)
            assert not (arg.startswith("-") and "PWNED" in arg), (args, where)
    logged = "\n".join(ln for ln in output.splitlines() if not ln.startswith("::add-mask::"))
    for text in (logged, *files):  # ::add-mask:: is how a runner learns what to hide
        assert SECRET not in text, where
    for line in output.splitlines():
        assert not line.startswith("::") or line.startswith(ALLOWED_COMMANDS), where
        assert not line.startswith(("::warning::PWNED", "::error::PWNED")), where
    if not ok:
        errors = [ln for ln in output.splitlines() if ln.startswith("::error")]
        assert len(errors) == 1 and "Fix:" in errors[0], where
