"""Application references as users write them: ``name``, ``name@namespace``, ``project/name``,
``project/name@namespace``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.gitops.inputs import shown
from shipyard.runtime import UserError

# Kubernetes object names (DNS-1123 subdomain) for apps and namespaces; ArgoCD project names alike.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


@dataclass(frozen=True)
class AppRef:
    name: str
    namespace: str = ""  # the app's namespace ("apps in any namespace"); empty: ArgoCD's own
    project: str = ""  # when given, ArgoCD answers 404 (not 403) for a missing app

    @property
    def label(self) -> str:
        text = f"{self.project}/{self.name}" if self.project else self.name
        return f"{text}@{self.namespace}" if self.namespace else text

    def query(self) -> dict[str, str]:
        params: dict[str, str] = {}
        if self.namespace:
            params["appNamespace"] = self.namespace
        if self.project:
            params["project"] = self.project
        return params


def parse_app(text: str, default_project: str = "", input_name: str = "applications") -> AppRef:
    raw = text.strip()
    if "://" in raw or "@" in raw.partition("@")[2]:
        raise UserError(
            f"Input '{input_name}' holds a URL or more than one '@', not an application name.",
            "write each application as `name`, `name@namespace`, `project/name` or `project/name@namespace`.",
            input_name=input_name,
        )
    rest, at, namespace = raw.partition("@")
    project, slash, name = rest.rpartition("/")
    if not slash:
        project, name = "", rest
    checks = ((name, "application name", True), (namespace, "namespace", bool(at)), (project, "project", bool(slash)))
    for part, what, present in checks:
        if present and not _NAME.fullmatch(part):
            raise UserError(
                f"Input '{input_name}': '{shown(raw)}' has an invalid {what} '{shown(part)}'.",
                "write each application as `name`, `name@namespace`, `project/name` or `project/name@namespace` "
                "(lower-case letters, digits, '-' and '.').",
                input_name=input_name,
            )
    return AppRef(name=name, namespace=namespace, project=project or default_project)


def parse_apps(items: list[str], default_project: str = "") -> list[AppRef]:
    refs: list[AppRef] = []
    seen: set[tuple[str, str]] = set()
    for item in items:
        ref = parse_app(item, default_project)
        key = (ref.name, ref.namespace)
        if key in seen:
            raise UserError(
                f"Input 'applications' lists '{ref.label}' twice.", "list each application once.",
                input_name="applications",
            )
        seen.add(key)
        refs.append(ref)
    return refs
