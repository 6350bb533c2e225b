"""promotion.yaml parsing and ordering (no servers)."""

from __future__ import annotations

import pytest

from shipyard.promote.config import find_cycle, parse, wave_of
from shipyard.runtime import UserError

SERVICES = {"a", "b", "c", "d"}


def test_full_file() -> None:
    policy = parse("promotion.yaml", """
waves: [[a], [b, c]]
dependencies: {c: [a]}
soak-minutes: 30
soak: {c: 90}
freeze:
  - {start: 2026-12-20T00:00:00Z, end: "2027-01-04T00:00:00Z", reason: holidays, environments: [prd]}
""", SERVICES)
    assert policy.waves == [["a"], ["b", "c"]] and policy.soak_for("c") == 90 and policy.soak_for("a") == 30
    freeze = policy.freezes[0]
    assert freeze.covers("prd", freeze.start) and not freeze.covers("dev", freeze.start)
    assert not freeze.covers("prd", freeze.end)
    assert wave_of(policy, ["a", "b", "c", "d"]) == {"a": 0, "b": 1, "c": 1, "d": 2}


def test_dependencies_alone_make_the_waves() -> None:
    policy = parse("p.yaml", "dependencies: {c: [b], b: [a]}\n", SERVICES)
    assert wave_of(policy, ["a", "b", "c", "d"]) == {"a": 0, "b": 1, "c": 2, "d": 0}
    assert wave_of(policy, ["b", "c"]) == {"b": 0, "c": 1}  # a is not moving


def test_missing_file_is_an_empty_policy() -> None:
    assert parse("p.yaml", None, SERVICES).waves == []


@pytest.mark.parametrize(("text", "needle"), [
    ("waves: [[a, b]\n", "does not parse"),
    ("wave: [[a]]\n", "unknown key(s) wave"),
    ("waves: [[a, zed]]\n", "unknown service(s) zed"),
    ("dependencies: {a: [b], b: [c], c: [a]}\n", "dependency cycle a -> b -> c -> a"),
    ("waves: [[a], [b]]\ndependencies: {a: [b]}\n", "a (wave 1) depends on b (wave 2)"),
    ("waves: [[a], [a]]\n", "a is in wave 1 and wave 2"),
    ("soak-minutes: -1\n", "soak-minutes"),
    ("freeze: [{start: 2026-01-02, end: 2026-01-01}]\n", "ends before it starts"),
    ("freeze: [{start: soon, end: 2026-01-01}]\n", "is not a time"),
    ("- a\n", "is not a mapping"),
])
def test_bad_files_name_the_problem_and_the_fix(text: str, needle: str) -> None:
    with pytest.raises(UserError) as err:
        parse("promotion.yaml", text, SERVICES)
    assert needle in err.value.message
    assert err.value.fix and err.value.input_name == "promotion-file"


def test_find_cycle() -> None:
    assert find_cycle({"a": ["b"], "b": []}) == []
    assert find_cycle({"x": ["x"]}) == ["x", "x"]
