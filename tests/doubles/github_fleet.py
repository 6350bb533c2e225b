"""GitHub REST for the fleet stage, on top of :class:`tests.doubles.github.GitHubDouble` (auth, rate-limit
headers, App JWTs, faults and the transcript come from there).

Modelled as GitHub answers:

* organisations with a plan, repository listing with ``per_page``/``page`` and ``Link: rel="next"``;
* ETags on every GET, ``If-None-Match`` -> ``304 Not Modified`` with an empty body;
* git data: blobs (real git blob SHAs), trees (``recursive=1``, ``base_tree``, inline ``content``), commits,
  refs (create: 422 ``Reference already exists``; update: 422 ``Update is not a fast forward`` without
  ``force``; 422 ``Repository rule violations found`` where a ruleset restricts creation);
* branches (``GET /repos/{o}/{r}/branches/{b}`` with the commit, its tree and ``protected``), tags;
* pull requests (list by ``head``/``state``, create: 422 when one is already open for the head, update,
  close by the owners with ``closed_at``);
* organisation rulesets (403 unless the plan is enterprise) and repository rulesets (403 for private
  repositories on Free), branch protection;
* App installation tokens with their ``permissions``; ``GET /orgs/{org}/installation``;
* the errors a fleet meets: a tree touching ``.github/workflows/`` with a classic token without the
  ``workflow`` scope -> 404 ``Not Found`` (what the Git Data API answers); a ref update by an App without
  ``workflows`` -> 422 ``refusing to allow a GitHub App to create or update workflow ... without `workflows`
  permission``; writes an App may not make -> 403 ``Resource not accessible by integration``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.base import Request, Response, json_response, route
from tests.doubles.github import DOCS, GitHubDouble

R = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object name


def _sha(kind: str, payload: Any) -> str:
    return hashlib.sha1(kind.encode() + json.dumps(payload, sort_keys=True).encode()).hexdigest()  # noqa: S324


@dataclass
class FleetRepo:
    org: str
    name: str
    id: int
    default_branch: str = "main"
    visibility: str = "private"
    archived: bool = False
    fork: bool = False
    topics: list[str] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> commit sha
    pulls: list[dict[str, Any]] = field(default_factory=list)
    rulesets: dict[int, dict[str, Any]] = field(default_factory=dict)
    protection: dict[str, dict[str, Any]] = field(default_factory=dict)
    block_branch_creation: bool = False  # a ruleset restricts creating branches (the bot has no bypass)
    truncated_tree: bool = False  # over the recursive listing's limit: GitHub says truncated

    @property
    def full_name(self) -> str:
        return f"{self.org}/{self.name}"


class FleetGitHubDouble(GitHubDouble):
    name = "github-fleet"

    def __init__(self, rate_limit: int = 50000) -> None:
        super().__init__(rate_limit=rate_limit)
        self.orgs: dict[str, dict[str, Any]] = {}  # login -> {"plan": ..., "rulesets": {}, "installation": id}
        self.fleet: dict[str, FleetRepo] = {}
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, list[dict[str, str]]] = {}
        self.commits: dict[str, dict[str, Any]] = {}
        self.scopes: dict[str, str] = {}  # classic token -> "repo, workflow" (sent as X-OAuth-Scopes)
        self.app_permissions: dict[str, dict[str, str]] = {}  # installation token -> permissions
        self.default_app_permissions = {"contents": "write", "pull_requests": "write", "workflows": "write",
                                        "metadata": "read"}
        self.tags: dict[str, dict[str, str]] = {}  # "owner/repo" -> tag -> sha
        self.fine_grained: dict[str, bool] = {}  # fine-grained token -> may write workflows (no scopes header)
        self.unaccepted: set[str] = set()  # App permissions reported on the token but not yet in force

    # ----------------------------------------------------------------- setup
    def add_org(self, login: str, plan: str = "team") -> None:
        with self.lock:
            self.orgs[login.lower()] = {"login": login, "plan": plan, "rulesets": {}, "installation": self._id()}

    def add_classic_token(self, scopes: str = "repo, workflow", login: str = "fleet-bot") -> str:
        token = self.add_token(login)
        self.scopes[token] = scopes
        return token

    def add_fleet_repo(self, org: str, name: str, files: dict[str, str], **kwargs: Any) -> FleetRepo:
        with self.lock:
            repo = FleetRepo(org, name, self._id(), **kwargs)
            self.fleet[repo.full_name.lower()] = repo
            if files:
                repo.refs[f"heads/{repo.default_branch}"] = self.commit_files(None, files, "initial")
        return repo

    def add_fine_grained_token(self, workflows: bool, login: str = "fleet-bot") -> str:
        token = self.add_token(login, token="github_pat_" + secrets.token_hex(20))
        self.fine_grained[token] = workflows
        return token

    def commit_files(self, parent: str | None, files: dict[str, str], message: str) -> str:
        """A commit of ``files`` on top of ``parent``'s tree (a full snapshot when parent is None)."""
        entries = {e["path"]: e for e in (self.trees[self.commits[parent]["tree"]] if parent else [])}
        for path, text in files.items():
            data = text.encode()
            sha = blob_sha(data)
            self.blobs[sha] = data
            entries[path] = {"path": path, "mode": "100644", "type": "blob", "sha": sha}
        tree = self._store_tree(list(entries.values()))
        commit = _sha("commit", {"tree": tree, "parents": [parent] if parent else [], "message": message,
                                 "n": self._id()})
        self.commits[commit] = {"tree": tree, "parents": [parent] if parent else [], "message": message}
        return commit

    def _store_tree(self, blobs: list[dict[str, str]]) -> str:
        blobs = sorted(blobs, key=lambda e: e["path"])
        sha = _sha("tree", blobs)
        self.trees[sha] = blobs
        return sha

    def files_at(self, full_name: str, ref: str) -> dict[str, str]:
        repo = self.fleet[full_name.lower()]
        commit = repo.refs[ref]
        return {e["path"]: self.blobs[e["sha"]].decode() for e in self.trees[self.commits[commit]["tree"]]}

    def close_pull(self, full_name: str, number: int, closed_at: float, merged: bool = False) -> None:
        repo = self.fleet[full_name.lower()]
        with self.lock:
            for pr in repo.pulls:
                if pr["number"] == number:
                    pr["state"] = "closed"
                    pr["closed_at"] = closed_at
                    pr["merged"] = merged

    # ----------------------------------------------------------------- engine hooks
    def _token(self, req: Request) -> str:
        return req.header("authorization").partition(" ")[2].strip()

    def _perm(self, req: Request, name: str) -> str | None:
        """App installation token: its permission level; None for other credentials."""
        perms = self.app_permissions.get(self._token(req))
        if perms is None:
            return None
        return "none" if name in self.unaccepted else perms.get(name, "none")

    def dispatch(self, req: Request) -> tuple[Response, str | None]:
        resp, fault = super().dispatch(req)
        scopes = self.scopes.get(self._token(req))
        if scopes is not None:
            resp.headers["X-OAuth-Scopes"] = scopes
        if req.method == "GET" and resp.status == 200 and fault is None:
            etag = '"' + hashlib.sha1(json.dumps(resp.body, sort_keys=True).encode()).hexdigest() + '"'  # noqa: S324
            resp.headers["ETag"] = etag
            if req.header("if-none-match") == etag:
                resp = Response(304, b"", {k: v for k, v in resp.headers.items() if k.lower() != "content-type"})
        return resp, fault

    def _fleet(self, req: Request) -> FleetRepo | None:
        with self.lock:
            return self.fleet.get(f"{req.params['owner']}/{req.params['repo']}".lower())

    def _err(self, status: int, message: str, **extra: Any) -> Response:
        return json_response({"message": message, "documentation_url": DOCS, "status": str(status), **extra}, status)

    def _not_accessible(self) -> Response:
        return self._err(403, "Resource not accessible by integration")

    def _page(self, req: Request, items: list[Any], path: str) -> Response:
        per_page = max(1, min(100, int(req.query.get("per_page") or 30)))
        page = max(1, int(req.query.get("page") or 1))
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            rest = {k: v for k, v in req.query.items() if k != "page"}
            query = "&".join(f"{k}={v}" for k, v in {**rest, "page": str(page + 1)}.items())
            headers["Link"] = f'<{self.url}{path}?{query}>; rel="next"'
        return Response(200, chunk, headers)

    # ----------------------------------------------------------------- orgs
    @route("GET", r"/orgs/(?P<org>[^/]+)")
    def get_org(self, req: Request) -> Response:
        org = self.orgs.get(req.params["org"].lower())
        if org is None:
            return self.not_found(req)
        return json_response({"login": org["login"], "id": 1, "plan": {"name": org["plan"]}})

    @route("GET", r"/orgs/(?P<org>[^/]+)/repos")
    def org_repos(self, req: Request) -> Response:
        org = self.orgs.get(req.params["org"].lower())
        if org is None:
            return self.not_found(req)
        with self.lock:
            repos = sorted((r for r in self.fleet.values() if r.org.lower() == req.params["org"].lower()),
                           key=lambda r: r.name.lower())
            items = [self._fleet_json(r) for r in repos]
        return self._page(req, items, req.path)

    @route("GET", r"/orgs/(?P<org>[^/]+)/installation")
    def org_installation(self, req: Request) -> Response:
        _, app = self._who(req)
        if app is None:
            return self._err(401, "A JSON web token could not be decoded")
        org = self.orgs.get(req.params["org"].lower())
        if org is None:
            return self.not_found(req)
        return json_response({"id": org["installation"], "app_id": int(app), "target_type": "Organization",
                              "account": {"login": org["login"]}})

    @route("POST", r"/app/installations/(?P<inst>\d+)/access_tokens")
    def access_token(self, req: Request) -> Response:
        _, app = self._who(req)
        if app is None:
            return self._err(401, "A JSON web token could not be decoded")
        if not any(o["installation"] == int(req.params["inst"]) for o in self.orgs.values()):
            return self.not_found(req)
        token = self.add_token(login=f"app-{app}[bot]", token="ghs_" + secrets.token_hex(18))
        perms = dict(self.default_app_permissions)
        self.app_permissions[token] = perms
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return json_response({"token": token, "expires_at": expires, "permissions": perms,
                              "repository_selection": "all"}, 201)

    def _fleet_json(self, r: FleetRepo) -> dict[str, Any]:
        return {"id": r.id, "node_id": f"R_{r.id}", "name": r.name, "full_name": r.full_name,
                "owner": {"login": r.org, "type": "Organization"}, "private": r.visibility != "public",
                "visibility": r.visibility, "archived": r.archived, "fork": r.fork, "disabled": False,
                "topics": list(r.topics), "default_branch": r.default_branch,
                "html_url": f"https://github.example/{r.full_name}"}

    # ----------------------------------------------------------------- repos, branches, tags
    @route("GET", R)
    def get_repo(self, req: Request) -> Response:
        repo = self._fleet(req)
        return json_response(self._fleet_json(repo)) if repo else self.not_found(req)

    @route("GET", R + r"/tags")
    def list_tags(self, req: Request) -> Response:
        tags = self.tags.get(f"{req.params['owner']}/{req.params['repo']}".lower())
        if tags is None:
            return self.not_found(req)
        return self._page(req, [{"name": n, "commit": {"sha": s}} for n, s in tags.items()], req.path)

    @route("GET", R + r"/branches/(?P<branch>(?!.*/protection$).+)")
    def get_branch(self, req: Request) -> Response:
        repo = self._fleet(req)
        sha = repo.refs.get(f"heads/{req.params['branch']}") if repo else None
        if repo is None or sha is None:
            return self._err(404, "Branch not found")
        return json_response({"name": req.params["branch"], "protected": req.params["branch"] in repo.protection,
                              "commit": {"sha": sha, "commit": {"tree": {"sha": self.commits[sha]["tree"]},
                                                                "message": self.commits[sha]["message"]}}})

    @route("GET", R + r"/branches/(?P<branch>.+)/protection")
    def get_protection(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        if repo.visibility != "public" and self._plan(repo) == "free":
            return self._err(403, "Upgrade to GitHub Pro or make this repository public to enable this feature.")
        found = repo.protection.get(req.params["branch"])
        return json_response(found) if found else self._err(404, "Branch not protected")

    @route("PUT", R + r"/branches/(?P<branch>.+)/protection")
    def put_protection(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        if self._perm(req, "administration") not in (None, "write"):
            return self._not_accessible()
        if repo.visibility != "public" and self._plan(repo) == "free":
            return self._err(403, "Upgrade to GitHub Pro or make this repository public to enable this feature.")
        with self.lock:
            repo.protection[req.params["branch"]] = req.json() or {}
        return json_response(repo.protection[req.params["branch"]])

    def _plan(self, repo: FleetRepo) -> str:
        return str(self.orgs.get(repo.org.lower(), {}).get("plan", "free"))

    # ----------------------------------------------------------------- git data
    @route("GET", R + r"/git/trees/(?P<sha>[^/]+)")
    def get_tree(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        if not repo.refs:
            return self._err(409, "Git Repository is empty.")
        entries = self.trees.get(req.params["sha"])
        if entries is None:
            return self.not_found(req)
        out: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for e in entries:
            parts = e["path"].split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
        if req.query.get("recursive"):
            out = [{"path": d, "mode": "040000", "type": "tree", "sha": _sha("dir", d)} for d in sorted(dirs)]
            out += [dict(e, size=len(self.blobs[e["sha"]])) for e in entries]
        else:
            out = [dict(e) for e in entries if "/" not in e["path"]]
            out += [{"path": d, "mode": "040000", "type": "tree", "sha": _sha("dir", d)} for d in dirs if "/" not in d]
        if repo.truncated_tree:
            out = out[: len(out) // 2]
        return json_response({"sha": req.params["sha"], "tree": sorted(out, key=lambda e: e["path"]),
                              "truncated": repo.truncated_tree})

    @route("GET", R + r"/contents/(?P<path>.+)")
    def get_contents(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        ref = req.query.get("ref") or repo.default_branch
        ref = ref[len("refs/"):] if ref.startswith("refs/") else f"heads/{ref}"
        commit = repo.refs.get(ref)
        entry = next((e for e in self.trees[self.commits[commit]["tree"]] if e["path"] == req.params["path"]),
                     None) if commit else None
        if entry is None:
            return self.not_found(req)
        data = self.blobs[entry["sha"]]
        return json_response({"type": "file", "path": entry["path"], "sha": entry["sha"], "size": len(data),
                              "encoding": "base64", "content": base64.encodebytes(data).decode()})

    @route("GET", R + r"/git/blobs/(?P<sha>[0-9a-f]{40})")
    def get_blob(self, req: Request) -> Response:
        data = self.blobs.get(req.params["sha"])
        if self._fleet(req) is None or data is None:
            return self.not_found(req)
        return json_response({"sha": req.params["sha"], "size": len(data), "encoding": "base64",
                              "content": base64.encodebytes(data).decode()})

    def _workflow_paths(self, paths: list[str]) -> list[str]:
        return [p for p in paths if p.startswith(".github/workflows/")]

    @route("POST", R + r"/git/trees")
    def create_tree(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        if self._perm(req, "contents") not in (None, "write"):
            return self._not_accessible()
        data = req.json() or {}
        items = data.get("tree")
        if not isinstance(items, list) or not items:
            return self._invalid(req, [{"resource": "Tree", "field": "tree", "code": "missing_field"}])
        scopes = self.scopes.get(self._token(req))
        may = ("workflow" in scopes) if scopes is not None else self.fine_grained.get(self._token(req), True)
        if not may and self._workflow_paths([str(i.get("path")) for i in items]):
            return self.not_found(req)  # what the Git Data API answers a token without the workflow scope
        base = data.get("base_tree")
        if base is not None and base not in self.trees:
            return self._invalid(req, [{"resource": "Tree", "field": "base_tree", "code": "invalid"}])
        entries = {e["path"]: e for e in (self.trees[base] if base else [])}
        with self.lock:
            for item in items:
                path = str(item.get("path") or "")
                if "content" in item:
                    raw = str(item["content"]).encode()
                    sha = blob_sha(raw)
                    self.blobs[sha] = raw
                else:
                    sha = str(item.get("sha") or "")
                    if sha not in self.blobs:
                        return self._invalid(req, [{"resource": "Tree", "field": "sha", "code": "invalid"}])
                entries[path] = {"path": path, "mode": str(item.get("mode") or "100644"), "type": "blob", "sha": sha}
            sha = self._store_tree(list(entries.values()))
        return json_response({"sha": sha, "tree": self.trees[sha], "truncated": False}, 201)

    @route("GET", R + r"/git/commits/(?P<sha>[0-9a-f]{40})")
    def get_commit(self, req: Request) -> Response:
        found = self.commits.get(req.params["sha"])
        if self._fleet(req) is None or found is None:
            return self.not_found(req)
        return json_response({"sha": req.params["sha"], "message": found["message"], "tree": {"sha": found["tree"]},
                              "parents": [{"sha": p} for p in found["parents"]]})

    @route("POST", R + r"/git/commits")
    def create_commit(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        if self._perm(req, "contents") not in (None, "write"):
            return self._not_accessible()
        data = req.json() or {}
        tree, parents = data.get("tree"), list(data.get("parents") or [])
        if tree not in self.trees or any(p not in self.commits for p in parents):
            return self._invalid(req, [{"resource": "Commit", "field": "tree", "code": "invalid"}])
        with self.lock:
            sha = _sha("commit", {"tree": tree, "parents": parents, "message": data.get("message"), "n": self._id()})
            self.commits[sha] = {"tree": tree, "parents": parents, "message": str(data.get("message") or "")}
        return json_response({"sha": sha, "tree": {"sha": tree}, "parents": [{"sha": p} for p in parents]}, 201)

    def _changed_workflows(self, repo: FleetRepo, sha: str) -> list[str]:
        base = repo.refs.get(f"heads/{repo.default_branch}")
        old = {e["path"]: e["sha"] for e in self.trees[self.commits[base]["tree"]]} if base else {}
        new = {e["path"]: e["sha"] for e in self.trees[self.commits[sha]["tree"]]}
        return self._workflow_paths([p for p in new if old.get(p) != new[p]])

    def _ref_refused(self, req: Request, repo: FleetRepo, sha: str) -> Response | None:
        if self._perm(req, "contents") not in (None, "write"):
            return self._not_accessible()
        changed = self._changed_workflows(repo, sha)
        if changed and self._perm(req, "workflows") not in (None, "write"):
            return self._err(422, f"refusing to allow a GitHub App to create or update workflow `{changed[0]}` "
                             "without `workflows` permission")
        return None

    @route("POST", R + r"/git/refs")
    def create_ref(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        data = req.json() or {}
        ref, sha = str(data.get("ref") or ""), str(data.get("sha") or "")
        if not ref.startswith("refs/") or ref.count("/") < 2 or sha not in self.commits:
            return self._err(422, "Reference update failed" if sha in self.commits else "Object does not exist")
        refused = self._ref_refused(req, repo, sha)
        if refused:
            return refused
        if repo.block_branch_creation:
            return self._err(422, "Repository rule violations found\n\nCannot create ref due to creations being "
                             "restricted.\n\n")
        with self.lock:
            if ref[5:] in repo.refs:
                return self._err(422, "Reference already exists")
            repo.refs[ref[5:]] = sha
        return json_response({"ref": ref, "object": {"sha": sha, "type": "commit"}}, 201)

    @route("GET", R + r"/git/ref/(?P<ref>.+)")
    def get_ref(self, req: Request) -> Response:
        repo = self._fleet(req)
        sha = repo.refs.get(req.params["ref"]) if repo else None
        if sha is None:
            return self.not_found(req)
        return json_response({"ref": "refs/" + req.params["ref"], "object": {"sha": sha, "type": "commit"}})

    @route("PATCH", R + r"/git/refs/(?P<ref>.+)")
    def update_ref(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None or req.params["ref"] not in repo.refs:
            return self._err(422, "Reference does not exist")
        data = req.json() or {}
        sha = str(data.get("sha") or "")
        if sha not in self.commits:
            return self._err(422, "Object does not exist")
        refused = self._ref_refused(req, repo, sha)
        if refused:
            return refused
        current = repo.refs[req.params["ref"]]
        if not data.get("force") and current not in self._ancestors(sha):
            return self._err(422, "Update is not a fast forward")
        with self.lock:
            repo.refs[req.params["ref"]] = sha
        return json_response({"ref": "refs/" + req.params["ref"], "object": {"sha": sha, "type": "commit"}})

    @route("DELETE", R + r"/git/refs/(?P<ref>.+)")
    def delete_ref(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None or req.params["ref"] not in repo.refs:
            return self._err(422, "Reference does not exist")
        with self.lock:
            del repo.refs[req.params["ref"]]
        return Response(204, b"")

    def _ancestors(self, sha: str) -> set[str]:
        seen: set[str] = set()
        todo = [sha]
        while todo:
            cur = todo.pop()
            if cur in seen or cur not in self.commits:
                continue
            seen.add(cur)
            todo += self.commits[cur]["parents"]
        return seen

    # ----------------------------------------------------------------- pull requests
    def _fleet_pr(self, repo: FleetRepo, pr: dict[str, Any]) -> dict[str, Any]:
        closed = pr.get("closed_at")
        return {
            "id": pr["id"], "number": pr["number"], "state": pr["state"], "title": pr["title"], "body": pr["body"],
            "html_url": f"https://github.example/{repo.full_name}/pull/{pr['number']}",
            "head": {"ref": pr["head"], "sha": repo.refs.get(f"heads/{pr['head']}", "0" * 40),
                     "label": f"{repo.org}:{pr['head']}"},
            "base": {"ref": pr["base"]}, "user": {"login": pr["user"]},
            "closed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(closed)) if closed else None,
            "merged_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(closed)) if pr.get("merged") else None,
        }

    @route("GET", R + r"/pulls")
    def list_pulls(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        state, head = req.query.get("state", "open"), req.query.get("head", "")
        with self.lock:
            out = [self._fleet_pr(repo, p) for p in sorted(repo.pulls, key=lambda p: -p["number"])
                   if (state == "all" or p["state"] == state)
                   and (not head or f"{repo.org}:{p['head']}".lower() == head.lower())]
        return self._page(req, out, req.path)

    @route("POST", R + r"/pulls")
    def create_pull(self, req: Request) -> Response:
        repo = self._fleet(req)
        if repo is None:
            return self.not_found(req)
        if self._perm(req, "pull_requests") not in (None, "write"):
            return self._not_accessible()
        data = req.json() or {}
        head = str(data.get("head") or "").split(":")[-1]
        if f"heads/{head}" not in repo.refs:
            return self._invalid(req, [{"resource": "PullRequest", "field": "head", "code": "invalid"}])
        with self.lock:
            if any(p["head"] == head and p["state"] == "open" for p in repo.pulls):
                return self._invalid(req, [{"resource": "PullRequest", "code": "custom",
                                            "message": f"A pull request already exists for {repo.org}:{head}."}])
            login, _ = self._who(req)
            pr = {"id": self._id(), "number": len(repo.pulls) + 1, "state": "open", "title": data.get("title"),
                  "body": data.get("body") or "", "head": head, "base": data.get("base"), "user": login}
            repo.pulls.append(pr)
            return json_response(self._fleet_pr(repo, pr), 201)

    @route("PATCH", R + r"/pulls/(?P<number>\d+)")
    def update_pull(self, req: Request) -> Response:
        repo = self._fleet(req)
        pr = next((p for p in repo.pulls if str(p["number"]) == req.params["number"]), None) if repo else None
        if repo is None or pr is None:
            return self.not_found(req)
        if self._perm(req, "pull_requests") not in (None, "write"):
            return self._not_accessible()
        data = req.json() or {}
        with self.lock:
            for key in ("title", "body", "state"):
                if key in data:
                    pr[key] = data[key]
        return json_response(self._fleet_pr(repo, pr))

    # ----------------------------------------------------------------- rulesets
    def _rulesets(self, req: Request) -> tuple[dict[int, dict[str, Any]] | None, Response | None, str]:
        if "org" in req.params:
            org = self.orgs.get(req.params["org"].lower())
            if org is None:
                return None, self.not_found(req), ""
            if org["plan"] != "enterprise":
                return None, self._err(403, "Upgrade to GitHub Enterprise to enable this feature."), ""
            return org["rulesets"], None, "Organization"
        repo = self._fleet(req)
        if repo is None:
            return None, self.not_found(req), ""
        if repo.visibility != "public" and self._plan(repo) == "free":
            return None, self._err(403, "Upgrade to GitHub Pro or make this repository public to enable this "
                                   "feature."), ""
        return repo.rulesets, None, "Repository"

    @route("GET", r"/orgs/(?P<org>[^/]+)/rulesets")
    def list_org_rulesets(self, req: Request) -> Response:
        return self._list_rulesets(req)

    @route("GET", R + r"/rulesets")
    def list_repo_rulesets(self, req: Request) -> Response:
        return self._list_rulesets(req)

    def _list_rulesets(self, req: Request) -> Response:
        store, error, source = self._rulesets(req)
        if store is None:
            return error or self.not_found(req)
        items = [{"id": i, "name": r["name"], "target": r.get("target"), "source_type": source,
                  "enforcement": r.get("enforcement")} for i, r in sorted(store.items())]
        return self._page(req, items, req.path)

    @route("GET", r"/orgs/(?P<org>[^/]+)/rulesets/(?P<id>\d+)")
    def get_org_ruleset(self, req: Request) -> Response:
        return self._get_ruleset(req)

    @route("GET", R + r"/rulesets/(?P<id>\d+)")
    def get_repo_ruleset(self, req: Request) -> Response:
        return self._get_ruleset(req)

    def _get_ruleset(self, req: Request) -> Response:
        store, error, source = self._rulesets(req)
        if store is None:
            return error or self.not_found(req)
        found = store.get(int(req.params["id"]))
        if found is None:
            return self.not_found(req)
        return json_response({"id": int(req.params["id"]), "source_type": source, **found,
                              "created_at": "2026-01-01T00:00:00Z", "_links": {}})

    @route("POST", r"/orgs/(?P<org>[^/]+)/rulesets")
    def create_org_ruleset(self, req: Request) -> Response:
        return self._put_ruleset(req, None, "organization_administration")

    @route("PUT", r"/orgs/(?P<org>[^/]+)/rulesets/(?P<id>\d+)")
    def update_org_ruleset(self, req: Request) -> Response:
        return self._put_ruleset(req, int(req.params["id"]), "organization_administration")

    @route("POST", R + r"/rulesets")
    def create_repo_ruleset(self, req: Request) -> Response:
        return self._put_ruleset(req, None, "administration")

    @route("PUT", R + r"/rulesets/(?P<id>\d+)")
    def update_repo_ruleset(self, req: Request) -> Response:
        return self._put_ruleset(req, int(req.params["id"]), "administration")

    def _put_ruleset(self, req: Request, ident: int | None, permission: str) -> Response:
        store, error, _ = self._rulesets(req)
        if store is None:
            return error or self.not_found(req)
        if self._perm(req, permission) not in (None, "write"):
            return self._not_accessible()
        data = req.json() or {}
        if not data.get("name") or data.get("enforcement") not in ("active", "evaluate", "disabled"):
            return self._invalid(req, [{"resource": "Ruleset", "field": "enforcement", "code": "invalid"}])
        for rule in data.get("rules") or []:
            if rule.get("type") == "workflows":
                for wf in (rule.get("parameters") or {}).get("workflows") or []:
                    if not str(wf.get("path", "")).startswith(".github/workflows/"):
                        return self._invalid(req, [], "Invalid rule 'workflows': path must be in .github/workflows")
        with self.lock:
            if ident is None:
                if any(r["name"] == data["name"] for r in store.values()):
                    return self._invalid(req, [], "Name must be unique")
                ident = self._id()
            elif ident not in store:
                return self.not_found(req)
            store[ident] = data
        return json_response({"id": ident, **data}, 201 if req.method == "POST" else 200)
