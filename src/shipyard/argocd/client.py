"""The slice of ArgoCD's REST API this stage uses: ``POST /api/v1/session`` and
``GET /api/v1/applications/{name}`` (with ``?refresh=``).

ArgoCD answers errors as ``{"error", "code", "message", "details"}`` where ``code`` is the gRPC status code.
What each means for the user is spelled out here, because ArgoCD's own words mislead: a missing application
looks exactly like a permission problem (403 ``permission denied``, code 7) unless a project is given, in which
case it is a 404 (code 5).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from shipyard.gitops.inputs import shown
from shipyard.http import Client
from shipyard.runtime import Action, TransientError, UserError

from .apps import AppRef

if TYPE_CHECKING:
    import requests

CREDENTIAL_HELP = (
    "create a new token with `argocd account generate-token --account <ci-account>` (the account needs the "
    "apiKey capability: `accounts.<ci-account>: apiKey` in argocd-cm) and store it as the secret you pass in "
    "`argocd-token`, or give `argocd-username`/`argocd-password`."
)


class RefreshFailed(Exception):
    """A ``?refresh=`` GET that did not complete (deadline exceeded, 5xx, timeout): poll without refresh."""


class ArgoTransient(Exception):
    """ArgoCD was unreachable or kept answering 5xx after the HTTP client's retries."""


def error_fields(response: requests.Response) -> tuple[int | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, " ".join(response.text.split())[:200]
    if not isinstance(body, dict):
        return None, str(body)[:200]
    code = body.get("code")
    message = str(body.get("message") or body.get("error") or "").strip()
    return (code if isinstance(code, int) else None), message


class ArgoClient:
    def __init__(
        self,
        action: Action,
        server: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        insecure: bool = False,
        request_timeout: float = 30.0,
        max_elapsed: float = 60.0,
    ) -> None:
        self.action = action
        self.server = normalise_server(server)
        self.username = username
        self.password = password
        self.request_timeout = request_timeout
        self.http = Client(action, self.server, timeout=request_timeout, max_elapsed=max_elapsed, name="ArgoCD",
                           headers={"Accept": "application/json"})
        if insecure:
            self.http.session.verify = False
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self._lock = threading.Lock()
        self._relogged = False
        self.token = token or ""
        if token:
            action.mask(token)
            self._set_token(token)

    def _set_token(self, token: str) -> None:
        self.token = token
        self.http.session.headers["Authorization"] = f"Bearer {token}"

    # ------------------------------------------------------------------ session
    def login(self) -> None:
        """Mint a session token from username/password (``POST /api/v1/session``); the token is masked."""
        if not self.username or not self.password:
            raise UserError(
                "No ArgoCD credentials: give `argocd-token`, or `argocd-username` and `argocd-password`.",
                CREDENTIAL_HELP, input_name="argocd-token",
            )
        try:
            response = self.http.post("/api/v1/session", json={"username": self.username, "password": self.password})
        except TransientError as exc:
            raise UserError(f"Could not reach ArgoCD at {self.server} to log in: {exc}.",
                            "check `argocd-server` and that the runner can reach it.", input_name="argocd-server")
        body = self._json(response, "POST /api/v1/session")
        if response.status_code == 401:
            _, message = error_fields(response)
            raise UserError(
                f"ArgoCD refused the login of '{self.username}' (401: {message or 'Invalid username or password'}).",
                "check `argocd-username`/`argocd-password`; SSO-only users cannot log in with a password "
                "(use a local account with the login capability, or an API token in `argocd-token`).",
                input_name="argocd-password",
            )
        if response.status_code >= 400 or not isinstance(body.get("token"), str) or not body["token"]:
            _, message = error_fields(response)
            raise UserError(f"ArgoCD login failed ({response.status_code}: {message or 'no token in the answer'}).",
                            CREDENTIAL_HELP, input_name="argocd-username")
        self.action.mask(body["token"])
        self._set_token(body["token"])

    def _json(self, response: requests.Response, what: str) -> dict[str, Any]:
        ctype = response.headers.get("Content-Type", "")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if response.status_code < 400 or "html" in ctype:
                raise UserError(
                    f"{what} on {self.server} answered {response.status_code} with {ctype or 'no content type'}, "
                    "not ArgoCD's JSON.",
                    "set `argocd-server` to the ArgoCD server's base URL (e.g. https://argocd.example.com, no path); "
                    "a proxy or SSO page in front of it must let API calls with a Bearer token through.",
                    input_name="argocd-server",
                )
            return {}
        return data

    # -------------------------------------------------------------- application
    def get_app(self, ref: AppRef, *, refresh: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """One Application. With ``refresh`` ('normal'/'hard') ArgoCD first asks its controller to reconcile and
        answers once that is done; failures of that wait raise :class:`RefreshFailed` (no retry here)."""
        params = ref.query()
        if refresh:
            params["refresh"] = refresh
        path = f"/api/v1/applications/{quote(ref.name, safe='')}"
        req_timeout = max(1.0, min(self.request_timeout, timeout if timeout is not None else self.request_timeout))
        for _ in range(2):
            try:
                response = self.http.get(path, params=params, timeout=req_timeout, retry=not refresh)
            except TransientError as exc:
                if refresh:
                    raise RefreshFailed(str(exc)) from exc
                raise ArgoTransient(str(exc)) from exc
            if response.status_code == 401 and self.password and not self._relogged:
                with self._lock:  # the session expired mid-wait: log in again once
                    if not self._relogged:
                        self._relogged = True
                        self.login()
                continue
            break
        if response.status_code >= 500 or response.status_code == 429:
            _, message = error_fields(response)
            if refresh:
                raise RefreshFailed(f"{response.status_code}: {message}")
            raise ArgoTransient(f"GET {path} answered {response.status_code}: {message}")
        if response.status_code >= 400:
            raise self._app_error(ref, response)
        return self._json(response, f"GET {path}")

    def _app_error(self, ref: AppRef, response: requests.Response) -> UserError:
        code, message = error_fields(response)
        status = response.status_code
        if status == 401:
            return UserError(
                f"ArgoCD rejected the token (401{f', code {code}' if code is not None else ''}: "
                f"{message or 'unauthenticated'}): the token expired or is invalid.",
                CREDENTIAL_HELP, input_name="argocd-token",
            )
        if status == 403:
            scope = f" in project '{ref.project}'" if ref.project else ""
            return UserError(
                f"ArgoCD answered 403 permission denied for application '{ref.label}'{scope}. ArgoCD gives this "
                "same answer when the application does not exist (unless a project is given) or lives in "
                "another namespace, so it means one of: the name is wrong, the app is in another namespace "
                "(write `name@namespace`), or the account lacks `applications, get` on its project.",
                "check the name with `argocd app list`; grant the CI account "
                "`p, role:ci-readonly, applications, get, <project>/*, allow` in argocd-rbac-cm; give "
                "`project/name` to get a clear 404 for a missing app.",
                input_name="applications",
            )
        if status == 404:
            where = f"project '{ref.project}'" if ref.project else "ArgoCD"
            return UserError(
                f"Application '{ref.name}' was not found in {where} (404: {message}).",
                "check the application name and project (`argocd app list -p <project>`), and the namespace for "
                "apps outside ArgoCD's own (`name@namespace`).",
                input_name="applications",
            )
        return UserError(
            f"ArgoCD refused GET application '{ref.label}' ({status}"
            f"{f', code {code}' if code is not None else ''}: {message}).",
            "check the `applications` and `project` inputs.",
            input_name="applications",
        )


_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def normalise_server(server: str) -> str:
    text = server.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    host = parts.netloc.rpartition("@")[2]
    if (parts.scheme not in ("http", "https") or not parts.netloc or server.strip().startswith("-")
            or not _HOST.fullmatch(host)):
        raise UserError(f"Input 'argocd-server' is not a URL: '{shown(server)}'.",
                        "give the ArgoCD server's base URL, e.g. https://argocd.example.com.",
                        input_name="argocd-server")
    if parts.username or parts.password:
        raise UserError("Input 'argocd-server' carries credentials in the URL.",
                        "remove them and pass `argocd-token` (or username/password) instead.",
                        input_name="argocd-server")
    if parts.path.rstrip("/").endswith(("/api/v1", "/applications")) or "/applications/" in parts.path:
        raise UserError("Input 'argocd-server' should be the server's base URL, not an API or UI path: "
                        f"'{shown(server)}'.",
                        "drop the path after the host (keep a path prefix only if ArgoCD runs with --rootpath).",
                        input_name="argocd-server")
    return text
