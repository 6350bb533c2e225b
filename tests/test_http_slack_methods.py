"""Slack's read methods take query or form arguments only: JSON bodies are for write methods. slack_sdk's sync
client sends every call as POST (Slack accepts POST for every method); the client sends conversations.history/
replies/list form-encoded, and the double ignores a JSON body there as Slack does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.slack.api import SlackApi, SlackConfigError, SlackRejected
from tests.doubles.slack import BOT_TOKEN, SlackDouble


@pytest.fixture()
def slack() -> Iterator[SlackDouble]:
    with SlackDouble(message_limit=None, app_limit=None) as double:
        yield double  # type: ignore[misc]


def test_read_methods_go_form_encoded_and_find_the_channel(slack: SlackDouble) -> None:
    api = SlackApi(BOT_TOKEN, base_url=slack.url + "/api/", backoff=0.01)
    channel = next(iter(slack.channels))
    posted = api.post(channel, "hello")
    assert api.history(channel)[0]["ts"] == posted.ts
    assert api.replies(channel, posted.ts)[0]["ts"] == posted.ts
    assert api.channel_id("#" + slack.channels[channel].name) == channel
    reads = [e for e in slack.transcript if e.path.startswith("/api/conversations.")]
    assert reads and all(e.headers["content-type"].startswith("application/x-www-form-urlencoded") for e in reads)
    posts = [e for e in slack.transcript if e.path == "/api/chat.postMessage"]
    assert posts and all(e.headers["content-type"].startswith("application/json") for e in posts)


def test_the_double_ignores_a_json_body_on_a_read_method_as_slack_does(slack: SlackDouble) -> None:
    api = SlackApi(BOT_TOKEN, base_url=slack.url + "/api/", backoff=0.01)
    channel = next(iter(slack.channels))
    with pytest.raises((SlackConfigError, SlackRejected)):
        api.call("conversations.history", channel=channel)  # POST with a JSON body: the arguments are not read
    assert api.call("conversations.history", form=True, channel=channel)["ok"]
