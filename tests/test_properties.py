"""Property-based hostile input (hypothesis) for the helpers every stage's output and validation goes through:
whatever text arrives (remote answers, inputs), nothing printed becomes a workflow command or breaks a line, no
credential inside a URL is repeated, and a URL that passes validation can never reach git as an option."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.runtime import UserError, command_line, neutralise, shown
from shipyard.urls import HTTP, check_url

# text biased towards what breaks things: workflow-command prefixes, line breaks, control characters, markup
PIECES = st.sampled_from(["::", "::warning::", "::stop-commands::x", "##[error]", "\n", "\r", "\x1b[31m", "\x00",
                          "\u2028", "%0A", "<!channel>", "-", "--upload-pack=touch pwned", " ", "@", ":", "/"])
HOSTILE = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=12).map("".join)
SECRET = st.from_regex(r"[A-Za-z0-9]{16,24}", fullmatch=True)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@settings(max_examples=400, deadline=None)
@given(HOSTILE)
def test_printed_data_never_becomes_a_workflow_command(text: str) -> None:
    out = neutralise(text)
    for line in out.split("\n"):
        assert not line.strip().startswith("::"), line
        assert "##[" not in line
        assert not CONTROL.search(line.replace("\t", "").replace("\x1b", "")), repr(line)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["error", "warning", "notice", "group"]), HOSTILE)
def test_a_command_stays_one_line(command: str, message: str) -> None:
    line = command_line(command, message)
    assert "\n" not in line and "\r" not in line and "\u2028" not in line
    assert line.startswith(f"::{command}::") and line.count("::") >= 2


@settings(max_examples=300, deadline=None)
@given(HOSTILE, SECRET, HOSTILE)
def test_a_shown_value_hides_url_credentials_and_control_characters(before: str, secret: str, after: str) -> None:
    value = f"{before} https://user:{secret}@git.example.com/acme/x.git{after}"
    out = shown(value, limit=400)
    assert secret not in out
    assert not re.search(r"[\x00-\x1f\x7f]", out)
    assert len(shown(value)) <= 60


@settings(max_examples=500, deadline=None)
@given(st.one_of(HOSTILE, HOSTILE.map(lambda t: "https://" + t), HOSTILE.map(lambda t: "https://host/" + t)))
def test_an_accepted_url_is_a_clean_http_url(value: str) -> None:
    try:
        accepted = check_url("source-url", value, HTTP)
    except UserError as exc:
        assert "source-url" in exc.message and exc.fix  # refused: named, with the fix
        assert "\n" not in exc.message
        return
    assert accepted.split("://", 1)[0].lower() in HTTP
    assert not accepted.startswith("-")
    assert not re.search(r"[\x00-\x20\x7f]", accepted)
    assert "@" not in accepted.split("://", 1)[1].split("/", 1)[0], "no userinfo in an accepted http(s) URL"


@settings(max_examples=200, deadline=None)
@given(SECRET)
def test_a_url_carrying_a_token_is_refused_without_repeating_it(secret: str) -> None:
    for value in (f"https://x-access-token:{secret}@host/acme/x.git", f"https://{secret}@host/acme/x.git"):
        try:
            check_url("source-url", value, HTTP)
        except UserError as exc:
            assert secret not in exc.message and secret not in exc.fix
        else:
            raise AssertionError(f"accepted a URL with credentials: {value}")
