"""Slack alerts through the Slack stage's client (:class:`shipyard.slack.api.SlackApi`).

One message per organisation and month, updated in place with the day's figures; each threshold (50/75/90/100%
of the included minutes by default, and "forecast exceeds budget") adds one thread reply that mentions the
owners, once. What was sent is kept twice: in the state file and in the message's own metadata
(``event_type: shipyard_minutes``), so a re-run, a second schedule or a lost state never alerts twice: the
threshold is claimed in the metadata before its reply is posted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from shipyard.minutes.scan import month_bounds

EVENT_TYPE = "shipyard_minutes"
FORECAST = "forecast"


def due(percent: float, over_budget: bool, thresholds: list[int]) -> list[str]:
    keys = [str(t) for t in sorted(thresholds) if percent >= t]
    return keys + ([FORECAST] if over_budget else [])


@dataclass
class AlertResult:
    channel: str = ""
    ts: str = ""
    posted: bool = False
    updated: bool = False
    sent: list[str] = field(default_factory=list)  # thresholds alerted by this run
    problem: str = ""


class Alerter:
    def __init__(self, api: Any, channel: str, *, org: str, month: str, log: Callable[[str], None]) -> None:
        self.api = api
        self.channel = channel
        self.org = org
        self.month = month
        self.log = log

    def _meta(self, sent: list[str]) -> dict[str, Any]:
        return {"event_type": EVENT_TYPE, "event_payload": {"org": self.org, "month": self.month, "sent": sent}}

    def find(self, channel: str) -> tuple[str, list[str]] | None:
        """The month's message from the channel history (the state may be lost): newest match wins."""
        first, _ = month_bounds(self.month)
        oldest = datetime(first.year, first.month, 1, tzinfo=timezone.utc).timestamp()
        for message in self.api.history(channel, oldest=f"{oldest:.6f}", max_pages=10):
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if meta.get("event_type") == EVENT_TYPE and payload.get("org") == self.org and \
                    payload.get("month") == self.month:
                return str(message["ts"]), [str(s) for s in payload.get("sent") or []]
        return None

    def run(self, record: dict[str, Any], keys: list[str], text: str, blocks: list[dict[str, Any]],
            reply: Callable[[str], str]) -> AlertResult:
        """``record`` is the state's entry for the month (updated in place); ``keys`` the thresholds due now;
        ``reply(key)`` the thread text for a newly crossed one."""
        result = AlertResult()
        channel = self.api.channel_id(self.channel) or self.channel
        ts = str(record.get("ts") or "") if record.get("channel") == channel else ""
        sent = [str(s) for s in record.get("sent") or []]
        if not ts:
            found = self.find(channel)
            if found:
                ts, sent = found[0], sorted(set(sent) | set(found[1]))
        new = [k for k in keys if k not in sent]
        if not ts and not new:
            return result  # nothing to say yet: no message before the first threshold
        claimed = sent + new
        if ts:
            try:
                self.api.update(channel, ts, text, blocks, metadata=self._meta(claimed))
                result.updated = True
            except Exception as exc:
                if getattr(exc, "code", "") != "message_not_found":
                    raise
                ts = ""  # somebody deleted the month's message: post a new one (the claims stay)
        if not ts:
            try:
                posted = self.api.post(channel, text, blocks, metadata=self._meta(claimed), once=True)
            except Exception:
                found = self.find(channel)  # a post that timed out may have landed: never post it twice
                if not found:
                    raise
                ts = found[0]
            else:
                ts = posted.ts
                channel = posted.channel
            result.posted = True
        record.update({"channel": channel, "ts": ts, "sent": claimed})
        result.channel, result.ts = channel, ts
        for key in new:
            try:
                self.api.post(channel, reply(key), None, thread_ts=ts, once=True)
                result.sent.append(key)
            except Exception as exc:  # the claim stays: a lost reply beats a duplicate one
                result.problem = f"the reply for {key} failed ({exc})"
                self.log(f"Slack: {result.problem}")
        return result
