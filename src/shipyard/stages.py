"""The stage registry: action folder name -> module holding ``run(action)``.

Modules are imported only when their stage runs, so a Slack step never loads boto3.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.runtime import Action

STAGES: dict[str, tuple[str, str]] = {
    # name: (module, one-line description)
    "slack-notify": ("shipyard.slack.stage", "Post or update the run's Slack message."),
    "build": ("shipyard.build.stage", "Build the service image (buildx or buildah), skipping unchanged content."),
    "ecr-push": ("shipyard.ecr.stage", "Log in to ECR, ensure the repository, push, gate on the scan."),
    "gitops-update": ("shipyard.gitops.stage", "Commit the new image tag/digest to the Kustomize config repo."),
    "argocd-wait": ("shipyard.argocd.stage", "Wait until ArgoCD reports the applications Synced and Healthy."),
    "bitbucket-mirror": ("shipyard.mirror.stage", "Mirror every branch and tag to Bitbucket."),
    "postman-publish": ("shipyard.postman.stage", "Publish the service's OpenAPI spec as a Postman collection."),
    "deploy-board": ("shipyard.board.stage", "Render what runs where (git, Argo CD, ECR) as an HTML board."),
    "promote": ("shipyard.promote.stage", "Promote the digests running Healthy in dev to prd as one pull request."),
    "fleet": ("shipyard.fleet.stage", "Bring every repository of the organisation onto the current pipeline (PRs)."),
    "minutes-guard": ("shipyard.minutes.stage", "Actions minutes of the org: usage, forecast, waste, Slack alerts."),
    "plan": ("shipyard.plan", "Decide which pipeline stages run, the GitOps mode and default paths (root action)."),
    "selftest": ("shipyard.selftest", "Check the runtime end to end (used by the start-up benchmark)."),
}

#: Short names the CLI accepts for a stage (``shipyard minutes`` runs minutes-guard); never action folders.
ALIASES: dict[str, str] = {
    "minutes": "minutes-guard",
    "board": "deploy-board",
}


def resolve(name: str) -> str:
    """The stage a CLI name means: an alias's stage, else the name itself (checked against STAGES by callers)."""
    return ALIASES.get(name, name)


def load(name: str) -> Callable[[Action], None]:
    module_name, _ = STAGES[resolve(name)]
    module = importlib.import_module(module_name)
    run: Callable[[Action], None] = module.run
    return run
