"""Argo CD's live view of every application in one request (``GET /api/v1/applications``).

An adapter over :class:`shipyard.argocd.client.ArgoClient` (its login, token masking and HTTP retries); the list
call is the one thing it does not have. ``status.summary.images`` comes from live Pods only: a CronJob between
runs or a Deployment scaled to zero lists no image, which is "no live pod", not drift.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shipyard.runtime import Action, TransientError, UserError, as_dict


@dataclass
class LiveApp:
    name: str
    namespace: str
    project: str
    repo_url: str
    paths: list[str]
    sync: str
    health: str
    health_message: str
    revision: str
    images: list[str]
    phase: str
    healthy_since: datetime | None
    conditions: list[str] = field(default_factory=list)


@dataclass
class ArgoView:
    state: str  # ok | unreachable | unauthorized | off
    detail: str = ""
    apps: list[LiveApp] = field(default_factory=list)
    requests: int = 0

    @property
    def known(self) -> bool:
        return self.state == "ok"


def _time(value: object) -> datetime | None:
    from shipyard.argocd.status import parse_time

    return parse_time(value)


def parse_app(doc: dict[str, Any]) -> LiveApp:
    from shipyard.argocd.status import error_conditions, sync_revisions

    meta = as_dict(doc.get("metadata"))
    spec = as_dict(doc.get("spec"))
    status = as_dict(doc.get("status"))
    sources = [as_dict(spec.get("source"))] + [as_dict(s) for s in (spec.get("sources") or [])]
    paths = [posixpath.normpath(str(s["path"]).strip("/")) for s in sources if s.get("path")]
    repo = next((str(s.get("repoURL")) for s in sources if s.get("repoURL")), "")
    health = as_dict(status.get("health"))
    op = as_dict(status.get("operationState"))
    summary = as_dict(status.get("summary"))
    raw_images = summary.get("images")
    images = [i for i in raw_images if isinstance(i, str)] if isinstance(raw_images, list) else []
    revs = sync_revisions(status)
    # When did it become healthy? Argo CD >= 2.x stamps health.lastTransitionTime; older ones: the end of the
    # last successful sync is the closest thing (a pod that went unhealthy later shows as not Healthy now).
    since = _time(health.get("lastTransitionTime"))
    if since is None and op.get("phase") == "Succeeded":
        since = _time(op.get("finishedAt"))
    return LiveApp(
        name=str(meta.get("name", "")), namespace=str(meta.get("namespace", "")), project=str(spec.get("project", "")),
        repo_url=repo, paths=paths, sync=str(as_dict(status.get("sync")).get("status") or "Unknown"),
        health=str(health.get("status") or "Unknown"), health_message=" ".join(str(health.get("message", "")).split()),
        revision=revs[0] if revs else "", images=images, phase=str(op.get("phase") or ""), healthy_since=since,
        conditions=[f"{k}: {m}" for k, m in error_conditions(status)],
    )


def read(action: Action, server: str | None, *, token: str | None, username: str | None, password: str | None,
         project: str | None = None, selector: str | None = None, timeout: float = 30.0,
         max_elapsed: float = 60.0) -> ArgoView:
    """Every application the credential can see; never raises for an unreachable or refusing Argo CD."""
    if not server:
        return ArgoView("off", "no `argocd-server` given")
    from shipyard.argocd.client import ArgoClient, error_fields

    client = ArgoClient(action, server, token=token, username=username, password=password,
                        request_timeout=timeout, max_elapsed=max_elapsed)
    requests = 0
    try:
        if not token:
            requests += 1
            client.login()
        params = {k: v for k, v in (("project", project), ("selector", selector)) if v}
        requests += 1
        response = client.http.get("/api/v1/applications", params=params, timeout=timeout)
    except TransientError as exc:
        return ArgoView("unreachable", f"Argo CD at {client.server} did not answer: {exc}", requests=requests)
    except UserError as exc:
        state = "unreachable" if "reach" in exc.message else "unauthorized"
        return ArgoView(state, exc.message + (f" Fix: {exc.fix}" if exc.fix else ""), requests=requests)
    if response.status_code in (401, 403):
        _, message = error_fields(response)
        return ArgoView("unauthorized", f"Argo CD refused the list of applications ({response.status_code}: "
                        f"{message}). Give the token `applications, get` on the projects to show.", requests=requests)
    if response.status_code >= 400:
        _, message = error_fields(response)
        return ArgoView("unreachable", f"Argo CD answered {response.status_code}: {message}", requests=requests)
    try:
        body = response.json()
    except ValueError:
        return ArgoView("unreachable", f"Argo CD at {client.server} did not answer JSON (is `argocd-server` the "
                        "server's base URL?)", requests=requests)
    items = as_dict(body).get("items") or []
    apps = [parse_app(as_dict(i)) for i in items if isinstance(i, dict)]
    return ArgoView("ok", f"{len(apps)} applications", apps, requests)
