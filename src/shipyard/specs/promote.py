"""The promote stage's inputs and outputs: the one place they are declared.

actions/promote/action.yml, the README tables and the CLI's help are generated from it: edit here, then run
`python scripts/gen_workflows.py`. A fleet-level stage: no input has a root name, so it is not part of the
root action or the reusable pipeline workflows."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='promote',
    title='Shipyard promote',
    description=(
        'Promote the exact digests running Healthy in the source environment (dev) to the target (prd) as one pull '
        'request (or one per wave) in the config repository, in the order and behind the gates of its '
        'promotion.yaml (waves, dependencies, soak time, freeze windows), refusing digests that fail the scan gate '
        'or are missing from ECR.'
    ),
    icon='git-pull-request',
    color='orange',
    inputs=(
        Input(
            'repository',
            'Config repository: `owner/name` on this GitHub server, or an HTTPS clone URL.',
            required=True,
        ),
        Input(
            'token',
            (
                'Token with `contents: write` and `pull-requests: write` on the config repository (pushes the bot '
                'branch, opens the PR). Pass a secret.'
            ),
            secret=True,
        ),
        Input('branch', 'Branch of the config repository Argo CD tracks.', default='main'),
        Input(
            'layout',
            (
                'Path pattern of one overlay with `{service}`, `{env}` and optionally `{cluster}`, e.g. '
                '`apps/{service}/overlays/{env}/{cluster}/kustomization.yaml`.'
            ),
            default='apps/{service}/overlays/{env}/kustomization.yaml',
        ),
        Input(
            'app-name',
            (
                "Argo CD application name for an overlay when no application's `spec.source.path` is the overlay's "
                'folder (default `{service}-{env}-{cluster}`, or `{service}-{env}` without clusters).'
            ),
        ),
        Input(
            'github-repository',
            (
                '`owner/name` for links and pull requests when `repository` is a URL that does not say it.'
            ),
        ),
        Input(
            'argocd-server',
            (
                'Base URL of the Argo CD server (no path). Empty: the cluster state is shown as unknown.'
            ),
        ),
        Input('argocd-token', 'Argo CD API token (Bearer) with `applications, get`. Pass a secret.', secret=True),
        Input('argocd-username', 'Local Argo CD account to log in with when no `argocd-token` is given.'),
        Input('argocd-password', 'Password of `argocd-username`. Pass a secret.', secret=True),
        Input('argocd-project', 'Only list applications of this Argo CD project.'),
        Input('argocd-selector', 'Label selector for the listed applications (e.g. `team=payments`).'),
        Input(
            'aws-region',
            (
                'Region for ECR calls (push time and scan findings of each deployed digest). Empty: ECR is not '
                'read.'
            ),
        ),
        Input('role-to-assume', 'IAM role to assume with GitHub OIDC (needs `id-token: write`) for ECR reads.'),
        Input('aws-access-key-id', 'Static AWS key id (prefer `role-to-assume`). Pass a secret.', secret=True),
        Input('aws-secret-access-key', 'Static AWS secret key. Pass a secret.', secret=True),
        Input('aws-session-token', 'AWS session token for temporary static keys. Pass a secret.', secret=True),
        Input('source-environment', 'Environment the builds come from (prd is compared with it).', default='dev'),
        Input('target-environment', 'Environment promoted to.', default='prd'),
        Input(
            'timeout',
            'Seconds for the whole read (clone, Argo CD, ECR), retries included.',
            default='120',
            type='number',
        ),
        Input(
            'now',
            (
                'The current time (ISO 8601 or epoch seconds) for reproducible output; empty: the clock.'
            ),
        ),
        Input(
            'services',
            (
                'Services to promote, one per line or comma-separated. Empty or `all`: every service whose target '
                'overlays differ from the source.'
            ),
        ),
        Input(
            'promotion-file',
            (
                'Path of promotion.yaml in the config repository (waves, dependencies, soak-minutes, freeze '
                'windows).'
            ),
            default='promotion.yaml',
        ),
        Input(
            'pr-mode',
            '`single`: one pull request for everything; `per-wave`: one pull request per wave.',
            default='single',
            choices=('single', 'per-wave'),
        ),
        Input(
            'pr-branch',
            (
                'Bot branch of the pull request (`{source}`/`{target}` placeholders); `-wave-N` is appended per '
                'wave.'
            ),
            default='shipyard/promote-{source}-to-{target}',
        ),
        Input('pr-labels', 'Labels for the pull request.'),
        Input(
            'fail-on-severity',
            (
                'Refuse a digest whose ECR scan has findings at or above this severity (`CRITICAL` ... '
                '`INFORMATIONAL`, or `none`).'
            ),
            default='CRITICAL',
            choices=('CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL', 'none'),
        ),
        Input(
            'skip-ecr-check',
            'Do not check the digests in ECR (non-ECR images). The scan gate is then off.',
            default='false',
            type='boolean',
        ),
        Input('github-api-url', 'GitHub API base URL (defaults to `GITHUB_API_URL`).'),
        Input('bot-name', 'Commit author name.', default='shipyard-bot'),
        Input('bot-email', 'Commit author email.', default='shipyard-bot@users.noreply.github.com'),
        Input('dry-run', 'Plan and check the gates only: no branch, no pull request.', default='false', type='boolean'),
    ),
    outputs=(
        Output(
            'status',
            (
                '`updated` (branch pushed), `pr-up-to-date`, `up-to-date` (nothing differs) or `dry-run`.'
            ),
        ),
        Output('pr-urls', 'The pull request URL(s), one per line.'),
        Output('promoted', 'JSON list of the services in the pull request(s).'),
        Output('refused', 'JSON object: service -> reasons it was not promoted.'),
        Output('changed', '`true` when a branch was pushed.'),
    ),
)
