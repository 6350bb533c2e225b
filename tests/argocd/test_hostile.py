"""Every string input of argocd-wait fed hostile values (newlines, control characters, a leading ``-``, workflow
commands, YAML markup, embedded credentials): each is refused with one clear error or changes nothing it should
not; none reaches git's command line as an option, none leaks a credential, none starts a workflow command."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.argocd.conftest import ConfigRepo, run_argocd_wait
from tests.doubles.argocd import ArgoCDDouble, frame, ts

SECRET = "hunter2-SECRET-value"
HOSTILE = [
    "api-dev\nprd",
    "x\x07y\x1b[31m",
    "--upload-pack=touch /tmp/shipyard-pwned",
    "::warning::owned",
    "{a: b}\n- c: [d",
    f"https://x-access-token:{SECRET}@example.invalid/acme/config.git",
]
# (refresh/timeout are read by the runtime's choice()/number(), which quote a refused value as it came)
INPUTS = ["argocd-server", "applications", "project", "revision", "config-repo", "config-repo-path",
          "argocd-username"]


@pytest.fixture
def argv(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    seen: list[list[str]] = []
    real_run = subprocess.run

    def run(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append([str(c) for c in cmd])
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    return seen


@pytest.mark.parametrize("name", INPUTS)
def test_hostile_values(name: str, argocd: ArgoCDDouble, token: str, config_repo: ConfigRepo,
                        argv: list[list[str]], tmp_path: Path) -> None:
    argocd.add_app("api-dev", [frame(config_repo.ours, reconciled=ts(0))])
    for value in HOSTILE:
        argv.clear()
        before = len(argocd.calls())
        inputs = {"argocd-server": argocd.url, "argocd-token": token, "applications": "api-dev",
                  "revision": config_repo.ours, "refresh": "none", "timeout": "1",
                  "config-repo-path": str(config_repo.path), name: value}
        result = run_argocd_wait(inputs)
        shown = repr(value)
        assert "Traceback" not in result.out and "internal error" not in result.out, (shown, result.out)
        assert SECRET not in result.out and SECRET not in str(result.outputs), shown
        assert not any(line.startswith("::") for line in result.out.splitlines()), (shown, result.out)
        assert not Path("/tmp/shipyard-pwned").exists()
        for cmd in argv:
            end = cmd.index("--end-of-options") if "--end-of-options" in cmd else len(cmd)
            assert not any(value.strip() in arg for arg in cmd[:end] if arg.startswith("-")), (shown, cmd)
        if result.code != 0:
            assert len(result.errors) == 1, (shown, result.out)
        # nothing but GETs of applications named in `applications` (a newline separates two names there)
        named = {f"/api/v1/applications/{n.strip()}" for n in inputs["applications"].splitlines()}
        assert all(c.method == "GET" and c.path in named for c in argocd.calls()[before:]), shown
