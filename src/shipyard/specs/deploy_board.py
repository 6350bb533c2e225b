"""The deploy-board stage's inputs and outputs: the one place they are declared.

actions/deploy-board/action.yml, the README tables and the CLI's help are generated from it: edit here, then run
`python scripts/gen_workflows.py`. A fleet-level stage: no input has a root name, so it is not part of the
root action or the reusable pipeline workflows."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='deploy-board',
    title='Shipyard deploy board',
    description=(
        "Read every service overlay of the config repository, Argo CD's live state and ECR's push times and scan "
        'findings, and write one self-contained HTML page (plus a markdown summary): services x '
        'environments/clusters with tag, digest, age and state, and markers for prd behind dev, git vs cluster '
        'drift, out of sync, degraded and critical findings.'
    ),
    icon='grid',
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
                'Token that can read the config repository (sent as an HTTP header, never in a URL or argv). Pass '
                'a secret.'
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
            'critical-severity',
            (
                'Scan findings at or above this severity are marked critical: `CRITICAL`, `HIGH`, `MEDIUM`, `LOW` '
                'or `INFORMATIONAL`.'
            ),
            default='CRITICAL',
            choices=('CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL'),
        ),
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
            'output-dir',
            'Directory (relative to the workspace) for `index.html` and `board.md`.',
            default='deploy-board',
        ),
        Input('title', 'Page title.', default='Deploy board'),
    ),
    outputs=(
        Output('html-path', 'Path of the self-contained HTML page.'),
        Output('markdown-path', 'Path of the markdown version (also written to the step summary).'),
        Output('services', 'Number of services on the board.'),
        Output('columns', 'JSON list of the environment/cluster columns.'),
        Output(
            'markers',
            (
                'JSON object: marker kind -> number of cells (behind, drift, out-of-sync, degraded, critical, ...).'
            ),
        ),
        Output('argocd-state', '`ok`, `off`, `unreachable` or `unauthorized`.'),
        Output('tip', 'The config repository commit the board shows.'),
    ),
)
