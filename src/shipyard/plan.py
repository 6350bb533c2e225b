"""The root action's first step (``shipyard plan``): which stages run, the GitOps mode and the default paths.

Everything here is decided from the inputs alone (no network): the service name (default the repository's), the
ECR repository (default the service), the overlay files (``apps/<service>/overlays/<environment>*/
kustomization.yaml``), the GitOps mode (a pull request for production, a push otherwise), the Argo CD
applications (``<service>-<environment>``) and the optional stages that run because their inputs are given.

Every value is validated before it becomes an output, and outputs are written in the multi-line form, so an input
can never add or override another output (``argocd-applications: "orders-prd\\ngitops-mode=push"`` is refused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shipyard.runtime import Action, UserError

PRODUCTION = frozenset({"prd", "prod", "production"})
MODES = ("push", "pull-request")
SERVICE = re.compile(r"[a-z0-9][a-z0-9._/-]*")  # ECR-style; full-matched, so no line break gets through
ENVIRONMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
APPLICATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?")
PATH = re.compile(r"[^\x00-\x1f\x7f]+")
OPTIONAL = (("gitops", "gitops-update"), ("argocd", "argocd-wait"), ("bitbucket", "bitbucket-mirror"),
            ("postman", "postman-publish"))


@dataclass(frozen=True)
class Plan:
    service: str
    ecr_repository: str
    config_paths: str
    gitops_mode: str
    argocd_applications: str
    stages: tuple[str, ...]
    slack: bool
    gitops: bool
    argocd: bool
    bitbucket: bool
    postman: bool

    def outputs(self) -> dict[str, str]:
        flags = {name: "true" if getattr(self, name) else "false" for name in ("slack", *(n for n, _ in OPTIONAL))}
        return {
            "service": self.service,
            "ecr-repository": self.ecr_repository,
            "config-paths": self.config_paths,
            "gitops-mode": self.gitops_mode,
            "argocd-applications": self.argocd_applications,
            "stages": ",".join(self.stages),
            **flags,
        }


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "yes", "on", "1")


def _name(value: str, pattern: re.Pattern[str], input_name: str, what: str, fix: str) -> str:
    if not pattern.fullmatch(value):
        raise UserError(f"Input '{input_name}' must be {what}, got {value!r}.", fix, input_name=input_name)
    return value


def _lines(value: str, pattern: re.Pattern[str], input_name: str, what: str, *, commas: bool) -> str:
    """A list input checked item by item; returned as given (one item per line or comma-separated)."""
    items = [p.strip() for line in value.splitlines() for p in (line.split(",") if commas else [line])]
    for item in items:
        if item and not pattern.fullmatch(item):
            raise UserError(
                f"Input '{input_name}' has an invalid item {item!r}: each item must be {what}.",
                f"give one {what.split(' (')[0]} per line" + (" or a comma-separated list." if commas else "."),
                input_name=input_name,
            )
    if not any(items):
        raise UserError(f"Input '{input_name}' is empty.", f"remove `{input_name}:` or give a value.",
                        input_name=input_name)
    return "\n".join(line.strip() for line in value.strip().splitlines() if line.strip())


def plan(inputs: Mapping[str, str], repository: str = "") -> Plan:
    """The plan from the inputs (kebab-case names; empty means unset) and ``GITHUB_REPOSITORY``."""

    def get(name: str) -> str:
        return (inputs.get(name) or "").strip()

    service = get("service") or repository.rsplit("/", 1)[-1].lower()
    if not service:
        raise UserError("Input 'service' is required outside GitHub Actions (no GITHUB_REPOSITORY).",
                        "set service: <name>.", input_name="service")
    fix = "use lowercase letters, digits, '.', '_', '-' and '/' (an ECR-style repository name)."
    _name(service, SERVICE, "service", "an ECR-style name", f"set service: to an ECR-style name: {fix}")
    environment = _name(get("environment") or "dev", ENVIRONMENT, "environment",
                        "one word (letters, digits, '.', '_', '-')", "set environment: to dev, stg or prd.")
    ecr_repository = _name(get("ecr-repository") or service, SERVICE, "ecr-repository", "an ECR repository name",
                           f"set ecr-repository: {fix}")
    short = service.rsplit("/", 1)[-1]
    mode = get("gitops-mode") or ("pull-request" if environment.lower() in PRODUCTION else "push")
    if mode not in MODES:
        raise UserError(f"Input 'gitops-mode' has unknown value {mode!r}; allowed values: {', '.join(MODES)}.",
                        "set gitops-mode: push or gitops-mode: pull-request.", input_name="gitops-mode")
    paths = get("config-paths")
    paths = (_lines(paths, PATH, "config-paths", "a path or glob (no control characters)", commas=False)
             if paths else f"apps/{short}/overlays/{environment}*/kustomization.yaml")
    apps = get("argocd-applications")
    apps = (_lines(apps, APPLICATION, "argocd-applications", "an Argo CD application name ([namespace/]name)",
                   commas=True) if apps else f"{short}-{environment}")
    gitops = _truthy(get("gitops"))
    flags = {"gitops": gitops, "argocd": gitops and _truthy(get("argocd")),
             "bitbucket": _truthy(get("bitbucket")), "postman": _truthy(get("postman"))}
    stages = ("build", "ecr-push", *(stage for flag, stage in OPTIONAL if flags[flag]))
    return Plan(service=service, ecr_repository=ecr_repository, config_paths=paths, gitops_mode=mode,
                argocd_applications=apps, stages=stages, slack=_truthy(get("slack")), **flags)


def run(action: Action) -> None:
    names = ("service", "environment", "ecr-repository", "config-paths", "gitops-mode", "argocd-applications",
             "slack", "gitops", "argocd", "bitbucket", "postman")
    result = plan({n: action.input(n) or "" for n in names}, action.env.get("GITHUB_REPOSITORY", ""))
    for name, value in result.outputs().items():
        action.set_output(name, value)
    action.summary.heading("Pipeline plan", 3).key_values([
        ("service", result.service), ("stages", ", ".join(result.stages)), ("GitOps mode", result.gitops_mode),
        ("config paths", result.config_paths), ("Argo CD applications", result.argocd_applications),
    ])
