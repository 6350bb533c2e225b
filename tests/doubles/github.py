"""GitHub REST (and the one GraphQL mutation) double for the calls PyGithub makes in gitops PR mode.

Faithful where it matters to a client:

* auth: ``Authorization: token X`` or ``Bearer X``; unknown -> 401 ``{"message": "Bad credentials", ...}``.
  GitHub App JWTs (RS256, ``iss`` = app id) are verified with the App's public key and only reach the App
  endpoints (``GET /repos/{o}/{r}/installation``, ``POST /app/installations/{id}/access_tokens``), which mint
  installation tokens that then work like any other token.
* every answer carries ``x-ratelimit-limit/remaining/reset/used/resource``; when the primary limit is spent:
  403 ``API rate limit exceeded``; secondary limits are injected faults (403/429 with ``retry-after``).
* errors have GitHub's shapes: 404 ``Not Found``, 422 ``Validation Failed`` with ``errors[]`` (PR for a head
  branch that does not exist, duplicate open PR, reviewer who is not a collaborator).
* pull requests live in memory per repo; when a repo is mapped to a bare repository of the git server, the
  head branch must exist there (as GitHub checks).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.doubles.base import DoubleServer, Fault, Request, Response, json_response, route

DOCS = "https://docs.github.com/rest"


@dataclass
class Repo:
    owner: str
    name: str
    git_dir: Path | None = None  # bare repo on the git server backing this repository
    default_branch: str = "main"
    collaborators: set[str] = field(default_factory=set)
    allow_auto_merge: bool = True
    pulls: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)
    id: int = 0


class GitHubDouble(DoubleServer):
    name = "github"

    def __init__(self, rate_limit: int = 5000) -> None:
        super().__init__()
        self.tokens: dict[str, str] = {}  # token -> login
        self.repos: dict[str, Repo] = {}
        self.apps: dict[str, Any] = {}  # app id -> public key (cryptography object)
        self.installations: dict[int, str] = {}  # installation id -> "owner/name"
        self.limit = rate_limit
        self.used: dict[str, int] = {}
        self.reset_at = int(time.time()) + 3600
        self._next = 1
        self.token_sink: Any = None  # called with each minted installation token (e.g. the git server's add_token)

    # ----------------------------------------------------------------- setup
    def add_token(self, login: str = "shipyard-bot", token: str | None = None) -> str:
        token = token or "ghp_" + secrets.token_hex(18)
        with self.lock:
            self.tokens[token] = login
        return token

    def add_repo(self, full_name: str, git_dir: Path | None = None, collaborators: tuple[str, ...] = ()) -> Repo:
        owner, _, name = full_name.partition("/")
        with self.lock:
            repo = Repo(owner, name, git_dir, collaborators=set(collaborators), id=self._id())
            self.repos[full_name.lower()] = repo
        return repo

    def add_app(self, app_id: str, public_key_pem: bytes, repo: str) -> int:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        inst = self._id()
        with self.lock:
            self.apps[str(app_id)] = load_pem_public_key(public_key_pem)
            self.installations[inst] = repo.lower()
        return inst

    def _id(self) -> int:
        self._next += 1
        return self._next

    # ----------------------------------------------------------------- engine hooks
    def _who(self, req: Request) -> tuple[str | None, str | None]:
        """(login, jwt app id) for the request's credential."""
        auth = req.header("authorization")
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        if scheme.lower() not in ("token", "bearer") or not value:
            return None, None
        with self.lock:
            login = self.tokens.get(value)
        if login:
            return login, None
        if value.count(".") == 2:
            return None, self._verify_jwt(value)
        return None, None

    def _verify_jwt(self, token: str) -> str | None:
        import jwt

        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            app_id = str(unverified.get("iss"))
            key = self.apps.get(app_id)
            if key is None:
                return None
            jwt.decode(token, key, algorithms=["RS256"], options={"require": ["exp", "iat", "iss"]})
            return app_id
        except jwt.PyJWTError:
            return None

    def authenticate(self, req: Request) -> Response | None:
        login, app = self._who(req)
        if login is None and app is None:
            return self._answer(json_response({"message": "Bad credentials", "documentation_url": DOCS, "status": "401"},
                                              401), req)
        is_app_route = req.path.endswith("/installation") or req.path.startswith("/app/")
        if app is not None and not is_app_route:
            return self._answer(json_response({"message": "A JSON web token could not be decoded",
                                               "documentation_url": DOCS, "status": "401"}, 401), req)
        return None

    def rate_limit(self, req: Request) -> Response | None:
        key = req.header("authorization")
        with self.lock:
            used = self.used.get(key, 0)
            if used >= self.limit:
                body = {"message": "API rate limit exceeded for installation.", "documentation_url": DOCS,
                        "status": "403"}
                return Response(403, body, self._rl_headers(key))
            self.used[key] = used + 1
        return None

    def _rl_headers(self, key: str) -> dict[str, str]:
        used = self.used.get(key, 0)
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(0, self.limit - used)),
            "x-ratelimit-reset": str(self.reset_at),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
            "x-github-request-id": secrets.token_hex(8).upper(),
        }

    def _answer(self, resp: Response, req: Request) -> Response:
        resp.headers = {**self._rl_headers(req.header("authorization")), **resp.headers}
        return resp

    def fault_response(self, fault: Fault, req: Request) -> Response:
        if fault.body is not None:
            body = fault.body
        elif fault.status in (403, 429):
            body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                               "try again.", "documentation_url": DOCS, "status": str(fault.status)}
        else:
            body = {"message": "Server Error", "status": str(fault.status)}
        return self._answer(Response(fault.status, body, dict(fault.headers)), req)

    def not_found(self, req: Request) -> Response:
        return self._answer(json_response({"message": "Not Found", "documentation_url": DOCS, "status": "404"}, 404),
                            req)

    def dispatch(self, req: Request) -> tuple[Response, str | None]:
        resp, fault = super().dispatch(req)
        if not any(k.lower() == "x-ratelimit-limit" for k in resp.headers):
            resp = self._answer(resp, req)
        return resp, fault

    # ----------------------------------------------------------------- helpers
    def _repo(self, req: Request) -> Repo | None:
        with self.lock:
            return self.repos.get(f"{req.params['owner']}/{req.params['repo']}".lower())

    def _url(self, req: Request) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _invalid(self, req: Request, errors: list[dict[str, Any]], message: str = "Validation Failed") -> Response:
        return json_response({"message": message, "errors": errors, "documentation_url": DOCS, "status": "422"}, 422)

    def _branch_sha(self, repo: Repo, branch: str) -> str | None:
        if repo.git_dir is None:
            return "0" * 40
        proc = subprocess.run(["git", "--git-dir", str(repo.git_dir), "rev-parse", "--verify", "--quiet",
                               f"refs/heads/{branch}"], capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def _repo_json(self, repo: Repo, req: Request) -> dict[str, Any]:
        api = self._url(req)
        full = f"{repo.owner}/{repo.name}"
        return {
            "id": repo.id, "node_id": f"R_{repo.id}", "name": repo.name, "full_name": full,
            "owner": {"login": repo.owner, "id": 1, "type": "Organization"}, "private": True,
            "html_url": f"https://github.example/{full}", "url": f"{api}/repos/{full}",
            "default_branch": repo.default_branch, "allow_auto_merge": repo.allow_auto_merge,
        }

    def _pr_json(self, repo: Repo, pr: dict[str, Any], req: Request) -> dict[str, Any]:
        api = self._url(req)
        full = f"{repo.owner}/{repo.name}"
        n = pr["number"]
        sha = self._branch_sha(repo, pr["head"]) or "0" * 40
        return {
            "id": pr["id"], "node_id": f"PR_{pr['id']}", "number": n, "state": pr["state"], "title": pr["title"],
            "body": pr["body"], "draft": pr["draft"], "user": {"login": pr["user"]},
            "html_url": f"https://github.example/{full}/pull/{n}",
            "url": f"{api}/repos/{full}/pulls/{n}", "issue_url": f"{api}/repos/{full}/issues/{n}",
            "head": {"ref": pr["head"], "sha": sha, "label": f"{repo.owner}:{pr['head']}"},
            "base": {"ref": pr["base"], "label": f"{repo.owner}:{pr['base']}"},
            "labels": [repo.labels[name] for name in pr["labels"]],
            "requested_reviewers": [{"login": r} for r in pr["reviewers"]],
            "requested_teams": [{"slug": t} for t in pr["teams"]],
            "auto_merge": pr["auto_merge"], "merged": False, "mergeable_state": "clean",
        }

    def _find(self, repo: Repo, number: str) -> dict[str, Any] | None:
        return next((p for p in repo.pulls if str(p["number"]) == number), None)

    # ----------------------------------------------------------------- REST routes
    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)")
    def get_repo(self, req: Request) -> Response:
        repo = self._repo(req)
        return json_response(self._repo_json(repo, req)) if repo else self.not_found(req)

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls")
    def list_pulls(self, req: Request) -> Response:
        repo = self._repo(req)
        if repo is None:
            return self.not_found(req)
        state = req.query.get("state", "open")
        head = req.query.get("head")
        base = req.query.get("base")
        out = []
        with self.lock:
            for pr in repo.pulls:
                if state != "all" and pr["state"] != state:
                    continue
                if head and f"{repo.owner}:{pr['head']}".lower() != head.lower() and pr["head"] != head:
                    continue
                if base and pr["base"] != base:
                    continue
                out.append(self._pr_json(repo, pr, req))
        return json_response(out)

    @route("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls")
    def create_pull(self, req: Request) -> Response:
        repo = self._repo(req)
        if repo is None:
            return self.not_found(req)
        data = req.json() or {}
        for key in ("title", "head", "base"):
            if not data.get(key):
                return self._invalid(req, [{"resource": "PullRequest", "field": key, "code": "missing_field"}])
        head = str(data["head"]).split(":")[-1]
        if self._branch_sha(repo, head) is None:
            return self._invalid(req, [{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        if self._branch_sha(repo, data["base"]) is None:
            return self._invalid(req, [{"resource": "PullRequest", "field": "base", "code": "invalid"}])
        with self.lock:
            if any(p["head"] == head and p["base"] == data["base"] and p["state"] == "open" for p in repo.pulls):
                return self._invalid(req, [{"resource": "PullRequest", "code": "custom",
                                            "message": f"A pull request already exists for {repo.owner}:{head}."}])
            login, _ = self._who(req)
            pr = {"id": self._id(), "number": len(repo.pulls) + 1, "state": "open", "title": data["title"],
                  "body": data.get("body") or "", "head": head, "base": data["base"], "draft": bool(data.get("draft")),
                  "user": login, "labels": [], "reviewers": [], "teams": [], "auto_merge": None}
            repo.pulls.append(pr)
            return json_response(self._pr_json(repo, pr, req), 201)

    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls/(?P<number>\d+)")
    def get_pull(self, req: Request) -> Response:
        repo = self._repo(req)
        pr = self._find(repo, req.params["number"]) if repo else None
        return json_response(self._pr_json(repo, pr, req)) if repo and pr else self.not_found(req)

    @route("PATCH", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls/(?P<number>\d+)")
    def update_pull(self, req: Request) -> Response:
        repo = self._repo(req)
        pr = self._find(repo, req.params["number"]) if repo else None
        if not repo or not pr:
            return self.not_found(req)
        data = req.json() or {}
        if "state" in data and data["state"] not in ("open", "closed"):
            return self._invalid(req, [{"resource": "PullRequest", "field": "state", "code": "invalid"}])
        with self.lock:
            for key in ("title", "body", "state", "base"):
                if key in data:
                    pr[key] = data[key]
        return json_response(self._pr_json(repo, pr, req))

    @route("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/issues/(?P<number>\d+)/labels")
    def add_labels(self, req: Request) -> Response:
        repo = self._repo(req)
        pr = self._find(repo, req.params["number"]) if repo else None
        if not repo or not pr:
            return self.not_found(req)
        data = req.json()
        labels = data.get("labels") if isinstance(data, dict) else data
        if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
            return self._invalid(req, [{"resource": "Label", "field": "name", "code": "invalid"}])
        with self.lock:
            for name in labels:
                repo.labels.setdefault(name, {"id": self._id(), "name": name, "color": "ededed", "default": False})
                if name not in pr["labels"]:
                    pr["labels"].append(name)
            return json_response([repo.labels[n] for n in pr["labels"]])

    @route("POST", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls/(?P<number>\d+)/requested_reviewers")
    def request_reviewers(self, req: Request) -> Response:
        repo = self._repo(req)
        pr = self._find(repo, req.params["number"]) if repo else None
        if not repo or not pr:
            return self.not_found(req)
        data = req.json() or {}
        users = list(data.get("reviewers") or [])
        teams = list(data.get("team_reviewers") or [])
        if pr["user"] in users:
            return self._invalid(req, [], "Review cannot be requested from pull request author.")
        if any(u not in repo.collaborators for u in users):
            return self._invalid(req, [], "Reviews may only be requested from collaborators. One or more of the "
                                 f"users or teams you specified is not a collaborator of the {repo.owner}/"
                                 f"{repo.name} repository.")
        with self.lock:
            pr["reviewers"] = sorted(set(pr["reviewers"]) | set(users))
            pr["teams"] = sorted(set(pr["teams"]) | set(teams))
            return json_response(self._pr_json(repo, pr, req), 201)

    # ----------------------------------------------------------------- GraphQL
    @route("POST", r"/graphql")
    def graphql(self, req: Request) -> Response:
        data = req.json() or {}
        query = str(data.get("query", ""))
        variables = (data.get("variables") or {}).get("input") or {}
        if "enablePullRequestAutoMerge" not in query:
            return json_response({"errors": [{"message": "Only enablePullRequestAutoMerge is supported by the double",
                                              "type": "NOT_SUPPORTED"}]})
        node = str(variables.get("pullRequestId", ""))
        with self.lock:
            for repo in self.repos.values():
                for pr in repo.pulls:
                    if f"PR_{pr['id']}" == node:
                        if not repo.allow_auto_merge:
                            return json_response({"data": {"enablePullRequestAutoMerge": None}, "errors": [{
                                "type": "UNPROCESSABLE", "path": ["enablePullRequestAutoMerge"],
                                "message": "Pull request Auto merge is not allowed for this repository"}]})
                        pr["auto_merge"] = {"merge_method": str(variables.get("mergeMethod", "MERGE")).lower()}
                        login, _ = self._who(req)
                        return json_response({"data": {"enablePullRequestAutoMerge": {
                            "actor": {"login": login, "avatarUrl": "", "resourcePath": f"/{login}",
                                      "url": f"https://github.example/{login}"},
                            "clientMutationId": variables.get("clientMutationId")}}})
        return json_response({"data": {"enablePullRequestAutoMerge": None}, "errors": [{
            "type": "NOT_FOUND", "path": ["enablePullRequestAutoMerge"],
            "message": f"Could not resolve to a node with the global id of '{node}'"}]})

    # ----------------------------------------------------------------- GitHub App
    @route("GET", r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/installation")
    def repo_installation(self, req: Request) -> Response:
        _, app = self._who(req)
        if app is None:
            return json_response({"message": "A JSON web token could not be decoded", "documentation_url": DOCS,
                                  "status": "401"}, 401)
        full = f"{req.params['owner']}/{req.params['repo']}".lower()
        for inst, repo in self.installations.items():
            if repo == full:
                return json_response({"id": inst, "app_id": int(app), "target_type": "Organization",
                                      "account": {"login": req.params["owner"]},
                                      "access_tokens_url": f"{self._url(req)}/app/installations/{inst}/access_tokens"})
        return self.not_found(req)

    @route("POST", r"/app/installations/(?P<inst>\d+)/access_tokens")
    def access_token(self, req: Request) -> Response:
        _, app = self._who(req)
        if app is None:
            return json_response({"message": "A JSON web token could not be decoded", "documentation_url": DOCS,
                                  "status": "401"}, 401)
        if int(req.params["inst"]) not in self.installations:
            return self.not_found(req)
        token = self.add_token(login=f"app-{app}[bot]", token="ghs_" + secrets.token_hex(18))
        if self.token_sink is not None:
            self.token_sink(token)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return json_response({"token": token, "expires_at": expires, "permissions": {"contents": "write",
                              "pull_requests": "write"}, "repository_selection": "selected"}, 201)
