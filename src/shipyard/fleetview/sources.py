"""The inputs the deploy board and the promote stage share: where the config repository, Argo CD and ECR are."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from shipyard.fleetview.layout import Layout, parse_layout
from shipyard.git import GitAuth
from shipyard.runtime import Action, UserError, redact_url

DEFAULT_LAYOUT = "apps/{service}/overlays/{env}/kustomization.yaml"
BRANCH_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
ENV_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
SLUG_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL")


@dataclass
class Sources:
    url: str
    slug: str | None  # owner/name on GitHub, for links and pull requests
    web: str  # https://github.com (links)
    auth: GitAuth | None
    token: str | None
    branch: str
    layout: Layout
    app_name: str
    argocd_server: str | None
    argocd_token: str | None
    argocd_username: str | None
    argocd_password: str | None
    argocd_project: str | None
    argocd_selector: str | None
    aws_region: str | None
    source_env: str
    target_env: str
    critical_at: str
    timeout: float


def repository(action: Action) -> tuple[str, str | None, str]:
    raw = action.require("repository")
    web = action.env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if SLUG_RE.fullmatch(raw):
        return f"{web}/{raw}.git", raw, web
    parsed = urllib.parse.urlsplit(raw)
    if parsed.username or parsed.password:
        action.mask(parsed.password or parsed.username)
        raise UserError("Input 'repository' carries credentials in the URL.",
                        "remove them and pass the token in `token` (it travels as an HTTP header).",
                        input_name="repository")
    if parsed.scheme not in ("https", "http") or not parsed.netloc or any(c in raw for c in "\n\r\t "):
        raise UserError(f"Input 'repository' must be an HTTPS clone URL or owner/name, got '{redact_url(raw)}'.",
                        "write `repository: acme/config` or `repository: https://git.example.com/acme/config.git`.",
                        input_name="repository")
    slug = None
    m = re.fullmatch(r"/([^/]+)/([^/]+?)(?:\.git)?/?", parsed.path)
    if m:
        slug = f"{m.group(1)}/{m.group(2)}"
    return raw, slug, f"{parsed.scheme}://{parsed.netloc}"


def env_name(action: Action, name: str, default: str) -> str:
    value = action.input(name) or default
    if not ENV_RE.fullmatch(value):
        raise UserError(f"Input '{name}' ('{value}') is not an environment name.",
                        "use lower-case letters, digits, '.', '_' and '-', as in the overlay paths.", input_name=name)
    return value


def read_sources(action: Action) -> Sources:
    url, slug, web = repository(action)
    override = action.input("github-repository")
    if override:
        if not SLUG_RE.fullmatch(override):
            raise UserError(f"Input 'github-repository' must be owner/name, got '{override}'.",
                            "write `github-repository: acme/config`.", input_name="github-repository")
        slug = override
    token = action.secret("token")
    auth = None
    if token:
        parts = urllib.parse.urlsplit(url)
        auth = GitAuth("basic", username="x-access-token", secret=token, scope_url=f"{parts.scheme}://{parts.netloc}/")
        for value in auth.mask_values():
            action.mask(value)
    branch = action.input("branch") or "main"
    if not BRANCH_RE.fullmatch(branch) or ".." in branch or branch.endswith((".lock", "/")):
        raise UserError(f"Input 'branch' ('{branch}') is not a branch name.",
                        "give the branch Argo CD tracks, e.g. main.", input_name="branch")
    layout = parse_layout(action.input("layout") or DEFAULT_LAYOUT)
    default_app = "{service}-{env}-{cluster}" if layout.has_cluster else "{service}-{env}"
    app_name = action.input("app-name") or default_app
    fields = re.findall(r"\{([^{}]*)\}", app_name)
    if any(f not in ("service", "env", "cluster") for f in fields) or "service" not in fields:
        raise UserError(f"Input 'app-name' ('{app_name}') may use only {{service}}, {{env}} and {{cluster}}, and "
                        "needs {service}.", f"e.g. `app-name: {default_app}`.", input_name="app-name")
    critical = (action.input("critical-severity") or "CRITICAL").upper()
    if critical not in SEVERITIES:
        raise UserError(f"Input 'critical-severity' has unknown value '{critical}'.",
                        f"use one of {', '.join(SEVERITIES)}.", input_name="critical-severity")
    source_env = env_name(action, "source-environment", "dev")
    target_env = env_name(action, "target-environment", "prd")
    if source_env == target_env:
        raise UserError(f"`source-environment` and `target-environment` are both '{source_env}'.",
                        "promote from one environment to another (e.g. dev to prd).", input_name="target-environment")
    region = action.input("aws-region")
    if region and not re.fullmatch(r"[a-z]{2}(?:-[a-z]+)+-\d", region):
        raise UserError(f"Input 'aws-region' ('{region}') is not an AWS region.", "e.g. `aws-region: eu-west-1`.",
                        input_name="aws-region")
    return Sources(
        url=url, slug=slug, web=web, auth=auth, token=token, branch=branch, layout=layout, app_name=app_name,
        argocd_server=action.input("argocd-server"), argocd_token=action.secret("argocd-token"),
        argocd_username=action.input("argocd-username"), argocd_password=action.secret("argocd-password"),
        argocd_project=action.input("argocd-project"), argocd_selector=action.input("argocd-selector"),
        aws_region=region, source_env=source_env, target_env=target_env, critical_at=critical,
        timeout=action.number("timeout", 120.0, minimum=1.0),
    )
