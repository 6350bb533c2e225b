"""Pull-request mode against the GitHub REST double (PyGithub) and the real git server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.gitops import github_pr
from tests.doubles.github import GitHubDouble
from tests.gitops.conftest import ConfigRepo, push_inputs, run_gitops

D = "sha256:" + "d" * 64


@pytest.fixture
def github(config_repo: ConfigRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubDouble]:
    monkeypatch.setattr(github_pr, "THROTTLE", (0.0, 0.0))  # PyGithub's write spacing: 1 s per write
    double = GitHubDouble()
    double.start()
    double.add_repo("acme/config", git_dir=config_repo.path, collaborators=("alice", "bob"))
    double.add_token(login="shipyard-bot", token=config_repo.token)
    double.token_sink = lambda token: config_repo.server.add_token(token)
    yield double
    double.stop()


def pr_inputs(repo: ConfigRepo, github: GitHubDouble, **extra: str) -> dict[str, str]:
    inputs = push_inputs(repo, mode="pull-request", environment="prd", github_api_url=github.url,
                         github_repository="acme/config", paths="apps/orders/overlays/stg/kustomization.yaml",
                         pr_labels="deploy, prd", pr_reviewers="alice", auto_merge="true")
    inputs.update({k.replace("_", "-"): v for k, v in extra.items()})
    return inputs


def test_pull_request_opened_with_labels_reviewers_and_auto_merge(config_repo: ConfigRepo,
                                                                  github: GitHubDouble) -> None:
    main = config_repo.tip()
    result = run_gitops(pr_inputs(config_repo, github, tag="v2.0.0@" + D))
    assert result.code == 0, result.log
    assert config_repo.tip() == main  # the base branch is untouched
    branch = "shipyard/orders-prd"
    assert result.outputs["pr-url"] == "https://github.example/acme/config/pull/1"
    assert result.outputs["changed"] == "true"
    assert result.outputs["commit"] == config_repo.tip(branch)
    assert config_repo.tip(f"{branch}~1") == main
    assert 'newTag: "v2.0.0"' in config_repo.show("apps/orders/overlays/stg/kustomization.yaml", branch)
    pr = github.repos["acme/config"].pulls[0]
    assert pr["head"] == branch and pr["base"] == "main"
    assert pr["labels"] == ["deploy", "prd"] and pr["reviewers"] == ["alice"]
    assert pr["auto_merge"] == {"merge_method": "squash"}
    assert '+    newTag: "v2.0.0"' in pr["body"] and "```diff" in pr["body"]
    assert pr["title"] == "deploy(orders/prd): orders:v2.0.0@" + D
    auths = {c.headers.get("authorization") for c in github.calls()}
    assert auths == {f"token {config_repo.token}"} or auths == {f"Bearer {config_repo.token}"}


def test_open_pr_is_reused_and_same_change_is_idempotent(config_repo: ConfigRepo, github: GitHubDouble) -> None:
    assert run_gitops(pr_inputs(config_repo, github, tag="v2")).code == 0
    second = run_gitops(pr_inputs(config_repo, github, tag="v3"))
    assert second.code == 0, second.log
    pulls = github.repos["acme/config"].pulls
    assert len(pulls) == 1 and second.outputs["pr-url"].endswith("/pull/1")
    assert 'newTag: "v3"' in config_repo.show("apps/orders/overlays/stg/kustomization.yaml", "shipyard/orders-prd")
    assert "v3" in pulls[0]["title"]
    head = config_repo.tip("shipyard/orders-prd")
    third = run_gitops(pr_inputs(config_repo, github, tag="v3"))
    assert third.code == 0, third.log
    assert third.outputs["status"] == "pr-up-to-date" and third.outputs["changed"] == "false"
    assert config_repo.tip("shipyard/orders-prd") == head
    assert len(github.calls("POST", r"/repos/acme/config/pulls")) == 1


def test_secondary_rate_limit_is_retried(config_repo: ConfigRepo, github: GitHubDouble) -> None:
    github.inject("status", 403, match=r"POST /repos/acme/config/pulls$", headers={"retry-after": "0"})
    result = run_gitops(pr_inputs(config_repo, github))
    assert result.code == 0, result.log
    assert "secondary rate limit" in result.log
    posts = github.calls("POST", r"/repos/acme/config/pulls")
    assert [c.status for c in posts] == [403, 201]
    assert posts[1].response and "x-ratelimit-remaining" not in str(posts[1].response)


def test_bad_reviewer_and_bad_token_are_clear_errors(config_repo: ConfigRepo, github: GitHubDouble) -> None:
    bad = run_gitops(pr_inputs(config_repo, github, pr_reviewers="mallory"))
    assert bad.code == 1
    assert "Reviews may only be requested from collaborators" in bad.log
    github.tokens.clear()
    denied = run_gitops(pr_inputs(config_repo, github, tag="v7"))
    assert denied.code == 1
    assert "GitHub refused the token" in denied.log and "Bad credentials" in denied.log


def test_github_app_installation_token(config_repo: ConfigRepo, github: GitHubDouble) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    github.add_app("4242", public, "acme/config")
    inputs = pr_inputs(config_repo, github, app_id="4242", app_private_key=pem)
    inputs["token"] = ""
    result = run_gitops(inputs)
    assert result.code == 0, result.log
    minted = [t for t in github.tokens if t.startswith("ghs_")]
    assert len(minted) == 1
    assert minted[0] not in result.log and "PRIVATE KEY" not in result.log
    assert github.calls("POST", r"/app/installations/\d+/access_tokens")[0].status == 201
    assert result.outputs["pr-url"].endswith("/pull/1")
