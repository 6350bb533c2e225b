"""The selftest stage's inputs and outputs: the one place they are declared.

actions/selftest/action.yml, the root action's inputs for this stage, the README tables and the CLI's
help are generated from it: edit here, then run `python scripts/gen_workflows.py`."""

from shipyard.spec import Input, Output, Stage

STAGE = Stage(
    name='selftest',
    title='Shipyard self-test',
    description=(
        'Boot the Shipyard runtime on this runner and echo inputs to outputs and the step summary. Costs no side '
        'effects; use it to check a runner or to measure start-up.'
    ),
    icon='check-circle',
    color='green',
    inputs=(
        Input('message', 'Text to echo to the `message` output.', default='hello'),
        Input('count', 'A whole number echoed to the `count` output.', default='1', type='number'),
        Input('mode', '`plain` or `loud` (upper-cases the message).', default='plain'),
        Input('tags', 'A list (one per line or comma-separated) echoed one per line to the `tags` output.'),
    ),
    outputs=(
        Output('message', 'The message, as processed.'),
        Output('count', 'The count.'),
        Output('tags', 'The tags, one per line.'),
    ),
)
