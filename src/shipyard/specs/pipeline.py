"""The root action (the whole pipeline in one step list), declared on top of the stages' declarations.

Its inputs are the stage inputs that carry a ``root`` name (a stage's own prefix: ``slack-token`` is slack-notify's
``token``), plus the shared ones below; each step forwards every root input of its stage and sets the rest from
earlier steps. ``python scripts/gen_workflows.py`` writes action.yml from this, and pipeline.yml offers every one
of these inputs to the reusable workflows.
"""

from shipyard.spec import Input, Step

NAME = "Shipyard pipeline"
DESCRIPTION = (
    "The whole Shipyard pipeline in one step list: Slack start notice, ECR login, image build (skipped when the "
    "content did not change), ECR push with scan gate, GitOps tag commit, ArgoCD wait, Bitbucket backup mirror, "
    "Postman API docs and the Slack completion notice. Stages whose inputs are not given are left out."
)

# Root inputs that several stages share, or whose presence turns a stage on: their description on the root action
# (the default stays the stage's: a test holds them equal).
SHARED = (
    Input("service", "Service name (ECR repository, Slack message, GitOps commit, Postman collection). Default the "
          "repository name."),
    Input("environment", "Target environment (`dev`, `stg`, `prd`). `prd` defaults the GitOps mode to a pull "
          "request.", default="dev"),
    Input("dry-run", "Run the stages in dry-run mode (compute, validate and show; change nothing). A dry-run build "
          "pushes no image, so the ECR push, GitOps and ArgoCD stages are left out.", default="false",
          type="boolean"),
    Input("slack-token", "Slack bot token (xoxb-...). Without it (and without `slack-webhook-url`) no Slack notices "
          "are sent.", secret=True),
    Input("config-repository", "Config repository (HTTPS URL or `owner/name`). Without it the GitOps stage is left "
          "out."),
    Input("argocd-server", "ArgoCD server URL. Without it the ArgoCD wait is left out."),
    Input("bitbucket-workspace", "Bitbucket workspace (Cloud) or project key (Data Center). Without it the backup "
          "mirror is left out."),
    Input("postman-api-key", "Postman API key. Without it the API docs stage is left out.", secret=True),
)

SLACK = "steps.plan.outputs.slack == 'true'"


def _notice(stage: str, step: str, details: str, **extra: str) -> Step:
    """The Slack update after a stage: its outcome, details and error output."""
    return Step(
        id=f"slack-{step.split('-')[0]}", name=f"slack {stage}",
        if_=f"always() && {SLACK} && (steps.{step}.outcome == 'success' || steps.{step}.outcome == 'failure')",
        stage="slack-notify",
        with_={"event": "stage", "stage": stage, "status": f"${{{{ steps.{step}.outcome }}}}",
               "details": details, "error": f"${{{{ steps.{step}.outputs.error }}}}",
               "service": "${{ steps.plan.outputs.service }}", **extra},
    )


STEPS = (
    Step(id="plan", name="plan the pipeline", stage="plan", with_={
        "slack": "${{ inputs.slack-token != '' || inputs.slack-webhook-url != '' }}",
        "gitops": "${{ inputs.config-repository != '' }}",
        "argocd": "${{ inputs.argocd-server != '' }}",
        "bitbucket": "${{ inputs.bitbucket-workspace != '' }}",
        "postman": "${{ inputs.postman-api-key != '' }}",
    }),
    Step(id="slack-start", name="slack start", stage="slack-notify", if_=SLACK, with_={
        "event": "start", "service": "${{ steps.plan.outputs.service }}", "stages": "${{ steps.plan.outputs.stages }}",
    }),
    Step(id="ecr-login", name="ecr login", stage="ecr-push", with_={
        "login-only": "true",
        "repository": "${{ steps.plan.outputs.ecr-repository }}",
        "extra-repositories": "${{ inputs.cache == 'registry' && inputs.builder != 'buildx' && "
                              "format('{0}/buildcache', steps.plan.outputs.ecr-repository) || '' }}",
    }),
    Step(id="build", name="build", stage="build", with_={
        "image": "${{ steps.ecr-login.outputs.push-repository }}",
        "defer-moving-tags": "true",
        "service-name": "${{ steps.plan.outputs.service }}",
    }),
    _notice("build", "build",
            "${{ steps.build.outputs.skipped == 'true' && 'unchanged content, build skipped, tags added' || "
            "steps.build.outputs.content-tag }}",
            **{"image-tag": "${{ steps.build.outputs.commit-tag || steps.build.outputs.content-tag }}"}),
    Step(id="ecr-push", name="ecr-push", stage="ecr-push", if_="inputs.dry-run != 'true'", with_={
        "repository": "${{ steps.build.outputs.image }}",
        "tags": "${{ steps.build.outputs.tags }}",
        "digest": "${{ steps.build.outputs.digest }}",
    }),
    _notice("ecr-push", "ecr-push", "${{ steps.ecr-push.outputs.image-uri }}",
            **{"image-digest": "${{ steps.ecr-push.outputs.digest }}"}),
    Step(id="gitops", name="gitops-update", stage="gitops-update",
         if_="steps.plan.outputs.gitops == 'true' && inputs.dry-run != 'true'", with_={
             "paths": "${{ steps.plan.outputs.config-paths }}",
             "service": "${{ steps.plan.outputs.service }}",
             "image-uri": "${{ steps.ecr-push.outputs.image-uri }}",
             "tag": "${{ steps.build.outputs.commit-tag }}",
             "mode": "${{ steps.plan.outputs.gitops-mode }}",
         }),
    _notice("gitops-update", "gitops",
            "${{ steps.gitops.outputs.pr-url || (steps.gitops.outputs.changed == 'true' && format('committed {0}', "
            "steps.gitops.outputs.commit)) || (steps.gitops.outputs.commit && format('already up to date at {0}', "
            "steps.gitops.outputs.commit)) || '' }}"),
    Step(id="argocd", name="argocd-wait", stage="argocd-wait",
         if_="steps.plan.outputs.argocd == 'true' && steps.gitops.outputs.commit != ''", with_={
             "applications": "${{ steps.plan.outputs.argocd-applications }}",
             "revision": "${{ steps.gitops.outputs.commit }}",
         }),
    _notice("argocd-wait", "argocd",
            "${{ steps.argocd.outputs.healthy == 'true' && format('Synced and Healthy ({0})', "
            "steps.plan.outputs.argocd-applications) || steps.argocd.outputs.revisions }}"),
    # The backup mirror is independent of everything: it runs whenever its inputs are given, even after a failed
    # stage (a broken build must not stop the backup), but not on cancel.
    Step(id="bitbucket", name="bitbucket-mirror", stage="bitbucket-mirror",
         if_="${{ !cancelled() && steps.plan.outputs.bitbucket == 'true' }}"),
    _notice("bitbucket-mirror", "bitbucket",
            "${{ steps.bitbucket.outputs.skipped == 'true' && format('already identical, nothing pushed ({0})', "
            "steps.bitbucket.outputs.target-url) || steps.bitbucket.outputs.target-url }}"),
    Step(id="postman", name="postman-publish", stage="postman-publish",
         # the API docs follow the deploy (published only for code that shipped, or was built when the deploy
         # stages are left out), never the mirror: a failed backup does not hold back the docs
         if_="${{ !cancelled() && steps.plan.outputs.postman == 'true' && steps.build.outcome == 'success' && "
             "steps.ecr-push.outcome != 'failure' && steps.gitops.outcome != 'failure' && "
             "steps.argocd.outcome != 'failure' }}", with_={
             "collection-name": "${{ steps.plan.outputs.service }}",
             "working-directory": "${{ inputs.context }}",
         }),
    _notice("postman-publish", "postman",
            "${{ steps.postman.outputs.changed == 'false' && format('unchanged ({0})', "
            "steps.postman.outputs.collection-url) || steps.postman.outputs.collection-url }}"),
    Step(id="slack-finish", name="slack finish", stage="slack-notify", if_=f"always() && {SLACK}", with_={
        "event": "finish", "status": "auto", "job-status": "${{ job.status }}",
        "service": "${{ steps.plan.outputs.service }}",
        "image-tag": "${{ steps.build.outputs.commit-tag || steps.build.outputs.content-tag }}",
        "image-digest": "${{ steps.ecr-push.outputs.digest }}",
    }),
)

# name, description, value
OUTPUTS = (
    ("image-uri", "The pushed image with its digest (`<repository-uri>@sha256:...`).",
     "${{ steps.ecr-push.outputs.image-uri }}"),
    ("digest", "The image digest.", "${{ steps.ecr-push.outputs.digest }}"),
    ("tags", "The image tags, one per line (the moving ones are applied only once the scan gate passed).",
     "${{ steps.build.outputs.tags }}"),
    ("commit-tag", "The immutable commit tag (`sha-<7 hex>`), also the GitOps `newTag` next to the digest.",
     "${{ steps.build.outputs.commit-tag }}"),
    ("build-skipped", "`true` when the build was skipped because the content hash already existed.",
     "${{ steps.build.outputs.skipped }}"),
    ("config-commit", "The config-repository commit (push mode).", "${{ steps.gitops.outputs.commit }}"),
    ("pr-url", "The promotion pull request (pull-request mode).", "${{ steps.gitops.outputs.pr-url }}"),
    ("collection-url", "The Postman collection.", "${{ steps.postman.outputs.collection-url }}"),
    ("slack-ts", "The Slack message ts.", "${{ steps.slack-start.outputs.ts }}"),
)
