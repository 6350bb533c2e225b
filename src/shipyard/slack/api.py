"""Slack through slack_sdk, with the retries the defaults lack and errors sorted into "fix your setup"
(:class:`SlackConfigError`), "Slack is unavailable" (:class:`SlackUnavailable`) and "Slack refused this
message" (:class:`SlackRejected`). Nothing here treats ``ok: false`` as success.

slack_sdk is imported lazily, inside the functions that need it.
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipyard.runtime import UserError

DEFAULT_API_URL = "https://slack.com/api/"
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
TRANSIENT_STATUS = (500, 502, 503, 504)

CONFIG_FIXES: dict[str, str] = {
    "not_authed": "pass the bot token: `token: ${{ secrets.SLACK_BOT_TOKEN }}` (a composite action has no secrets "
    "context of its own).",
    "invalid_auth": "the `token` input is not a valid bot token: use the app's Bot User OAuth Token (xoxb-...) "
    "from OAuth & Permissions and update the SLACK_BOT_TOKEN secret.",
    "token_revoked": "the bot token was revoked: reinstall the Slack app to the workspace and update the "
    "SLACK_BOT_TOKEN secret with the new xoxb- token.",
    "token_expired": "the token expired (token rotation is on): use a non-rotating bot token or refresh it "
    "before the run.",
    "account_inactive": "the app's bot user was deactivated: reinstall the Slack app and update the secret.",
    "channel_not_found": "check the channel {channel}: use the channel ID (C...) from the channel's details, "
    "or the exact name; for a private channel invite the bot first: /invite @{bot}.",
    "not_in_channel": "invite the bot to {channel}: type `/invite @{bot}` in that channel (or give the app the "
    "chat:write.public scope to post in public channels without joining).",
    "is_archived": "{channel} is archived: unarchive it or route this service to another channel.",
    "missing_scope": "add the {needed} scope to the Slack app (OAuth & Permissions), reinstall the app and "
    "update the SLACK_BOT_TOKEN secret.",
    "no_permission": "the app may not post to {channel}: check the channel's posting permissions.",
    "restricted_action": "a workspace admin restricts posting in {channel}: allow the app or pick another "
    "channel.",
    "ekm_access_denied": "the workspace's EKM settings block the app: ask a Slack admin.",
    "team_access_not_granted": "the app is not granted access to this workspace: ask a Slack admin.",
    "method_deprecated": "this Slack method is deprecated: upgrade Shipyard.",
    # incoming webhooks answer plain-text codes
    "invalid_token": "the webhook URL is no longer valid: create a new incoming webhook and update the secret.",
    "no_service": "the webhook URL is disabled or wrong: create a new incoming webhook and update the secret.",
    "no_service_id": "the webhook URL is malformed: copy it again from the app's Incoming Webhooks page.",
    "no_team": "the webhook's workspace no longer exists: create a new webhook.",
    "team_disabled": "the webhook's workspace is disabled: create a new webhook.",
    "channel_is_archived": "the webhook's channel is archived: unarchive it or create a webhook for another channel.",
    "action_prohibited": "a workspace admin blocks this webhook: ask a Slack admin.",
    "posting_to_general_channel_denied": "the webhook may not post to #general: pick another channel.",
}


class SlackConfigError(UserError):
    """Slack refused us for a reason the user must fix (token, scope, channel)."""

    def __init__(self, code: str, method: str, message: str, fix: str) -> None:
        super().__init__(message, fix, input_name="token")
        self.code = code
        self.method = method


class SlackUnavailable(Exception):
    """Slack stayed down or rate-limited beyond our retries (transient)."""


class SlackRateLimited(SlackUnavailable):
    """Still rate limited after the budget: the call was certainly not applied."""


class SlackRejected(Exception):
    """Slack refused this call for another reason (message_not_found, msg_too_long, ...)."""

    def __init__(self, code: str, method: str, detail: str = "") -> None:
        super().__init__(f"{method}: {code}{(' (' + detail + ')') if detail else ''}")
        self.code = code
        self.method = method


class Budget:
    """The time one notify step may spend on Slack, apart from the waits a 429's Retry-After asks for.

    ``seconds=None`` is unbounded. Every call's socket timeout is cut to what is left, retries stop when it is
    spent, and a call started after that fails at once: a Slack API that accepts connections and never answers
    costs one budget per step, not minutes.
    """

    def __init__(self, seconds: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self.started = clock()
        self.rate_waited = 0.0  # seconds slept on Retry-After: they extend the budget

    def remaining(self) -> float:
        if self.seconds is None:
            return float("inf")
        return self.seconds + self.rate_waited - (self.clock() - self.started)

    def spent(self, at_least: float = 0.0) -> bool:
        return self.remaining() <= at_least


def _handlers(
    *, rate_limit_retries: int, rate_limit_budget: float, server_retries: int, connection_retries: int,
    backoff: float, budget: Budget | None = None, refused_only: bool = False,
) -> list[Any]:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

    class BudgetedRateLimitHandler(RateLimitErrorRetryHandler):
        """Honours Retry-After until the count or the time budget runs out.

        The SDK waits Retry-After plus up to one second, so every client of a burst retries in the same second
        and all but one are refused again. Here the extra wait grows with the attempt (up to 3x Retry-After),
        spreading a burst of runs over the window instead of stampeding it."""

        def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if response is None or response.status_code != 429:
                return False
            if not isinstance(state.custom_values, dict):
                state.custom_values = {}
            first = state.custom_values.setdefault("shipyard_first_429", time.monotonic())
            return bool(time.monotonic() - first < rate_limit_budget)

        def prepare_for_next_attempt(
            self, *, state: Any, request: Any, response: Any = None, error: Any = None
        ) -> None:
            if response is None:
                raise error
            header = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
            raw = header[0] if isinstance(header, list) and header else header
            try:
                retry_after = max(1, int(str(raw).strip()))
            except (TypeError, ValueError):
                retry_after = 1
            spread = retry_after * min(3, state.current_attempt + 1)
            wait = retry_after + random.uniform(0, spread)  # noqa: S311 - jitter, not crypto
            values = state.custom_values if isinstance(state.custom_values, dict) else {}
            left = rate_limit_budget - (time.monotonic() - values.get("shipyard_first_429", time.monotonic()))
            state.next_attempt_requested = True
            pause = max(float(retry_after), min(wait, left))
            if budget is not None:
                budget.rate_waited += pause
            time.sleep(pause)
            state.increment_current_attempt()

    class AnyServerErrorHandler(ServerErrorRetryHandler):
        """The SDK's handler only knows 500 and 503; gateways answer 502 and 504 too."""

        def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if budget is not None and budget.spent(backoff):
                return False
            return response is not None and response.status_code in TRANSIENT_STATUS

    class BudgetedConnectionErrorHandler(ConnectionErrorRetryHandler):
        """Resets, refusals and timeouts, retried only while the step's time budget lasts."""

        def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
            if budget is not None and budget.spent(backoff + 0.5):
                return False
            if refused_only:
                return error is not None and _refused(error)
            return bool(super()._can_retry(state=state, request=request, response=response, error=error))

    from slack_sdk.http_retry.jitter import Jitter

    class ProportionalJitter(Jitter):
        """Up to +100% of the interval (the SDK's default adds up to a whole second whatever the interval)."""

        def recalculate(self, duration: float) -> float:
            return duration + random.uniform(0, duration)  # noqa: S311 - jitter, not crypto

    calc = BackoffRetryIntervalCalculator(backoff_factor=backoff, jitter=ProportionalJitter())
    handlers: list[Any] = [BudgetedRateLimitHandler(max_retry_count=rate_limit_retries)]
    if server_retries:
        handlers.append(AnyServerErrorHandler(max_retry_count=server_retries, interval_calculator=calc))
    if connection_retries:
        errors = (
            urllib.error.URLError,
            ConnectionResetError,
            ConnectionRefusedError,
            http.client.RemoteDisconnected,
            TimeoutError,
            socket.timeout,
        )
        handlers.append(
            BudgetedConnectionErrorHandler(
                max_retry_count=connection_retries, interval_calculator=calc, error_types=list(errors)
            )
        )
    return handlers


def _refused(exc: BaseException) -> bool:
    """The connection was refused: the request never left, so sending it again cannot duplicate anything."""
    reason = getattr(exc, "reason", exc)
    return isinstance(reason, ConnectionRefusedError)


@dataclass
class Posted:
    channel: str
    ts: str


class SlackApi:
    """The few Web API methods the stage uses."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: int = 15,
        rate_limit_retries: int = 100,
        rate_limit_budget: float = 180.0,
        server_retries: int = 3,
        backoff: float = 0.5,
        log: Callable[[str], None] | None = None,
        time_budget: float | None = None,
        connection_retries: int = 2,
    ) -> None:
        """``timeout`` bounds each request (connect, and each read); ``time_budget`` bounds all calls of this
        client together, apart from the waits a 429's Retry-After asks for (those have ``rate_limit_budget``)."""
        from slack_sdk import WebClient

        base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = float(timeout)
        self.budget = Budget(time_budget)
        common: dict[str, Any] = {"rate_limit_retries": rate_limit_retries, "rate_limit_budget": rate_limit_budget,
                                  "backoff": backoff, "budget": self.budget}
        self.client = WebClient(
            token=token, base_url=base_url, timeout=timeout,
            retry_handlers=_handlers(server_retries=server_retries, connection_retries=connection_retries, **common),
        )
        # Posting is not idempotent: a 5xx, a reset or a timeout may hide a message that was posted. A post goes
        # through a client that only retries 429 (never applied) and a refused connection (never sent); the
        # caller checks before posting again.
        self.once_client = WebClient(
            token=token, base_url=base_url, timeout=timeout,
            retry_handlers=_handlers(server_retries=0, connection_retries=connection_retries,
                                     refused_only=True, **common),
        )
        self.log = log or (lambda _msg: None)
        self._bot: str | None = None
        self._ids: dict[str, str] = {}

    # ------------------------------------------------------------ plumbing
    def call(self, method: str, *, once: bool = False, form: bool = False, **kwargs: Any) -> dict[str, Any]:
        """One Web API call. Write methods get a JSON body; ``form=True`` sends the arguments form-encoded, as the
        read methods (conversations.history/replies/list) need: Slack reads JSON bodies on write methods only.
        slack_sdk's sync client sends every call as POST (its ``http_verb`` is ignored), which Slack accepts
        for every method with form or query arguments."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        client = self.once_client if once else self.client
        args: dict[str, Any] = {k: v for k, v in kwargs.items() if v is not None}
        left = self.budget.remaining()
        if left <= 0.2:
            raise SlackUnavailable(f"{method}: not called, the step's time for Slack ({self.budget.seconds:g}s) is "
                                   "spent")
        client.timeout = max(0.2, min(self.timeout, left))  # type: ignore[assignment]  # read at request time
        try:
            response = client.api_call(method, params=args) if form else client.api_call(method, json=args)
        except SlackApiError as exc:
            raise self._translate(method, exc.response.status_code, exc.response.data, exc.response.headers)
        except (urllib.error.URLError, OSError, http.client.HTTPException, SlackClientError) as exc:
            raise SlackUnavailable(f"{method}: could not reach Slack ({type(exc).__name__}: {exc})")
        data = response.data if isinstance(response.data, dict) else {}
        if not data.get("ok"):  # validate() raised already; never trust a body we did not understand
            raise SlackUnavailable(f"{method}: Slack answered HTTP {response.status_code} without ok:true")
        return data

    def _translate(self, method: str, status: int, data: Any, headers: Any) -> Exception:
        if status == 429:
            return SlackRateLimited(f"{method}: still rate limited (HTTP 429) after the retries")
        if status >= 500:
            return SlackUnavailable(f"{method}: Slack answered HTTP {status} after the retries")
        body = data if isinstance(data, dict) else {}
        code = str(body.get("error") or f"http_{status}")
        if code == "ratelimited":
            return SlackRateLimited(f"{method}: still rate limited after the retries")
        if code in ("fatal_error", "internal_error", "service_unavailable", "request_timeout"):
            return SlackUnavailable(f"{method}: Slack answered {code}")
        if code in CONFIG_FIXES and code != "method_deprecated":
            fix = CONFIG_FIXES[code].replace("{needed}", str(body.get("needed") or "missing"))
            message = f"Slack refused {method}: {code}"
            if code == "missing_scope":
                message += f" (needed: {body.get('needed')}; the token has: {body.get('provided')})"
            return SlackConfigError(code, method, message + ".", fix)
        detail = "; ".join(str(m) for m in (body.get("response_metadata") or {}).get("messages", [])[:3])
        if body.get("needed"):
            detail = f"needed {body.get('needed')}, provided {body.get('provided')}"
        return SlackRejected(code, method, detail)

    def explain(self, err: SlackConfigError, channel: str) -> SlackConfigError:
        """Fill the fix's placeholders ({channel}, {bot}) once we know which channel and bot."""
        fix = err.fix or ""
        if "{bot}" in fix:
            fix = fix.replace("{bot}", self.bot_name())
        fix = fix.replace("{channel}", channel or "the channel")
        return SlackConfigError(err.code, err.method, err.message, fix)

    def bot_name(self) -> str:
        if self._bot is None:
            try:
                data = self.call("auth.test")
                self._bot = str(data.get("user") or "your-bot")
            except Exception:
                self._bot = "your-bot"
        return self._bot

    # ------------------------------------------------------------ methods
    def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        reply_broadcast: bool | None = None,
        once: bool = False,
    ) -> Posted:
        data = self.call(
            "chat.postMessage", once=once, channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
            metadata=metadata, reply_broadcast=reply_broadcast, unfurl_links=False, unfurl_media=False,
        )
        return Posted(str(data["channel"]), str(data["ts"]))

    def update(
        self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]], *, metadata: dict[str, Any] | None = None
    ) -> Posted:
        data = self.call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks, metadata=metadata)
        return Posted(str(data["channel"]), str(data["ts"]))

    def history(
        self, channel: str, *, oldest: str | None = None, latest: str | None = None, inclusive: bool = False,
        limit: int = 200, max_pages: int = 5,
    ) -> list[dict[str, Any]]:
        """Top-level messages with their metadata, newest first, bounded to ``max_pages`` pages."""
        messages: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(max_pages):
            data = self.call(
                "conversations.history", form=True, channel=channel, oldest=oldest, latest=latest,
                inclusive="true" if inclusive else None, limit=str(limit), cursor=cursor,
                include_all_metadata="true",
            )
            messages.extend(m for m in data.get("messages") or [] if isinstance(m, dict))
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "") or None
            if not data.get("has_more") or not cursor:
                break
        return messages

    def replies(self, channel: str, ts: str, *, limit: int = 200) -> list[dict[str, Any]]:
        """The newest page of a thread (the parent first), to check whether an ambiguous reply landed."""
        data = self.call("conversations.replies", form=True, channel=channel, ts=ts, limit=str(limit))
        return [m for m in data.get("messages") or [] if isinstance(m, dict)]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        found = self.history(channel, oldest=ts, latest=ts, inclusive=True, limit=1, max_pages=1)
        return next((m for m in found if str(m.get("ts")) == ts), None)

    def channel_id(self, channel: str) -> str | None:
        """A channel name to its ID (needs channels:read / groups:read). IDs pass through."""
        name = channel.lstrip("#")
        if CHANNEL_ID.match(name):
            return name
        if name in self._ids:
            return self._ids[name]
        cursor: str | None = None
        for _ in range(20):
            data = self.call(
                "conversations.list", form=True, types="public_channel,private_channel",
                exclude_archived="true", limit="1000", cursor=cursor,
            )
            for ch in data.get("channels") or []:
                if isinstance(ch, dict) and ch.get("name") == name:
                    self._ids[name] = str(ch["id"])
                    return self._ids[name]
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "") or None
            if not cursor:
                break
        return None


def send_webhook(
    url: str, text: str, blocks: list[dict[str, Any]], *, timeout: int = 15, rate_limit_retries: int = 100,
    rate_limit_budget: float = 180.0, backoff: float = 0.5, time_budget: float | None = None,
) -> None:
    """Post through an incoming webhook. Raises SlackConfigError / SlackUnavailable / SlackRejected.

    A webhook post cannot be looked up afterwards, so only what was certainly not applied is retried (429, a
    refused connection): after a 5xx, a reset or a timeout the message may be there, and one message with a
    warning beats two."""
    from slack_sdk.webhook import WebhookClient

    budget = Budget(time_budget)
    client = WebhookClient(
        url, timeout=max(1, int(min(float(timeout), budget.remaining()))),
        retry_handlers=_handlers(
            rate_limit_retries=rate_limit_retries, rate_limit_budget=rate_limit_budget, server_retries=0,
            connection_retries=2, backoff=backoff, budget=budget, refused_only=True,
        ),
    )
    try:
        response = client.send(text=text, blocks=blocks, unfurl_links=False, unfurl_media=False)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise SlackUnavailable(f"incoming webhook: could not reach Slack ({type(exc).__name__}); the message may or "
                               "may not have arrived, so it is not sent again")
    if response.status_code == 200 and response.body.strip() == "ok":
        return
    code = response.body.strip().splitlines()[0][:100] if response.body.strip() else f"http_{response.status_code}"
    if response.status_code == 429 or response.status_code >= 500:
        raise SlackUnavailable(f"incoming webhook: HTTP {response.status_code} after the retries")
    if code in CONFIG_FIXES:
        raise SlackConfigError(code, "incoming webhook", f"Slack refused the incoming webhook: {code}.",
                               CONFIG_FIXES[code])
    if response.status_code == 200:
        raise SlackRejected("unexpected_body", "incoming webhook", code)
    raise SlackRejected(code, "incoming webhook", f"HTTP {response.status_code}")
