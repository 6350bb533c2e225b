"""The action runtime: inputs, outputs, summaries, masks, annotations, errors and retries."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from shipyard.runtime import (
    Action,
    TransientError,
    UserError,
    env_name,
    parse_retry_after,
    redact_url,
    retry,
    run_stage,
)


def make(tmp_path: Path, github: bool = True, **inputs: str) -> tuple[Action, io.StringIO]:
    out = io.StringIO()
    env = {env_name(k.replace("_", "-")): v for k, v in inputs.items()}
    if github:
        env.update(
            GITHUB_ACTIONS="true",
            GITHUB_OUTPUT=str(tmp_path / "output"),
            GITHUB_ENV=str(tmp_path / "env"),
            GITHUB_STEP_SUMMARY=str(tmp_path / "summary"),
        )
    return Action(env, out, sleep=lambda s: None), out


def test_env_name_is_upper_snake() -> None:
    assert env_name("fail-on-error") == "INPUT_FAIL_ON_ERROR"


def test_empty_input_is_unset(tmp_path: Path) -> None:
    action, _ = make(tmp_path, channel="  ")
    assert action.input("channel") is None
    assert action.input("channel", default="#deploys") == "#deploys"


def test_missing_required_input_names_the_input(tmp_path: Path) -> None:
    action, _ = make(tmp_path)
    with pytest.raises(UserError) as err:
        action.require("slack-token")
    assert "Input 'slack-token' is required" in str(err.value)
    assert "--slack-token" in str(err.value.fix)


@pytest.mark.parametrize("raw,expected", [("true", True), ("False", False), ("yes", True), ("0", False)])
def test_booleans(tmp_path: Path, raw: str, expected: bool) -> None:
    action, _ = make(tmp_path, dry_run=raw)
    assert action.boolean("dry-run") is expected


def test_bad_boolean(tmp_path: Path) -> None:
    action, _ = make(tmp_path, dry_run="maybe")
    with pytest.raises(UserError, match="must be true or false, got 'maybe'"):
        action.boolean("dry-run")


def test_enum_lists_allowed_values(tmp_path: Path) -> None:
    action, _ = make(tmp_path, mode="sideways")
    with pytest.raises(UserError) as err:
        action.choice("mode", ["push", "pull-request"])
    assert str(err.value).startswith("Input 'mode' has unknown value 'sideways'; allowed values: push, pull-request.")


def test_enum_is_case_insensitive(tmp_path: Path) -> None:
    action, _ = make(tmp_path, mode="PUSH")
    assert action.choice("mode", ["push", "pull-request"]) == "push"


def test_lists_newline_and_comma(tmp_path: Path) -> None:
    action, _ = make(tmp_path, paths="a, b\n\n  c\n")
    assert action.items("paths") == ["a", "b", "c"]


@pytest.mark.parametrize("raw", ["a,,b", ",a", "a, ,b"])
def test_malformed_list(tmp_path: Path, raw: str) -> None:
    action, _ = make(tmp_path, paths=raw)
    with pytest.raises(UserError, match="malformed list"):
        action.items("paths")


def test_mapping(tmp_path: Path) -> None:
    action, _ = make(tmp_path, tags="team=platform\nenv = dev")
    assert action.mapping("tags") == {"team": "platform", "env": "dev"}
    bad, _ = make(tmp_path, tags="team")
    with pytest.raises(UserError, match="not KEY=VALUE"):
        bad.mapping("tags")


def test_integer_bounds(tmp_path: Path) -> None:
    action, _ = make(tmp_path, keep="0")
    with pytest.raises(UserError, match="must be at least 1"):
        action.integer("keep", 10, minimum=1)


def test_outputs_single_and_multiline_with_random_delimiter(tmp_path: Path) -> None:
    action, _ = make(tmp_path)
    action.set_output("digest", "sha256:abc")
    action.set_output("tags", "a\nb")
    action.set_output("changed", True)
    text = (tmp_path / "output").read_text()
    lines = text.splitlines()
    assert lines[0] == "digest=sha256:abc"
    assert lines[1].startswith("tags<<ghadelimiter_")
    delimiter = lines[1].split("<<", 1)[1]
    assert lines[2:5] == ["a", "b", delimiter]
    assert lines[5] == "changed=true"
    # The delimiter is not guessable: two runs differ.
    action.set_output("tags", "c\nd")
    assert delimiter not in (tmp_path / "output").read_text().splitlines()[6]


def test_secret_is_masked_and_scrubbed(tmp_path: Path) -> None:
    action, out = make(tmp_path, slack_token="xoxb-secret-token")
    token = action.secret("slack-token")
    assert out.getvalue() == "::add-mask::xoxb-secret-token\n"
    cli, cli_out = make(tmp_path, github=False, slack_token="xoxb-secret-token")
    cli.secret("slack-token")
    cli.info(f"calling with {token}")
    assert "xoxb-secret-token" not in cli_out.getvalue()
    assert "calling with ***" in cli_out.getvalue()


def test_annotations_escape_and_carry_location(tmp_path: Path) -> None:
    action, out = make(tmp_path)
    action.error("bad: 100%\nsecond line", file="a,b.yaml", line=3, title="x")
    assert out.getvalue() == "::error file=a%2Cb.yaml,line=3,title=x::bad: 100%25%0Asecond line\n"


def test_groups_on_github_and_in_a_terminal(tmp_path: Path) -> None:
    action, out = make(tmp_path)
    with action.group("Build output"):
        action.info("step 1")
    assert out.getvalue() == "::group::Build output\nstep 1\n::endgroup::\n"
    cli, cli_out = make(tmp_path, github=False)
    with cli.group("Build output"):
        cli.info("step 1")
    assert "::" not in cli_out.getvalue()


def test_summary_table_escapes_cells(tmp_path: Path) -> None:
    action, _ = make(tmp_path)
    action.summary.heading("Build").table(["tag", "note"], [("v1", "a|b")])
    action.write_summary()
    assert (tmp_path / "summary").read_text() == "### Build\n\n| tag | note |\n|---|---|\n| v1 | a\\|b |\n\n"


def test_cli_mode_prints_outputs_readably(tmp_path: Path) -> None:
    action, out = make(tmp_path, github=False)
    action.set_output("digest", "sha256:abc")
    action.set_env("X", "1")
    assert out.getvalue() == "output digest=sha256:abc\nenv X=1\n"


def test_run_stage_user_error_is_one_error_and_exit_1(tmp_path: Path) -> None:
    action, out = make(tmp_path)

    def stage(a: Action) -> None:
        a.summary.heading("partial")
        raise UserError("Channel #deploys not found.", "invite the bot to #deploys")

    assert run_stage(stage, action, name="slack-notify") == 1
    errors = [line for line in out.getvalue().splitlines() if line.startswith("::error")]
    assert errors == [
        "::error title=slack-notify%3A input or configuration problem::Channel #deploys not found. "
        "Fix: invite the bot to #deploys"
    ]
    summary = (tmp_path / "summary").read_text()
    assert "**Fix:** invite the bot to #deploys" in summary


def test_run_stage_bug_prints_traceback_in_a_group(tmp_path: Path) -> None:
    action, out = make(tmp_path)

    def stage(a: Action) -> None:
        raise KeyError("oops")

    assert run_stage(stage, action, name="build") == 1
    text = out.getvalue()
    assert "::error title=build%3A internal error::" in text
    assert "::group::Traceback" in text and "KeyError: 'oops'" in text


def test_retry_honours_retry_after_and_bounds() -> None:
    sleeps: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise TransientError("429", retry_after=2)
        return "ok"

    logs: list[str] = []
    assert retry("call", flaky, sleep=sleeps.append, log=logs.append, rng=random.Random(1)) == "ok"
    assert len(sleeps) == 2 and all(2 <= s <= 2.5 for s in sleeps)
    assert len(logs) == 2 and "attempt 1/5 failed" in logs[0]


def test_retry_gives_up_after_attempts_and_time() -> None:
    def always() -> None:
        raise TransientError("503")

    sleeps: list[float] = []
    with pytest.raises(TransientError):
        retry("x", always, attempts=3, sleep=sleeps.append)
    assert len(sleeps) == 2
    now = [0.0]
    with pytest.raises(TransientError):
        retry("x", always, attempts=100, max_elapsed=10, sleep=lambda s: now.__setitem__(0, now[0] + s),
              clock=lambda: now[0], base=4, cap=4, rng=random.Random(2))
    assert now[0] <= 10


def test_retry_does_not_retry_config_errors() -> None:
    calls = {"n": 0}

    def bad() -> None:
        calls["n"] += 1
        raise UserError("invalid_auth")

    with pytest.raises(UserError):
        retry("x", bad, sleep=lambda s: None)
    assert calls["n"] == 1


def test_jitter_is_full_and_exponential() -> None:
    sleeps: list[float] = []

    def always() -> None:
        raise TransientError("x")

    with pytest.raises(TransientError):
        retry("x", always, attempts=6, base=1, cap=100, sleep=sleeps.append, rng=random.Random(3))
    caps = [1, 2, 4, 8, 16]
    assert all(0 <= s <= c for s, c in zip(sleeps, caps, strict=True))
    assert len(set(sleeps)) == len(sleeps)


@pytest.mark.parametrize(
    "value,expected",
    [("3", 3.0), ("1.5", 1.5), (None, None), ("", None), ("garbage", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_and_epoch() -> None:
    assert parse_retry_after("Wed, 25 Nov 2026 00:00:10 GMT", now=1795564800.0) == pytest.approx(10.0)
    assert parse_retry_after("1795564830", now=1795564800.0) == pytest.approx(30.0)


def test_redact_url() -> None:
    assert redact_url("https://user:tok@host/x.git") == "https://***@host/x.git"
    assert redact_url("https://host/x.git") == "https://host/x.git"


def test_run_url_is_enterprise_aware(tmp_path: Path) -> None:
    action = Action({"GITHUB_SERVER_URL": "https://ghe.example.com", "GITHUB_REPOSITORY": "o/r",
                     "GITHUB_RUN_ID": "9", "GITHUB_RUN_ATTEMPT": "2"}, io.StringIO())
    assert action.run_url() == "https://ghe.example.com/o/r/actions/runs/9/attempts/2"


HOSTILE_LINES = [
    "::warning::forged",
    "  ::stop-commands::tok123",
    "::add-mask::x",
    "ok then ##[set-output name=x;]y",
    "::set-output name=a::b",
    "::error file=x::y",
]


def _live_commands(text: str) -> list[str]:
    """Lines the runner would act on: '::cmd' after trimming, or the legacy '##[' anywhere in the line."""
    return [line for line in text.splitlines() if line.strip().startswith("::") or "##[" in line]


@pytest.mark.parametrize("github", [True, False])
def test_data_never_becomes_a_workflow_command(tmp_path: Path, github: bool) -> None:
    action, out = make(tmp_path, github=github)
    data = "remote said:\n" + "\n".join(HOSTILE_LINES) + "\r::notice::carriage"
    action.info(data)
    action.debug(data)
    action.warning(data)
    with action.group("title " + data):
        action.info(data)
    action.summary.text(data)
    if not github:
        action.set_output("x", data)
        action.set_env("Y", data)
    action.write_summary()
    live = _live_commands(out.getvalue())
    if github:  # only our own commands, each on one line with the data escaped inside it
        assert [line.split("::")[1] for line in live] == ["debug", "warning", "group", "endgroup"], live
        assert live[2].startswith("::group::title remote said: ::warning::forged"), "a title is one line"
    else:
        assert live == []
    assert out.getvalue().count("forged") >= 3, "the data is still shown"


def test_our_own_commands_keep_working_after_hostile_data(tmp_path: Path) -> None:
    action, out = make(tmp_path)
    action.info("::stop-commands::abc")
    action.error("real error")
    lines = out.getvalue().splitlines()
    assert lines[-1] == "::error::real error"
    assert not lines[0].lstrip().startswith("::")
