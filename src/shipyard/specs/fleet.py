"""The fleet stage's inputs and outputs: the one place they are declared.

actions/fleet/action.yml, the README tables and the CLI's help are generated from it: edit here, then run
`python scripts/gen_workflows.py`. A fleet-level stage: no input has a root name, so it is not part of the
root action or the reusable pipeline workflows."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='fleet',
    title='Shipyard fleet',
    description=(
        "Inventory every service repository of the organisation (language, Shipyard pins, drift from today's "
        'template), open or update one pull request per repository to adopt, upgrade or repair the pipeline (Git '
        "Data API, no clone), require the pipeline's checks where the GitHub plan allows, and report the fleet."
    ),
    icon='layers',
    color='blue',
    inputs=(
        Input('organization', "The GitHub organisation's login (as in github.com/<org>).", required=True),
        Input(
            'token',
            (
                'A token with the `repo` and `workflow` scopes (or fine-grained Contents, Pull requests and '
                'Workflows write). Pass a secret. The Actions GITHUB_TOKEN cannot write workflow files. Prefer a '
                'GitHub App (`app-id`).'
            ),
            secret=True,
        ),
        Input(
            'app-id',
            (
                'GitHub App id; the stage mints an installation token for the organisation. The App needs '
                'Contents, Pull requests and Workflows `write` (plus Administration or Organization administration '
                '`write` for `required-checks`).'
            ),
        ),
        Input('app-private-key', "The GitHub App's PEM private key. Pass a secret.", secret=True),
        Input('installation-id', "The App's installation id on the organisation (looked up when empty)."),
        Input('github-api-url', 'GitHub API base URL (defaults to `GITHUB_API_URL`).'),
        Input(
            'shipyard-repository',
            (
                "Where Shipyard's actions and reusable workflows live (`uses:` references to it are inventoried "
                'and upgraded to its latest release tag).'
            ),
            default='shipyard/shipyard',
        ),
        Input(
            'templates',
            (
                'Folder holding the `shipyard-<language>.yml` workflow templates (defaults to the ones shipped '
                'with this Shipyard version).'
            ),
        ),
        Input(
            'exclude',
            (
                'Repository names to leave alone, one per line or comma-separated (besides archived repositories, '
                'forks, the topic `shipyard-opt-out` and a `.shipyard.yml` with `fleet: {opt-out: true}`).'
            ),
        ),
        Input(
            'branch',
            'The branch each pull request comes from (one per repository, reused on later runs).',
            default='shipyard/fleet',
        ),
        Input(
            'closed-pr-days',
            (
                "A pull request the repository's owners closed without merging is not proposed again for this many "
                'days.'
            ),
            default='30',
            type='number',
        ),
        Input(
            'required-checks',
            (
                "Require the pipeline where the plan allows: `auto` (read the organisation's plan), `enterprise` "
                '(organisation ruleset with a workflows rule), `team` (repository rulesets requiring '
                '`required-check`), `free` (the same for public repositories; private ones are reported as not '
                'enforceable) or `off`.'
            ),
            default='auto',
            choices=('auto', 'enterprise', 'team', 'free', 'off'),
        ),
        Input(
            'required-workflow',
            (
                'Enterprise: the workflow the organisation ruleset requires, '
                '`OWNER/REPO:.github/workflows/FILE.yml[@refs/heads/BRANCH]` (it must run on pull_request or '
                'merge_group).'
            ),
        ),
        Input(
            'required-check',
            (
                "Team/Free: the status check the repository rulesets require (a reusable workflow's check is named "
                '`<caller job> / <called job>`).'
            ),
            default='ship / pipeline / ship',
        ),
        Input(
            'enforcement',
            (
                'Ruleset enforcement: `evaluate` (insights only, blocks nothing: start here), `active` or '
                '`disabled`.'
            ),
            default='evaluate',
            choices=('evaluate', 'active', 'disabled'),
        ),
        Input(
            'bypass-actors',
            (
                'Who may bypass the rulesets, `TYPE:ID[:always|pull_request]` one per line, TYPE one of '
                'OrganizationAdmin, RepositoryRole, Team, Integration, DeployKey (e.g. `OrganizationAdmin:1`).'
            ),
        ),
        Input(
            'state-dir',
            (
                "Folder for the ETag cache and the last run's report (keep it between runs with actions/cache; a "
                're-run on an unchanged fleet then costs about one request per repository).'
            ),
            default='.shipyard-fleet',
        ),
        Input(
            'slack-token',
            'Slack bot token for the digest of what changed since the last run. Pass a secret.',
            secret=True,
        ),
        Input('slack-channel', 'Slack channel (ID or name) for the digest; empty sends none.'),
        Input(
            'rate-limit-wait',
            "Seconds the stage may wait in total for GitHub's rate limit to reset.",
            default='900',
            type='number',
        ),
        Input(
            'dry-run',
            'Print the plan (and the ruleset diff) without writing anything.',
            default='false',
            type='boolean',
        ),
    ),
    outputs=(
        Output(
            'report',
            (
                'JSON list, one object per repository (repository, language, pipeline, version, drift, action, '
                'reason, changes, pr, pr_status, pr_detail).'
            ),
        ),
        Output('counts', 'JSON object, planned action -> number of repositories.'),
        Output('pull-requests', 'JSON list of the pull requests touched (repository, status, url).'),
        Output('requests', 'GitHub API requests this run made.'),
        Output('scan-requests', 'GitHub API requests of the inventory alone.'),
    ),
)
