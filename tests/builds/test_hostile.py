"""Hostile values in every string input of the build stage.

Each input gets newlines, control characters, a leading ``-``, ``::`` workflow commands, ``,``/``=`` option
injection into the builders' comma-separated options and embedded credentials. The stage either refuses the
value (exit 1, exactly one ``error:`` line with a ``Fix:``, nothing built) or takes it as plain data: the
builder's argv (captured, for buildx and buildah) holds no option the stage did not write itself, the
comma-separated options keep exactly their own keys, and no workflow command or credential reaches the output.
The runs are dry runs against a closed registry port, so nothing is built and nothing is pushed.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from shipyard.build import builders, stage
from shipyard.runtime import Action, env_name, run_stage
from tests.builds.conftest import make_repo

TOKEN = "hunter2TOKEN9f8e7d"
PIN = "@sha256:" + "a" * 64
HOSTILE = [
    "svc\nINJECTED=1",
    "svc\r\n::warning::injected",
    "svc\x00\x1b[31m",
    "--push=false",
    "-x",
    "::error::injected",
    "::stop-commands::tok",
    "svc,url=http://attacker.invalid/",
    "svc,type=local,dest=/tmp/x",
    "a=b,c=d",
    f"https://user:{TOKEN}@example.com/acme/shop",
    f"x:{TOKEN}@example.com",
]
# every string input, with the neutral value the others keep while one is hostile
BASE = {
    "context": ".", "language": "python", "build-mode": "container", "builder": "buildah", "cache": "registry",
    "base-images": f"build=127.0.0.1:1/base/python{PIN}\nruntime=127.0.0.1:1/base/python{PIN}",
    "service-name": "orders", "target": "", "tags": "extra", "labels": "team=shop", "build-args": "A=1",
    "platforms": "linux/amd64", "secret-envs": "", "source-url": "https://example.com/acme/shop",
    "dockerfile": "", "install-command": "", "build-command": "",
}
STRING_INPUTS = ["image", *BASE]
# the options each builder writes, and the keys of the comma-separated ones
CSV_KEYS = {"--cache-from": {"type", "ref", "scope"}, "--cache-to": {"type", "ref", "scope", "mode",
                                                                     "image-manifest", "oci-mediatypes"},
            "--secret": {"id", "env"}}
VALUE_OPTIONS = {"--file", "--tag", "--build-arg", "--label", "--target", "--platform", "--manifest",
                 "--cache-from", "--cache-to", "--ignorefile", "--secret", "--provenance", "--metadata-file",
                 "--progress", "--format"}


def _as_input(name: str, value: str) -> str:
    """Where an input is a KEY=VALUE list, the hostile value goes both into a key and into a value."""
    if name in ("labels", "build-args", "secret-envs"):
        return f"{value}=v\nK={value}" if name != "secret-envs" else f"{value}=HOME\nsid={value}"
    if name == "base-images":
        return f"runtime={value}"
    return value


def _run(repo: Path, inputs: dict[str, str], builder: str, captured: list[list[str]],
         monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, dict[str, str]]:
    real = builders.buildah_command if builder == "buildah" else builders.buildx_command

    def capture(spec: builders.BuildSpec) -> list[str]:
        cmd = real(spec)
        captured.append(cmd)
        return cmd

    monkeypatch.setattr(builders, f"{builder}_command", capture)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update({"GITHUB_WORKSPACE": str(repo), "GITHUB_SHA": "a" * 40, "GITHUB_REF": "refs/heads/main",
                "GITHUB_REPOSITORY": "acme/shop", "INPUT_DRY_RUN": "true", "HOME": str(repo.parent)})
    for name, value in inputs.items():
        if value:
            env[env_name(name)] = value
    out = io.StringIO()
    action = Action(env=env, out=out, sleep=lambda s: None)
    code = run_stage(stage.run, action, name="build")
    return code, out.getvalue(), dict(action.outputs)


def _check_argv(cmd: list[str]) -> None:
    assert cmd[-1].startswith("/"), cmd  # the context: an absolute path, never an option
    i = 3 if cmd[:3] == ["docker", "buildx", "build"] else 2
    while i < len(cmd) - 1:
        word = cmd[i]
        assert word.startswith("--"), (word, cmd)  # only options the stage wrote, each followed by its value
        option = word.split("=", 1)[0]
        if option in VALUE_OPTIONS and "=" not in word:
            value = cmd[i + 1]
            assert not any(c in value for c in "\n\r\x00\x1b"), (option, value)
            if option in ("--cache-from", "--cache-to") and cmd[0] == "buildah":  # a plain repository
                assert "," not in value and "=" not in value, (option, value)
            elif option in CSV_KEYS:
                keys = {part.split("=", 1)[0] for part in value.split(",")}
                assert keys <= CSV_KEYS[option], (option, value)
            i += 2
        else:
            i += 1


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("hostile") / "svc", "python-service")


@pytest.mark.parametrize("builder", ["buildah", "buildx"])
@pytest.mark.parametrize("name", STRING_INPUTS)
def test_hostile_value_is_refused_or_inert(repo: Path, name: str, builder: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for value in HOSTILE:
        inputs = {"image": "127.0.0.1:1/acme/orders", **BASE, "builder": builder,
                  "cache": "gha" if builder == "buildx" else "registry"}
        inputs[name] = _as_input(name, value)
        captured: list[list[str]] = []
        code, output, outputs = _run(repo, inputs, builder, captured, monkeypatch)
        where = f"{name}={value!r} ({builder})"
        assert "Traceback" not in output and "internal error" not in output, (where, output)
        assert TOKEN not in output and all(TOKEN not in v for v in outputs.values()), (where, output)
        for line in output.splitlines():  # no line the runner would take as a workflow command
            assert not line.strip().startswith("::") and "##[" not in line, (where, line)
        if code:
            errors = [line for line in output.splitlines() if line.startswith("error:")]
            assert len(errors) == 1 and "Fix:" in errors[0], (where, output)
            assert not captured, where  # refused before a builder command was made
            assert "\n" not in outputs.get("error", ""), where
        else:
            assert captured, (where, output)
            for cmd in captured:
                _check_argv(cmd)
