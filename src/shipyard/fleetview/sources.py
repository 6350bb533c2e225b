"""The inputs the deploy board and the promote stage share: where the config repository, Argo CD and ECR are."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from shipyard.fleetview.layout import Layout, parse_layout
from shipyard.git import GitAuth, GitTimeout
from shipyard.runtime import Action, TransientError, UserError, redact_url, shown
from shipyard.urls import HTTP, check_url, one_line

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

    @property
    def git_timeout(self) -> float:
        """Each git call with the config repository: a third of `timeout`, so a server that accepts and never
        answers still leaves room for the retries within `timeout`."""
        return max(1.0, self.timeout / 3)


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
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise UserError(f"Input 'repository' must be an HTTPS clone URL or owner/name, got '{shown(redact_url(raw))}'.",
                        "write `repository: acme/config` or `repository: https://git.example.com/acme/config.git`.",
                        input_name="repository")
    check_url("repository", raw, HTTP)  # control characters, whitespace, a bad host
    slug = None
    m = re.fullmatch(r"/([^/]+)/([^/]+?)(?:\.git)?/?", parsed.path)
    if m:
        slug = f"{m.group(1)}/{m.group(2)}"
    return raw, slug, f"{parsed.scheme}://{parsed.netloc}"


def env_name(action: Action, name: str, default: str) -> str:
    value = action.input(name) or default
    if not ENV_RE.fullmatch(value):
        raise UserError(f"Input '{name}' ('{shown(value)}') is not an environment name.",
                        "use lower-case letters, digits, '.', '_' and '-', as in the overlay paths.", input_name=name)
    return value


def read_sources(action: Action) -> Sources:
    url, slug, web = repository(action)
    override = action.input("github-repository")
    if override:
        if not SLUG_RE.fullmatch(override):
            raise UserError(f"Input 'github-repository' must be owner/name, got '{shown(override)}'.",
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
        raise UserError(f"Input 'branch' ('{shown(branch)}') is not a branch name.",
                        "give the branch Argo CD tracks, e.g. main.", input_name="branch")
    layout = parse_layout(action.input("layout") or DEFAULT_LAYOUT)
    default_app = "{service}-{env}-{cluster}" if layout.has_cluster else "{service}-{env}"
    app_name = action.input("app-name") or default_app
    fields = re.findall(r"\{([^{}]*)\}", app_name)
    if any(f not in ("service", "env", "cluster") for f in fields) or "service" not in fields:
        raise UserError(f"Input 'app-name' ('{shown(app_name)}') may use only {{service}}, {{env}} and "
                        "{cluster}, and needs {service}.", f"e.g. `app-name: {default_app}`.", input_name="app-name")
    critical = (action.input("critical-severity") or "CRITICAL").upper()
    if critical not in SEVERITIES:
        raise UserError(f"Input 'critical-severity' has unknown value '{shown(critical)}'.",
                        f"use one of {', '.join(SEVERITIES)}.", input_name="critical-severity")
    source_env = env_name(action, "source-environment", "dev")
    target_env = env_name(action, "target-environment", "prd")
    if source_env == target_env:
        raise UserError(f"`source-environment` and `target-environment` are both '{source_env}'.",
                        "promote from one environment to another (e.g. dev to prd).", input_name="target-environment")
    region = action.input("aws-region")
    if region and not re.fullmatch(r"[a-z]{2}(?:-[a-z]+)+-\d", region):
        raise UserError(f"Input 'aws-region' ('{shown(region)}') is not an AWS region.",
                        "e.g. `aws-region: eu-west-1`.", input_name="aws-region")
    return Sources(
        url=url, slug=slug, web=web, auth=auth, token=token, branch=branch, layout=layout, app_name=app_name,
        argocd_server=action.input("argocd-server"), argocd_token=action.secret("argocd-token"),
        argocd_username=action.input("argocd-username"), argocd_password=action.secret("argocd-password"),
        argocd_project=action.input("argocd-project"), argocd_selector=action.input("argocd-selector"),
        aws_region=region, source_env=source_env, target_env=target_env, critical_at=critical,
        timeout=action.number("timeout", 120.0, minimum=1.0),
    )


def clone_config(action: Action, src: Sources, git_dir: str) -> None:
    """The bare clone, retried on server errors, resets and timeouts for up to ``timeout`` seconds; a repository
    still unreachable after that is one error naming the input (never a traceback), with nothing written."""
    import shutil

    from shipyard.fleetview import configrepo

    def clone() -> None:
        shutil.rmtree(git_dir, ignore_errors=True)
        try:
            configrepo.clone(src.url, src.auth, src.branch, git_dir, env=action.env, timeout=src.git_timeout)
        except GitTimeout as exc:  # a hang is transient: tried again within `timeout`
            raise TransientError(exc.message) from None

    try:
        action.retry("clone the config repository", clone, attempts=4, max_elapsed=src.timeout)
    except TransientError as exc:
        raise UserError(f"Could not read the config repository {redact_url(src.url)} (tried for up to "
                        f"{src.timeout:g}s): {one_line(exc)}",
                        "check that `repository` is right and reachable from the runner, then rerun; server errors "
                        "and resets are retried within `timeout`.", input_name="repository",
                        title="config repository unreachable") from None
