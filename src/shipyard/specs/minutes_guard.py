"""The minutes-guard stage's inputs and outputs: the one place they are declared.

actions/minutes-guard/action.yml, the README tables and the CLI's help are generated from it: edit here, then run
`python scripts/gen_workflows.py`. A fleet-level stage: no input has a root name, so it is not part of the
root action or the reusable pipeline workflows."""

from shipyard.spec import Input, Output, Stage

#: The organisation variable the guard writes when it routes to self-hosted runners, and the one the reusable
#: pipeline workflows read their default ``runs-on`` from (scripts/gen_workflows.py imports it). It holds
#: JSON: a label as a string (``"ubuntu-latest"``) or a list of labels (``["self-hosted","arc"]``).
RUNS_ON_VARIABLE = "SHIPYARD_RUNS_ON"
#: The runs-on a workflow falls back to when neither its `runs-on` input nor the variable is set.
HOSTED_DEFAULT = "ubuntu-latest"

STAGE = Stage(
    name='minutes-guard',
    title='Shipyard minutes guard',
    description=(
        "The organisation's GitHub Actions minutes of the month from the usage of record and every job (by "
        'repository, workflow, job, trigger and runner), the month-end forecast and run-out date, the minutes '
        'wasted and their fixes, Slack alerts once per threshold, and optional routing to self-hosted runners '
        'before the included minutes run out.'
    ),
    icon='clock',
    color='orange',
    inputs=(
        Input(
            'github-token',
            (
                'Token for the organisation: organisation permission `Administration: read` (usage of record), '
                'repository permission `Actions: read` on every repository (runs and jobs), and `Variables: write` '
                'only with `route-runners`. A GitHub App installation token is best; a fine-grained PAT works. '
                'Pass a secret.'
            ),
            required=True,
            secret=True,
        ),
        Input('organization', 'Organisation login. Defaults to the owner of the repository the workflow runs in.'),
        Input('github-api-url', 'GitHub API base URL (defaults to `GITHUB_API_URL`, then https://api.github.com).'),
        Input(
            'plan',
            (
                "The organisation's plan, for the included minutes: `free` (2,000), `team` (3,000) or `enterprise` "
                '(50,000).'
            ),
            default='free',
            choices=('free', 'team', 'enterprise'),
        ),
        Input(
            'included-minutes',
            'Included minutes a month, overriding `plan` (e.g. a negotiated quota).',
            type='number',
        ),
        Input(
            'budget-minutes',
            (
                'Minutes the month may use before "forecast exceeds budget" alerts and routing; defaults to the '
                'included minutes.'
            ),
            type='number',
        ),
        Input(
            'thresholds',
            'Percentages of the included minutes that alert once each per month.',
            default='50,75,90,100',
        ),
        Input(
            'runner-skus',
            (
                'Extra runner label to SKU mappings, one `LABEL=SKU` per line (e.g. '
                '`linux-4core=actions_linux_4_core`) over the built-in GitHub-hosted labels. Unknown labels count '
                '1:1 as `unmapped`.'
            ),
        ),
        Input(
            'multipliers',
            (
                'SKU weights against the included minutes, one `SKU=NUMBER` per line over the defaults (Linux 1, '
                'Windows 2, macOS 10). Set `actions_windows=1` and `actions_macos=1` if your bill shows no '
                'multipliers.'
            ),
        ),
        Input(
            'repositories',
            (
                'Only these repositories (names or owner/name, one per line or comma-separated). Empty scans every '
                'repository the token sees.'
            ),
        ),
        Input(
            'rerun-window-days',
            (
                'Days before the last scan that a daily run lists again, to catch re-runs of older runs.'
            ),
            default='3',
            type='number',
        ),
        Input(
            'state-file',
            (
                "The guard's state (what was counted), relative to the workspace; keep it between runs with "
                'actions/cache (the workflow template does).'
            ),
            default='.shipyard-minutes/state.json',
        ),
        Input('month', 'Month to report, `YYYY-MM`; defaults to the month of `as-of`.'),
        Input('as-of', 'Report as of this ISO 8601 time instead of now (back-fills and tests).'),
        Input(
            'slack-token',
            (
                'Slack bot token (xoxb-) with chat:write and channels:history, for the alerts. Empty means no '
                'Slack. Pass a secret.'
            ),
            secret=True,
        ),
        Input(
            'slack-channel',
            (
                "Slack channel ID (or name) for the month's message; defaults to the routing file's "
                'defaults.channel.'
            ),
        ),
        Input('slack-api-url', 'Slack Web API base URL (tests and proxies).'),
        Input(
            'routing-file',
            (
                'The fleet routing file (see slack-notify); its `services.minutes-guard` or `defaults` team, and '
                "the top repositories' teams, are mentioned in threshold replies."
            ),
        ),
        Input(
            'route-runners',
            (
                'Write the organisation variable (`runner-variable`) when the forecast exceeds the budget, and '
                'restore it when the month turns. Off, the change is only printed.'
            ),
            default='false',
            type='boolean',
        ),
        Input(
            'runner-variable',
            (
                'Organisation variable the reusable pipeline workflows read their default `runs-on` from.'
            ),
            default=RUNS_ON_VARIABLE,
        ),
        Input(
            'self-hosted-labels',
            (
                'Labels of the self-hosted scale set to route to (e.g. `arc-runners`), one per line or '
                'comma-separated.'
            ),
        ),
        Input('hosted-labels', 'Labels to restore when no earlier value is known.', default=HOSTED_DEFAULT),
        Input(
            'format',
            '`markdown` (step summary) or `json` (also prints the report as one JSON line).',
            default='markdown',
            choices=('markdown', 'json'),
        ),
        Input('timeout', 'Seconds the scan may take; a scan cut short resumes next run.', default='900', type='number'),
        Input('dry-run', 'Read and report only; no Slack message, no variable write.', default='false', type='boolean'),
    ),
    outputs=(
        Output('used-minutes', 'Minutes used this month against the included minutes (multipliers applied).'),
        Output('included-minutes', 'Included minutes of the plan (or the explicit number).'),
        Output('percent', 'Percentage of the included minutes used.'),
        Output('forecast-minutes', 'Projected minutes at the end of the month.'),
        Output('over-budget', '`true` when the forecast exceeds the budget.'),
        Output(
            'runs-out-on',
            (
                'Date (YYYY-MM-DD) the included minutes run out at the current rate; empty if not this month.'
            ),
        ),
        Output('unmapped-labels', 'Runner labels with no SKU (comma-separated); map them with `runner-skus`.'),
        Output('self-hosted-minutes', 'Self-hosted job minutes this month (not billed).'),
        Output(
            'complete',
            (
                '`true` when every repository was scanned; `false` when the scan stopped early and resumes next '
                'run.'
            ),
        ),
        Output('guard-minutes', 'What this guard costs a month in billed minutes.'),
        Output('report-file', 'Path of the JSON report.'),
    ),
)
