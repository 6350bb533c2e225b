"""The postman-publish stage's inputs and outputs: the one place they are declared.

actions/postman-publish/action.yml, the root action's inputs for this stage, the README tables and the CLI's
help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='postman-publish',
    title='Shipyard Postman publish',
    description=(
        "Publish the service's OpenAPI document as one Postman collection that keeps its UID and item IDs, skips "
        'unchanged specs and reports breaking changes.'
    ),
    icon='book-open',
    color='orange',
    inputs=(
        Input(
            'api-key',
            (
                "Postman API key; pass a secret (e.g. secrets.POSTMAN_API_KEY). The key's user needs the Editor "
                'role on the workspace. Optional only with `dry-run`.'
            ),
            secret=True,
            root='postman-api-key',
        ),
        Input(
            'workspace',
            (
                'Postman workspace ID. The first run creates the collection there; later runs find it by name '
                'there. Optional when `collection-uid` is known.'
            ),
            root='postman-workspace',
        ),
        Input(
            'collection-name',
            (
                "Collection name (default the spec's `info.title`). Updates rename the collection to it."
            ),
        ),
        Input(
            'collection-uid',
            (
                'UID of the collection this service owns. Overrides `.shipyard/postman.json`; without either, the '
                'collection is found by exact name in `workspace`.'
            ),
        ),
        Input(
            'config-file',
            (
                'JSON file (in `working-directory`, then the repository root) with `collection-uid`, `spec-id`, '
                '`workspace` and/or `collection-name`.'
            ),
            default='.shipyard/postman.json',
        ),
        Input(
            'working-directory',
            (
                "The service's folder, relative to the repository root; the spec search and generation run there."
            ),
            default='.',
            root='context',
        ),
        Input(
            'spec-path',
            (
                'Path of the OpenAPI/Swagger document (relative to `working-directory`). Default search - '
                'committed openapi.{yaml,yml,json}/swagger.{yaml,yml,json}, then target/ and build/, then '
                '`generate-command`, then `fastapi-app`.'
            ),
            root='postman-spec-path',
        ),
        Input(
            'generate-command',
            (
                'Bash command that prints the OpenAPI document to stdout (or writes `spec-path`). Used when no '
                'spec file is found. See the README for per-language recipes.'
            ),
            root='postman-generate-command',
        ),
        Input(
            'fastapi-app',
            (
                '`module:attribute` of a FastAPI app (e.g. `app.main:app`): imported in a subprocess and '
                '`app.openapi()` is published.'
            ),
            root='postman-fastapi-app',
        ),
        Input(
            'python',
            "Interpreter for `fastapi-app`; it must have the service's requirements installed.",
            default='python3',
        ),
        Input(
            'generate-env',
            (
                'KEY=VALUE lines added to the environment of `generate-command`/`fastapi-app` (dummy settings an '
                'import needs).'
            ),
        ),
        Input(
            'generate-timeout',
            'Seconds allowed for `generate-command`/`fastapi-app`.',
            default='300',
            type='number',
        ),
        Input(
            'base-url',
            (
                "Value of the collection's `baseUrl` variable (default the spec's first server / host+basePath)."
            ),
        ),
        Input(
            'fail-on-breaking',
            (
                'Stop without publishing when the spec has breaking changes against the published one.'
            ),
            default='false',
            type='boolean',
            root='postman-fail-on-breaking',
        ),
        Input(
            'force',
            "Publish even when the spec's hash equals the one last published.",
            default='false',
            type='boolean',
        ),
        Input(
            'async-threshold',
            (
                'Collections of at least this many bytes are updated with an asynchronous PUT (Prefer '
                'respond-async) and task polling. 0 = always.'
            ),
            default='5000000',
            type='number',
        ),
        Input('task-timeout', 'Seconds to wait for an asynchronous update task.', default='300', type='number'),
        Input(
            'api-url',
            "Postman API base URL (e.g. the EU region's, or a test double).",
            default='https://api.getpostman.com',
            root='postman-api-url',
        ),
        Input('web-url', 'Base of the `collection-url` output.', default='https://go.postman.co'),
        Input(
            'collection-file',
            (
                'Also write the converted collection JSON to this path (relative to the repository root), e.g. for '
                'an artifact.'
            ),
        ),
        Input(
            'mode',
            (
                '`collection` (convert here and PUT the collection, keeping item IDs) or `spec-hub` (publish the '
                "spec to Postman's Spec Hub and let Postman generate, then synchronise, the collection)."
            ),
            default='collection',
        ),
        Input(
            'spec-id',
            (
                'Spec Hub spec ID this service owns (spec-hub mode); else the spec is found by name in `workspace`.'
            ),
        ),
        Input(
            'dry-run',
            'Find, validate, convert, look up and compare, but create or update nothing.',
            default='false',
            type='boolean',
            root='dry-run',
        ),
        Input(
            'timeout',
            (
                'Seconds all Postman API calls may take, retries and rate-limit waits included; a request that '
                'gets no answer gives up after a fifth of it (at most 60 s) and is retried.'
            ),
            default='900',
            type='number',
        ),
    ),
    outputs=(
        Output('collection-uid', 'UID of the published collection.'),
        Output('collection-url', 'Link to the collection in Postman.'),
        Output(
            'changed',
            (
                '`true` when the collection was created or updated (or would be, in a dry run), `false` when '
                'skipped.'
            ),
        ),
        Output(
            'breaking-changes',
            (
                'JSON list of breaking changes against the published spec, each `{"kind", "operation", "detail"}` '
                '(for slack-notify).'
            ),
        ),
        Output(
            'spec-sha256',
            (
                'Normalised hash of the published spec (with the converter version and the options that shape the '
                'collection).'
            ),
        ),
        Output('spec-id', 'Spec Hub spec ID (spec-hub mode only).'),
    ),
)
