"""Bitbucket Cloud (REST 2.0) and Data Center (REST /rest/api/latest) double, with a Git LFS batch API.

Its git side is the real smart-HTTP server (``tests/stack/gitserver.py``): pass the :class:`GitServer` and
creating a repository here creates the bare repository there, and every credential registered here is
registered there with the permission its scopes give (read or write), so git and REST agree.

Faithful to the research note: user API tokens authenticate REST as ``Basic email:token`` (a username is
refused), access tokens as ``Bearer`` (and are not accepted by ``/2.0/user``), app passwords as ``Basic
username:password`` and, once removed, answer 401 or 410. Cloud errors are ``{"type":"error","error":
{"message"}}``, Data Center errors ``{"errors":[{"context","message","exceptionName"}]}``; scopes come back
in ``X-OAuth-Scopes``, the Data Center user in ``X-AUSERNAME``; 429 carries ``Retry-After`` and
``X-RateLimit-*`` headers. Everything is in :attr:`transcript` (``calls()``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.base import DoubleServer, Fault, RateLimiter, Request, Response, json_response, route

WRITE = {"repository:write", "repository:admin", "write:repository:bitbucket", "admin:repository:bitbucket"}
ADMIN = {"repository:admin", "admin:repository:bitbucket"}
USER_SCOPES = {"account", "read:user:bitbucket", "read:account"}
API_TOKEN_SCOPES = ["read:user:bitbucket", "read:repository:bitbucket", "write:repository:bitbucket",
                    "admin:repository:bitbucket"]
ACCESS_TOKEN_SCOPES = ["repository", "repository:write", "repository:admin"]
INVALID = "Token is invalid, expired, or not supported for this endpoint."
LFS_JSON = "application/vnd.git-lfs+json"
SLUG = re.compile(r"[a-z0-9._-]+")


@dataclass
class Cred:
    kind: str  # api-token | access-token | app-password
    secret: str
    user: str = ""  # api-token: email; app-password: username; access token: ""
    scopes: list[str] = field(default_factory=list)
    repos: list[str] | None = None  # a repository access token sees only these full names
    permission: str = "write"  # the user's repository permission (read | write | admin)
    gone: int = 0  # a removed app password answers 401 or 410
    nickname: str = "mirror-bot"
    project_admin: list[str] = field(default_factory=list)  # DC projects this credential administers

    @property
    def writes(self) -> bool:
        return bool(set(self.scopes) & WRITE) and self.permission in ("write", "admin")

    @property
    def admin(self) -> bool:
        return bool(set(self.scopes) & ADMIN)


def cloud_error(status: int, message: str, **headers: str) -> Response:
    return json_response({"type": "error", "error": {"message": message}}, status, **headers)


def dc_error(status: int, message: str, exception: str) -> Response:
    return json_response({"errors": [{"context": None, "message": message, "exceptionName": exception}]}, status)


class BitbucketDouble(DoubleServer):
    name = "bitbucket"

    def __init__(self, git_server: Any = None, *, rate_limit: int = 1000, window: float = 60.0) -> None:
        super().__init__()
        self.git = git_server
        self.creds: dict[str, Cred] = {}
        self.workspaces: dict[str, list[str]] = {}  # workspace -> project keys
        self.projects: dict[str, str] = {}  # DC project KEY -> name
        self.repos: dict[str, dict[str, Any]] = {}  # "ws/slug" or "KEY/slug" -> repository JSON
        self.lfs: dict[tuple[str, str], bytes] = {}
        self.limiter = RateLimiter(rate_limit, window)

    # ------------------------------------------------------------------ setup
    def add_workspace(self, ws: str, projects: list[str] | None = None) -> None:
        self.workspaces[ws] = list(projects or ["PROJ"])

    def add_project(self, key: str, name: str | None = None) -> None:
        self.projects[key] = name or key.title()

    def add_credential(self, kind: str, secret: str, *, user: str = "", scopes: list[str] | None = None,
                       repos: list[str] | None = None, permission: str = "write", gone: int = 0,
                       project_admin: list[str] | None = None) -> Cred:
        if scopes is None:
            scopes = API_TOKEN_SCOPES if kind == "api-token" else ACCESS_TOKEN_SCOPES + (
                ["account"] if kind == "app-password" else [])
        cred = Cred(kind, secret, user, list(scopes), repos, permission, gone, project_admin=project_admin or [])
        self.creds[secret] = cred
        if self.git is not None and not gone:
            self.git.add_token(secret, "write" if cred.writes else "read", label=kind)
        return cred

    def repo_name(self, full: str) -> str:
        """The git server's repository path for a full name."""
        return f"{full.lower()}.git"

    def create_repo(self, namespace: str, slug: str, name: str, platform: str, **extra: Any) -> dict[str, Any]:
        full = f"{namespace}/{slug}"
        if self.git is not None:
            self.git.create_repo(self.repo_name(full))
        https = self.git.url(self.repo_name(full)) if self.git is not None else f"https://bitbucket.org/{full}.git"
        if platform == "cloud":
            data = {
                "type": "repository", "full_name": full, "slug": slug, "name": name, "scm": "git",
                "is_private": extra.get("is_private", True), "fork_policy": extra.get("fork_policy", "allow_forks"),
                "project": {"key": extra.get("project") or self.workspaces.get(namespace, ["PROJ"])[0]},
                "links": {"clone": [{"name": "https", "href": https.replace("://", "://mirror-bot@", 1)},
                                    {"name": "ssh", "href": f"git@bitbucket.org:{full}.git"}]},
            }
        else:
            data = {
                "slug": slug, "id": len(self.repos) + 1, "name": name, "scmId": "git", "state": "AVAILABLE",
                "forkable": extra.get("forkable", True), "public": extra.get("public", False),
                "project": {"key": namespace, "name": self.projects.get(namespace, namespace)},
                "links": {"clone": [{"name": "http", "href": https},
                                    {"name": "ssh", "href": f"ssh://git@bitbucket.example.com:7999/{full.lower()}.git"}]},
            }
        self.repos[full] = data
        return data

    # ------------------------------------------------------------------- auth
    def _cred(self, req: Request) -> tuple[Cred | None, str]:
        bearer = req.bearer()
        if bearer is not None:
            cred = self.creds.get(bearer)
            return (cred, "bearer") if cred else (None, "bearer")
        basic = req.basic()
        if basic is None:
            return None, "none"
        user, secret = basic
        cred = self.creds.get(secret)
        if cred is None:
            return None, "basic"
        if req.path.startswith("/lfs/"):
            return cred, "basic"  # git-side credential: any username with the token as password
        if cred.kind == "access-token":
            return cred if req.path.startswith("/rest/") else None, "basic"  # Cloud: access tokens are Bearer
        if cred.kind == "api-token" and req.path.startswith("/2.0/") and user != cred.user:
            return None, "basic"  # API tokens want the account email for REST
        if cred.kind == "app-password" and user != cred.user:
            return None, "basic"
        return cred, "basic"

    def authenticate(self, req: Request) -> Response | None:
        cred, how = self._cred(req)
        dc = req.path.startswith("/rest/")
        if cred is None or (cred.kind == "api-token" and how == "bearer" and not dc):
            if dc:
                return dc_error(401, "Authentication failed. Please check your credentials and try again.",
                                "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException")
            if req.path.startswith("/lfs/"):
                return json_response({"message": "Credentials needed"}, 401,
                                     **{"LFS-Authenticate": 'Basic realm="Git LFS"', "Content-Type": LFS_JSON})
            return cloud_error(401, INVALID, **{"WWW-Authenticate": 'Basic realm="Bitbucket.org HTTP"'})
        if cred.gone:
            msg = ("App passwords are no longer supported. Use an API token instead." if cred.gone == 410
                   else "Bitbucket app passwords have been removed.")
            return cloud_error(cred.gone, msg)
        req.params["_cred"] = cred.secret
        return None

    def rate_limit(self, req: Request) -> Response | None:
        key = req.params.get("_cred", req.client)
        wait = self.limiter.allow(key)
        if wait:
            headers = {"Retry-After": str(max(1, round(wait))), "X-RateLimit-Limit": str(self.limiter.limit),
                       "X-RateLimit-Resource": "api", "X-RateLimit-NearLimit": "true"}
            if req.path.startswith("/rest/"):
                return Response(429, {"errors": [{"message": "Rate limit exceeded."}]}, headers)
            return cloud_error(429, "Rate limit for this resource has been exceeded", **headers)
        return None

    def fault_response(self, fault: Fault, req: Request) -> Response:
        if fault.body is not None:
            return Response(fault.status, fault.body, dict(fault.headers))
        if req.path.startswith("/rest/"):
            return Response(fault.status, {"errors": [{"message": f"HTTP {fault.status}"}]}, dict(fault.headers))
        return Response(fault.status, {"type": "error", "error": {"message": f"HTTP {fault.status}"}},
                        dict(fault.headers))

    def not_found(self, req: Request) -> Response:
        if req.path.startswith("/rest/"):
            return dc_error(404, "Not found", "com.atlassian.bitbucket.NoSuchResourceException")
        return cloud_error(404, "Resource not found")

    def me(self, req: Request) -> Cred:
        return self.creds[req.params["_cred"]]

    def _scoped(self, req: Request, resp: Response) -> Response:
        resp.headers.setdefault("X-OAuth-Scopes", ", ".join(self.me(req).scopes))
        return resp

    def _visible(self, cred: Cred, full: str) -> bool:
        return cred.repos is None or full in cred.repos

    # ------------------------------------------------------------------ Cloud
    @route("GET", r"/2\.0/user")
    def user(self, req: Request) -> Response:
        cred = self.me(req)
        if cred.kind == "access-token":
            return cloud_error(401, INVALID)
        if not set(cred.scopes) & USER_SCOPES:
            return cloud_error(403, "Your credentials lack one or more required privilege scopes.")
        return self._scoped(req, json_response({
            "type": "user", "username": cred.user.split("@")[0], "display_name": "Mirror Bot",
            "account_id": "557058:mirror", "uuid": "{00000000-0000-0000-0000-000000000001}"}))

    @route("GET", r"/2\.0/workspaces/(?P<ws>[^/]+)")
    def workspace(self, req: Request) -> Response:
        cred, ws = self.me(req), req.params["ws"]
        if cred.repos is not None:
            return cloud_error(403, "Access denied. You must have write or admin access.")
        if ws not in self.workspaces:
            return cloud_error(404, f"No workspace with identifier '{ws}'.")
        return self._scoped(req, json_response({"type": "workspace", "slug": ws, "name": ws}))

    @route("GET", r"/2\.0/repositories/(?P<ws>[^/]+)/(?P<slug>[^/]+)")
    def get_repo(self, req: Request) -> Response:
        cred, full = self.me(req), f"{req.params['ws']}/{req.params['slug']}"
        if full not in self.repos or not self._visible(cred, full):
            return self._scoped(req, cloud_error(404, f"Repository {full} not found"))
        return self._scoped(req, json_response(self.repos[full]))

    @route("POST", r"/2\.0/repositories/(?P<ws>[^/]+)/(?P<slug>[^/]+)")
    def post_repo(self, req: Request) -> Response:
        cred, ws, slug = self.me(req), req.params["ws"], req.params["slug"]
        body = req.json() or {}
        if ws not in self.workspaces:
            return cloud_error(404, f"No workspace with identifier '{ws}'.")
        if not SLUG.fullmatch(slug):
            return cloud_error(400, "Invalid slug")
        if cred.repos is not None or not cred.admin:
            return cloud_error(403, "Your credentials lack one or more required privilege scopes.")
        if body.get("scm", "git") != "git":
            return json_response({"type": "error", "error": {"message": "Bad request", "fields": {
                "scm": ["Only git is supported."]}}}, 400)
        full = f"{ws}/{slug}"
        if full in self.repos:
            return json_response({"type": "error", "error": {"message": "Repository with this Slug and Owner "
                                  "already exists.", "fields": {"name": ["Repository with this name already exists "
                                                                         "for this owner."]}}}, 400)
        key = (body.get("project") or {}).get("key")
        if key and key not in self.workspaces[ws]:
            return json_response({"type": "error", "error": {"message": "Bad request", "fields": {
                "project": ["The project does not exist."]}}}, 400)
        if body.get("fork_policy", "allow_forks") not in ("allow_forks", "no_public_forks", "no_forks"):
            return json_response({"type": "error", "error": {"message": "Bad request", "fields": {
                "fork_policy": ["Invalid fork policy."]}}}, 400)
        data = self.create_repo(ws, slug, body.get("name") or slug, "cloud", is_private=body.get("is_private", True),
                                fork_policy=body.get("fork_policy", "allow_forks"), project=key)
        return self._scoped(req, json_response(data))

    @route("GET", r"/2\.0/user/permissions/repositories")
    def repo_permissions(self, req: Request) -> Response:
        cred = self.me(req)
        if cred.kind == "access-token":
            return cloud_error(401, INVALID)
        m = re.fullmatch(r'repository\.full_name="([^"]+)"', req.query.get("q", ""))
        values = []
        for full, data in self.repos.items():
            if m and m.group(1) != full:
                continue
            values.append({"type": "repository_permission", "permission": cred.permission,
                           "repository": {"type": "repository", "full_name": full, "name": data.get("name")}})
        return self._scoped(req, json_response({"pagelen": 10, "page": 1, "size": len(values), "values": values}))

    # ------------------------------------------------------------ Data Center
    def _dc_headers(self, req: Request, resp: Response) -> Response:
        cred = self.me(req)
        resp.headers["X-AUSERNAME"] = cred.user or cred.nickname
        return resp

    @route("GET", r"/rest/api/(?:latest|1\.0)/projects/(?P<key>[^/]+)")
    def dc_project(self, req: Request) -> Response:
        key = req.params["key"]
        if key not in self.projects:
            return dc_error(404, f"Project {key} does not exist.", "com.atlassian.bitbucket.project.NoSuchProjectException")
        return self._dc_headers(req, json_response({"key": key, "name": self.projects[key], "id": 1, "type": "NORMAL"}))

    @route("GET", r"/rest/api/(?:latest|1\.0)/projects")
    def dc_projects(self, req: Request) -> Response:
        cred = self.me(req)
        values = [{"key": k, "name": n} for k, n in self.projects.items()
                  if req.query.get("permission") != "PROJECT_ADMIN" or k in cred.project_admin]
        return self._dc_headers(req, json_response({"size": len(values), "limit": 25, "isLastPage": True,
                                                     "values": values, "start": 0}))

    @route("GET", r"/rest/api/(?:latest|1\.0)/projects/(?P<key>[^/]+)/repos/(?P<slug>[^/]+)")
    def dc_repo(self, req: Request) -> Response:
        full = f"{req.params['key']}/{req.params['slug']}"
        if full not in self.repos or not self._visible(self.me(req), full):
            return dc_error(404, f"Repository {full} does not exist.",
                            "com.atlassian.bitbucket.repository.NoSuchRepositoryException")
        return self._dc_headers(req, json_response(self.repos[full]))

    @route("POST", r"/rest/api/(?:latest|1\.0)/projects/(?P<key>[^/]+)/repos")
    def dc_create(self, req: Request) -> Response:
        cred, key = self.me(req), req.params["key"]
        body = req.json() or {}
        if key not in self.projects:
            return dc_error(404, f"Project {key} does not exist.", "com.atlassian.bitbucket.project.NoSuchProjectException")
        if key not in cred.project_admin:
            return dc_error(401, "You are not permitted to access this resource",
                            "com.atlassian.bitbucket.AuthorisationException")
        name = str(body.get("name") or "")
        if not name or body.get("scmId", "git") != "git":
            return dc_error(400, "The repository name and scmId 'git' are required.",
                            "com.atlassian.bitbucket.validation.ArgumentValidationException")
        slug = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9._-]+", "-", name.lower())).strip("-.")
        if f"{key}/{slug}" in self.repos:
            return dc_error(409, "This repository URL is already taken.",
                            "com.atlassian.bitbucket.repository.DuplicateRepositoryNameException")
        data = self.create_repo(key, slug, name, "datacenter", forkable=body.get("forkable", True),
                                public=body.get("public", False))
        return self._dc_headers(req, json_response(data, 201))

    @route("GET", r"/rest/api/(?:latest|1\.0)/repos")
    def dc_repos(self, req: Request) -> Response:
        cred = self.me(req)
        q = req.query
        values = []
        for full, data in self.repos.items():
            if "projectkey" in q and data.get("project", {}).get("key") != q["projectkey"]:
                continue
            if "name" in q and q["name"].lower() not in str(data.get("name", "")).lower():
                continue
            if q.get("permission") in ("REPO_WRITE", "REPO_ADMIN") and not cred.writes:
                continue
            if not self._visible(cred, full) or "scmId" not in data:
                continue
            values.append(data)
        return self._dc_headers(req, json_response({"size": len(values), "limit": 100, "isLastPage": True,
                                                     "values": values, "start": 0}))

    # -------------------------------------------------------------- Git LFS
    @route("POST", r"/lfs/(?P<repo>.+)/objects/batch")
    def lfs_batch(self, req: Request) -> Response:
        cred, repo = self.me(req), req.params["repo"]
        body = req.json() or {}
        op = body.get("operation")
        if op not in ("upload", "download"):
            return json_response({"message": "operation must be upload or download"}, 422, **{"Content-Type": LFS_JSON})
        if op == "upload" and not cred.writes:
            return json_response({"message": "write access required"}, 403, **{"Content-Type": LFS_JSON})
        objects = []
        auth = req.header("authorization")
        for obj in body.get("objects") or []:
            oid, size = str(obj.get("oid")), int(obj.get("size", 0))
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            href = f"{self.url}/lfs/{repo}/objects/{oid}"
            if op == "upload":
                if (repo, oid) not in self.lfs:
                    entry["actions"] = {"upload": {"href": href, "header": {"Authorization": auth}, "expires_in": 3600}}
            elif (repo, oid) in self.lfs:
                entry["actions"] = {"download": {"href": href, "header": {"Authorization": auth}, "expires_in": 3600}}
            else:
                entry["error"] = {"code": 404, "message": "Object does not exist"}
            objects.append(entry)
        return Response(200, json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}),
                        {"Content-Type": LFS_JSON})

    @route("PUT", r"/lfs/(?P<repo>.+)/objects/(?P<oid>[0-9a-f]{64})")
    def lfs_put(self, req: Request) -> Response:
        if not self.me(req).writes:
            return json_response({"message": "write access required"}, 403)
        if hashlib.sha256(req.body).hexdigest() != req.params["oid"]:
            return json_response({"message": "content does not match the oid"}, 422)
        self.lfs[(req.params["repo"], req.params["oid"])] = req.body
        return Response(200, b"")

    @route("GET", r"/lfs/(?P<repo>.+)/objects/(?P<oid>[0-9a-f]{64})")
    def lfs_get(self, req: Request) -> Response:
        data = self.lfs.get((req.params["repo"], req.params["oid"]))
        if data is None:
            return json_response({"message": "Object does not exist"}, 404)
        return Response(200, data)

    def lfs_url(self, repo: str) -> str:
        return f"{self.url}/lfs/{repo}"
