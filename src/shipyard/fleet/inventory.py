"""Inventory without cloning: every repository of the organisation, its language from the root files, each
workflow file's Shipyard references and whether the pipeline is the template as generated today.

Per repository: one conditional ``GET /repos/{o}/{r}/branches/{default}`` (head commit and tree SHA); the tree
(``git/trees/{sha}?recursive=1``) and blobs are addressed by SHA, so once seen they cost nothing again.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from shipyard.fleet import detect, drift, refs, templates
from shipyard.fleet.client import GitHub, GitHubError
from shipyard.runtime import TransientError

OPT_OUT_TOPIC = "shipyard-opt-out"
OPT_OUT_FILES = (".shipyard.yml", ".shipyard.yaml")
WORKFLOW = re.compile(r"\.github/workflows/[^/]+\.ya?ml")


@dataclass
class Workflow:
    path: str
    sha: str
    text: str | None = None
    error: str | None = None  # does not parse
    refs: list[refs.Ref] = field(default_factory=list)
    pipeline: bool = False  # has a job calling a Shipyard pipeline
    template: str | None = None  # template key of that pipeline
    drift: list[str] = field(default_factory=list)


@dataclass
class Repo:
    name: str
    full_name: str
    id: int
    default_branch: str
    visibility: str
    topics: list[str]
    skip: str | None = None  # archived, fork, opted out, empty
    head: str | None = None  # default branch commit
    tree: str | None = None
    protected: bool = False
    language: str | None = None
    workflows: list[Workflow] = field(default_factory=list)
    paths: set[str] = field(default_factory=set)
    error: str | None = None

    @property
    def shipyard_refs(self) -> list[refs.Ref]:
        return [r for w in self.workflows for r in w.refs]

    @property
    def has_pipeline(self) -> bool:
        return any(w.pipeline or w.refs for w in self.workflows)

    @property
    def drifted(self) -> bool:
        return any(w.drift for w in self.workflows)


def list_repos(gh: GitHub, org: str) -> list[dict[str, Any]]:
    try:
        return list(gh.paginate(f"/orgs/{org}/repos", {"type": "all", "sort": "full_name"}))
    except TransientError as exc:
        from shipyard.runtime import UserError

        raise UserError(f"GitHub did not answer the repository listing ({exc}).",
                        "run again later (see https://www.githubstatus.com), or check `github-api-url`.",
                        input_name="github-api-url", title="GitHub unavailable") from None
    except GitHubError as exc:
        from shipyard.runtime import UserError

        if exc.status == 401:
            raise UserError(f"GitHub refused the credential ({exc.message}).",
                            "pass a valid token (not expired or revoked) in `token`, or check `app-id` and "
                            "`app-private-key`.", input_name="token") from None
        if exc.status == 403:
            raise UserError(f"GitHub refused to list the repositories of '{org}' ({exc.message}).",
                            "authorise the token for the organisation's SAML single sign-on, or install the GitHub "
                            "App on the organisation with access to all repositories.", input_name="token") from None
        if exc.status == 404:
            raise UserError(f"GitHub organisation '{org}' was not found (or the credential cannot see it).",
                            "check the `organization` input (the login in github.com/<org>) and that the token or "
                            "GitHub App installation belongs to that organisation.",
                            input_name="organization") from None
        raise


def skip_reason(data: dict[str, Any], excluded: set[str]) -> str | None:
    if data.get("archived"):
        return "archived"
    if data.get("fork"):
        return "fork"
    if OPT_OUT_TOPIC in (data.get("topics") or []):
        return f"opted out (topic {OPT_OUT_TOPIC})"
    if str(data.get("name", "")).lower() in excluded:
        return "excluded by the `exclude` input"
    if data.get("disabled"):
        return "disabled"
    return None


def blob(gh: GitHub, full_name: str, sha: str) -> str:
    if sha in gh.state.blobs:
        gh.state.used_blobs.add(sha)
        return gh.state.blobs[sha]
    data = gh.get(f"/repos/{full_name}/git/blobs/{sha}", conditional=False)
    try:
        text = base64.b64decode(str(data.get("content", ""))).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        text = ""
    gh.state.blobs[sha] = text
    gh.state.used_blobs.add(sha)
    return text


def tree(gh: GitHub, full_name: str, sha: str) -> list[dict[str, Any]]:
    key = f"tree:{sha}"
    cached = gh.state.etags.get(key)
    if cached is not None:  # a tree SHA names one tree forever
        gh.state.touch(key)
        return list(cached["data"])
    data = gh.get(f"/repos/{full_name}/git/trees/{sha}", {"recursive": "1"}, conditional=False)
    if data.get("truncated"):  # a workflow we did not see could be overwritten: leave the repository alone
        raise GitHubError(200, "the repository's tree is too large for one listing (truncated): not inventoried",
                          "GET", f"/repos/{full_name}/git/trees/{sha}")
    entries = [{"path": e.get("path"), "type": e.get("type"), "sha": e.get("sha")}
               for e in data.get("tree") or [] if isinstance(e, dict)]
    gh.state.etags[key] = {"etag": "", "data": entries}
    gh.state.touch(key)
    return entries


def opted_out_by_file(text: str) -> bool:
    try:
        data = templates.load_workflow(text)
    except Exception:  # an unreadable opt-out file is read as an opt-out: never touch a repo that asked not to be
        return True
    if not isinstance(data, dict):
        return False
    fleet = data.get("fleet")
    if data.get("opt-out") is True or fleet is False:
        return True
    return isinstance(fleet, dict) and fleet.get("opt-out") is True


def scan_repo(gh: GitHub, org: str, data: dict[str, Any], shipyard_repo: str, tpls: dict[str, templates.Template],
              releases: refs.Releases, excluded: set[str]) -> Repo:
    repo = Repo(str(data["name"]), str(data.get("full_name") or f"{org}/{data['name']}"), int(data.get("id") or 0),
                str(data.get("default_branch") or "main"), str(data.get("visibility") or
                                                              ("private" if data.get("private") else "public")),
                list(data.get("topics") or []))
    repo.skip = skip_reason(data, excluded)
    if repo.skip:
        return repo
    try:
        branch = gh.maybe(f"/repos/{repo.full_name}/branches/{quote(repo.default_branch, safe='/')}")
        if branch is None:
            repo.skip = "empty repository"
            return repo
        commit = branch.get("commit") or {}
        repo.head = str(commit.get("sha") or "")
        repo.tree = str(((commit.get("commit") or {}).get("tree") or {}).get("sha") or "")
        repo.protected = bool(branch.get("protected"))
        entries = tree(gh, repo.full_name, repo.tree)
        by_path = {str(e["path"]): e for e in entries}
        repo.paths = set(by_path)
        for name in OPT_OUT_FILES:
            if name in by_path and opted_out_by_file(blob(gh, repo.full_name, str(by_path[name]["sha"]))):
                repo.skip = f"opted out ({name})"
                return repo
        files = [p for p, e in by_path.items() if e.get("type") == "blob" and "/" not in p]
        dirs = [p for p, e in by_path.items() if e.get("type") == "tree"]
        repo.language = detect.language(
            files, dirs, lambda n: blob(gh, repo.full_name, str(by_path[n]["sha"])) if n in by_path else None)
        for path in sorted(p for p, e in by_path.items() if e.get("type") == "blob" and WORKFLOW.fullmatch(p)):
            repo.workflows.append(read_workflow(gh, repo, path, str(by_path[path]["sha"]), shipyard_repo, tpls,
                                                releases))
    except (GitHubError, TransientError) as exc:
        repo.error = str(exc)
    return repo


def read_workflow(gh: GitHub, repo: Repo, path: str, sha: str, shipyard_repo: str,
                  tpls: dict[str, templates.Template], releases: refs.Releases) -> Workflow:
    wf = Workflow(path, sha)
    wf.text = blob(gh, repo.full_name, sha)
    wf.refs = refs.find_refs(wf.text, shipyard_repo, releases)
    try:
        doc = templates.load_workflow(wf.text)
    except Exception as exc:  # yaml.YAMLError and friends: reported for this repository only
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        why = getattr(exc, "problem", None) or str(exc)[:200] or type(exc).__name__
        wf.error = f"{path} does not parse ({where}{why})"
        return wf
    job = drift.pipeline_job(doc, shipyard_repo)
    if job is None:
        return wf
    wf.pipeline = True
    wf.template = drift.template_key(job[1])
    tpl = tpls.get(wf.template or "")
    if tpl is None:
        return wf
    wf.drift = drift.compare(doc, templates.load_workflow(tpl.render(repo.default_branch)), shipyard_repo)
    return wf
