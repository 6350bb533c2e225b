"""Bitbucket Cloud (API 2.0) and Data Center (REST ``/rest/api/latest``): pre-flight, lookup and creation.

The pre-flight answers, before anything is pushed: which credential this is (and whose), does the
workspace/project exist, does the repository exist, and can this credential write to it (or create it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.http import Client
from shipyard.mirror.auth import MIGRATION_FIX, Credential, app_password_warning
from shipyard.runtime import Action, UserError, as_dict

if TYPE_CHECKING:
    import requests

    from shipyard.mirror.transport import Deadline

CLOUD_API = "https://api.bitbucket.org"
CLOUD_WEB = "https://bitbucket.org"
FORK_POLICIES = ("no_public_forks", "allow_forks", "no_forks")
WRITE_SCOPES = frozenset(
    {"repository:write", "repository:admin", "write:repository:bitbucket", "admin:repository:bitbucket"}
)
ADMIN_SCOPES = frozenset({"repository:admin", "admin:repository:bitbucket"})


def slugify(name: str) -> str:
    """Bitbucket's slug rules: lowercase; only ``a-z 0-9 . _ -``; every other run of characters becomes one
    ``-``; no leading/trailing separators."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.strip().lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-.")
    return slug


@dataclass
class Repo:
    platform: str
    namespace: str  # Cloud workspace, DC project key
    slug: str
    name: str
    project: str = ""  # Cloud project key (optional)

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.slug}"

    def path(self) -> str:
        if self.platform == "cloud":
            return f"/2.0/repositories/{self.namespace}/{self.slug}"
        return f"/rest/api/latest/projects/{self.namespace}/repos/{self.slug}"


@dataclass
class Preflight:
    identity: str = ""
    exists: bool = False
    created: bool = False
    can_write: bool | None = None  # None: could not be determined (checked by git before pushing)
    can_create: bool | None = None
    scopes: list[str] = field(default_factory=list)
    clone_urls: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def error_message(response: requests.Response) -> str:
    """Bitbucket's error text: Cloud ``{"type":"error","error":{"message"}}``, DC ``{"errors":[{"message"}]}``."""
    try:
        data = response.json()
    except ValueError:
        return (response.text or "").strip()[:300] or f"HTTP {response.status_code}"
    body = as_dict(data)
    err = as_dict(body.get("error"))
    if err.get("message"):
        fields = as_dict(err.get("fields"))
        extra = "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in fields.items())
        return str(err["message"]) + (f" ({extra})" if extra else "")
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(as_dict(e).get("message", e)) for e in errors)
    return json.dumps(body)[:300] if body else f"HTTP {response.status_code}"


class _BoundedClient(Client):
    """Every request and its retries end within the stage's deadline; a request that gets no answer within
    the deadline's ``io_timeout`` (a server that accepts and never answers) is retried like a 5xx."""

    deadline: Deadline | None = None

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        if self.deadline is not None:
            left = self.deadline.remaining()
            if left <= 0.05:
                raise self.deadline.expired(f"calling Bitbucket ({method} {path})")
            kwargs.setdefault("timeout", min(self.deadline.io_timeout, left))
            kwargs.setdefault("max_elapsed", max(0.0, min(self.max_elapsed, left - self.deadline.io_timeout)))
        return super().request(method, path, **kwargs)


class Bitbucket:
    def __init__(self, action: Action, credential: Credential, repo: Repo, api_url: str,
                 deadline: Deadline | None = None) -> None:
        self.action = action
        self.credential = credential
        self.repo = repo
        self.client = _BoundedClient(action, api_url,
                                     headers={**credential.rest_headers(), "Accept": "application/json"},
                                     name="Bitbucket", timeout=30.0, attempts=5, max_elapsed=120.0)
        self.client.deadline = deadline

    # ------------------------------------------------------------------ errors
    def _auth_failure(self, response: requests.Response, what: str) -> UserError:
        kind = self.credential.kind
        msg = error_message(response)
        if kind == "app-password" and response.status_code in (401, 410):
            return UserError(
                f"Bitbucket refused the app password ({response.status_code}: {msg}) on {what}. "
                + app_password_warning(),
                MIGRATION_FIX,
                input_name="token",
            )
        if response.status_code == 410:
            return UserError(
                f"Bitbucket answered 410 Gone on {what}: this kind of credential has been retired ({msg}).",
                MIGRATION_FIX,
                input_name="token",
            )
        fixes = {
            "api-token": "check `token:` is a current Bitbucket API token and `username:` is the Atlassian account "
            "email it belongs to (API tokens expire; create a new one under Atlassian account -> Security).",
            "access-token": "check `token:` is a current repository/project/workspace access token for "
            f"{self.repo.full_name} (or set `auth:`/`username:` if it is a user API token).",
        }
        return UserError(
            f"Bitbucket rejected the {self.credential.describe()} ({response.status_code}: {msg}) on {what}.",
            fixes.get(kind, "check `token:` and `username:`."),
            input_name="token",
        )

    def _unexpected(self, response: requests.Response, what: str) -> UserError:
        return UserError(
            f"Bitbucket answered {response.status_code} on {what}: {error_message(response)}",
            "check `api-url:` points at the Bitbucket REST API, or retry later if Bitbucket is degraded.",
        )

    @staticmethod
    def _scopes(response: requests.Response) -> list[str]:
        raw = response.headers.get("X-OAuth-Scopes") or ""
        return [s.strip() for s in raw.split(",") if s.strip()]

    # ---------------------------------------------------------------- preflight
    def preflight(self) -> Preflight:
        if self.repo.platform == "cloud":
            return self._preflight_cloud()
        return self._preflight_dc()

    def _preflight_cloud(self) -> Preflight:
        result = Preflight()
        ws, repo = self.repo.namespace, self.repo
        if self.credential.kind in ("api-token", "app-password"):
            r = self.client.get("/2.0/user")
            if r.status_code == 403 and self.credential.kind == "api-token":
                raise UserError(
                    f"The API token may not read the account it belongs to (403: {error_message(r)}).",
                    "create the API token with the read:user:bitbucket scope (plus read:repository:bitbucket and "
                    "write:repository:bitbucket).",
                    input_name="token",
                )
            if r.status_code in (401, 403, 410):
                raise self._auth_failure(r, "GET /2.0/user")
            if r.status_code != 200:
                raise self._unexpected(r, "GET /2.0/user")
            user = as_dict(r.json())
            result.identity = str(user.get("display_name") or user.get("username") or user.get("account_id") or "")
            result.scopes = self._scopes(r)
        r = self.client.get(repo.path())
        if r.status_code in (401, 410):
            raise self._auth_failure(r, f"GET {repo.path()}")
        result.scopes = result.scopes or self._scopes(r)
        if r.status_code == 200:
            result.exists = True
            result.clone_urls = _clone_links(as_dict(r.json()))
        elif r.status_code in (403, 404):
            if self.credential.kind == "access-token" and r.status_code == 403:
                raise UserError(
                    f"The access token can not see {repo.full_name} (403: {error_message(r)}).",
                    f"use an access token of the repository {repo.full_name}, of its project or of the workspace {ws}.",
                    input_name="token",
                )
            w = self.client.get(f"/2.0/workspaces/{ws}")
            if w.status_code == 404:
                raise UserError(
                    f"The Bitbucket workspace '{ws}' does not exist ({error_message(w)}).",
                    "set `workspace:` to the workspace ID shown in the workspace URL (bitbucket.org/<workspace>/).",
                    input_name="workspace",
                )
            if w.status_code in (401, 410):
                raise self._auth_failure(w, f"GET /2.0/workspaces/{ws}")
            if r.status_code == 403:
                raise UserError(
                    f"The {self.credential.describe()} has no access to {repo.full_name} (403: {error_message(r)}).",
                    f"give the account write access to {repo.full_name}.",
                    input_name="token",
                )
        else:
            raise self._unexpected(r, f"GET {repo.path()}")
        scoped = set(result.scopes)
        if result.scopes:
            result.can_write = bool(scoped & WRITE_SCOPES)
            result.can_create = bool(scoped & ADMIN_SCOPES)
        if result.exists and self.credential.kind in ("api-token", "app-password") and result.can_write is not False:
            p = self.client.get(
                "/2.0/user/permissions/repositories", params={"q": f'repository.full_name="{repo.full_name}"'}
            )
            if p.status_code == 200:
                values = as_dict(p.json()).get("values") or []
                perms = {str(as_dict(v).get("permission")) for v in values if isinstance(v, dict)}
                if perms:
                    result.can_write = bool(perms & {"write", "admin"})
                    result.notes.append(f"repository permission: {', '.join(sorted(perms))}")
        if self.credential.kind == "access-token" and not result.exists:
            result.notes.append("a repository access token can not create a repository; a workspace token can")
        return result

    def _preflight_dc(self) -> Preflight:
        result = Preflight()
        key, repo = self.repo.namespace, self.repo
        p = self.client.get(f"/rest/api/latest/projects/{key}")
        if p.status_code in (401, 410):
            raise self._auth_failure(p, f"GET /rest/api/latest/projects/{key}")
        if p.status_code == 404:
            raise UserError(
                f"The Bitbucket project '{key}' does not exist or this credential can not see it "
                f"({error_message(p)}).",
                "set `project:` to the project KEY (upper case, as in /projects/KEY) and give the token access.",
                input_name="project",
            )
        if p.status_code != 200:
            raise self._unexpected(p, f"GET /rest/api/latest/projects/{key}")
        result.identity = p.headers.get("X-AUSERNAME", "")
        r = self.client.get(repo.path())
        if r.status_code in (401, 410):
            raise self._auth_failure(r, f"GET {repo.path()}")
        if r.status_code == 200:
            result.exists = True
            data = as_dict(r.json())
            result.clone_urls = _clone_links(data)
            name = str(data.get("name") or repo.name)
            w = self.client.get(
                "/rest/api/latest/repos",
                params={"projectkey": key, "name": name, "permission": "REPO_WRITE", "limit": "100"},
            )
            if w.status_code == 200:
                slugs = {str(as_dict(v).get("slug")) for v in as_dict(w.json()).get("values") or []}
                result.can_write = repo.slug in slugs
                result.notes.append("REPO_WRITE: " + ("yes" if result.can_write else "no"))
        elif r.status_code != 404:
            raise self._unexpected(r, f"GET {repo.path()}")
        else:
            a = self.client.get("/rest/api/latest/projects", params={"name": key, "permission": "PROJECT_ADMIN"})
            if a.status_code == 200:
                keys = {str(as_dict(v).get("key")) for v in as_dict(a.json()).get("values") or []}
                result.can_create = key in keys
        return result

    # ------------------------------------------------------------------ create
    def create(self, private: bool, fork_policy: str, description: str = "") -> dict[str, str]:
        """Create the repository; returns its clone links. An 'already exists' answer counts as success
        (a retried POST that was applied, or a race with another job)."""
        repo = self.repo
        if repo.platform == "cloud":
            body: dict[str, Any] = {"scm": "git", "is_private": private, "fork_policy": fork_policy, "name": repo.name}
            if repo.project:
                body["project"] = {"key": repo.project}
            if description:
                body["description"] = description
            path = repo.path()
        else:
            body = {"name": repo.name, "scmId": "git", "forkable": fork_policy != "no_forks", "public": not private}
            if description:
                body["description"] = description
            path = f"/rest/api/latest/projects/{repo.namespace}/repos"

        def applied() -> bool:  # before retrying a failed POST: was it applied anyway?
            return self.client.get(repo.path(), retry=False).status_code != 200

        r = self.client.post(path, json=body, before_retry=applied)
        if r.status_code in (200, 201):
            return _clone_links(as_dict(r.json()))
        if r.status_code in (401, 410):
            raise self._auth_failure(r, f"POST {path}")
        message = error_message(r)
        if (r.status_code in (400, 409) and "already" in message.lower()) or r.status_code in (500, 502, 503, 504):
            check = self.client.get(repo.path())
            if check.status_code == 200:
                return _clone_links(as_dict(check.json()))
        if r.status_code == 403:
            need = ("admin:repository:bitbucket (API token) / repository:admin (access token) and the right to "
                    f"create repositories in {repo.namespace}") if repo.platform == "cloud" else (
                    f"PROJECT_ADMIN on project {repo.namespace}")
            raise UserError(
                f"The {self.credential.describe()} may not create {repo.full_name} (403: {message}).",
                f"create the repository by hand, or give the credential {need}.",
                input_name="token",
            )
        if r.status_code == 404:
            what = "workspace" if repo.platform == "cloud" else "project"
            raise UserError(
                f"Bitbucket could not create {repo.full_name}: the {what} '{repo.namespace}' was not found "
                f"({message}).",
                f"set `{what}:` to an existing {what}.",
                input_name=what,
            )
        if r.status_code == 400 and "project" in message.lower():
            raise UserError(
                f"Bitbucket refused the project key '{repo.project}' ({message}).",
                "set `project:` to an existing project KEY of the workspace (Workspace settings -> Projects).",
                input_name="project",
            )
        raise UserError(
            f"Bitbucket refused to create {repo.full_name} ({r.status_code}: {message}).",
            "check `repository:`, `project:` and the credential's permissions.",
        )


def _clone_links(data: dict[str, Any]) -> dict[str, str]:
    links = as_dict(data.get("links")).get("clone") or []
    result: dict[str, str] = {}
    for link in links:
        link = as_dict(link)
        name, href = str(link.get("name", "")), str(link.get("href", ""))
        if name in ("https", "http"):
            name = "https"
        if href:
            # Cloud puts the username in https links (https://user@bitbucket.org/...): drop it.
            result[name] = re.sub(r"^(https?://)[^@/]+@", r"\1", href) if name == "https" else href
    return result
