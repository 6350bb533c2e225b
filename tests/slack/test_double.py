"""The Slack double behaves like Slack where the stage depends on it (a double that accepts anything proves
nothing)."""

from __future__ import annotations

import pytest
import requests

from tests.doubles.slack import BOT_TOKEN, SlackDouble

AUTH = {"Authorization": f"Bearer {BOT_TOKEN}"}


def api(double: SlackDouble, method: str, body: dict | None = None, *, headers: dict | None = None,
        form: dict | None = None) -> requests.Response:
    url = double.api_url + method
    if form is not None:
        return requests.post(url, data=form, headers=headers or {}, timeout=10)
    return requests.post(url, json=body or {}, headers=AUTH if headers is None else headers, timeout=10)


def test_auth_errors(slack: SlackDouble) -> None:
    slack.add_token("xoxb-gone", revoked=True)
    slack.add_token("xoxb-inactive", inactive=True)
    assert api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "x"}, headers={}).json() == {
        "ok": False, "error": "not_authed"}
    for token, code in (("xoxp-unknown", "invalid_auth"), ("abc", "invalid_auth"), ("xoxb-gone", "token_revoked"),
                        ("xoxb-inactive", "account_inactive")):
        r = api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "x"},
                headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json() == {"ok": False, "error": code}


def test_form_body_with_token_and_channel_name(slack: SlackDouble) -> None:
    r = api(slack, "chat.postMessage", form={"token": BOT_TOKEN, "channel": "#deploys", "text": "hello"})
    body = r.json()
    assert body["ok"] and body["channel"] == "C0DEPLOYS1" and isinstance(body["ts"], str)
    assert body["message"]["bot_id"] and body["message"]["text"] == "hello"
    assert len(body["ts"].split(".")[1]) == 6


def test_channel_errors(slack: SlackDouble) -> None:
    for channel, code in (("C0NOPE0001", "channel_not_found"), ("C0OTHERS01", "not_in_channel"),
                          ("C0ARCHIVE1", "is_archived")):
        assert api(slack, "chat.postMessage", {"channel": channel, "text": "x"}).json()["error"] == code
    slack.add_token("xoxb-public", scopes=frozenset({"chat:write", "chat:write.public"}))
    r = api(slack, "chat.postMessage", {"channel": "C0OTHERS01", "text": "x"},
            headers={"Authorization": "Bearer xoxb-public"})
    assert r.json()["ok"], "chat:write.public posts to public channels without joining"


def test_missing_scope_names_needed_and_provided(slack: SlackDouble) -> None:
    slack.add_token("xoxb-readonly", scopes=frozenset({"channels:read"}))
    body = api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "x"},
               headers={"Authorization": "Bearer xoxb-readonly"}).json()
    assert body == {"ok": False, "error": "missing_scope", "needed": "chat:write", "provided": "channels:read"}


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({}, "no_text"),
        ({"text": "x" * 40001}, "msg_too_long"),
        ({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51}, "invalid_blocks"),
        ({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]}, "invalid_blocks"),
        ({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]}, "invalid_blocks"),
        ({"blocks": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}]}, "invalid_blocks"),
        ({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}] * 5}, "msg_blocks_too_long"),
        ({"blocks": "[not json"}, "invalid_blocks_format"),
        ({"text": "x", "metadata": {"event_type": "e"}}, "invalid_metadata_schema"),
    ],
)
def test_message_limits(slack: SlackDouble, payload: dict, code: str) -> None:
    body = api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", **payload}).json()
    assert body["ok"] is False and body["error"] == code
    if code == "invalid_blocks":
        assert body["response_metadata"]["messages"][0].startswith("[ERROR]")


def test_update_semantics(slack: SlackDouble) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "first"}}]
    posted = api(slack, "chat.postMessage", {"channel": "#deploys", "text": "a", "blocks": blocks}).json()
    ts = posted["ts"]
    r = api(slack, "chat.update", {"channel": "C0DEPLOYS1", "ts": ts, "text": "b"}).json()
    assert r["ok"] and r["ts"] == ts and slack.message(ts).blocks == blocks, "omitting blocks keeps them"
    api(slack, "chat.update", {"channel": "C0DEPLOYS1", "ts": ts, "text": "c", "blocks": []})
    assert slack.message(ts).blocks == [] and slack.message(ts).text == "c"
    assert api(slack, "chat.update", {"channel": "#deploys", "ts": ts, "text": "d"}).json()["error"] == \
        "channel_not_found", "chat.update wants the channel ID"
    assert api(slack, "chat.update", {"channel": "C0DEPLOYS1", "ts": "1.000001", "text": "d"}).json()["error"] == \
        "message_not_found"
    requests.post(slack.webhook_url, json={"text": "from a webhook"}, timeout=10)
    hook_ts = slack.messages()[-1].ts
    assert api(slack, "chat.update", {"channel": "C0DEPLOYS1", "ts": hook_ts, "text": "x"}).json()["error"] == \
        "cant_update_message"


def test_threads_and_history_with_metadata(slack: SlackDouble) -> None:
    meta = {"event_type": "shipyard_run", "event_payload": {"run_id": "1"}}
    parent = api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "p", "metadata": meta}).json()["ts"]
    api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "r", "thread_ts": parent})
    api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "b", "thread_ts": parent, "reply_broadcast": True})
    for i in range(3):
        api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": f"n{i}"})
    h = requests.get(slack.api_url + "conversations.history", params={"channel": "C0DEPLOYS1", "limit": "2"},
                     headers=AUTH, timeout=10).json()
    assert [m["text"] for m in h["messages"]] == ["n2", "n1"] and h["has_more"]
    assert all("metadata" not in m for m in h["messages"])
    rest = requests.get(slack.api_url + "conversations.history", headers=AUTH, timeout=10, params={
        "channel": "C0DEPLOYS1", "cursor": h["response_metadata"]["next_cursor"], "include_all_metadata": "true"}).json()
    texts = [m["text"] for m in rest["messages"]]
    assert texts == ["n0", "b", "p"], "thread replies appear only when broadcast"
    assert rest["messages"][-1]["metadata"] == meta and rest["messages"][-1]["reply_count"] == 2
    one = requests.get(slack.api_url + "conversations.history", headers=AUTH, timeout=10, params={
        "channel": "C0DEPLOYS1", "oldest": parent, "latest": parent, "inclusive": "true", "limit": "1"}).json()
    assert [m["ts"] for m in one["messages"]] == [parent]
    assert requests.get(slack.api_url + "conversations.history", params={"channel": "C0OTHERS01"}, headers=AUTH,
                        timeout=10).json()["error"] == "not_in_channel"


def test_rate_limit_answers_429_with_integer_retry_after(slack: SlackDouble) -> None:
    slack.set_limits((1, 5.0), None)
    assert api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "1"}).json()["ok"]
    r = api(slack, "chat.postMessage", {"channel": "#deploys", "text": "2"})
    assert r.status_code == 429 and r.json() == {"ok": False, "error": "ratelimited"}
    assert r.headers["Retry-After"].isdigit() and 1 <= int(r.headers["Retry-After"]) <= 5
    assert api(slack, "chat.postMessage", {"channel": "G0PRIVATE1", "text": "3"}).json()["ok"], "per channel"


def test_server_error_is_an_html_page_and_faults_are_transcribed(slack: SlackDouble) -> None:
    slack.inject("status", 503, match="postMessage")
    r = api(slack, "chat.postMessage", {"channel": "C0DEPLOYS1", "text": "x"})
    assert r.status_code == 503 and r.headers["Content-Type"].startswith("text/html") and "<html>" in r.text
    assert slack.calls()[-1].fault == "injected 503"
    assert api(slack, "no.suchMethod").status_code == 404


def test_incoming_webhook(slack: SlackDouble) -> None:
    r = requests.post(slack.webhook_url, json={"text": "hi"}, timeout=10)
    assert (r.status_code, r.text) == (200, "ok")
    r = requests.post(slack.webhook_url, json={}, timeout=10)
    assert (r.status_code, r.text) == (400, "no_text")
    r = requests.post(slack.webhook_url, data="nope", timeout=10)
    assert (r.status_code, r.text) == (400, "invalid_payload")
    r = requests.post(slack.url + "/services/T0/B0/bad", json={"text": "x"}, timeout=10)
    assert (r.status_code, r.text) == (404, "no_service")
    slack.set_limits((1, 5.0), None)
    requests.post(slack.webhook_url, json={"text": "1"}, timeout=10)
    r = requests.post(slack.webhook_url, json={"text": "2"}, timeout=10)
    assert r.status_code == 429 and r.json()["error"] == "rate_limited" and r.json()["retry_after"] >= 1


def test_slack_sdk_talks_to_the_double(slack: SlackDouble) -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=BOT_TOKEN, base_url=slack.api_url)
    r = client.chat_postMessage(channel="#deploys", text="via sdk")
    assert r["channel"] == "C0DEPLOYS1"
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C0DEPLOYS1", ts="1.000001", text="x")
    assert err.value.response["error"] == "message_not_found"
