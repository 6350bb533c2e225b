"""Bad input and refused credentials: one clear error naming the fix, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles.github_fleet import FleetGitHubDouble
from tests.fleet.conftest import ORG, app_key, run_fleet, small_org


def _applied(double: FleetGitHubDouble) -> list[str]:
    return [f"{e.method} {e.path}" for e in double.transcript if e.method != "GET" and e.status < 300
            and "/access_tokens" not in e.path]


def _one_error(out: str) -> str:
    errors = [line for line in out.splitlines() if line.startswith(("::error", "error: "))]
    assert len(errors) == 1, out
    return errors[0]


@pytest.mark.parametrize(("inputs", "needle"), [
    ({"organization": "acme\nevil"}, "Input 'organization' is not a GitHub organisation login"),
    ({"organization": "-acme"}, "Input 'organization' is not a GitHub organisation login"),
    ({"branch": "shipyard/../x"}, "Input 'branch' is not a valid branch name"),
    ({"closed-pr-days": "soon"}, "closed-pr-days"),
    ({"required-checks": "always"}, "required-checks"),
    ({"bypass-actors": "Admin:1"}, "Input 'bypass-actors' has an invalid entry 'Admin:1'"),
    ({"required-workflow": "acme/.github:ci.yml"}, "Input 'required-workflow' is not"),
    ({"token": "", "app-id": ""}, "No credential"),
    ({"app-id": "12x"}, "Input 'app-id' must be the App's numeric id"),
    ({"shipyard-repository": "shipyard"}, "Input 'shipyard-repository' is not OWNER/NAME"),
    ({"required-check": "ship\n/ x"}, "Input 'required-check' must be one line"),
])
def test_bad_inputs_fail_before_any_request(tmp_path: Path, github: FleetGitHubDouble, inputs: dict[str, str],
                                            needle: str) -> None:
    fleet = small_org(github)
    result = run_fleet({"token": fleet.token, **inputs}, api=github.url, state=tmp_path)
    assert result.code == 1
    assert needle in _one_error(result.out)
    assert github.transcript == []


def test_unknown_organisation(tmp_path: Path, github: FleetGitHubDouble) -> None:
    fleet = small_org(github)
    result = run_fleet({"token": fleet.token, "organization": "acme-typo"}, api=github.url, state=tmp_path)
    assert result.code == 1
    error = _one_error(result.out)
    assert "GitHub organisation 'acme-typo' was not found" in error and "`organization`" in error
    assert _applied(github) == []


def test_classic_token_without_workflow_scope_is_refused_up_front(tmp_path: Path, github: FleetGitHubDouble) -> None:
    small_org(github)
    token = github.add_classic_token(scopes="repo, read:org")
    result = run_fleet({"token": token}, api=github.url, state=tmp_path)
    assert result.code == 1
    error = _one_error(result.out)
    assert "lacks the `workflow` scope" in error and "GITHUB_TOKEN can never write workflow files" in error
    assert [e for e in github.transcript if e.method != "GET"] == []
    assert token not in result.out
    # a dry run needs no write scope
    assert run_fleet({"token": token, "dry-run": "true"}, api=github.url, state=tmp_path).code == 0


def test_fine_grained_token_refused_on_the_first_workflow_write(tmp_path: Path, github: FleetGitHubDouble) -> None:
    """A fine-grained token lists no scopes: GitHub's 404 on the tree is turned into the permission's name."""
    small_org(github)
    token = github.add_fine_grained_token(workflows=False)
    result = run_fleet({"token": token}, api=github.url, state=tmp_path)
    assert result.code == 1
    error = _one_error(result.out)
    assert "may not write workflow files" in error and "Workflows: Read and write" in error
    assert [f"{e.method} {e.status}" for e in github.transcript if e.method != "GET"] == [
        "POST 201", "POST 404", "DELETE 204"]  # the branch made first is gone again
    for repo in github.fleet.values():
        assert "heads/shipyard/fleet" not in repo.refs and not repo.pulls


def test_app_installation_token_opens_the_prs(tmp_path: Path, github: FleetGitHubDouble) -> None:
    small_org(github)
    pem = app_key(github)
    result = run_fleet({"app-id": "4242", "app-private-key": pem}, api=github.url, state=tmp_path)
    assert result.code == 0, result.out
    minted = [t for t in github.tokens if t.startswith("ghs_")]
    assert len(minted) == 1 and minted[0] not in result.out and "PRIVATE KEY" not in result.out
    assert [p["user"] for p in github.fleet[f"{ORG}/svc-new"].pulls] == ["app-4242[bot]"]


def test_app_without_workflows_permission_is_named(tmp_path: Path, github: FleetGitHubDouble) -> None:
    small_org(github)
    pem = app_key(github)
    github.default_app_permissions.pop("workflows")
    result = run_fleet({"app-id": "4242", "app-private-key": pem}, api=github.url, state=tmp_path)
    assert result.code == 1
    error = _one_error(result.out)
    assert "lacks `Workflows: write` (to change files under .github/workflows)" in error
    assert _applied(github) == []


def test_app_refused_by_github_on_the_ref_update(tmp_path: Path, github: FleetGitHubDouble) -> None:
    """The token says Workflows: write but the organisation has not accepted it yet: GitHub refuses the ref."""
    small_org(github)
    pem = app_key(github)
    github.unaccepted.add("workflows")
    result = run_fleet({"app-id": "4242", "app-private-key": pem}, api=github.url, state=tmp_path)
    assert result.code == 1
    error = _one_error(result.out)
    assert "refusing to allow a GitHub App to create or update workflow" in error
    assert "Workflows: Read and write" in error
    for repo in github.fleet.values():
        assert "heads/shipyard/fleet" not in repo.refs and not repo.pulls


def test_template_that_does_not_parse(tmp_path: Path, github: FleetGitHubDouble) -> None:
    fleet = small_org(github)
    bad = tmp_path / "templates"
    bad.mkdir()
    (bad / "shipyard-go.yml").write_text("name: ship\njobs:\n  ship: [unclosed\n", encoding="utf-8")
    result = run_fleet({"token": fleet.token, "templates": str(bad)}, api=github.url, state=tmp_path / "s")
    assert result.code == 1
    error = _one_error(result.out)
    assert "shipyard-go.yml does not parse (line 4" in error and "gen_workflows.py" in error
    assert github.transcript == []
    empty = tmp_path / "none"
    empty.mkdir()
    result = run_fleet({"token": fleet.token, "templates": str(empty)}, api=github.url, state=tmp_path / "s")
    assert "No Shipyard workflow templates" in _one_error(result.out)


def test_primary_rate_limit_waits_for_the_reset(tmp_path: Path, github: FleetGitHubDouble) -> None:
    from tests.fleet.conftest import NOW

    fleet = small_org(github)
    github.inject("status", 403, match=r"GET /orgs/acme/repos", headers={
        "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW + 42))},
        body={"message": "API rate limit exceeded for user ID 1.", "status": "403"})
    result = run_fleet({"token": fleet.token, "dry-run": "true"}, api=github.url, state=tmp_path)
    assert result.code == 0, result.out
    assert result.slept == [42.0]
    github.inject("status", 403, match=r"GET /orgs/acme/repos", headers={
        "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW + 4000))},
        body={"message": "API rate limit exceeded for user ID 1.", "status": "403"})
    result = run_fleet({"token": fleet.token, "dry-run": "true"}, api=github.url, state=tmp_path)
    assert result.code == 1
    assert "rate limit is spent" in _one_error(result.out)


def test_resource_not_accessible_by_integration_leaves_no_branch(tmp_path: Path, github: FleetGitHubDouble) -> None:
    small_org(github)
    pem = app_key(github)
    github.unaccepted.add("pull_requests")  # reported on the token, refused by GitHub
    result = run_fleet({"app-id": "4242", "app-private-key": pem}, api=github.url, state=tmp_path)
    assert result.code == 1
    error = _one_error(result.out)
    assert "Resource not accessible by integration" in error and "Pull requests: Read and write" in error
    assert [f"{e.method} {e.path.rsplit('/', 2)[-2:]} {e.status}" for e in github.transcript if e.method != "GET"
            and "access_tokens" not in e.path][-1].startswith("DELETE")
    for repo in github.fleet.values():
        assert "heads/shipyard/fleet" not in repo.refs and not repo.pulls


def test_truncated_tree_is_reported_and_left_alone(tmp_path: Path, github: FleetGitHubDouble) -> None:
    from tests.fleet.conftest import ROOT_FILES

    fleet = small_org(github)
    github.add_fleet_repo(ORG, "monorepo", {**ROOT_FILES["go"], "a.txt": "a\n", "b.txt": "b\n"}, truncated_tree=True)
    result = run_fleet({"token": fleet.token}, api=github.url, state=tmp_path)
    assert result.code == 0, result.out
    assert "acme/monorepo" in result.out and "too large for one listing" in result.out
    assert not github.fleet[f"{ORG}/monorepo"].pulls
    assert github.fleet[f"{ORG}/svc-new"].pulls  # the others went on


def test_bad_token_and_unknown_shipyard_repository(tmp_path: Path, github: FleetGitHubDouble) -> None:
    fleet = small_org(github)
    result = run_fleet({"token": "ghp_" + "0" * 36}, api=github.url, state=tmp_path)
    assert result.code == 1
    assert "GitHub refused the credential (Bad credentials)" in _one_error(result.out)
    result = run_fleet({"token": fleet.token, "shipyard-repository": "acme/nope"}, api=github.url, state=tmp_path)
    assert result.code == 1
    assert "Cannot read the tags of 'acme/nope'" in _one_error(result.out)
    assert _applied(github) == []


def test_a_repository_github_does_not_answer_is_reported_and_the_run_goes_on(tmp_path: Path,
                                                                            github: FleetGitHubDouble) -> None:
    fleet = small_org(github)
    github.inject("status", 502, match=r"GET /repos/acme/svc-ok/branches/main", count=20)
    github.inject("status", 503, match=r"POST /repos/acme/svc-old/git/trees", count=20)
    result = run_fleet({"token": fleet.token}, api=github.url, state=tmp_path)
    assert result.code == 0, result.out
    assert "error: GET /repos/acme/svc-ok/branches/main: HTTP 502" in result.summary
    assert github.fleet[f"{ORG}/svc-new"].pulls  # the others went on
    assert not github.fleet[f"{ORG}/svc-old"].pulls and "heads/shipyard/fleet" not in github.fleet[f"{ORG}/svc-old"].refs
