"""Hostile inputs for postman-publish: every string input is fed every value of the shared hostile table.

For each (input, value) the stage, run as on a runner (``GITHUB_ACTIONS=true``, output and summary files),
must end without a traceback, with success or one ``::error::`` naming the fix; change nothing it should not
(no collection other than the service's or the one the value names, no file outside the repository, no
injected command run); pass no value to a program as an option; leak no embedded credential; and never let a
value start a workflow command line. ``generate-command`` and ``python`` are commands by design (they run what
they say, like a `run:` step) and are fed only the values that must not reach a log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles.postman import PostmanDouble
from tests.mirror.hostile import HOSTILE, SECRET, argv, check_run
from tests.postman.conftest import SPECS, Service

__all__ = ["argv"]  # the fixture

STRING_INPUTS = [
    "api-key", "workspace", "collection-name", "collection-uid", "config-file", "working-directory", "spec-path",
    "fastapi-app", "generate-env", "generate-timeout", "base-url", "fail-on-breaking", "force", "async-threshold",
    "task-timeout", "api-url", "web-url", "collection-file", "mode", "spec-id", "dry-run", "timeout",
]
COMMANDS = ["generate-command", "python"]


def _names(double: PostmanDouble) -> set[str]:
    return {str(c.data.get("info", {}).get("name")) for c in double.collections.values()}


@pytest.mark.parametrize("name", STRING_INPUTS + COMMANDS)
def test_hostile_values_change_nothing_and_leak_nothing(service: Service, tmp_path: Path, name: str,
                                                        argv: list[list[str]]) -> None:
    service.write_spec(SPECS / "orders-3.0.yaml")
    first = service.publish()
    assert first.code == 0, first.out
    allowed = _names(service.double)
    outside = set(tmp_path.parent.iterdir())
    values = HOSTILE if name not in COMMANDS else {k: v for k, v in HOSTILE.items() if SECRET in v}
    for label, value in values.items():
        argv.clear()
        out_file = tmp_path / f"out-{abs(hash((name, value)))}"
        summary = tmp_path / f"summary-{abs(hash((name, value)))}"
        extra = {"fastapi-app": "app.main:app"} if name == "python" else {}
        run = service.publish(env_extra={"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out_file),
                                         "GITHUB_STEP_SUMMARY": str(summary)},
                              **{"timeout": "20", **extra, name.replace("-", "_"): value})
        files = [p.read_text() for p in (out_file, summary) if p.exists()]
        where = f"{name} = {label}: {run.out}"
        named = (service.root / value.strip()).resolve() if name == "collection-file" and run.code == 0 else None
        check_run(where, run.code == 0, run.out, files, argv, tmp_path, named)
        if named is not None and named.is_file():
            named.unlink()  # the input's own output, inside the repository: fine; clear it for the next value
        if name == "collection-name" and run.code == 0:  # the input names the collection: that one may appear
            allowed.add(value)
        assert _names(service.double) <= allowed, where
        assert set(tmp_path.parent.iterdir()) == outside, where  # nothing written next to the repository

