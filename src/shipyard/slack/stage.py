"""slack-notify: one live Slack message per pipeline run.

``event: start`` posts the parent message, ``event: stage`` updates its checklist (details go to the thread),
``event: finish`` sets the final state (run it with ``if: always()``). See actions/slack-notify/README.md.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from shipyard.runtime import Action, UserError
from shipyard.slack import render, store
from shipyard.slack.api import (
    DEFAULT_API_URL,
    SlackApi,
    SlackConfigError,
    SlackRateLimited,
    SlackRejected,
    SlackUnavailable,
)
from shipyard.slack.context import RunContext, from_env
from shipyard.slack.model import FINAL_STATUSES, JOB_STATUSES, STAGE_STATUSES, RunState, auto_final
from shipyard.slack.routing import CHANNEL, Route
from shipyard.slack.routing import load as load_routing

EVENT_TYPE = "shipyard_run"
EVENTS = ("start", "stage", "finish")

# Inputs that describe the run rather than one step: given to any step (usually the start), they hold for the
# later steps of the same job through the job memo, whatever Slack answered. A later step's own value wins; for
# inputs with a default in action.yml, the default counts as "not given" (composite actions cannot tell).
CARRIED = ("channel", "routing-file", "service", "environment", "commit-title", "author", "pr-url", "job-url",
           "matrix-key", "mentions", "thread-details", "rerun-lookback-hours", "rate-limit-budget", "api-url",
           "timeout-minutes")  # not fail-on-error: failing a deploy over a notice is asked for step by step
ACTION_DEFAULTS = {"mentions": "true", "thread-details": "true", "rerun-lookback-hours": "168",
                   "rate-limit-budget": "180"}
STEP_BUDGET = 15.0  # seconds one step may spend on Slack, apart from 429 waits (SHIPYARD_SLACK_TIMEOUT)
DOWN_BUDGET = 3.0  # after a step of this job found Slack unreachable: one short try
DOWN_FOR = 900.0  # seconds an "unreachable" verdict holds for the later steps of the job


# Inputs shown as one value: a line break or a control character in them is a mistake (or an attack).
IDENTIFIERS = ("service", "environment", "stage", "author", "channel", "pr-url", "job-url", "image-digest",
               "previous-status")
# Inputs whose text reaches Slack, the summary or the outputs.
FREE_TEXT = ("details", "error", "commit-title", "image-tag", "stages", "matrix-key", *IDENTIFIERS)
_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_inputs(action: Action) -> None:
    """Credentials inside URLs and known secrets are blanked, control characters dropped from free text, and an
    identifier with a line break or a control character is refused (before anything is sent)."""
    from shipyard.runtime import env_name

    for key, given in list(action.env.items()):  # a credential inside a URL never reaches a message or a log
        if key.startswith("INPUT_") and key not in ("INPUT_TOKEN", "INPUT_WEBHOOK_URL") and "@" in given:
            action.env[key] = _CREDENTIALS.sub(r"\1***@", given)
    for name in FREE_TEXT:
        raw = action.input(name)
        if raw is None:
            continue
        if name in IDENTIFIERS and (_CONTROL.search(raw) or "\n" in raw):
            raise UserError(f"Input '{name}' holds a line break or a control character.",
                            f"give `{name}` as one line of plain text.", input_name=name)
        action.env[env_name(name)] = _CONTROL.sub("", action.scrub(_CREDENTIALS.sub(r"\1***@", raw)))
    channel = action.input("channel")
    if channel and not CHANNEL.fullmatch(channel):
        raise UserError(f"Input 'channel' '{channel}' is neither a channel ID (C...) nor a channel name.",
                        "set `channel:` to the channel ID from the channel's details (C0123456789) or #name.",
                        input_name="channel")


class SlackAmbiguous(SlackUnavailable):
    """A post may have landed and this run cannot check: it is not repeated (one message beats two)."""


def carry_inputs(action: Action, memo: dict[str, Any]) -> None:
    """Fill the inputs this step was not given from the job memo, and remember the ones it was given."""
    from shipyard.runtime import env_name

    carried = memo.setdefault("inputs", {})
    for name in CARRIED:
        given = action.input(name)
        if given is not None and given != ACTION_DEFAULTS.get(name):
            carried[name] = given
        elif name in carried:
            action.env[env_name(name)] = str(carried[name])


@dataclass
class Plan:
    """Everything one invocation decided, for the summary and the outputs."""

    event: str
    mode: str  # "bot" | "webhook" | "dry-run"
    channel_input: str = ""
    notes: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)  # what we did, in order
    delivered: bool = False
    alert: str = ""  # "failure" | "recovery" | ""


# ------------------------------------------------------------------ helpers
METADATA_STATE = 4000  # characters of checklist kept in the parent's metadata


def compact_state(state: RunState, limit: int = METADATA_STATE) -> str:
    """The checklist for the metadata, shrunk to fit: details, then errors, then pending stages go first."""
    text = state.to_json()
    if len(text) <= limit:
        return text
    slim = RunState.from_json(text)
    for entry in slim.stages:
        entry.details = ""
    text = slim.to_json()
    for entry in slim.stages:
        entry.error = entry.error[:200]
    slim.error = slim.error[:300]
    text = slim.to_json()
    while len(text) > limit and slim.stages:
        pending = [e for e in slim.stages if e.status == "pending"]
        slim.stages.remove(pending[-1] if pending else slim.stages[-1])
        text = slim.to_json()
    return text


def metadata(ctx: RunContext, state: RunState) -> dict[str, Any]:
    payload = {**ctx.run_key(), **ctx.lineage(), "attempt": state.attempt, "status": state.status,
               "state": compact_state(state)}
    return {"event_type": EVENT_TYPE, "event_payload": payload}


def _payload(msg: dict[str, Any]) -> dict[str, Any] | None:
    meta = msg.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != EVENT_TYPE:
        return None
    payload = meta.get("event_payload")
    return payload if isinstance(payload, dict) else None


def _state_from(msg: dict[str, Any], channel: str) -> RunState | None:
    payload = _payload(msg) or {}
    try:
        state = RunState.from_json(str(payload.get("state")))
    except (ValueError, TypeError):
        state = RunState()
    state.ts, state.channel = str(msg.get("ts") or ""), channel
    return state if state.ts else None


def _same_run(payload: dict[str, Any], ctx: RunContext) -> bool:
    return all(str(payload.get(k, "")) == v for k, v in ctx.run_key().items())


def _scan_oldest(hours: float) -> str:
    return f"{max(0.0, time.time() - hours * 3600):.6f}"


class Notifier:
    def __init__(self, action: Action, memo: dict[str, Any] | None = None) -> None:
        self.action = action
        self.memo: dict[str, Any] = memo if memo is not None else {}
        self.event = action.choice("event", EVENTS)
        self.fail_on_error = action.boolean("fail-on-error", False)
        self.dry_run = action.dry_run
        self.token = action.secret("token") or ""
        self.webhook = action.secret("webhook-url") or ""
        if self.token and not self.token.startswith(("xoxb-", "xoxp-")):
            raise UserError(
                "Input 'token' is not a Slack bot token (it should start with xoxb-).",
                "use the app's Bot User OAuth Token from OAuth & Permissions (xoxb-...).",
                input_name="token",
            )
        if self.webhook and not self.webhook.startswith(("https://", "http://")):
            raise UserError("Input 'webhook-url' is not a URL.", "paste the incoming webhook URL (https://...).",
                            input_name="webhook-url")
        self.no_credentials = ""
        if not self.token and not self.webhook and not self.dry_run:
            fix = ("set `token: ${{ secrets.SLACK_BOT_TOKEN }}` (recommended: live updates and threads) or "
                   "`webhook-url: ${{ secrets.SLACK_WEBHOOK_URL }}`.")
            if self.fail_on_error:
                raise UserError("slack-notify needs a bot token or an incoming webhook URL.", fix, input_name="token")
            self.no_credentials = _no_credentials_reason(action) + " Fix: " + fix
        mode = "dry-run" if self.dry_run else ("bot" if self.token else "webhook" if self.webhook else "off")
        self.plan = Plan(self.event, mode)
        names = ("service", "environment", "commit-title", "author", "pr-url", "job-url", "matrix-key")
        self.ctx = from_env(action.env, {n: action.input(n) for n in names})
        self.route = Route()
        routing_file = action.input("routing-file")
        if routing_file:
            self.route = load_routing(routing_file, self.ctx.service, self.ctx.environment)
        self.channel = action.input("channel") or self.route.channel
        self.plan.channel_input = self.channel
        self.mentions_on = action.boolean("mentions", True)
        self.threads = action.boolean("thread-details", True)
        self.lookback = action.number("rerun-lookback-hours", 168.0)
        self.api_url = action.input("api-url") or action.env.get("SHIPYARD_SLACK_API_URL") or DEFAULT_API_URL
        self.rate_budget = action.number("rate-limit-budget", 180.0)
        self.timeout_minutes = action.number("timeout-minutes", 0.0) or None
        self.path = store.state_path(
            action.env, repo=self.ctx.repository, run_id=self.ctx.run_id, attempt=self.ctx.attempt,
            key=self.ctx.matrix_key, dry_run=self.dry_run,
        )
        # retry pacing for 5xx/timeouts (Retry-After always wins for 429); a knob for tests, not an input
        self.backoff = float(action.env.get("SHIPYARD_SLACK_BACKOFF") or 0.5)
        self.time_budget = self.step_budget()
        self.api: SlackApi | None = None
        if mode == "bot":
            self.api = SlackApi(self.token, base_url=self.api_url, rate_limit_budget=self.rate_budget,
                                backoff=self.backoff, log=action.warning, time_budget=self.time_budget,
                                timeout=max(1, min(10, int(self.time_budget / 3))))
        self.look_failed = ""  # why the last look-up for this run's message could not run
        self.looked_up = False
        self.current: RunState | None = None  # the state being worked on, saved even when Slack fails

    def step_budget(self) -> float:
        """Seconds this step may spend on Slack (429 waits aside): SHIPYARD_SLACK_TIMEOUT, default 15; a short
        try when an earlier step of this job found Slack unreachable, so eight steps never cost minutes."""
        raw = self.action.env.get("SHIPYARD_SLACK_TIMEOUT") or ""
        try:
            budget = float(raw) if raw.strip() else STEP_BUDGET
        except ValueError:
            raise UserError(f"SHIPYARD_SLACK_TIMEOUT '{raw}' is not a number of seconds.",
                            "set it to a number such as 15, or remove it.")
        budget = max(1.0, budget)
        down = self.memo.get("down")
        if isinstance(down, (int, float)) and 0 <= time.time() - down < DOWN_FOR:
            budget = min(budget, DOWN_BUDGET)
            self.plan.notes.append("an earlier step of this job found Slack unreachable: one short try only")
        return budget

    # -------------------------------------------------------------- state
    def load_state(self) -> RunState | None:
        saved = store.load(self.path)
        given = self.action.input("state")
        carried: RunState | None = None
        if given:
            try:
                carried = RunState.from_json(given)
            except (ValueError, TypeError, KeyError) as exc:
                raise UserError(
                    f"Input 'state' is not a state from slack-notify ({exc}).",
                    "pass the `state` output of an earlier slack-notify step unchanged: "
                    "`state: ${{ needs.<job>.outputs.slack-state }}`.",
                    input_name="state",
                )
        ts = self.action.input("ts") or ""
        if ts and not all(part.isdigit() for part in ts.split(".")):
            raise UserError(f"Input 'ts' '{ts}' is not a Slack message ts (1712345678.123456).",
                            "pass the `ts` output of the start step unchanged.", input_name="ts")
        if saved is not None and (carried is None or saved.ts == carried.ts or not carried.ts):
            return saved
        if carried is not None:
            carried.shared = True
            if ts:
                carried.ts = ts
            if self.action.input("channel") and not carried.channel:
                carried.channel = self.channel
            return carried
        if ts:
            state = RunState(ts=ts, channel=self.channel, attempt=self.ctx.attempt, shared=True)
            state.started = time.time()
            self._absorb_remote(state, replace=True)
            return state
        return None

    def _absorb_remote(self, state: RunState, *, replace: bool = False) -> None:
        """Merge the checklist another job wrote into the parent's metadata (cross-job use)."""
        if self.api is None or not state.ts or not state.channel:
            return
        try:
            channel_id = self.api.channel_id(state.channel)
            if not channel_id:
                return
            state.channel = channel_id
            msg = self.api.message(channel_id, state.ts)
        except (SlackRejected, SlackConfigError, SlackUnavailable) as exc:
            self.plan.notes.append(f"could not read the parent's checklist back ({exc}); using the local copy")
            return
        remote = _state_from(msg, state.channel) if msg else None
        if remote is None:
            return
        if replace:
            state.__dict__.update(remote.__dict__)
        else:
            from shipyard.slack.model import merge

            merge(state, remote)

    def find_parent(self, *, strict: bool = False) -> RunState | None:
        """This run's parent message (same repo, run id and matrix entry), by its metadata.

        ``strict`` re-raises SlackUnavailable (used after an ambiguous post: if we cannot look, stop)."""
        self.look_failed = ""
        if self.api is None or not self.channel:
            self.look_failed = "no channel" if self.api is not None else ""
            return None
        self.looked_up = True
        try:
            channel_id = self.api.channel_id(self.channel)
            if not channel_id:
                self.look_failed = f"{self.channel} did not resolve to a channel ID"
                self.plan.notes.append(
                    f"could not resolve {self.channel} to an ID to look for this run's message: give the channel "
                    "ID (C...) or add the channels:read scope"
                )
                return None
            for msg in self.api.history(channel_id, oldest=_scan_oldest(self.lookback)):
                payload = _payload(msg)
                if payload and _same_run(payload, self.ctx):
                    return _state_from(msg, channel_id)
        except SlackConfigError as exc:
            self.look_failed = exc.code
            self.plan.notes.append(f"could not look for this run's earlier message ({exc.code}): {exc.fix}")
        except SlackUnavailable as exc:
            self.look_failed = "Slack unavailable"
            if strict:
                raise
            self.plan.notes.append(f"could not look for this run's earlier message ({exc})")
        except SlackRejected as exc:
            self.look_failed = exc.code
            self.plan.notes.append(f"could not look for this run's earlier message ({exc})")
        return None

    def previous_final(self, state: RunState) -> str:
        """The final state of the previous run of the same service/branch/environment (for recovery).

        A re-run compares with its own earlier attempt; otherwise the channel's newest run message with the
        same service, branch, environment and matrix entry decides."""
        given = self.action.input("previous-status")
        if given:
            return given
        if state.previous:
            return state.previous
        if self.api is None or not self.channel:
            return ""
        try:
            channel_id = self.api.channel_id(self.channel)
            if not channel_id:
                return ""
            for msg in self.api.history(channel_id, oldest=_scan_oldest(self.lookback), max_pages=2):
                payload = _payload(msg)
                if not payload:
                    continue
                if payload.get("run_id") == self.ctx.run_id and payload.get("repo") == self.ctx.repository:
                    continue
                if all(str(payload.get(k, "")) == v for k, v in self.ctx.lineage().items()):
                    status = str(payload.get("status") or "")
                    if status in FINAL_STATUSES:
                        return status
        except (SlackRejected, SlackConfigError, SlackUnavailable) as exc:
            self.plan.notes.append(f"could not read the previous run's result for recovery detection ({exc})")
        return ""

    # ---------------------------------------------------------- rendering
    def author_mention(self) -> str:
        slack_id = self.route.slack_user(self.ctx.author)
        if slack_id:
            return f"<@{slack_id}>"
        return render.esc(self.ctx.author)

    def parent(self, state: RunState) -> tuple[list[dict[str, Any]], str]:
        note = ""
        if self.plan.mode == "webhook":
            note = "_Posted through an incoming webhook: no live updates or thread details._"
        blocks, text = render.parent_message(self.ctx, state, author=self.author_mention(), note=note)
        problems = render.validate(blocks, text)
        if problems:  # fit() guarantees this cannot happen; refuse to send something Slack would reject
            raise RuntimeError("message failed validation after trimming: " + "; ".join(problems))
        return blocks, text

    def mentions(self) -> render.Mentions:
        users = [u for u in [self.route.slack_user(self.ctx.author)] if u]
        return render.Mentions(teams=list(self.route.teams), users=users, author_login=self.ctx.author)

    # ------------------------------------------------------------ sending
    def require_channel(self) -> str:
        if not self.channel:
            raise SlackConfigError(
                "no_channel", "chat.postMessage",
                "No Slack channel: the `channel` input is empty and the routing file has no channel for "
                f"service '{self.ctx.service}'{(' in ' + self.ctx.environment) if self.ctx.environment else ''}.",
                "set `channel: C0123456789` (the channel ID, or #name) on the start step (later steps of the job "
                "reuse it) or add the service to the routing file.",
            )
        return self.channel

    def post_parent(self, state: RunState) -> None:
        """Post the parent once. A 5xx/timeout may hide a post that happened: look before posting again."""
        assert self.api is not None
        channel = self.require_channel()
        blocks, text = self.parent(state)
        for attempt in range(3):
            try:
                posted = self.api.post(channel, text, blocks, metadata=metadata(self.ctx, state), once=True)
            except SlackRateLimited:
                raise  # a 429 was never applied and the budget is spent: nothing to look for
            except SlackUnavailable as exc:
                if str(exc).endswith("is spent") and not state.uncertain:
                    raise  # not called at all: nothing can have landed
                state.uncertain = True  # from here on, only a successful look-up allows another post
                self.action.warning(f"posting the run's message: {exc}; checking whether it arrived")
                time.sleep(min(4.0, self.backoff * 2**attempt, max(0.0, self.api.budget.remaining() - 1)))
                found = self.find_parent(strict=True)
                if found is not None:
                    state.ts, state.channel, state.uncertain = found.ts, found.channel, False
                    self.plan.posted.append(f"parent found after an ambiguous error ({state.ts})")
                    self.update_parent(state)
                    return
                if self.look_failed:
                    raise SlackAmbiguous(self._cannot_check(exc))
                state.uncertain = False  # looked: it is not there
                continue
            state.ts, state.channel, state.uncertain = posted.ts, posted.channel, False
            self.plan.posted.append(f"posted parent {posted.ts}")
            return
        raise SlackUnavailable("chat.postMessage: Slack kept failing; no message was posted")

    def _cannot_check(self, exc: Exception | str) -> str:
        return (f"{exc}. The run's message may have been posted, and this job cannot look it up "
                f"({self.look_failed}): it is not posted again, so the channel never gets two. Give the Slack app "
                "the channels:history scope (groups:history for a private channel) so Shipyard can check")

    def update_parent(self, state: RunState) -> None:
        assert self.api is not None
        blocks, text = self.parent(state)
        try:
            self.api.update(state.channel, state.ts, text, blocks, metadata=metadata(self.ctx, state))
        except SlackRejected as exc:
            if exc.code not in ("message_not_found", "cant_update_message", "edit_window_closed"):
                raise
            self.action.warning(f"the run's message {state.ts} cannot be updated ({exc.code}); posting a new one")
            state.ts = ""
            self.post_parent(state)
            return
        self.plan.posted.append(f"updated parent {state.ts}")

    def reply(self, state: RunState, text: str, *, broadcast: bool = False) -> None:
        """A thread reply, posted once: after an ambiguous answer the thread is read before posting again."""
        assert self.api is not None
        if not text.strip() or not state.ts:
            return
        what = "thread reply" + (" (broadcast)" if broadcast else "")
        for _ in range(3):
            try:
                self.api.post(state.channel, text, None, thread_ts=state.ts, reply_broadcast=broadcast or None,
                              once=True)
            except SlackRateLimited:
                raise
            except SlackUnavailable as exc:
                if str(exc).endswith("is spent"):
                    raise
                try:
                    landed = any(m.get("text") == text and str(m.get("ts")) != state.ts
                                 for m in self.api.replies(state.channel, state.ts))
                except (SlackConfigError, SlackRejected) as look:
                    self.action.warning(f"a {what}: {exc}; it may have been posted and the thread cannot be read "
                                        f"({look}), so it is not sent again")
                    return
                if landed:
                    self.plan.posted.append(what + " (found after an ambiguous error)")
                    return
                continue
            self.plan.posted.append(what)
            return
        raise SlackUnavailable("chat.postMessage: Slack kept failing; the thread reply was not posted")

    def show(self, state: RunState) -> None:
        """Bot mode: make the parent reflect ``state`` (post it when this run has none yet)."""
        if state.ts and state.channel:
            self.update_parent(state)
        else:
            look = state.uncertain or (not self.looked_up and (self.event != "start" or self.ctx.attempt != "1"))
            found = self.find_parent(strict=state.uncertain) if look else None
            if found is not None:
                state.ts, state.channel, state.uncertain = found.ts, found.channel, False
                self.update_parent(state)
            elif state.uncertain and self.look_failed:
                self.plan.notes.append(
                    "an earlier step's post of the run's message answered ambiguously and this job cannot look it "
                    f"up ({self.look_failed}): nothing is posted, so the channel never gets two messages")
            else:
                state.uncertain = False
                self.post_parent(state)

    # ------------------------------------------------------------- events
    def run(self) -> RunState:
        state = self.load_state()
        if state is not None:
            if not self.channel and state.requested:
                self.channel = self.plan.channel_input = state.requested
            state.requested = state.requested or self.channel
        if self.plan.mode == "off":
            return self.record_only(state)
        if self.event == "start":
            state = self.on_start(state)
        elif self.event == "stage":
            state = self.on_stage(state)
        else:
            state = self.on_finish(state)
        return state

    def record_only(self, state: RunState | None) -> RunState:
        """No credentials (a forked pull request gets no secrets): keep the checklist, send nothing."""
        state = state or RunState(attempt=self.ctx.attempt, requested=self.channel)
        if self.event == "start":
            for name in self.action.items("stages"):
                if state.stage(name) is None:
                    state.set_stage(name, "pending")
        elif self.event == "stage":
            state.set_stage(self.action.require("stage"),
                            self.action.choice("status", STAGE_STATUSES[1:], default="success"))
        self.current = state
        return state

    def _common(self, state: RunState) -> None:
        tag, digest = self.action.input("image-tag"), self.action.input("image-digest")
        if tag:
            state.image_tag = ", ".join(t.strip() for t in tag.replace(",", "\n").splitlines() if t.strip())
        if digest:
            if not digest.startswith("sha256:") and ":" not in digest:
                raise UserError(f"Input 'image-digest' '{digest}' is not a digest (sha256:...).",
                                "pass the digest output of ecr-push (sha256:<64 hex>).", input_name="image-digest")
            state.image_digest = digest

    def on_start(self, state: RunState | None) -> RunState:
        rerun = False
        if state is None or state.attempt != self.ctx.attempt:
            found = self.find_parent() if self.api is not None and self.ctx.attempt != "1" else None
            if found is not None:
                rerun = True
                state = found
                state.reset_for_attempt(self.ctx.attempt)
                self.plan.notes.append(f"re-run attempt {self.ctx.attempt}: updating the first attempt's message")
            else:
                keep_ts = state.ts if state else ""
                keep_channel = state.channel if state else ""
                state = RunState(attempt=self.ctx.attempt, ts=keep_ts, channel=keep_channel,
                                 uncertain=bool(state and state.uncertain))
            state.requested = self.channel
        else:
            self.plan.notes.append("a start for this run was already recorded: updating its message")
        for name in self.action.items("stages"):
            if state.stage(name) is None:
                state.set_stage(name, "pending")
        self._common(state)
        self.current = state
        if self.api is not None:
            self.show(state)
            if rerun:
                self.reply(state, f":repeat: Re-run: attempt {self.ctx.attempt} started")
        return state

    def on_stage(self, state: RunState | None) -> RunState:
        name = self.action.require("stage")
        status = self.action.choice("status", STAGE_STATUSES[1:], default="success")
        details = self.action.input("details") or ""
        error = self.action.input("error") or ""
        duration = self.action.number("duration", -1.0, minimum=-1.0)
        if state is None:
            found = self.find_parent() if self.api is not None else None
            state = found or RunState(attempt=self.ctx.attempt)
            state.shared = found is not None
            if found is None:
                self.plan.notes.append("no start was recorded for this run: the message starts here")
        elif state.shared:
            self._absorb_remote(state)
        self._common(state)
        state.set_stage(name, status, details=details, error=error, duration=duration if duration >= 0 else None)
        self.current = state
        if self.api is not None:
            self.show(state)
            if self.threads and (details or error or status == "failure"):
                self.reply(state, render.stage_reply(state, name))
        return state

    def on_finish(self, state: RunState | None) -> RunState:
        wanted = self.action.choice("status", ("auto", *FINAL_STATUSES), default="auto")
        job_status = self.action.input("job-status") or ""
        if job_status and job_status.lower() not in JOB_STATUSES:
            raise UserError(
                f"Input 'job-status' has unknown value '{job_status}'; allowed values: {', '.join(JOB_STATUSES)}.",
                "set `job-status: ${{ job.status }}`.", input_name="job-status")
        error = self.action.input("error") or ""
        if state is None:
            found = self.find_parent() if self.api is not None else None
            state = found or RunState(attempt=self.ctx.attempt)
            state.shared = found is not None
            if found is None and self.api is not None:
                self.plan.notes.append("no start was recorded for this run: posting the final message directly")
        elif state.shared:
            self._absorb_remote(state)
        self._common(state)
        if wanted == "auto":
            if not job_status:
                self.plan.notes.append("status auto without job-status: set `job-status: ${{ job.status }}`")
            final = auto_final(state, job_status.lower(), elapsed=state.duration, timeout_minutes=self.timeout_minutes)
        else:
            final = wanted
        state.finish(final, error=error)
        self.current = state
        alert = ""
        if self.mentions_on and final in ("failure", "timed-out"):
            alert = "failure"
        elif self.mentions_on and final == "success" and self.previous_final(state) in ("failure", "timed-out"):
            alert = "recovery"
        self.plan.alert = alert
        if self.api is not None:
            self.show(state)
            if alert:
                text = render.alert_text(self.ctx, state, self.mentions(), recovered=alert == "recovery")
                self.reply(state, text, broadcast=alert == "failure")
        elif self.plan.mode == "webhook":
            blocks, text = self.parent(state)
            if alert:
                blocks.insert(1, render.section(render.alert_text(self.ctx, state, self.mentions(),
                                                                   recovered=alert == "recovery")))
                blocks, text = render.fit(blocks, text)
            from shipyard.slack.api import send_webhook

            send_webhook(self.webhook, text, blocks, rate_limit_budget=self.rate_budget, backoff=self.backoff,
                         time_budget=self.time_budget, timeout=max(1, min(10, int(self.time_budget / 3))))
            self.plan.posted.append("posted through the incoming webhook")
        return state


def _dry_run_payloads(n: Notifier, state: RunState) -> list[dict[str, Any]]:
    blocks, text = n.parent(state)
    method = "chat.update" if state.ts else "chat.postMessage"
    payloads: list[dict[str, Any]] = [{
        "method": method, "channel": n.channel or "(set channel)", "ts": state.ts or None, "text": text,
        "blocks": blocks, "metadata": metadata(n.ctx, state),
    }]
    if n.event == "stage" and n.threads:
        name = n.action.input("stage") or ""
        reply = render.stage_reply(state, name)
        if reply:
            payloads.append({"method": "chat.postMessage", "thread_ts": state.ts or "(parent ts)", "text": reply})
    if n.plan.alert:
        payloads.append({"method": "chat.postMessage", "thread_ts": state.ts or "(parent ts)",
                         "text": render.alert_text(n.ctx, state, n.mentions(), recovered=n.plan.alert == "recovery"),
                         "reply_broadcast": n.plan.alert == "failure"})
    return payloads


def run(action: Action) -> None:
    action.secret("token")
    action.secret("webhook-url")
    clean_inputs(action)
    memo_path = store.job_path(action.env, dry_run=action.dry_run)
    memo = store.load_job(memo_path)
    carry_inputs(action, memo)
    try:
        clean_inputs(action)  # the carried values too
        _run(action, memo)
    finally:  # whatever happened, the later steps of the job get the inputs this one was given
        try:
            store.save_job(memo_path, memo)
        except OSError as exc:
            action.warning(f"could not keep the Slack step's inputs for the later steps of the job: {exc}")


def _no_credentials_reason(action: Action) -> str:
    from shipyard.slack.context import _event, _obj

    event = _event(action.env)
    head_repo = _obj(_obj(_obj(event, "pull_request"), "head"), "repo")
    if action.env.get("GITHUB_EVENT_NAME", "").startswith("pull_request") and head_repo.get("fork"):
        return ("No Slack token: runs from forked pull requests get no secrets, so no Slack notice is sent for "
                "this job (the deploy goes on).")
    return "No Slack token or webhook URL was given (an empty secret?): no Slack notice is sent for this job."


def _run(action: Action, memo: dict[str, Any]) -> None:
    n = Notifier(action, memo)
    state: RunState | None = None
    problem: Exception | None = None
    try:
        state = n.run()
        n.plan.delivered = bool(n.plan.posted)
    except (SlackConfigError, SlackUnavailable, SlackRejected) as exc:
        problem = exc
        if isinstance(exc, SlackConfigError) and n.api is not None:
            problem = n.api.explain(exc, n.channel)
    # whatever happened, the next step must be able to carry on
    state = state or n.current or n.load_state() or RunState(attempt=n.ctx.attempt)
    state.requested = state.requested or n.channel
    store.save(n.path, state)
    if isinstance(problem, SlackUnavailable) and not isinstance(problem, (SlackRateLimited, SlackAmbiguous)):
        memo["down"] = time.time()
    elif n.plan.delivered:
        memo.pop("down", None)
    if n.no_credentials:
        n.plan.notes.append(n.no_credentials)
        if not memo.get("warned-no-credentials"):
            memo["warned-no-credentials"] = True
            action.warning(n.no_credentials)
    if n.plan.mode == "dry-run":
        with action.group("Slack payload (dry run: nothing was sent)"):
            action.info(json.dumps(_dry_run_payloads(n, state), indent=2, ensure_ascii=False))
    action.set_output("ts", state.ts)
    action.set_output("channel", state.channel)
    action.set_output("state", state.to_json())
    action.set_output("status", state.status)
    action.set_output("delivered", n.plan.delivered)
    _summary(action, n, state, problem)
    if problem is None:
        return
    if isinstance(problem, SlackConfigError):
        if n.fail_on_error:
            raise problem
        action.warning(f"Slack notification not delivered: {problem} (the pipeline goes on; set fail-on-error: true "
                       "to fail the step instead)")
    elif isinstance(problem, SlackUnavailable):
        if n.fail_on_error:
            raise UserError(f"Slack is unavailable: {problem}.", "retry the job later; check status.slack.com.")
        action.warning(f"Slack notification not delivered, Slack is unavailable: {problem} (the pipeline goes on)")
    else:
        message = f"Slack rejected the notification: {problem}."
        if n.fail_on_error:
            raise UserError(message, "check the `details`/`error` inputs; run with dry-run: true to see the payload.")
        action.warning(message + " (the pipeline goes on)")


def _delivered(n: Notifier) -> str:
    if n.plan.delivered:
        return "yes"
    if n.plan.mode == "dry-run":
        return "dry run"
    if n.plan.mode == "webhook" and n.event != "finish":
        return "not yet: webhook mode posts once, at finish"
    if n.plan.mode == "off":
        return "no: no Slack token"
    return "no"


def _summary(action: Action, n: Notifier, state: RunState, problem: Exception | None) -> None:
    s = action.summary.heading(f"Slack: {n.event} ({n.plan.mode})")
    rows: list[tuple[str, object]] = [
        ("Run status", state.status),
        ("Channel", state.channel or n.channel or "-"),
        ("Message ts", state.ts or "-"),
        ("Delivered", _delivered(n)),
    ]
    if n.ctx.matrix_key:
        rows.append(("Matrix entry", n.ctx.matrix_key))
    if n.route.source:
        rows.append(("Routed by", n.route.source))
    if n.plan.alert:
        rows.append(("Mentions", f"{n.plan.alert}: {n.mentions().render() or 'nobody mapped'}"))
    s.key_values(rows)
    if state.stages:
        s.table(["Stage", "Status", "Time"],
                [(e.name, e.status, f"{e.duration:.1f}s" if e.duration is not None else "") for e in state.stages])
    if n.plan.mode == "webhook":
        s.text("Incoming webhook mode: Slack gives webhooks no message ts, so the message cannot be updated and "
               "has no thread. One message is posted when the run finishes. Use a bot token for live updates.")
    for note in n.plan.notes:
        s.text(f"- {note}")
    if problem is not None:
        fix = getattr(problem, "fix", None)
        s.text(f":warning: Not delivered: {problem if not isinstance(problem, UserError) else problem.message}")
        if fix:
            s.text(f"**Fix:** {fix}")
