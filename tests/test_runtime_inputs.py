"""Typed inputs refuse hostile values with one error that names the input and the fix, and never echo a value's
control characters or a URL's credentials; workflow commands stay one clean line whatever their data holds."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from shipyard.runtime import Action, UserError, env_name, run_stage

TOKEN = "ghp_" + "s3cr3tT0ken" * 3

# (reader, raw value): each must be refused
REFUSED = [
    ("integer", "nan"), ("integer", "1.5"), ("integer", "1_000"), ("integer", "\uff11\uff12"), ("integer", "9" * 40),
    ("integer", "5\n::warning::forged"), ("integer", "0"), ("integer", "101"),
    ("number", "nan"), ("number", "NaN"), ("number", "inf"), ("number", "-Infinity"), ("number", "1e999"),
    ("number", "1_0"), ("number", "\uff11"), ("number", "-1"), ("number", "3\x1b[31m"), ("number", "0x10"),
    ("choice", "push\n::error::forged"), ("choice", "-rf"), ("choice", f"https://x:{TOKEN}@h/"),
    ("boolean", "yes\x07"), ("boolean", f"https://user:{TOKEN}@example.com"),
    ("items", "a,,b\x1b]8;;http://evil\x07"), ("mapping", f"https://x:{TOKEN}@evil\u2028"),
]


def read(action: Action, reader: str) -> object:
    if reader == "integer":
        return action.integer("value", 10, minimum=1, maximum=100)
    if reader == "number":
        return action.number("value", 30.0)
    if reader == "choice":
        return action.choice("value", ["push", "pull-request"])
    if reader == "boolean":
        return action.boolean("value")
    if reader == "items":
        return action.items("value")
    return action.mapping("value")


@pytest.mark.parametrize(("reader", "raw"), REFUSED, ids=[f"{r}-{v[:12]!r}" for r, v in REFUSED])
def test_a_refused_value_is_named_with_a_fix_and_not_echoed_raw(tmp_path: Path, reader: str, raw: str) -> None:
    out = io.StringIO()
    action = Action({env_name("value"): raw, "GITHUB_ACTIONS": "true"}, out)
    with pytest.raises(UserError) as caught:
        read(action, reader)
    err = caught.value
    assert err.input_name == "value" and "'value'" in err.message
    assert err.fix, "every refusal names the fix"
    assert TOKEN not in str(err)
    assert not any(ch in str(err) for ch in "\n\r\x07\x1b\u2028"), repr(str(err))
    code = run_stage(lambda a: read(a, reader) and None, action, name="t")  # type: ignore[func-returns-value]
    assert code == 1
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "Fix:" in errors[0] and TOKEN not in out.getvalue()
    assert not any(ch in out.getvalue() for ch in "\x07\x1b\u2028")


@pytest.mark.parametrize(("raw", "expected"), [("7", 7.0), ("1.5", 1.5), (".5", 0.5), ("2e1", 20.0), (" 3 ", 3.0)])
def test_plain_numbers_still_read(raw: str, expected: float) -> None:
    action = Action({env_name("value"): raw}, io.StringIO())
    assert action.number("value", 1.0) == expected


def test_plain_integers_still_read() -> None:
    action = Action({env_name("value"): "+42"}, io.StringIO())
    assert action.integer("value", 1, maximum=100) == 42


def test_command_data_escapes_every_control_character() -> None:
    out = io.StringIO()
    action = Action({"GITHUB_ACTIONS": "true"}, out)
    action.error("bad \x1b[2J\x07 \u2028::warning::x\r\n::notice::y", title="t\x1b")
    line = out.getvalue()
    assert line.count("\n") == 1 and line.startswith("::error title=t\\x1b::")
    assert "\x1b" not in line and "\x07" not in line and "\u2028" not in line and "\r" not in line
    assert "\\x1b[2J" in line and "%0D%0A::notice::y" in line


def test_a_mask_keeps_the_secrets_own_bytes() -> None:
    out = io.StringIO()
    action = Action({"GITHUB_ACTIONS": "true"}, out)
    action.mask("abc%def\x1bghi")
    assert out.getvalue() == "::add-mask::abc%25def\x1bghi\n"


def test_declared_inputs_refuse_the_same_way() -> None:
    from shipyard import spec

    stage = spec.Stage("t", "t", "t", "box", "blue", (spec.Input("mode", "m", default="push", choices=("push", "pr")),
                                                      spec.Input("wait", "w", type="number", default="5")))
    with pytest.raises(UserError) as caught:
        stage.read({"INPUT_MODE": f"pr\n::warning::https://u:{TOKEN}@h"})
    assert "\n" not in str(caught.value) and TOKEN not in str(caught.value) and caught.value.fix
    for bad in ("nan", "inf", "1_0"):
        with pytest.raises(UserError, match="must be a number") as caught:
            stage.read({"INPUT_WAIT": bad}).number("wait")
        assert caught.value.fix and caught.value.input_name == "wait"
    assert stage.read({"INPUT_WAIT": "2.5"}).number("wait") == 2.5


@pytest.mark.parametrize("argv", [
    ["deploy\n::warning::forged"],
    ["selftest", "--mode\n::warning::forged", "x"],
    ["selftest", f"https://u:{TOKEN}@h\r::notice::forged"],
])
def test_cli_usage_errors_are_one_escaped_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from shipyard.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("::error::"), err
    assert "\r" not in err and TOKEN not in err
