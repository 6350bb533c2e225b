"""The ecr-push stage's inputs and outputs: the one place they are declared.

actions/ecr-push/action.yml, the root action's inputs for this stage, the README tables and the CLI's
help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='ecr-push',
    title='Shipyard ECR push',
    description=(
        "Log in to Amazon ECR without third-party actions (GitHub OIDC, static keys or the runner's credentials), "
        "keep the repository to the organisation's standard settings, push idempotently and gate on the image scan."
    ),
    icon='upload-cloud',
    color='orange',
    inputs=(
        Input(
            'login-only',
            (
                '`true`: only get credentials, ensure the repository and log in (run it before the build so the '
                'build can look up its content-hash tag and push). Outputs `registry` and `repository-uri`.'
            ),
            default='false',
            type='boolean',
        ),
        Input(
            'aws-region',
            'AWS region of the registry (default: `AWS_REGION` from the environment).',
            root='aws-region',
        ),
        Input(
            'registry-id',
            (
                "Account ID of the registry when it is not the credentials' own account (cross-account). Quote it: "
                "`'012345678901'`."
            ),
            root='registry-id',
        ),
        Input(
            'repository',
            (
                "ECR repository name, or the build stage's `image` output (`<registry>/<repository>`). Optional "
                'when `tags` holds full image references.'
            ),
        ),
        Input(
            'extra-repositories',
            (
                "More repositories to ensure (same settings) and log in for, one per line: e.g. buildah's layer "
                'cache repository `<repository>/buildcache`, which ECR does not create on push.'
            ),
        ),
        Input(
            'tags',
            (
                'Tags to push or verify, one per line or comma-separated: bare tags or full references (the build '
                "stage's `tags` output)."
            ),
        ),
        Input(
            'source-image',
            (
                'The locally built image to push, as a skopeo source: `containers-storage:<ref>` (buildah), '
                '`docker-daemon:<ref>` (docker), `oci-archive:<file>`... A bare reference means '
                'containers-storage. Empty: the build already pushed (or skipped); the tags are verified and '
                'completed.'
            ),
        ),
        Input(
            'digest',
            (
                'The digest the build stage reported (`sha256:...`); in verify mode it says which image the tags '
                'must point at.'
            ),
        ),
        Input(
            'manifest-format',
            'Manifest format to push: `keep` (as built), `oci` or `v2s2` (Docker schema 2).',
            default='keep',
        ),
        Input(
            'role-to-assume',
            (
                'IAM role ARN to assume. With GitHub OIDC (needs `permissions: id-token: write`), or from static '
                "keys / the runner's credentials (`role-chaining: true`)."
            ),
            root='role-to-assume',
        ),
        Input(
            'role-session-name',
            'STS session name (default `GitHubActions-<repo>-<run id>`, visible in CloudTrail).',
        ),
        Input(
            'role-duration-seconds',
            'Lifetime of the assumed-role session, 900 to 43200.',
            default='3600',
            type='number',
        ),
        Input(
            'role-chaining',
            (
                "`true`: assume role-to-assume with the runner's ambient credentials (IRSA, Pod Identity, instance "
                'profile) instead of OIDC.'
            ),
            default='false',
            type='boolean',
        ),
        Input('audience', 'Audience of the GitHub OIDC token.', default='sts.amazonaws.com'),
        Input('aws-access-key-id', 'Static access key ID (from a secret). Prefer OIDC.', root='aws-access-key-id'),
        Input(
            'aws-secret-access-key',
            'Static secret access key (from a secret).',
            secret=True,
            root='aws-secret-access-key',
        ),
        Input('aws-session-token', 'Session token for temporary static credentials (from a secret).', secret=True),
        Input(
            'allowed-account-ids',
            (
                'Refuse to run unless the credentials belong to one of these account IDs (quoted, comma-separated).'
            ),
            root='allowed-account-ids',
        ),
        Input(
            'export-credentials',
            '`true`: export the credentials as AWS_* environment variables for later steps.',
            default='false',
            type='boolean',
        ),
        Input(
            'endpoint-url',
            (
                'ECR API endpoint override (VPC interface endpoint, or a local emulator). `AWS_ENDPOINT_URL_ECR` '
                'works too.'
            ),
            root='ecr-endpoint-url',
        ),
        Input(
            'sts-endpoint-url',
            'STS endpoint override (regional or VPC endpoint). `AWS_ENDPOINT_URL_STS` works too.',
            root='sts-endpoint-url',
        ),
        Input(
            'registry-endpoint',
            (
                'Registry data-plane override: `https://host[:port]` (e.g. a `dkr` VPC endpoint without private '
                'DNS; `http://` for a plain-HTTP test registry), or `region=endpoint` lines.'
            ),
            root='registry-endpoint',
        ),
        Input(
            'max-attempts',
            'Attempts per AWS call (botocore adaptive retry mode: throttling and 5xx).',
            default='10',
            type='number',
        ),
        Input(
            'docker-login',
            'Also log docker in: `auto` (when docker is installed), `true`, `false`.',
            default='auto',
        ),
        Input(
            'create-repository',
            'Create the repository with the standard settings when it does not exist.',
            default='true',
            type='boolean',
        ),
        Input(
            'enforce-settings',
            (
                '`true`: fix drifted settings of an existing repository (otherwise drift is only reported).'
            ),
            default='false',
            type='boolean',
            root='enforce-settings',
        ),
        Input(
            'immutable-tags',
            (
                'Tag immutability (`IMMUTABLE_WITH_EXCLUSION` with the cache and mutable tag prefixes excluded).'
            ),
            default='true',
            type='boolean',
            root='immutable-tags',
        ),
        Input(
            'cache-tag-prefixes',
            (
                'Tag prefixes of registry cache tags: mutable despite immutability and never expired by the '
                'lifecycle policy (`none` for no exclusions).'
            ),
            default='buildcache',
        ),
        Input(
            'mutable-tag-prefixes',
            (
                "Prefixes of tags that move to each new build (the build stage's `branch-<name>` and "
                '`pr-<number>`): excluded from immutability (`<prefix>*`) and expired by the lifecycle policy like '
                'any tag (`none` for no exclusions). With `cache-tag-prefixes` at most 5 prefixes in all.'
            ),
            default='branch-, pr-',
            root='mutable-tag-prefixes',
        ),
        Input(
            'protected-tag-prefixes',
            (
                'Tag prefixes of currently deployed images that the lifecycle policy must never expire (e.g. '
                '`prod-, staging-`).'
            ),
        ),
        Input('keep-images', 'Lifecycle policy: keep the last N images.', default='100', type='number'),
        Input(
            'untagged-expire-days',
            'Lifecycle policy: expire untagged images after N days (0: no such rule).',
            default='14',
            type='number',
        ),
        Input('scan-on-push', 'Repository setting: scan images on push.', default='true', type='boolean'),
        Input('encryption', 'Repository encryption at creation: `AES256` or `KMS`.', default='AES256'),
        Input('kms-key', 'KMS key ARN/ID for `encryption: KMS` (default: the AWS-managed key).'),
        Input('repository-tags', 'Resource tags for the repository, `Key=Value` per line.'),
        Input('replicate-regions', 'Also push the same digest to these regions (repositories ensured there too).'),
        Input('scan', 'Run the scan gate after the push.', default='true', type='boolean'),
        Input(
            'fail-on-severity',
            (
                'Fail when findings at or above this severity are not allowlisted: `CRITICAL`, `HIGH`, `MEDIUM`, '
                '`LOW`, `INFORMATIONAL`, or `none` (report only).'
            ),
            default='CRITICAL',
            root='fail-on-severity',
        ),
        Input(
            'allow-cves',
            (
                'Vulnerability IDs accepted by the gate, one per line, optionally with an expiry: `CVE-2024-1234 '
                'until 2026-12-31`.'
            ),
            root='allow-cves',
        ),
        Input(
            'timeout',
            (
                'Seconds the AWS and registry calls may take in all, retries included (the scan wait has its own '
                '`scan-timeout`); an unreachable or hanging endpoint fails with one clear error within it.'
            ),
            default='600',
            type='number',
        ),
        Input(
            'scan-timeout',
            'Seconds to wait for scan findings before failing.',
            default='600',
            type='number',
            root='scan-timeout',
        ),
        Input(
            'scan-poll-seconds',
            'Seconds between scan status polls.',
            default='10',
            type='number',
            root='scan-poll-seconds',
        ),
        Input(
            'dry-run',
            'Report what would be created, fixed and pushed without changing anything.',
            default='false',
            type='boolean',
            root='dry-run',
        ),
    ),
    outputs=(
        Output('registry', 'Registry host (`<account>.dkr.ecr.<region>.amazonaws.com`).'),
        Output('repository-uri', '`<registry>/<repository>`.'),
        Output(
            'push-repository',
            (
                'Where to push: `<data-plane host>/<repository>`; differs from `repository-uri` only when '
                '`registry-endpoint` overrides the data plane.'
            ),
        ),
        Output('image-uri', '`<repository-uri>@sha256:...`: the verified image for the GitOps stage.'),
        Output('digest', 'Manifest digest of the pushed image.'),
        Output('tags', 'The pushed tags as full references, one per line.'),
        Output('account-id', 'Account ID of the credentials.'),
        Output('auth-file', 'The containers auth file holding the registry login.'),
        Output('scan-status', 'Scan status (`COMPLETE`, `TIMEOUT`, ...).'),
        Output('findings', 'Number of scan findings.'),
    ),
)
