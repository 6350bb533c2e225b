"""An ArgoCD API server double, faithful to the parts argocd-wait uses (see the research note gitops-argocd.md).

* Auth: ``Authorization: Bearer <jwt>`` or the ``argocd.token`` cookie. Tokens are real HS256 JWTs signed by the
  double (``iss: argocd``, ``sub``, ``iat``, ``exp`` for session tokens, ``jti``); a missing token answers 401
  ``no session information``, a bad signature or an expired one 401 ``invalid session: ...`` (gRPC code 16).
  ``POST /api/v1/session {"username","password"}`` mints a session token (and sets the cookie).
* RBAC, as ``getAppEnforceRBAC`` does it: a subject may ``get`` applications of some projects; a missing
  application or one in a project the subject cannot read answers **403 permission denied (code 7)** unless the
  request names a ``project``, in which case it is **404 (code 5)** ``applications.argoproj.io "x" not found``.
* ``GET /api/v1/applications/{name}?appNamespace=&project=&refresh=``: every GET plays the next *frame* of the
  application's script (the last one sticks). With ``refresh`` the double sets the
  ``argocd.argoproj.io/refresh`` annotation, a "controller" thread clears it after ``refresh_delay`` seconds and
  stamps ``status.reconciledAt``, and the GET blocks until then, like the real server. The ``refresh-deadline``
  fault (:meth:`ArgoCDDouble.stall_refresh`) leaves the annotation in place: the GET answers, after
  ``refresh_deadline`` seconds, 500 ``application refresh deadline exceeded`` (code 2).
* Errors are grpc-gateway shaped: ``{"error", "code", "message", "details"}``.
* Unknown ``/api/`` paths 404 (code 5); any other path is the UI: 200 ``text/html`` (as the real server).

Frames are built with :func:`frame`; timestamps with :func:`ts` (seconds relative to now).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response, json_response, route

REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"


def ts(offset: float = 0.0) -> str:
    """An RFC 3339 UTC timestamp ``offset`` seconds from now (ArgoCD's format: second precision, ``Z``)."""
    return datetime.fromtimestamp(time.time() + offset, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def grpc_error(status: int, code: int, message: str) -> Response:
    return json_response({"error": message, "code": code, "message": message, "details": []}, status)


def frame(
    revision: str | None = None,
    *,
    sync: str = "Synced",
    health: str = "Healthy",
    health_message: str = "",
    revisions: list[str] | None = None,
    phase: str | None = None,
    op_message: str = "",
    op_revision: str | None = None,
    started: str | None = None,
    finished: str | None = None,
    retry_count: int | None = None,
    reconciled: str | None = None,
    conditions: list[tuple[str, str]] | None = None,
    pending_operation: bool = False,
    resources: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One poll's worth of Application status (``status`` plus the top-level ``operation``)."""
    status: dict[str, Any] = {
        "sync": {"status": sync, "comparedTo": {"source": {}, "destination": {}}},
        "health": {"status": health},
        "sourceType": "Kustomize",
    }
    if revision is not None:
        status["sync"]["revision"] = revision
    if revisions is not None:
        status["sync"]["revisions"] = revisions
        status["sourceTypes"] = ["Kustomize"] * len(revisions)
    if health_message:
        status["health"]["message"] = health_message
    if phase:
        op_state: dict[str, Any] = {
            "operation": {"sync": {"revision": op_revision or revision or ""}, "initiatedBy": {"automated": True}},
            "phase": phase,
            "message": op_message,
            "startedAt": started or ts(-5),
        }
        if phase not in ("Running", "Terminating"):
            op_state["finishedAt"] = finished or ts(-1)
            op_state["syncResult"] = {"revision": op_revision or revision or "", "resources": []}
        elif finished:
            op_state["finishedAt"] = finished
        if retry_count is not None:
            op_state["retryCount"] = retry_count
        status["operationState"] = op_state
    if reconciled is not None:
        status["reconciledAt"] = reconciled
    if conditions:
        status["conditions"] = [
            {"type": kind, "message": message, "lastTransitionTime": ts(-1)} for kind, message in conditions
        ]
    if resources is not None:
        status["resources"] = resources
    result: dict[str, Any] = {"status": status}
    if pending_operation:
        result["operation"] = {"sync": {"revision": revision or ""}, "initiatedBy": {"username": "admin"}}
    return result


@dataclass
class App:
    name: str
    namespace: str
    project: str
    frames: list[dict[str, Any]]
    status: dict[str, Any] = field(default_factory=dict)
    operation: dict[str, Any] | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    resource_version: int = 1000
    polls: int = 0
    stalled_refreshes: int = 0
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def advance(self) -> None:
        """Play the next frame (the last one sticks). reconciledAt carries over unless the frame sets it."""
        self.polls += 1
        if not self.frames:
            return
        current = self.frames.pop(0) if len(self.frames) > 1 else self.frames[0]
        status = json.loads(json.dumps(current["status"]))
        if "reconciledAt" not in status and "reconciledAt" in self.status:
            status["reconciledAt"] = self.status["reconciledAt"]
        self.status = status
        self.operation = current.get("operation")
        self.resource_version += 1

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "uid": self.uid,
                "resourceVersion": str(self.resource_version),
                "generation": 7,
                "creationTimestamp": "2024-01-01T00:00:00Z",
                "annotations": dict(self.annotations),
            },
            "spec": {
                "project": self.project,
                "source": {"repoURL": "https://github.com/acme/config.git", "path": f"apps/{self.name}",
                           "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": self.name},
                "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            },
            "status": json.loads(json.dumps(self.status)),
        }
        if self.operation:
            doc["operation"] = self.operation
        return doc


class ArgoCDDouble(DoubleServer):
    name = "argocd"

    def __init__(self, *, refresh_delay: float = 0.02, refresh_deadline: float = 0.5,
                 default_namespace: str = "argocd") -> None:
        super().__init__()
        self.key = secrets.token_bytes(32)
        self.users: dict[str, str] = {}
        self.rbac: dict[str, set[str]] = {}  # subject -> projects it may `get` applications in ("*": all)
        self.apps: dict[tuple[str, str], App] = {}
        self.refresh_delay = refresh_delay
        self.refresh_deadline = refresh_deadline
        self.default_namespace = default_namespace
        self.changed = threading.Condition(self.lock)

    def start(self) -> ArgoCDDouble:
        # a short shutdown poll keeps per-test teardown fast
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.name, daemon=True)
        self._thread.start()
        return self

    # ------------------------------------------------------------------ setup
    def add_user(self, username: str, password: str, projects: set[str] | None = None) -> None:
        self.users[username] = password
        self.rbac[username] = projects if projects is not None else {"*"}

    def issue_token(self, subject: str = "ci", *, projects: set[str] | None = None, expires_in: float | None = None,
                    api_key: bool = True) -> str:
        """A token as `argocd account generate-token` (``sub: <account>:apiKey``) or a session token."""
        self.rbac.setdefault(subject, projects if projects is not None else {"*"})
        if projects is not None:
            self.rbac[subject] = projects
        now = int(time.time())
        claims: dict[str, Any] = {"iss": "argocd", "sub": f"{subject}:apiKey" if api_key else subject,
                                  "nbf": now, "iat": now, "jti": str(uuid.uuid4())}
        if expires_in is not None:
            claims["exp"] = now + int(expires_in)
        return self._sign(claims)

    def add_app(self, name: str, frames: list[dict[str, Any]], *, project: str = "default",
                namespace: str | None = None) -> App:
        app = App(name, namespace or self.default_namespace, project, list(frames))
        app.status = {"reconciledAt": ts(-60)}
        with self.lock:
            self.apps[(app.namespace, name)] = app
        return app

    def app(self, name: str, namespace: str | None = None) -> App:
        return self.apps[(namespace or self.default_namespace, name)]

    def rotate_key(self) -> None:
        """Change the server's signing key (``server.secretkey``): every token issued so far stops working."""
        with self.lock:
            self.key = secrets.token_bytes(32)

    def stall_refresh(self, name: str, count: int = 1, namespace: str | None = None) -> None:
        """The ``refresh-deadline`` fault: the next ``count`` refreshes of this app never complete."""
        with self.lock:
            self.app(name, namespace).stalled_refreshes += count

    # ------------------------------------------------------------------ tokens
    @staticmethod
    def _b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def _sign(self, claims: dict[str, Any]) -> str:
        head = self._b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = self._b64(json.dumps(claims).encode())
        sig = hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{self._b64(sig)}"

    def _verify(self, token: str) -> tuple[dict[str, Any] | None, str]:
        parts = token.split(".")
        if len(parts) != 3:
            return None, "invalid session: token contains an invalid number of segments"
        expected = self._b64(hmac.new(self.key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return None, "invalid session: token signature is invalid"
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        if "exp" in claims and claims["exp"] < time.time():
            return None, "invalid session: token has invalid claims: token is expired"
        return claims, ""

    @staticmethod
    def _token(req: Request) -> str | None:
        bearer = req.bearer()
        if bearer:
            return bearer
        for part in req.header("cookie").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "argocd.token" and value:
                return value
        return None

    def _subject(self, req: Request) -> str:
        token = self._token(req) or ""
        claims, _ = self._verify(token)
        sub = str((claims or {}).get("sub", ""))
        return sub.split(":", 1)[0]

    def authenticate(self, req: Request) -> Response | None:
        if req.path == "/api/v1/session" and req.method == "POST":
            return None
        token = self._token(req)
        if not token:
            return grpc_error(401, 16, "no session information")
        claims, why = self._verify(token)
        if claims is None:
            return grpc_error(401, 16, why)
        return None

    def fault_response(self, fault: Any, req: Request) -> Response:
        if fault.body is not None:
            return Response(fault.status, fault.body, dict(fault.headers))
        code = {429: 8, 502: 14, 503: 14, 504: 4}.get(fault.status, 13)
        response = grpc_error(fault.status, code, f"injected {fault.status}")
        response.headers.update(fault.headers)
        return response

    def not_found(self, req: Request) -> Response:
        if req.path.startswith("/api/"):
            return grpc_error(404, 5, "Not Found")
        return Response(200, "<!doctype html><html><head><title>Argo CD</title></head><body></body></html>",
                        {"Content-Type": "text/html; charset=utf-8"})

    # ------------------------------------------------------------------ routes
    @route("POST", r"/api/v1/session")
    def create_session(self, req: Request) -> Response:
        try:
            body = req.json() or {}
        except ValueError:
            return grpc_error(400, 3, "invalid character in request body")
        user, password = str(body.get("username", "")), str(body.get("password", ""))
        if not user or self.users.get(user) != password:
            return grpc_error(401, 16, "Invalid username or password")
        token = self.issue_token(user, api_key=False, expires_in=24 * 3600, projects=self.rbac.get(user))
        return Response(200, {"token": token},
                        {"Set-Cookie": f"argocd.token={token}; path=/; SameSite=lax; httpOnly; Secure"})

    @route("GET", r"/api/v1/session/userinfo")
    def userinfo(self, req: Request) -> Response:
        return json_response({"loggedIn": True, "username": self._subject(req), "iss": "argocd"})

    def _allowed(self, subject: str, project: str) -> bool:
        projects = self.rbac.get(subject, set())
        return "*" in projects or project in projects

    @route("GET", r"/api/v1/applications/(?P<name>[^/]+)")
    def get_application(self, req: Request) -> Response:
        name = req.params["name"]
        namespace = req.query.get("appNamespace") or self.default_namespace
        project = req.query.get("project", "")
        subject = self._subject(req)
        denied = grpc_error(403, 7, "permission denied")
        missing = grpc_error(404, 5, f'applications.argoproj.io "{name}" not found')
        if project and not self._allowed(subject, project):
            return denied
        with self.lock:
            app = self.apps.get((namespace, name))
            if app is None:
                return missing if project else denied
            if not self._allowed(subject, app.project):
                return missing if project else denied
            if project and app.project != project:
                return missing
            app.advance()
            if "refresh" not in req.query:
                return json_response(app.document())
            kind = "hard" if req.query["refresh"] == "hard" else "normal"
            app.annotations[REFRESH_ANNOTATION] = kind
            app.resource_version += 1
            stalled = app.stalled_refreshes > 0
            if stalled:
                app.stalled_refreshes -= 1
            else:
                timer = threading.Timer(self.refresh_delay, self._reconcile, args=(app,))
                timer.daemon = True
                timer.start()
            deadline = time.monotonic() + self.refresh_deadline
            while REFRESH_ANNOTATION in app.annotations:
                left = deadline - time.monotonic()
                if left <= 0:
                    return grpc_error(500, 2, "application refresh deadline exceeded")
                self.changed.wait(left)
            return json_response(app.document())

    def _reconcile(self, app: App) -> None:
        """The application controller picking up the refresh annotation."""
        with self.lock:
            app.annotations.pop(REFRESH_ANNOTATION, None)
            app.status["reconciledAt"] = ts(0)
            app.resource_version += 1
            self.changed.notify_all()
