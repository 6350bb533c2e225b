"""The gitops-update stage's inputs and outputs: the one place they are declared.

actions/gitops-update/action.yml, the root action's inputs for this stage, the README tables and the CLI's
help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='gitops-update',
    title='Shipyard GitOps update',
    description=(
        "Commit a service's new image tag/digest to the Kustomize or Helm config repository, byte-preserving and "
        'safe under concurrent deploys; push or open a PR.'
    ),
    icon='git-commit',
    color='blue',
    inputs=(
        Input(
            'repository',
            (
                'Config repository: an HTTPS clone URL (`https://github.com/acme/config.git`) or `owner/name` on '
                'this GitHub server. No credentials in the URL.'
            ),
            required=True,
            root='config-repository',
        ),
        Input(
            'branch',
            'Branch to update (push mode) or to target with the pull request (pull-request mode).',
            default='main',
            root='config-branch',
        ),
        Input(
            'paths',
            (
                'Files to edit, one per line or comma-separated, relative to the repository root; globs allowed '
                '(`apps/orders/overlays/*/kustomization.yaml`, `**`). All of them change in one commit.'
            ),
            required=True,
        ),
        Input(
            'environment',
            (
                'Environment name (dev, stg, prd): used in the commit message, the trailers and the PR branch.'
            ),
            required=True,
            root='environment',
        ),
        Input('service', 'Service name; defaults to the name of the repository running the workflow.'),
        Input(
            'image',
            (
                'Name of the Kustomize `images:` entry to set (its `name:`). Defaults to the repository part of '
                '`image-uri`.'
            ),
        ),
        Input(
            'tag',
            (
                'New tag (`newTag`). `tag@sha256:...` sets tag and digest, like `kustomize edit set image`.'
            ),
        ),
        Input('digest', 'New digest (`sha256:...`).'),
        Input(
            'image-uri',
            (
                "The ECR stage's `image-uri` output (`registry/repo@sha256:...` or "
                '`registry/repo:tag@sha256:...`); supplies tag and digest.'
            ),
        ),
        Input('new-name', 'Also set `newName` (Kustomize) or the name key (Helm/YAML) to this value.'),
        Input('set-new-name', 'Set `newName` to the repository part of `image-uri`.', default='false', type='boolean'),
        Input(
            'format',
            (
                '`auto` (kustomization.yaml -> kustomize, other files -> helm), `kustomize`, `helm` or `yaml`.'
            ),
            default='auto',
        ),
        Input(
            'tag-key',
            'Helm/YAML: key path of the tag (`image.tag`, `app.containers[name=api].tag`).',
            default='image.tag',
        ),
        Input('digest-key', 'Helm/YAML: key path of the digest.', default='image.digest'),
        Input(
            'name-key',
            'Helm/YAML: key path of the image name (set only with `new-name`).',
            default='image.repository',
        ),
        Input(
            'add-if-missing',
            'Add the image entry (or key) when the file lacks it; `false` fails instead.',
            default='true',
            type='boolean',
        ),
        Input(
            'mode',
            (
                '`push`: commit to `branch`; `pull-request`: push a bot branch and open or update a PR.'
            ),
            default='push',
        ),
        Input(
            'token',
            (
                'Token with contents:write (and pull-requests:write for PR mode) on the config repository. Sent as '
                'an HTTP header, never in a URL or argv.'
            ),
            secret=True,
            root='config-token',
        ),
        Input('app-id', 'GitHub App id: mint an installation token instead of using `token`.'),
        Input('app-private-key', 'GitHub App private key (PEM), from a secret.', secret=True),
        Input('app-installation-id', 'GitHub App installation id (looked up from the repository when empty).'),
        Input(
            'github-api-url',
            (
                "GitHub REST API base URL (GHE: https://ghe.example.com/api/v3). Defaults to the runner's "
                'GITHUB_API_URL.'
            ),
            root='github-api-url',
        ),
        Input(
            'github-repository',
            (
                'owner/name of the config repository for the GitHub API (derived from `repository` when it is a '
                'GitHub URL).'
            ),
        ),
        Input(
            'pr-branch',
            (
                'PR mode: the bot-owned branch (one per service and environment); {service} and {environment} are '
                'replaced.'
            ),
            default='shipyard/{service}-{environment}',
        ),
        Input('pr-title', 'PR mode: title template ({service}, {environment}, {new_ref}, {tag}, {digest}).'),
        Input('pr-labels', 'PR mode: labels to add, one per line or comma-separated.'),
        Input('pr-reviewers', 'PR mode: user logins to request reviews from.'),
        Input('pr-team-reviewers', 'PR mode: team slugs to request reviews from.'),
        Input(
            'auto-merge',
            'PR mode: enable auto-merge on the PR (GraphQL enablePullRequestAutoMerge).',
            default='false',
            type='boolean',
        ),
        Input('merge-method', 'PR mode: auto-merge method, MERGE, SQUASH or REBASE.', default='SQUASH'),
        Input(
            'commit-message',
            (
                'Commit message template; placeholders {service} {environment} {image} {old_tag} {new_tag} '
                '{old_digest} {digest} {old_ref} {new_ref} {source_commit} {short_commit} {source_link} {run_url} '
                '{files} {branch}. Shipyard trailers are always appended.'
            ),
        ),
        Input('bot-name', 'Commit author and committer name.', default='shipyard-bot'),
        Input('bot-email', 'Commit author and committer email.', default='shipyard-bot@users.noreply.github.com'),
        Input(
            'source-commit',
            (
                'Source commit of the build (defaults to GITHUB_SHA); recorded in the commit trailers.'
            ),
        ),
        Input(
            'source-repo-path',
            (
                'Checkout of the service repository for the ancestry check (defaults to GITHUB_WORKSPACE).'
            ),
        ),
        Input('built-at', "Build timestamp (ISO 8601 or epoch seconds); defaults to the source commit's time."),
        Input(
            'out-of-order-guard',
            (
                'Refuse (with a warning, changed=false) to replace a newer build of this service and environment '
                'with an older one.'
            ),
            default='true',
            type='boolean',
        ),
        Input(
            'validate',
            (
                '`auto`: YAML parse check plus `kustomize build` of touched overlays when kustomize or kubectl is '
                'on PATH; `kustomize`: require the build; `parse`: parse check only.'
            ),
            default='auto',
        ),
        Input(
            'queue',
            (
                "After losing a push race, wait in the branch's ticket queue (short-lived refs under "
                'refs/shipyard/queue/) instead of random backoff alone. Set false if the server refuses such refs.'
            ),
            default='true',
            type='boolean',
        ),
        Input(
            'max-attempts',
            'Push attempts before giving up when other services keep landing first.',
            default='30',
            type='number',
        ),
        Input('timeout', 'Seconds before giving up on the fetch/re-apply/push loop.', default='300', type='number'),
        Input(
            'dry-run',
            'Compute and show the change, validate it, push nothing.',
            default='false',
            type='boolean',
            root='dry-run',
        ),
    ),
    outputs=(
        Output(
            'commit',
            (
                'The commit that now carries the image (the new commit, or the current tip when nothing changed).'
            ),
        ),
        Output('changed', '`true` when a commit was pushed.'),
        Output('pr-url', 'PR mode: URL of the opened or updated pull request.'),
        Output('previous-tag', 'The tag before this update (empty when there was none).'),
        Output('previous-digest', 'The digest before this update (empty when there was none).'),
        Output('status', 'updated, up-to-date, pr-up-to-date, out-of-order or dry-run.'),
        Output('files', 'The files changed, one per line.'),
    ),
)
