"""The bitbucket-mirror stage's inputs and outputs: the one place they are declared.

actions/bitbucket-mirror/action.yml, the root action's inputs for this stage, the README tables and the CLI's
help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='bitbucket-mirror',
    title='Shipyard Bitbucket mirror',
    description=(
        'Mirror every branch and tag (and LFS objects) of this repository to Bitbucket Cloud or Data Center; '
        'complete, verified, backup-safe, and a no-op in about a second when nothing changed.'
    ),
    icon='copy',
    color='blue',
    inputs=(
        Input(
            'workspace',
            'Bitbucket Cloud workspace ID (from bitbucket.org/<workspace>/). Required on Cloud.',
            root='bitbucket-workspace',
        ),
        Input(
            'repository',
            (
                'Name of the Bitbucket repository; its slug (lowercase, a-z 0-9 . _ -) is derived and reported. '
                "Default: this GitHub repository's name."
            ),
            root='bitbucket-repository',
        ),
        Input(
            'project',
            (
                'Cloud: project key the repository is created in (optional). Data Center: the project KEY '
                '(required).'
            ),
        ),
        Input('platform', '`cloud` (bitbucket.org) or `datacenter` (Bitbucket Data Center / Server).', default='cloud'),
        Input(
            'server-url',
            (
                'Data Center base URL, e.g. https://bitbucket.example.com (required for `platform: datacenter`).'
            ),
        ),
        Input(
            'auth',
            (
                'Credential kind: `auto`, `api-token`, `access-token`, `app-password` (no longer works on Cloud) '
                'or `ssh-key`. `auto` decides from the token prefix and whether `username` is set.'
            ),
            default='auto',
            root='bitbucket-auth',
        ),
        Input(
            'token',
            (
                'Bitbucket API token, repository/project/workspace access token (Data Center: HTTP access token) '
                'or app password. Pass a secret.'
            ),
            secret=True,
            root='bitbucket-token',
        ),
        Input(
            'username',
            (
                'With an API token: your Atlassian account email. With an app password: your Bitbucket username. '
                'Empty for access tokens.'
            ),
            root='bitbucket-username',
        ),
        Input(
            'ssh-private-key',
            (
                'Private key for git over SSH (a secret). Needs `ssh-known-hosts`; REST calls (pre-flight, create) '
                'still need `token`.'
            ),
            secret=True,
        ),
        Input(
            'ssh-known-hosts',
            (
                "known_hosts line(s) for the target's SSH host. Host-key checking is never turned off."
            ),
        ),
        Input('create', 'Create the Bitbucket repository when it does not exist.', default='true', type='boolean'),
        Input('private', 'Create the repository as private.', default='true', type='boolean'),
        Input(
            'fork-policy',
            (
                'Fork policy for a created repository: `no_public_forks`, `allow_forks` or `no_forks` (Data '
                'Center: forkable unless `no_forks`).'
            ),
            default='no_public_forks',
        ),
        Input('description', 'Description for a created repository.'),
        Input(
            'prune',
            'Delete branches and tags on the target that the source no longer has.',
            default='true',
            type='boolean',
        ),
        Input(
            'keep-deleted',
            (
                'Instead of losing them, keep deleted branches/tags (and the old tips of rewritten ones) under '
                'refs/backup/<date>/... on the target.'
            ),
            default='false',
            type='boolean',
        ),
        Input(
            'lfs',
            (
                'Push Git LFS objects: `auto` (when .gitattributes uses filter=lfs), `true` or `false`.'
            ),
            default='auto',
        ),
        Input(
            'path',
            (
                'The local checkout to work in. Shallow and single-branch checkouts are completed. Default: the '
                'workspace; a scratch repository when there is no checkout.'
            ),
        ),
        Input('source-remote', 'Remote of the checkout that is the source.', default='origin'),
        Input('source-url', 'URL of the source repository (default: the `source-remote` URL).'),
        Input(
            'source-token',
            'Token that can read the source (sent as an extraHeader, never in a URL).',
            default='${{ github.token }}',
            secret=True,
            root='bitbucket-source-token',
        ),
        Input(
            'api-url',
            (
                'Override the REST API base (default https://api.bitbucket.org, or `server-url` on Data Center).'
            ),
            root='bitbucket-api-url',
        ),
        Input(
            'git-url',
            (
                'Override the target clone URL; `{workspace}`, `{project}` and `{slug}` are filled in, e.g. '
                'ssh://git@bitbucket.example.com:7999/{project}/{slug}.git.'
            ),
            root='bitbucket-git-url',
        ),
        Input('source-lfs-url', 'LFS endpoint of the source when it is not <source-url>/info/lfs.'),
        Input('target-lfs-url', 'LFS endpoint of the target when it is not <git-url>/info/lfs.'),
        Input(
            'dry-run',
            'Plan and report the ref changes without creating or pushing anything.',
            default='false',
            type='boolean',
            root='dry-run',
        ),
        Input(
            'timeout',
            (
                'Seconds the whole mirror may take, retries included; every git and REST call is bounded by what '
                'is left (a silent server costs at most a fifth of it per attempt).'
            ),
            default='1800',
            type='number',
        ),
    ),
    outputs=(
        Output('pushed-refs', 'Branches and tags created or updated on the target, one per line.'),
        Output('deleted-refs', 'Branches and tags deleted on the target, one per line.'),
        Output('forced-refs', 'Refs force-updated because their history was rewritten on the source, one per line.'),
        Output('backup-refs', 'refs/backup/... refs written (keep-deleted), one per line.'),
        Output('skipped', '`true` when both sides were already identical and nothing was pushed.'),
        Output('target-url', 'Clone URL of the Bitbucket repository (no credentials).'),
    ),
)
