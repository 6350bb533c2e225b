"""The runtime under act: a composite action writes outputs and a summary that the next step consumes."""

from __future__ import annotations

import pytest

from tests.stack.act import ActRunner, dump_step

pytestmark = pytest.mark.act


def test_composite_action_outputs_reach_next_step(act: ActRunner) -> None:
    workflow = """\
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - id: st
        uses: shipyard/shipyard/actions/selftest@v1
        with:
          message: hi there
          mode: loud
          tags: |
            a
            b, c
      - name: consume
        shell: bash
        env:
          MSG: ${{ steps.st.outputs.message }}
        run: test "$MSG" = "HI THERE"
""" + dump_step("outputs", {"message": "steps.st.outputs.message", "tags": "steps.st.outputs.tags"})
    result = act.run(workflow)
    assert result.ok, result.output
    assert result.json("outputs") == {"message": "HI THERE", "tags": "a\nb\nc"}
    assert "Summary - ### selftest" in result.output or "| message | HI THERE |" in result.output


def test_bad_enum_fails_with_one_error(act: ActRunner) -> None:
    workflow = """\
on: push
jobs:
  t:
    runs-on: ubuntu-latest
    steps:
      - uses: shipyard/shipyard/actions/selftest@v1
        with:
          mode: shouty
"""
    result = act.run(workflow)
    assert not result.ok
    assert "Input 'mode' has unknown value 'shouty'; allowed values: plain, loud." in result.output
