"""The build stage's inputs and outputs: the one place they are declared.

actions/build/action.yml, the root action's inputs for this stage, the README tables and the CLI's
help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='build',
    title='Shipyard build',
    description=(
        'Build a service image with buildx or buildah (daemonless), generating a Dockerfile per language when '
        'there is none, and skip unchanged content by its content-hash tag.'
    ),
    icon='package',
    color='blue',
    inputs=(
        Input(
            'image',
            (
                'Image name without tag: `REGISTRY/REPOSITORY` (e.g. '
                '`123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/service`). Tags are computed.'
            ),
            required=True,
        ),
        Input(
            'context',
            "Build context, relative to the repository root (monorepos: the service's directory).",
            default='.',
            root='context',
        ),
        Input(
            'dockerfile',
            (
                'Path to a Dockerfile (relative to the repository root or the context). Default: '
                '`<context>/Dockerfile` or `Containerfile`; without one a Dockerfile is generated for the detected '
                'language.'
            ),
            root='dockerfile',
        ),
        Input(
            'language',
            (
                'Force the language instead of detecting it: `java`, `kotlin`, `python`, `node`, `spa`, `go`, '
                '`swift`.'
            ),
            root='language',
        ),
        Input(
            'build-mode',
            (
                'For generated Dockerfiles: `container` (the toolchain runs in the build image) or `host` (the '
                'runner runs the toolchain and the image gets only the artefacts).'
            ),
            default='container',
            root='build-mode',
        ),
        Input(
            'install-command',
            (
                'Build mode `host`: replaces the dependency install (node, spa, python); `none` skips it.'
            ),
            root='install-command',
        ),
        Input(
            'build-command',
            'Build mode `host`: replaces the build command (spa, java, kotlin).',
            root='build-command',
        ),
        Input(
            'base-images',
            (
                'Base images for generated Dockerfiles, `build=IMAGE` and/or `runtime=IMAGE` (pin by digest). '
                'Defaults are pinned upstream images.'
            ),
            root='base-images',
        ),
        Input(
            'builder',
            '`auto` (buildx when a docker daemon answers, else buildah), `buildah` or `buildx`.',
            default='auto',
            root='builder',
        ),
        Input(
            'platforms',
            (
                'Target platforms, e.g. `linux/amd64,linux/arm64` (several give a multi-platform index). Default: '
                "the runner's."
            ),
            root='platforms',
        ),
        Input(
            'build-args',
            (
                'Build arguments, `KEY=VALUE` one per line. Not for secrets: they stay in the image history.'
            ),
            root='build-args',
        ),
        Input(
            'secret-envs',
            (
                'Build secrets, `ID=ENV_VAR` one per line: the variable (set with `env:` on this step) is mounted '
                'as secret ID (`RUN --mount=type=secret,id=ID`), never an argument or a layer.'
            ),
            root='secret-envs',
        ),
        Input('target', 'Dockerfile stage to build.'),
        Input('tags', 'Extra tags (one per line or comma-separated), added to the computed ones.', root='image-tags'),
        Input(
            'semver-aliases',
            (
                'On a release tag `v1.2.3` also tag `1.2` and `1`. Off by default: they move with every release, '
                'which an immutable ECR repository refuses (no prefix to exclude them by); they need '
                '`immutable-tags: false` on ecr-push. Deploy by digest instead. When on, they are moving tags '
                '(`moving-tags`).'
            ),
            default='false',
            type='boolean',
            root='semver-aliases',
        ),
        Input(
            'defer-moving-tags',
            (
                '`true`: push only the immutable tags (`ch-`, `sha-`, versions) and leave the moving ones (still '
                'listed in `tags` and `moving-tags`) to ecr-push, which applies them only after its scan gate '
                'passed. The root Shipyard action sets it.'
            ),
            default='false',
            type='boolean',
        ),
        Input(
            'labels',
            (
                'Extra labels, `KEY=VALUE` one per line (OCI source/revision/created/title/version are always set; '
                'these override them).'
            ),
        ),
        Input('source-url', "Value of the `org.opencontainers.image.source` label. Default: the repository's URL."),
        Input(
            'push',
            (
                "Push the image and its tags (credentials from the registry auth file; the ecr-push stage's login "
                'writes it).'
            ),
            default='true',
            type='boolean',
        ),
        Input(
            'skip-unchanged',
            (
                'Skip the build when the registry already has the content-hash tag, and add the new tags to that '
                'image by server-side retag.'
            ),
            default='true',
            type='boolean',
            root='skip-unchanged',
        ),
        Input(
            'cache',
            (
                'Layer cache: `registry` (buildx: `<image>:buildcache`; buildah: `<image>/buildcache`), `gha` '
                '(buildx, per-service scope), `none`, or `auto` (buildx+push: registry; else none).'
            ),
            default='auto',
            root='cache',
        ),
        Input(
            'provenance',
            (
                'buildx: attach a provenance attestation (turns single-arch images into indexes; off by default).'
            ),
            default='false',
            type='boolean',
        ),
        Input(
            'insecure-registry',
            (
                'Talk plain HTTP / skip TLS verification for the registry (loopback registries are plain HTTP '
                'anyway).'
            ),
            default='false',
            type='boolean',
            root='insecure-registry',
        ),
        Input(
            'service-name',
            (
                'Name for logs, the summary and the GitHub cache scope. Default: the last part of the repository '
                'name.'
            ),
        ),
        Input(
            'dry-run',
            (
                'Compute tags and the content hash, check the registry, print the build command; build and push '
                'nothing.'
            ),
            default='false',
            type='boolean',
            root='dry-run',
        ),
    ),
    outputs=(
        Output('image', 'The image name (`registry/repository`).'),
        Output(
            'tags',
            (
                'Every full image reference of this build, one per line (content-hash tag first): pushed or '
                'retagged, except the moving ones with `defer-moving-tags: true`.'
            ),
        ),
        Output(
            'moving-tags',
            (
                'The full references of the tags that move to each new build (`branch-<name>`, `pr-<number>`, the '
                '`semver-aliases`), one per line; a subset of `tags`.'
            ),
        ),
        Output(
            'digest',
            (
                'The image (or index) digest, `sha256:...` (empty for an unpushed build or a dry run).'
            ),
        ),
        Output('content-tag', "The content-hash tag (`ch-<24 hex>`), immutable: the build's identity."),
        Output('commit-tag', 'The commit tag (`sha-<7 hex>`), immutable and readable (empty without a git SHA).'),
        Output(
            'content-hash',
            (
                'The sha256 of everything that goes into the image (context files, Dockerfile, args, bases).'
            ),
        ),
        Output('skipped', '`true` when the build was skipped because the content-hash tag already existed.'),
        Output(
            'language',
            (
                'The detected (or forced) language, empty for an own Dockerfile of an undetectable service.'
            ),
        ),
        Output('error', 'On failure: the one-line reason (e.g. the failing build step), for notifications.'),
    ),
)
