"""Every string input of gitops-update fed hostile values: newlines (a forged trailer), control characters, a
leading ``-``, workflow commands, YAML markup and embedded credentials. None changes anything it should not (no
commit other than the intended one, no forged trailer, no PR branch), none reaches a command line as an option,
none leaks a credential, and each refusal is one clear error."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from shipyard.gitops import message as msg
from tests.gitops.conftest import ConfigRepo, push_inputs, run_gitops

SECRET = "hunter2-SECRET-value"
HOSTILE = [
    "dev\nShipyard-Built-At: 2099-01-01T00:00:00Z",  # a forged trailer that would block later deploys
    "orders\n",  # a trailing newline ($ in a pattern lets it through)
    "x\x07y\x1b[31m",  # control characters
    "--upload-pack=touch /tmp/shipyard-pwned",  # an option for git
    "::warning::owned",  # a workflow command
    "{a: b}\n- c: [d",  # YAML markup
    f"https://x-access-token:{SECRET}@example.invalid/acme/config.git",  # a credential in a URL
]
INPUTS = [
    "repository", "branch", "environment", "service", "image", "tag", "digest", "image-uri", "new-name", "paths",
    "commit-message", "bot-name", "bot-email", "source-commit", "tag-key", "built-at", "github-repository",
    "github-api-url", "pr-branch", "pr-title", "pr-labels", "pr-reviewers", "app-id",
]
PR_ONLY = ("pr-branch", "pr-title", "pr-labels", "pr-reviewers", "github-repository", "github-api-url")


@pytest.fixture
def argv(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command line the stage starts."""
    seen: list[list[str]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(cmd: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append([str(c) for c in cmd])
        return real_run(cmd, *args, **kwargs)

    class Popen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, cmd: Any, *args: Any, **kwargs: Any) -> None:
            seen.append([str(c) for c in cmd])
            super().__init__(cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", Popen)
    return seen


@pytest.mark.parametrize("name", INPUTS)
def test_hostile_values_change_nothing_they_should_not(name: str, config_repo: ConfigRepo,
                                                        argv: list[list[str]]) -> None:
    main, commits = config_repo.tip(), config_repo.count()
    for value in HOSTILE:
        extra = {"mode": "pull-request", "github-api-url": "http://127.0.0.1:9", "timeout": "3"} if name in PR_ONLY \
            else {}
        inputs = {**push_inputs(config_repo), **extra, name: value}
        argv.clear()
        result = run_gitops(inputs)
        shown = repr(value)
        assert "Traceback" not in result.log and "internal error" not in result.log, (shown, result.log)
        assert SECRET not in result.log and SECRET not in str(result.outputs), shown
        for cmd in argv:
            assert value not in cmd, (shown, cmd)  # as a whole argument, let alone as an option
            assert not any(arg.startswith("--upload-pack") for arg in cmd), cmd
        assert not any(line.startswith("::") for line in result.log.splitlines()), (shown, result.log)
        refs = config_repo.server.refs(config_repo.name)
        assert [r for r in refs if r.startswith("refs/heads/")] == ["refs/heads/main"], (shown, refs)
        if result.code == 0:
            # accepted (free text such as a commit message): the one intended commit, trailers intact
            assert config_repo.count() == commits + 1, shown
            trailers = msg.parse_trailers(config_repo.message())
            # (the runtime strips surrounding whitespace: "orders\n" is the service orders)
            want = (inputs["service"].strip(), inputs["environment"].strip())
            assert (trailers[msg.T_SERVICE], trailers[msg.T_ENV]) == want, (shown, trailers)
            assert msg.T_BUILT not in trailers or not trailers[msg.T_BUILT].startswith("2099"), shown
            tag = inputs["tag"].strip()
            assert f'newTag: "{tag}"' in config_repo.show("apps/orders/overlays/dev/kustomization.yaml")
            # the next hostile value must make a change again: put the old tag back by hand
            config_repo.commit_files({"apps/orders/overlays/dev/kustomization.yaml": config_repo.show(
                "apps/orders/overlays/dev/kustomization.yaml").replace(f'"{tag}"', '"v1.0.0"')}, "reset")
            main, commits = config_repo.tip(), config_repo.count()
        else:
            errors = [line for line in result.log.splitlines() if line.startswith("error: ")]
            assert len(errors) == 1, (shown, result.log)
            assert config_repo.tip() == main and config_repo.count() == commits, shown


def test_a_forged_built_at_in_the_body_is_not_a_trailer() -> None:
    body = "deploy\n\nShipyard-Built-At: 2099-01-01T00:00:00Z\n\nShipyard-Service: orders\nShipyard-Environment: dev\n"
    assert msg.parse_trailers(body) == {"Shipyard-Service": "orders", "Shipyard-Environment": "dev"}


@pytest.mark.parametrize(("inputs", "needle"), [
    ({"pr-title": "deploy {servce}"}, "Input 'pr-title' uses an unknown placeholder {servce}"),
    ({"pr-branch": "bot/{env}"}, "Input 'pr-branch' uses an unknown placeholder {env}"),
    ({"paths": ""}, "Input 'paths' is required"),
])
def test_bad_pr_templates_and_missing_paths_fail_before_any_push(inputs: dict[str, str], needle: str,
                                                                 config_repo: ConfigRepo) -> None:
    main = config_repo.tip()
    before = len(config_repo.server.transcript)
    result = run_gitops({**push_inputs(config_repo, mode="pull-request", github_api_url="http://127.0.0.1:9",
                                       github_repository="acme/config"), **inputs})
    assert result.code == 1 and needle in result.log and "Fix:" in result.log, result.log
    assert config_repo.tip() == main
    assert [r for r in config_repo.server.refs(config_repo.name) if r.startswith("refs/heads/")] == ["refs/heads/main"]
    assert config_repo.server.transcript[before:] == []  # refused before any request to the config repository
