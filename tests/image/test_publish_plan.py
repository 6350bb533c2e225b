"""Which tags a release of the image writes (no registry needed)."""

from __future__ import annotations

import pytest

from image.publish import PublishError, plan


@pytest.mark.parametrize(
    "version, existing, expected",
    [
        ("1.0.0", [], ["1.0.0", "1.0", "1"]),
        ("v1.2.3", ["1.2.2", "1.2", "1"], ["1.2.3", "1.2", "1"]),
        ("1.2.3", ["1.2.3", "1.2", "1"], []),  # exists: nothing
        ("1.2.4", ["1.3.0", "1.3", "1", "1.2.3", "1.2"], ["1.2.4", "1.2"]),  # an old line: `1` stays on 1.3.0
        ("1.2.1", ["1.2.5"], ["1.2.1"]),  # an older patch moves nothing
        ("2.0.0-rc.1", ["1.9.0"], ["2.0.0-rc.1"]),  # a pre-release: its exact tag only
        ("2.0.0", ["2.0.0-rc.1", "1.9.0", "latest", "v3.0.0"], ["2.0.0", "2.0", "2"]),  # odd tags are ignored
    ],
)
def test_plan(version: str, existing: list[str], expected: list[str]) -> None:
    assert plan(version, existing) == expected


@pytest.mark.parametrize("version", ["1.2", "01.2.3", "1.2.3\n", "-1.2.3", "1.2.3 ", "latest"])
def test_plan_refuses_what_is_not_a_release(version: str) -> None:
    with pytest.raises(PublishError, match="Fix:"):
        plan(version, [])
