"""The plan step's inputs (the root action's first step, :mod:`shipyard.plan`): the root action offers them under
the same names. The presence flags are set by the root action from other inputs, never by a service."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name="plan",
    title="Shipyard pipeline plan",
    description="Decide which stages of the pipeline run, the GitOps mode and the default paths.",
    icon="map",
    color="blue",
    action=False,
    inputs=(
        Input("service", "Service name (ECR repository, Slack message, GitOps commit, Postman collection). Default the "
              "repository name.", root="service"),
        Input("environment", "Target environment (`dev`, `stg`, `prd`). `prd` defaults the GitOps mode to a pull "
              "request.", default="dev", root="environment"),
        Input("ecr-repository", "ECR repository name. Default the service name.", root="ecr-repository"),
        Input("config-paths", "Files to edit (globs allowed). Default "
              "`apps/<service>/overlays/<environment>*/kustomization.yaml`.", root="config-paths"),
        Input("gitops-mode", "`push` or `pull-request`; default `pull-request` for `prd`, `push` otherwise.",
              choices=("push", "pull-request"), root="gitops-mode"),
        Input("argocd-applications", "ArgoCD applications to wait for (one per cluster). Default "
              "`<service>-<environment>`.", root="argocd-applications"),
        Input("slack", "Whether a Slack token or webhook is given.", default="false", type="boolean"),
        Input("gitops", "Whether the GitOps stage runs (a config repository is given).", default="false",
              type="boolean"),
        Input("argocd", "Whether the Argo CD wait runs (a server is given).", default="false", type="boolean"),
        Input("bitbucket", "Whether the Bitbucket mirror runs (a workspace is given).", default="false",
              type="boolean"),
        Input("postman", "Whether the Postman stage runs (an API key is given).", default="false", type="boolean"),
    ),
    outputs=(
        Output("service", "The service name."),
        Output("ecr-repository", "The ECR repository."),
        Output("config-paths", "The overlay files to edit."),
        Output("gitops-mode", "`push` or `pull-request`."),
        Output("argocd-applications", "The Argo CD applications to wait for."),
        Output("stages", "The stages that run, comma-separated."),
        Output("slack", "`true` when Slack notices are sent."),
        Output("gitops", "`true` when the GitOps stage runs."),
        Output("argocd", "`true` when the Argo CD wait runs."),
        Output("bitbucket", "`true` when the Bitbucket mirror runs."),
        Output("postman", "`true` when the Postman stage runs."),
    ),
)
