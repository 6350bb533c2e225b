"""The slack-notify stage's inputs and outputs: the one place they are declared.

actions/slack-notify/action.yml, the root action's inputs for this stage, the README tables and the CLI's
help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='slack-notify',
    title='Shipyard Slack notify',
    description=(
        'One live Slack message per pipeline run, updated stage by stage (details in its thread) and always '
        'finished, even when the run is cancelled.'
    ),
    icon='message-square',
    color='purple',
    inputs=(
        Input(
            'event',
            (
                "`start` (post the run's message), `stage` (update one stage of its checklist) or `finish` (set "
                'the final state; run it with `if: always()`).'
            ),
            required=True,
        ),
        Input(
            'token',
            (
                'Slack bot token (xoxb-...), from a secret such as SLACK_BOT_TOKEN. Needs chat:write; '
                'channels:history (groups:history for private channels) for re-runs and recovery detection; '
                'channels:read when `channel` is a name.'
            ),
            secret=True,
            root='slack-token',
        ),
        Input(
            'webhook-url',
            (
                'Incoming webhook URL, used when no `token` is given: one message at `finish`, no live updates or '
                'threads.'
            ),
            secret=True,
            root='slack-webhook-url',
        ),
        Input('channel', 'Channel ID (C...; recommended) or name. Overrides the routing file.', root='slack-channel'),
        Input(
            'routing-file',
            (
                'YAML file mapping service and environment to channel and owning team, and GitHub logins to Slack '
                'member IDs (see README).'
            ),
            root='slack-routing-file',
        ),
        Input(
            'service',
            (
                'Service name shown in the message and used by the routing file. Defaults to the repository name.'
            ),
        ),
        Input(
            'environment',
            (
                'Deployment environment (dev, staging, prod) shown in the message and used by the routing file.'
            ),
            root='environment',
        ),
        Input(
            'stage',
            (
                'With `event: stage`: the stage name (build, ecr-push, gitops-update, argocd-wait, '
                'bitbucket-mirror, postman-publish, or any name).'
            ),
        ),
        Input(
            'status',
            (
                'With `event: stage`: running, success, failure, skipped or cancelled (default success). With '
                '`event: finish`: auto (from the checklist and `job-status`), success, failure, cancelled or '
                'timed-out.'
            ),
        ),
        Input(
            'details',
            (
                'With `event: stage`: Markdown line(s) for this stage (image tag and digest, config-repo commit or '
                'PR link, ...). The first line shows in the checklist; all of it goes to the thread.'
            ),
        ),
        Input('error', 'The error message of a failed stage (or of the run, with `event: finish`).'),
        Input(
            'duration',
            (
                "With `event: stage`: the stage's duration in seconds (otherwise measured from its `running` "
                'event).'
            ),
        ),
        Input('stages', 'With `event: start`: the planned stages (list), shown as pending until they report.'),
        Input('job-status', 'With `event: finish` and `status: auto`: set it to the job.status expression.'),
        Input('job-url', 'Link to the failing job (default: the workflow run, attempt-aware).'),
        Input(
            'timeout-minutes',
            (
                "The job's `timeout-minutes`: with `status: auto`, a cancelled job that ran this long is reported "
                'as timed out.'
            ),
        ),
        Input(
            'ts',
            (
                'The parent message ts from an earlier job (`needs.<job>.outputs.<ts output>`), for updating it '
                'from another job.'
            ),
        ),
        Input(
            'state',
            (
                'The `state` output of an earlier slack-notify step in another job: carries the checklist across '
                'jobs.'
            ),
        ),
        Input(
            'matrix-key',
            (
                'Matrix entry this job reports for, e.g. the toJSON(matrix) expression or a label: each entry gets '
                'its own message and duration.'
            ),
        ),
        Input('image-tag', 'Image tag shown in the message.'),
        Input('image-digest', 'Image digest (sha256:...) shown in the message.'),
        Input('commit-title', 'Commit title (default: from the event payload).'),
        Input(
            'author',
            (
                'GitHub login of the commit author (default: from the event payload), mapped to a Slack member by '
                'the routing file.'
            ),
        ),
        Input('pr-url', 'Pull request link (default: from the event payload).'),
        Input(
            'mentions',
            (
                'Mention the owning team and the author on failure and on recovery (failed -> fixed). Never on '
                'plain success.'
            ),
            default='true',
            type='boolean',
        ),
        Input(
            'previous-status',
            (
                'Final status of the previous run of this service/branch/environment, if you track it yourself '
                '(default: read from the channel).'
            ),
        ),
        Input('thread-details', "Post each stage's details as a thread reply.", default='true', type='boolean'),
        Input(
            'rerun-lookback-hours',
            (
                "How far back to look in the channel for this run's message on a re-run or from another job, and "
                "for the previous run's result."
            ),
            default='168',
            type='number',
        ),
        Input(
            'rate-limit-budget',
            (
                'Seconds to keep retrying when Slack rate-limits (HTTP 429, honouring Retry-After). Slack allows '
                'about one message per second per channel: fifty runs finishing at once into one channel need '
                'about two minutes.'
            ),
            default='180',
            type='number',
        ),
        Input(
            'api-url',
            (
                'Slack Web API base URL (for a proxy or a test double). Default: https://slack.com/api/ (or the '
                'SHIPYARD_SLACK_API_URL variable).'
            ),
            root='slack-api-url',
        ),
        Input(
            'fail-on-error',
            (
                'Fail the step when Slack refuses or is unavailable. By default it warns and the pipeline goes on.'
            ),
            default='false',
            type='boolean',
        ),
        Input(
            'dry-run',
            'Print the payload JSON instead of calling Slack.',
            default='false',
            type='boolean',
            root='dry-run',
        ),
    ),
    outputs=(
        Output('ts', 'The parent message ts (a string; pass it on unchanged).'),
        Output('channel', 'The channel ID of the parent message.'),
        Output('state', 'Compact JSON of the checklist: pass it to `state` in a later job.'),
        Output('status', "The run's status as shown: running, success, failure, cancelled or timed-out."),
        Output('delivered', 'true when Slack accepted the message.'),
    ),
)
