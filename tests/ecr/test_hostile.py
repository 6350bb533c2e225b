"""Hostile values in every string input of ecr-push.

Each input (read from actions/ecr-push/action.yml, so a new one is covered without editing this file) gets
newlines, control characters, a leading ``-``, a ``::`` workflow command, ``,``/``=`` option injection and an
embedded credential, while the other inputs keep working values (moto + the test registry, static keys). The
stage either refuses the value (exit 1, exactly one ``error:`` line with a ``Fix:``) or takes it as data; in
no case a traceback, a line the runner would take as a workflow command, the credential in the output, a
skopeo argument that is an option the stage did not write, or an ECR repository other than ``team/svc``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ecr.conftest import Stage

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "hunter2TOKEN9f8e7d"  # a value the output must never show
HOSTILE = [
    "v1\nINJECTED=1",
    "v1\r\n::warning::injected",
    "v1\x1b[31m\x07",  # (a NUL cannot reach a process: not in an environment variable, nor in argv)
    "--insecure-policy",
    "::error::injected",
    "a,b=c",
    f"https://user:{TOKEN}@example.com/x",
]
SECRETS = {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"}
INPUTS = sorted(name for name in yaml.safe_load((ROOT / "actions/ecr-push/action.yml").read_text())["inputs"]
                if name not in SECRETS)
SKOPEO_OPTIONS = {"copy", "--quiet", "--all", "--dest-compress", "--preserve-digests", "--retry-times",
                  "--digestfile", "--authfile", "--dest-tls-verify", "--src-tls-verify", "--format"}


@pytest.mark.parametrize("name", INPUTS)
def test_hostile_value_is_refused_or_inert(image_stage: Stage, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    st = image_stage
    argv: list[list[str]] = []
    real_run = subprocess.run

    def watch(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        argv.append([str(c) for c in cmd])
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr("shipyard.ecr.push.subprocess.run", watch)
    for value in HOSTILE:
        argv.clear()
        inputs = {"tags": "v1", "source_image": st.images.first if st.images else "", "scan": "false",
                  name.replace("-", "_"): value}
        r = st.run(**inputs)
        where = f"{name}={value!r}"
        assert "Traceback" not in r.output and "internal error" not in r.output, (where, r.output)
        assert TOKEN not in r.output and all(TOKEN not in str(v) for v in r.outputs.values()), (where, r.output)
        for line in r.output.splitlines():
            assert not line.strip().startswith("::") and "##[" not in line, (where, line)
        if r.code:
            errors = [line for line in r.output.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and "Fix:" in errors[0], (where, r.output)
        for cmd in argv:  # skopeo: only the stage's own options; the image references are transports, not options
            operands = [c for c in cmd[1:] if c.startswith("-") and c.split("=", 1)[0] not in SKOPEO_OPTIONS]
            assert not operands, (where, cmd)
    repos = {r["repositoryName"] for r in st.moto.client("ecr").describe_repositories()["repositories"]}
    assert repos <= {"team/svc"}, repos
