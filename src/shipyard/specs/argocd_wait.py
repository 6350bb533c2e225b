"""The argocd-wait stage's inputs and outputs: the one place they are declared.

actions/argocd-wait/action.yml, the root action's inputs for this stage, the README tables and the CLI's
help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='argocd-wait',
    title='Shipyard ArgoCD wait',
    description=(
        'After the config-repo commit, refresh the ArgoCD applications (one per cluster) and wait until each is '
        'Synced at that commit (or a later one containing it) and Healthy; fail on Degraded, a failed sync, error '
        'conditions or timeout.'
    ),
    icon='clock',
    color='orange',
    inputs=(
        Input(
            'argocd-server',
            'Base URL of the ArgoCD server, e.g. `https://argocd.example.com` (no path).',
            required=True,
            root='argocd-server',
        ),
        Input(
            'argocd-token',
            (
                'ArgoCD API token (Bearer), e.g. from `argocd account generate-token --account ci`. Pass a secret. '
                'Read-only RBAC is enough (see README).'
            ),
            secret=True,
            root='argocd-token',
        ),
        Input(
            'argocd-username',
            (
                'Local ArgoCD account to log in with when no `argocd-token` is given (POST /api/v1/session).'
            ),
        ),
        Input('argocd-password', 'Password of `argocd-username`. Pass a secret.', secret=True),
        Input(
            'applications',
            (
                'Applications to wait for, one per line or comma-separated, each `name`, `name@namespace`, '
                '`project/name` or `project/name@namespace`. Polled concurrently.'
            ),
            required=True,
        ),
        Input(
            'project',
            (
                'Default ArgoCD project for applications listed without one (gives a clear 404 for a missing app '
                "instead of ArgoCD's 403)."
            ),
        ),
        Input(
            'revision',
            (
                "The config-repo commit to wait for (gitops-update's `commit` output). ArgoCD may report it or any "
                'later commit that contains it. Empty waits for Synced and Healthy at any revision.'
            ),
        ),
        Input(
            'config-repo-path',
            (
                'Local clone of the config repo, used to check ancestry with `git merge-base --is-ancestor` '
                '(fetches revisions it lacks).'
            ),
        ),
        Input(
            'config-repo',
            (
                'Config repo, when no `config-repo-path` is given: an HTTPS clone URL (a temporary blob-less clone '
                'is checked with `git merge-base`; any git host) or `owner/name` (GitHub compare API, needs '
                '`config-repo-token`).'
            ),
            root='config-repository',
        ),
        Input(
            'config-repo-token',
            (
                'Token with read access to the config repo (sent as an HTTP header, never in a URL or argv), for '
                'fetching into `config-repo-path`, the temporary clone or the compare API. Pass a secret.'
            ),
            secret=True,
            root='config-token',
        ),
        Input('github-api-url', 'GitHub API base URL for the compare API (defaults to `GITHUB_API_URL`).'),
        Input(
            'timeout',
            'Seconds to wait for all applications together.',
            default='600',
            type='number',
            root='argocd-timeout',
        ),
        Input(
            'poll-interval',
            (
                'Seconds between polls at first; grows 1.5x while nothing changes (up to 6x, at most 30 s).'
            ),
            default='5',
            type='number',
            root='argocd-poll-interval',
        ),
        Input(
            'refresh',
            (
                'Refresh to ask ArgoCD for after the commit: `normal`, `hard` (also re-renders manifests, slower) '
                'or `none`.'
            ),
            default='normal',
        ),
        Input(
            'insecure',
            (
                'Skip TLS certificate verification for `argocd-server` (prints a warning). Prefer a CA bundle.'
            ),
            default='false',
            type='boolean',
        ),
        Input(
            'fail-fast',
            'Stop waiting for the other applications as soon as one fails.',
            default='true',
            type='boolean',
        ),
        Input(
            'dry-run',
            (
                'Only check the credentials and that every application is visible, and report where each stands; '
                "no refresh (which sets an annotation on the app), no waiting, never fails on the apps' state."
            ),
            default='false',
            type='boolean',
            root='dry-run',
        ),
    ),
    outputs=(
        Output(
            'results',
            (
                'JSON list, one object per application (app, result, sync, health, revision, operation, message, '
                'seconds, polls).'
            ),
        ),
        Output('healthy', '`true` when every application is Synced at the commit and Healthy, else `false`.'),
        Output('revisions', 'JSON object, application -> the revision ArgoCD synced.'),
    ),
)
