"""Ancestry: a real local git repo (descendant accepted, unrelated rejected), fetching a revision the clone lacks
from the real git smart-HTTP server with a token kept out of argv, and the GitHub compare API."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from shipyard.argocd.ancestry import ClonedAncestry, CompareAncestry, ExactAncestry, GitAncestry, same_commit
from shipyard.runtime import Action, UserError
from tests.argocd.conftest import GIT_ENV, ConfigRepo, git, run_argocd_wait
from tests.doubles.argocd import ArgoCDDouble, frame, ts
from tests.doubles.base import DoubleServer, Request, Response, json_response, route
from tests.stack.gitserver import GitServer, auth_env


def test_descendant_accepted_unrelated_rejected(config_repo: ConfigRepo) -> None:
    check = GitAncestry(config_repo.ours, str(config_repo.path))
    assert check(config_repo.ours) is True
    assert check(config_repo.later) is True
    assert check(config_repo.base) is False  # behind ours
    assert check(config_repo.unrelated) is False  # a sibling: does not contain ours
    assert check("main") is None  # not a commit id: cannot judge


def test_short_ids_and_exact() -> None:
    assert same_commit("abcdef1", "abcdef1234")
    assert not same_commit("abc", "abcdef1234")
    exact = ExactAncestry("a" * 40)
    assert exact("a" * 40) is True and exact("b" * 40) is False


def test_revision_missing_from_clone_is_an_input_error(config_repo: ConfigRepo) -> None:
    with pytest.raises(UserError) as info:
        GitAncestry("f" * 40, str(config_repo.path))
    assert info.value.input_name == "revision"


def _push_env(server: GitServer, token: str) -> dict[str, str]:
    import os

    return auth_env(token=token, base={**os.environ, **GIT_ENV})


def test_fetches_a_revision_the_clone_lacks_with_the_token_out_of_argv(git_server: GitServer,
                                                                        tmp_path: Path) -> None:
    name = f"config-{tmp_path.name}.git"
    git_server.create_repo(name)
    token = git_server.add_token(perm="write", label="ci")
    env = _push_env(git_server, token)
    work = tmp_path / "writer"
    subprocess.run(["git", "clone", "-q", git_server.url(name), str(work)], check=True, env=env)
    (work / "a.txt").write_text("ours")
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "ours"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True, env=env)
    ours = git(work, "rev-parse", "HEAD")
    # our clone (what gitops-update left behind) ...
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", git_server.url(name), str(clone)], check=True, env=env)
    # ... then another service pushes on top
    (work / "b.txt").write_text("other")
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "other service"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True, env=env)
    later = git(work, "rev-parse", "HEAD")

    without = GitAncestry(ours, str(clone))  # no token: the fetch is refused, so it cannot tell
    assert without(later) is None
    assert any("git fetch origin failed" in n for n in without.notes)

    git_server.clear_transcript()
    check = GitAncestry(ours, str(clone), token=token)
    assert check(later) is True
    assert git_server.transcript, "fetched from the server"
    assert check.auth is not None and check.auth.scope_url == git_server.base_url + "/"

    # a throw-away blob-less clone from the URL alone (no local checkout needed)
    cloned = ClonedAncestry(ours, git_server.url(name), token=token)
    try:
        assert cloned(later) is True and cloned(ours) is True
        assert not Path(cloned.tmp, "a.txt").exists()
    finally:
        cloned.close()
    assert not Path(cloned.tmp).exists()
    with pytest.raises(UserError, match="not in the config repo"):
        ClonedAncestry(ours, git_server.url(name), token="wrong")

    # end to end: the stage accepts ArgoCD at the later commit, and the token never shows up
    with ArgoCDDouble(refresh_delay=0.01) as argocd:
        assert isinstance(argocd, ArgoCDDouble)
        argocd.add_app("api-dev", [frame(later, reconciled=ts(0))])
        for where in ({"config-repo-path": str(clone)}, {"config-repo": git_server.url(name)}):
            result = run_argocd_wait({"argocd-server": argocd.url, "argocd-token": argocd.issue_token(),
                                      "applications": "api-dev", "revision": ours, "config-repo-token": token,
                                      **where})
            assert result.code == 0, result.out
            assert token not in result.out


class CompareDouble(DoubleServer):
    """GitHub's ``GET /repos/{owner}/{repo}/compare/{base}...{head}`` over a real local repo."""

    name = "github-compare"

    def __init__(self, repo: Path, token: str) -> None:
        super().__init__()
        self.repo = repo
        self.token = token

    def authenticate(self, req: Request) -> Response | None:
        if req.bearer() != self.token:
            return json_response({"message": "Bad credentials",
                                  "documentation_url": "https://docs.github.com/rest", "status": "401"}, 401)
        return None

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/compare/(?P<base>[^.]+)\.\.\.(?P<head>.+)")
    def compare(self, req: Request) -> Response:
        base, head = req.params["base"], req.params["head"]

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["git", "-C", str(self.repo), *args], capture_output=True, text=True)

        if run("cat-file", "-e", f"{base}^{{commit}}").returncode or run("cat-file", "-e", f"{head}^{{commit}}").returncode:
            return json_response({"message": "Not Found", "documentation_url": "https://docs.github.com/rest",
                                  "status": "404"}, 404)
        ahead = int(run("rev-list", "--count", f"{base}..{head}").stdout)
        behind = int(run("rev-list", "--count", f"{head}..{base}").stdout)
        status = ("identical" if not ahead and not behind else "ahead" if not behind
                  else "behind" if not ahead else "diverged")
        return json_response({"status": status, "ahead_by": ahead, "behind_by": behind, "total_commits": ahead,
                              "commits": [], "files": []})


def test_github_compare_api(config_repo: ConfigRepo) -> None:
    with CompareDouble(config_repo.path, "ghs_compare_token") as gh:
        assert isinstance(gh, CompareDouble)
        action = Action({}, out=io.StringIO())
        check = CompareAncestry(action, config_repo.ours, "acme/config", "ghs_compare_token", gh.url)
        assert check(config_repo.later) is True
        assert check(config_repo.base) is False
        assert check(config_repo.unrelated) is False
        assert check("e" * 40) is None and "404" in check.notes[-1]
        bad = CompareAncestry(action, config_repo.ours, "acme/config", "wrong", gh.url)
        with pytest.raises(UserError) as info:
            bad(config_repo.later)
        assert info.value.input_name == "config-repo-token"


def test_stage_uses_the_compare_api(config_repo: ConfigRepo, argocd: ArgoCDDouble, token: str) -> None:
    argocd.add_app("api-dev", [frame(config_repo.later, reconciled=ts(0))])
    with CompareDouble(config_repo.path, "ghs_compare_token") as gh:
        result = run_argocd_wait({"argocd-server": argocd.url, "argocd-token": token, "applications": "api-dev",
                                  "revision": config_repo.ours, "config-repo": "acme/config",
                                  "config-repo-token": "ghs_compare_token", "github-api-url": gh.url})
        assert result.code == 0, result.out
        assert "GitHub compare API on acme/config" in result.out
        assert json.loads(result.outputs["revisions"]) == {"api-dev": config_repo.later}
        [call] = gh.calls("GET")
        assert call.path.endswith(f"/compare/{config_repo.ours}...{config_repo.later}")


def test_shallow_clone_is_deepened_before_saying_no(config_repo: ConfigRepo, tmp_path: Path) -> None:
    # a depth-1 clone at `later`: its parent chain is cut, so merge-base alone would wrongly answer "no"
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{config_repo.path}", str(shallow)], check=True)
    assert git(shallow, "rev-parse", "--is-shallow-repository") == "true"
    check = GitAncestry(config_repo.ours, str(shallow))  # fetches ours (missing) first
    assert check(config_repo.later) is True
    assert check(config_repo.unrelated) is False


def test_compare_api_refusal_stops_every_app_at_once(config_repo: ConfigRepo, argocd: ArgoCDDouble,
                                                      token: str) -> None:
    argocd.add_app("api-eu1", [frame(config_repo.later, reconciled=ts(0))])
    argocd.add_app("api-us1", [frame(config_repo.base, health="Progressing")])
    with CompareDouble(config_repo.path, "right") as gh:
        result = run_argocd_wait({"argocd-server": argocd.url, "argocd-token": token,
                                  "applications": "api-eu1,api-us1", "revision": config_repo.ours,
                                  "config-repo": "acme/config", "config-repo-token": "wrong",
                                  "github-api-url": gh.url, "timeout": "20"})
    assert result.code == 1
    [error] = result.errors
    assert "GitHub refused the compare API for acme/config (401)" in error
    rows = {r["app"]: r["result"] for r in json.loads(result.outputs["results"])}
    assert rows["api-eu1"] == "error" or rows["api-us1"] == "error"
    assert max(r["seconds"] for r in json.loads(result.outputs["results"])) < 5
