"""Hostile inputs for bitbucket-mirror: every string input is fed every value of :data:`HOSTILE`.

For each (input, value) the stage, run as on a runner (``GITHUB_ACTIONS=true``, output and summary files),
must: end without a traceback; change nothing it should not (no file written by an injected command, no
repository other than the one asked for, the source untouched, the target either untouched or an exact
mirror); never pass the value to a program as an option (every child's argv is recorded); never print the
embedded credential (log, outputs, summary, argv); and never let the value start a workflow command line.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from shipyard.git import GitAuth
from shipyard.mirror.bitbucket import slugify
from shipyard.mirror.transport import Endpoint, Git
from shipyard.runtime import UserError
from shipyard.urls import GIT, check_url
from tests.mirror.conftest import Result, World
from tests.mirror.hostile import HOSTILE, argv, check_run

__all__ = ["argv"]  # the fixture

STRING_INPUTS = [
    "workspace", "repository", "project", "platform", "server-url", "auth", "token", "username",
    "ssh-private-key", "ssh-known-hosts", "create", "private", "fork-policy", "description", "prune",
    "keep-deleted", "lfs", "path", "source-remote", "source-url", "source-token", "api-url", "git-url",
    "source-lfs-url", "target-lfs-url", "dry-run", "timeout",
]


def _run(w: World, checkout: Path, name: str, value: str) -> tuple[Result, str]:
    out_file = w.tmp / f"out-{abs(hash((name, value)))}"
    inputs = {"timeout": "20", name.replace("-", "_"): value}
    res = w.mirror(checkout, env_extra={"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out_file)}, **inputs)
    return res, out_file.read_text() if out_file.exists() else ""


@pytest.fixture
def small(world: World) -> World:
    """A source with one commit on main (enough for every path through the stage)."""
    world.commit("one")
    world.publish()
    return world


@pytest.mark.parametrize("name", STRING_INPUTS)
def test_hostile_values_change_nothing_and_leak_nothing(small: World, name: str, argv: list[list[str]]) -> None:
    w = small
    source = w.source_refs()
    checkout = w.checkout()
    asked = {f"{w.ws}/service"}
    for label, value in HOSTILE.items():
        argv.clear()
        res, outputs = _run(w, checkout, name, value)
        where = f"{name} = {label}: {res.output}"
        check_run(where, res.ok, res.output, [outputs, res.summary], argv, w.tmp)
        # changes nothing it should not: the source untouched, no other repository, targets empty or exact
        assert w.source_refs() == source, where
        if name == "repository":  # the input names the repository: creating that one is what it is for
            asked.add(f"{w.ws}/{slugify(value)}")
        assert set(w.bb.repos) <= asked, where
        for full in w.bb.repos:
            assert w.git_server.refs(w.bb.repo_name(full)) in ({}, source), where


@pytest.mark.parametrize("name", ["source-url", "git-url"])
def test_upload_pack_option_in_a_url_runs_nothing(seeded: World, name: str, argv: list[list[str]]) -> None:
    """The reported exploit: ``--source-url=--upload-pack='touch pwned;'`` (same with ``--git-url``)."""
    w = seeded
    checkout = w.checkout()
    res = w.mirror(checkout, **{name.replace("-", "_"): "--upload-pack=touch pwned;"})
    assert not res.ok
    assert f"Input '{name}' starts with '-'" in res.output and "Fix:" in res.output
    assert not (checkout / "pwned").exists() and not list(w.tmp.rglob("pwned"))
    assert not [a for a in argv if any(x.startswith("--upload-pack") for x in a)]
    assert not w.bb.calls("POST")  # nothing created


def test_end_of_options_guards_git_even_without_the_input_check(tmp_path: Path) -> None:
    """Defence in depth: a URL that slipped past validation is still a URL to git, never an option."""
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "r.git")], check=True)
    git = Git(str(tmp_path / "r.git"), Endpoint("source", "--upload-pack=touch pwned;"),
              Endpoint("target", "--upload-pack=touch pwned2;", GitAuth()))
    with pytest.raises(Exception):  # noqa: B017 - any failure is fine: it must not run the command
        git.ls_remote(git.source)
    git.push(["refs/heads/main:refs/heads/main"], atomic=True)
    assert not list(tmp_path.rglob("pwned*"))


@pytest.mark.parametrize("value", [
    "--upload-pack=x", "-x", "ext::sh -c x", "ext::sh", "fd::3", "file:///etc/passwd", "/etc/passwd",
    "https://user:TOKEN@host/x", "https://TOKEN@host/x", "ssh://git:pw@host/x", "git:pw@host:x",
    "https://host/x\nnext", "https://host/x\r", "https://host/\x00", "https://host/ x", "git@host:-x",
    "https://", "https://host:99999/", "javascript:alert(1)", "",
])
def test_check_url_refuses(value: str) -> None:
    with pytest.raises(UserError) as info:
        check_url("source-url", value, GIT)
    assert info.value.input_name == "source-url" and info.value.fix
    assert "TOKEN" not in str(info.value) and "pw@" not in str(info.value)
    assert "\n" not in str(info.value) and "\r" not in str(info.value)


@pytest.mark.parametrize("value", [
    "https://bitbucket.org/ws/repo.git", "http://127.0.0.1:8080/scm/P/r.git", "ssh://git@host:7999/p/r.git",
    "git@bitbucket.org:ws/repo.git", "https://[::1]:8443/x.git",
])
def test_check_url_accepts(value: str) -> None:
    assert check_url("source-url", value, GIT) == value


def test_unknown_placeholder_in_git_url_names_the_allowed_ones(seeded: World) -> None:
    for template, shown in [("https://h/{repo}.git", "{repo}"), ("https://h/{slug.__class__}.git", "{slug.__class__}"),
                            ("https://h/{0}.git", "{0}"), ("https://h/{slug!r}.git", "{slug!r}")]:
        res = seeded.mirror(git_url=template)
        assert not res.ok and "Traceback" not in res.output, res.output
        assert f"unknown placeholder '{shown}'" in res.output and "{workspace}, {project}, {slug}" in res.output
    res = seeded.mirror(git_url="https://h/{slug.git")
    assert not res.ok and "not a valid template" in res.output and "Fix:" in res.output
    assert not seeded.bb.calls("POST")


def test_unreadable_source_creates_nothing(seeded: World) -> None:
    w = seeded
    res = w.mirror(source_token="wrong-token-123456")
    assert not res.ok and "Fix:" in res.output and "Traceback" not in res.output, res.output
    assert not w.bb.calls("POST") and not w.git_server.repo_path(w.target).exists()


def test_cli_form_from_the_report(seeded: World, tmp_path: Path) -> None:
    """``shipyard bitbucket-mirror --source-url=--upload-pack='touch pwned;' ...`` through the real CLI."""
    import sys

    w = seeded
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_", "GIT_"))}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = str(root / "src")
    args = [sys.executable, "-m", "shipyard", "bitbucket-mirror", "--source-url=--upload-pack=touch pwned;",
            "--workspace", w.ws, "--repository", "service", "--token", w.token, "--username", w.email, "--api-url", w.bb.url,
            "--path", str(tmp_path)]
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "source-url" in proc.stdout and "Fix:" in proc.stdout
    assert not (tmp_path / "pwned").exists()
