"""Fixtures for the postman-publish tests: a fresh Postman double per test and a helper that runs the stage
in-process against it (the act test runs the real action.yml)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shipyard.postman import stage
from shipyard.runtime import Action, run_stage
from tests.doubles.postman import PostmanDouble

SPECS = Path(__file__).parent / "specs"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python-service"
EDITOR_KEY = "PMAK-editor-0123456789abcdef"
VIEWER_KEY = "PMAK-viewer-0123456789abcdef"
WORKSPACE = "1f0df51a-8658-4ee8-a2a1-d2567dfa09a9"


@pytest.fixture
def postman() -> Iterator[PostmanDouble]:
    double = PostmanDouble()
    double.add_key(EDITOR_KEY, role="editor", username="ci-bot")
    double.add_key(VIEWER_KEY, role="viewer", username="reader")
    double.add_workspace(WORKSPACE, "Service APIs")
    with double:
        yield double


@dataclass
class Run:
    code: int
    out: str
    outputs: dict[str, str]
    sleeps: list[float] = field(default_factory=list)


@dataclass
class Service:
    """A service checkout in a temp dir, published by ``publish(**inputs)``."""

    root: Path
    double: PostmanDouble
    defaults: dict[str, str]

    def write_spec(self, source: Path | str, name: str = "openapi.yaml") -> Path:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(source, Path):
            shutil.copy(source, target)
        else:
            target.write_text(source, encoding="utf-8")
        return target

    def publish(self, *, real_sleep: bool = False, virtual_clock: bool = False,
                env_extra: dict[str, str] | None = None, **inputs: Any) -> Run:
        """Run the stage; sleeps are recorded, not slept (``real_sleep`` sleeps). ``virtual_clock``: the
        action's clock also advances by every recorded sleep, as it would had they been slept."""
        env = {"GITHUB_WORKSPACE": str(self.root), "GITHUB_REPOSITORY": "acme/orders", "GITHUB_SHA": "a" * 40,
               "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(self.root)}
        import os

        env["PATH"] = os.environ.get("PATH", env["PATH"])
        merged = {**self.defaults, **{k.replace("_", "-"): v for k, v in inputs.items()}}
        for name, value in merged.items():
            if value is not None:
                env["INPUT_" + name.replace("-", "_").upper()] = str(value)
        env.update(env_extra or {})
        out = io.StringIO()
        sleeps: list[float] = []

        def fake_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        import time

        def clock() -> float:
            return time.monotonic() + (sum(sleeps) if virtual_clock else 0.0)

        action = Action(env, out, sleep=time.sleep if real_sleep else fake_sleep, clock=clock)
        code = run_stage(stage.run, action, name="postman-publish")
        return Run(code, out.getvalue(), dict(action.outputs), sleeps)


@pytest.fixture
def service(tmp_path: Path, postman: PostmanDouble) -> Service:
    root = tmp_path / "service"
    root.mkdir()
    return Service(root, postman, {"api-key": EDITOR_KEY, "workspace": WORKSPACE, "api-url": postman.url})
