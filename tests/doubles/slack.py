"""A Slack Web API + incoming-webhook double, faithful to the facts in the research note.

* ``POST /api/<method>`` with ``Authorization: Bearer xoxb-...`` or ``token=`` in a form body; JSON and
  form bodies; GET with a query string for read methods.
* The ok/error convention: HTTP 200 ``{"ok": false, "error": "<code>"}``; ``missing_scope`` carries
  ``needed``/``provided``; unknown methods 404 ``unknown_method``.
* Auth: no token -> ``not_authed``; not xoxb-/unknown -> ``invalid_auth``; revoked -> ``token_revoked``;
  deactivated -> ``account_inactive``.
* Channels by name (``#deploys``/``deploys``) or ID for chat.postMessage, ID only for chat.update and
  conversations.history; responses always carry the ID; ``channel_not_found``, ``not_in_channel`` (the bot must
  be a member unless it has chat:write.public on a public channel), ``is_archived``.
* chat.postMessage: ``no_text``, ``msg_too_long`` (text over 40,000), ``invalid_blocks`` (over 50 blocks, header
  over 150, section text over 3000, over 10 fields or a field over 2000, unknown block types), ``invalid_blocks_format``,
  ``msg_blocks_too_long`` (over ~13,000 characters of block text), threads through ``thread_ts`` (an unknown
  parent answers ``thread_not_found``: unverified against Slack, the stage never sends one),
  ``reply_broadcast``, message ``metadata`` (``invalid_metadata_format``/``invalid_metadata_schema``).
* chat.update: same ts back; ``message_not_found``, ``cant_update_message`` (not the bot's message);
  omitting ``blocks`` keeps the old blocks, ``[]`` clears them.
* conversations.history: newest first, ``oldest``/``latest``/``inclusive``/``limit``/``cursor``; metadata only
  with ``include_all_metadata``; thread replies appear only when broadcast. conversations.list, auth.test.
* Rate limits: messages per channel (default 1/s with a burst of 3) and an app-wide limit for chat.update and
  history, answered HTTP 429 + integer ``Retry-After`` + ``{"ok": false, "error": "ratelimited"}``.
* Injected 5xx faults answer an HTML error page, like Slack's edge.
* Incoming webhooks at ``/services/T.../B.../<secret>``: 200 ``ok``; plain-text errors (``invalid_payload``,
  ``no_text``, ``no_service``, ``channel_is_archived``); 429 ``{"retry_after":1,"ok":false,"error":"rate_limited"}``.
"""

from __future__ import annotations

import json
import math
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.doubles.base import DoubleServer, Fault, RateLimiter, Request, Response, json_response, route

BOT_TOKEN = "xoxb-1111-2222-shipyardtesttoken"
DEFAULT_SCOPES = frozenset({"chat:write", "channels:history", "groups:history", "channels:read", "groups:read"})
BOT_USER = "U0SHIPBOT"
BOT_ID = "B0SHIPBOT"
HTML_500 = "<!DOCTYPE html><html><head><title>Slack | Server Error</title></head><body><h1>Server Error</h1>" \
           "<p>Something went wrong. Please try again.</p></body></html>"

METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "conversations.list": ("channels:read", "groups:read"),
    "auth.test": (),
}


@dataclass
class Token:
    scopes: frozenset[str] = DEFAULT_SCOPES
    revoked: bool = False
    inactive: bool = False


@dataclass
class Message:
    ts: str
    text: str
    blocks: list[Any] | None
    user: str
    bot_id: str | None
    thread_ts: str | None = None
    metadata: dict[str, Any] | None = None
    broadcast: bool = False
    edits: list[dict[str, Any]] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)

    def view(self, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "user": self.user}
        if self.bot_id:
            out["bot_id"] = self.bot_id
            out["subtype"] = "bot_message"
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.replies:
            out["reply_count"] = len(self.replies)
        if self.edits:
            out["edited"] = {"user": self.user, "ts": self.edits[-1]["at"]}
        if with_metadata and self.metadata:
            out["metadata"] = self.metadata
        return out


@dataclass
class Channel:
    id: str
    name: str
    private: bool = False
    archived: bool = False
    bot_member: bool = True
    messages: list[Message] = field(default_factory=list)  # top level, oldest first


class SlackDouble(DoubleServer):
    name = "slack"

    def __init__(
        self,
        *,
        message_limit: tuple[int, float] | None = (3, 1.0),
        app_limit: tuple[int, float] | None = (50, 1.0),
        retry_after_floor: int = 1,
    ) -> None:
        super().__init__()
        # base.py sets request_queue_size after the socket is already listening (backlog 5); a burst of fifty
        # clients needs the larger backlog for real, so listen again with it.
        self._server.socket.listen(256)
        self._limits = (message_limit, app_limit)
        self.retry_after_floor = retry_after_floor
        self._ts_lock = threading.Lock()
        self._last_us = 0
        self.reset()

    def reset(self) -> None:
        """Back to the initial workspace (tests share one server and reset it between them)."""
        message_limit, app_limit = self._limits
        with self.lock:
            self.transcript.clear()
            self.faults.clear()
            self.resets: list[list[Any]] = []  # [regex on "METHOD /path", count]
            # a request held by a "timeout" fault may end after the reset: it must not land in the next test
            self.generation = getattr(self, "generation", 0) + 1
        self.tokens: dict[str, Token] = {BOT_TOKEN: Token()}
        self.channels: dict[str, Channel] = {}
        self.webhooks: dict[str, str] = {}  # path -> channel id
        self.message_limiter = RateLimiter(*message_limit) if message_limit else None
        self.app_limiter = RateLimiter(*app_limit) if app_limit else None
        self.add_channel("C0DEPLOYS1", "deploys")
        self.add_channel("C0OTHERS01", "others", bot_member=False)
        self.add_channel("C0ARCHIVE1", "old-deploys", archived=True)
        self.add_channel("G0PRIVATE1", "secret-deploys", private=True)
        self.add_webhook("/services/T0TEAM/B0HOOK/abcdefghijklmnopqrstuvwx", "C0DEPLOYS1")

    # ------------------------------------------------------------ faults
    def inject_reset(self, match: str | None = None, count: int = 1) -> None:
        """The next ``count`` matching requests are read and then answered with a TCP reset (nothing applied)."""
        with self.lock:
            self.resets.append([match, count])

    def _take_reset(self, method: str, path: str) -> bool:
        key = f"{method} {path}"
        with self.lock:
            for item in self.resets:
                if item[1] > 0 and (item[0] is None or re.search(item[0], key)):
                    item[1] -= 1
                    return True
        return False

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        double = self

        class _Resetting(base):  # type: ignore[valid-type,misc]
            def _handle(self) -> None:
                path = self.path.split("?", 1)[0]
                if double._take_reset(self.command, path):
                    length = int(self.headers.get("Content-Length") or 0)
                    if length:
                        self.rfile.read(length)
                    double._record_reset(self.command, path)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                super()._handle()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        return _Resetting

    def dispatch(self, req: Request) -> tuple[Response, str | None]:
        req._generation = self.generation  # type: ignore[attr-defined]
        return super().dispatch(req)

    def _record(self, req: Request, response: Response | None, fault: str | None) -> None:
        if getattr(req, "_generation", self.generation) != self.generation:
            return  # started before the last reset (a held request ending late)
        super()._record(req, response, fault)

    def _record_reset(self, method: str, path: str) -> None:
        from tests.doubles.base import Exchange

        with self.lock:
            self.transcript.append(Exchange(method, path, {}, {}, None, 0, None, "reset", time.time()))

    # ------------------------------------------------------------ set-up
    def add_channel(self, cid: str, name: str, *, private: bool = False, archived: bool = False,
                    bot_member: bool = True) -> Channel:
        ch = Channel(cid, name, private, archived, bot_member)
        self.channels[cid] = ch
        return ch

    def add_token(self, token: str, scopes: frozenset[str] = DEFAULT_SCOPES, **flags: bool) -> None:
        self.tokens[token] = Token(scopes, **flags)

    def add_webhook(self, path: str, channel_id: str) -> str:
        self.webhooks[path] = channel_id
        return self.url + path

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def webhook_url(self) -> str:
        return self.url + next(iter(self.webhooks))

    def set_limits(self, message_limit: tuple[int, float] | None, app_limit: tuple[int, float] | None) -> None:
        self.message_limiter = RateLimiter(*message_limit) if message_limit else None
        self.app_limiter = RateLimiter(*app_limit) if app_limit else None

    # ------------------------------------------------------------ views
    def channel(self, name_or_id: str) -> Channel:
        ch = self._resolve(name_or_id)
        assert ch is not None, name_or_id
        return ch

    def messages(self, channel: str = "C0DEPLOYS1") -> list[Message]:
        with self.lock:
            return list(self.channel(channel).messages)

    def message(self, ts: str, channel: str = "C0DEPLOYS1") -> Message:
        return next(m for m in self.messages(channel) if m.ts == ts)

    # ---------------------------------------------------------- helpers
    def _next_ts(self) -> str:
        with self._ts_lock:
            now_us = int(time.time() * 1_000_000)
            self._last_us = max(now_us, self._last_us + 1)
            sec, us = divmod(self._last_us, 1_000_000)
            return f"{sec}.{us:06d}"

    def _resolve(self, value: str) -> Channel | None:
        if value in self.channels:
            return self.channels[value]
        name = value[1:] if value.startswith("#") else value
        return next((c for c in self.channels.values() if c.name == name), None)

    def _data(self, req: Request) -> dict[str, Any]:
        cached = getattr(req, "_slack_data", None)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        try:
            data = req.data()
        except (ValueError, UnicodeDecodeError):
            data = {"__bad_body__": True}
        req._slack_data = data  # type: ignore[attr-defined]
        return data

    def _read_method_body(self, req: Request) -> Request:
        """Read methods (conversations.history/replies/list) take query or form arguments only: Slack accepts
        JSON bodies on write methods, so a JSON body here is ignored as the real API ignores it."""
        if req.content_type == "application/json":
            req._slack_data = dict(req.query)  # type: ignore[attr-defined]
        return req

    @staticmethod
    def err(code: str, **extra: Any) -> Response:
        return json_response({"ok": False, "error": code, **extra})

    def _token(self, req: Request) -> tuple[str | None, Response | None]:
        token = req.bearer() or self._data(req).get("token")
        if not token:
            return None, self.err("not_authed")
        if not str(token).startswith(("xoxb-", "xoxp-")) or token not in self.tokens:
            return None, self.err("invalid_auth")
        info = self.tokens[token]
        if info.revoked:
            return None, self.err("token_revoked")
        if info.inactive:
            return None, self.err("account_inactive")
        return str(token), None

    def _scope(self, token: str, method: str, private: bool = False) -> Response | None:
        info = self.tokens[token]
        needed_all = METHOD_SCOPES.get(method, ())
        if not needed_all:
            return None
        needed = needed_all[1] if private and len(needed_all) > 1 else needed_all[0]
        if needed in info.scopes:
            return None
        return self.err("missing_scope", needed=needed, provided=",".join(sorted(info.scopes)))

    # -------------------------------------------------------- framework
    def authenticate(self, req: Request) -> Response | None:
        if not req.path.startswith("/api/"):
            return None
        _, refused = self._token(req)
        return refused

    def _limited(self, retry_in: float, *, webhook: bool = False) -> Response:
        seconds = max(self.retry_after_floor, math.ceil(retry_in))
        if webhook:
            body: dict[str, Any] = {"retry_after": seconds, "ok": False, "error": "rate_limited"}
        else:
            body = {"ok": False, "error": "ratelimited"}
        return json_response(body, 429, **{"Retry-After": str(seconds)})

    def rate_limit(self, req: Request) -> Response | None:
        data = self._data(req)
        if req.path.startswith("/services/"):
            if self.message_limiter is None:
                return None
            wait = self.message_limiter.allow("hook:" + req.path)
            return self._limited(wait, webhook=True) if wait else None
        method = req.path[len("/api/"):]
        if method == "chat.postMessage" and self.message_limiter is not None:
            ch = self._resolve(str(data.get("channel") or ""))
            wait = self.message_limiter.allow("channel:" + (ch.id if ch else str(data.get("channel"))))
            return self._limited(wait) if wait else None
        if method in ("chat.update", "conversations.history", "conversations.list") and self.app_limiter:
            wait = self.app_limiter.allow("app:" + method)
            return self._limited(wait) if wait else None
        return None

    def fault_response(self, fault: Fault, req: Request) -> Response:
        if fault.status == 429:
            return self._limited(float(fault.headers.get("Retry-After", "1")))
        if fault.status >= 500:
            return Response(fault.status, HTML_500.encode(), {"Content-Type": "text/html; charset=utf-8"})
        return super().fault_response(fault, req)

    def not_found(self, req: Request) -> Response:
        if req.path.startswith("/api/"):
            return json_response({"ok": False, "error": "unknown_method"}, 404)
        return Response(404, "no_service")

    # ---------------------------------------------------- validation
    def _blocks(self, raw: Any) -> tuple[list[Any] | None, Response | None]:
        if raw is None:
            return None, None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                return None, self.err("invalid_blocks_format")
        if not isinstance(raw, list):
            return None, self.err("invalid_blocks_format")
        problems: list[str] = []
        total = 0
        if len(raw) > 50:
            problems.append("[ERROR] no more than 50 items allowed [json-pointer:/blocks]")
        for i, block in enumerate(raw):
            if not isinstance(block, dict):
                problems.append(f"[ERROR] must be an object [json-pointer:/blocks/{i}]")
                continue
            kind = block.get("type")
            if len(str(block.get("block_id", ""))) > 255:
                problems.append(f"[ERROR] must be less than 256 characters [json-pointer:/blocks/{i}/block_id]")
            text = block.get("text") if isinstance(block.get("text"), dict) else None
            if kind == "header":
                if not text or text.get("type") != "plain_text":
                    problems.append(f"[ERROR] must be plain_text [json-pointer:/blocks/{i}/text]")
                elif not 1 <= len(str(text.get("text", ""))) <= 150:
                    problems.append(f"[ERROR] must be less than 151 characters [json-pointer:/blocks/{i}/text]")
                total += len(str((text or {}).get("text", "")))
            elif kind == "section":
                fields = block.get("fields")
                if text is None and not fields:
                    problems.append(f"[ERROR] must provide text or fields [json-pointer:/blocks/{i}]")
                if text is not None:
                    if text.get("type") not in ("mrkdwn", "plain_text"):
                        problems.append(f"[ERROR] bad text type [json-pointer:/blocks/{i}/text/type]")
                    if not 1 <= len(str(text.get("text", ""))) <= 3000:
                        problems.append(f"[ERROR] must be less than 3001 characters [json-pointer:/blocks/{i}/text]")
                    total += len(str(text.get("text", "")))
                if fields is not None:
                    if not isinstance(fields, list) or len(fields) > 10:
                        problems.append(f"[ERROR] no more than 10 items allowed [json-pointer:/blocks/{i}/fields]")
                    else:
                        for j, f in enumerate(fields):
                            t = str((f or {}).get("text", ""))
                            if not 1 <= len(t) <= 2000:
                                problems.append(
                                    f"[ERROR] must be less than 2001 characters [json-pointer:/blocks/{i}/fields/{j}]"
                                )
                            total += len(t)
            elif kind == "context":
                elements = block.get("elements")
                if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                    problems.append(f"[ERROR] 1-10 items allowed [json-pointer:/blocks/{i}/elements]")
                else:
                    total += sum(len(str((e or {}).get("text", ""))) for e in elements)
            elif kind in ("divider",):
                pass
            else:
                problems.append(f"[ERROR] unsupported type [json-pointer:/blocks/{i}/type]")
        if problems:
            return None, self.err("invalid_blocks", response_metadata={"messages": problems})
        if total > 13000:
            return None, self.err("msg_blocks_too_long")
        return raw, None

    def _metadata(self, raw: Any) -> tuple[dict[str, Any] | None, Response | None]:
        if raw is None or raw == "":
            return None, None
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                return None, self.err("invalid_metadata_format")
        if not isinstance(raw, dict):
            return None, self.err("invalid_metadata_format")
        if not isinstance(raw.get("event_type"), str) or not isinstance(raw.get("event_payload"), dict):
            return None, self.err("invalid_metadata_schema")
        if len(json.dumps(raw)) > 8000:  # Slack documents no figure; the stage keeps its payload under 5k
            return None, self.err("metadata_too_large")
        return raw, None

    @staticmethod
    def _flag(value: Any) -> bool:
        return value is True or str(value).lower() in ("true", "1")

    def _writable(self, token: str, channel_value: str, *, by_id_only: bool) -> tuple[Channel | None, Response | None]:
        if not channel_value:
            return None, self.err("channel_not_found")
        ch = self.channels.get(channel_value) if by_id_only else self._resolve(channel_value)
        if ch is None:
            return None, self.err("channel_not_found")
        if ch.private and not ch.bot_member:
            return None, self.err("channel_not_found")  # private channels are invisible to non-members
        refused = self._scope(token, "chat.postMessage")
        if refused:
            return None, refused
        if ch.archived:
            return None, self.err("is_archived")
        if not ch.bot_member and not (not ch.private and "chat:write.public" in self.tokens[token].scopes):
            return None, self.err("not_in_channel")
        return ch, None

    # ---------------------------------------------------------- methods
    @route("POST", r"/api/auth\.test")
    def auth_test(self, req: Request) -> Response:
        return json_response({"ok": True, "url": "https://acme.slack.com/", "team": "Acme", "user": "shipyard",
                              "team_id": "T0TEAM", "user_id": BOT_USER, "bot_id": BOT_ID})

    @route("POST", r"/api/chat\.postMessage")
    def post_message(self, req: Request) -> Response:
        token, _ = self._token(req)
        assert token
        data = self._data(req)
        if data.get("__bad_body__"):
            return self.err("invalid_json")
        ch, refused = self._writable(token, str(data.get("channel") or ""), by_id_only=False)
        if refused:
            return refused
        assert ch is not None
        blocks, refused = self._blocks(data.get("blocks"))
        if refused:
            return refused
        text = str(data.get("text") or "")
        if not text and not blocks and not data.get("attachments"):
            return self.err("no_text")
        if len(text) > 40000:
            return self.err("msg_too_long")
        meta, refused = self._metadata(data.get("metadata"))
        if refused:
            return refused
        thread_ts = str(data.get("thread_ts") or "") or None
        with self.lock:
            parent = None
            if thread_ts:
                parent = next((m for m in ch.messages if m.ts == thread_ts), None)
                if parent is None:
                    return self.err("thread_not_found")
            msg = Message(self._next_ts(), text, blocks, BOT_USER, BOT_ID, thread_ts, meta,
                          broadcast=bool(thread_ts) and self._flag(data.get("reply_broadcast")))
            if parent is not None:
                parent.replies.append(msg)
                if msg.broadcast:
                    ch.messages.append(msg)
            else:
                ch.messages.append(msg)
        return json_response({"ok": True, "channel": ch.id, "ts": msg.ts, "message": msg.view(True)})

    @route("POST", r"/api/chat\.update")
    def update(self, req: Request) -> Response:
        token, _ = self._token(req)
        assert token
        data = self._data(req)
        ch, refused = self._writable(token, str(data.get("channel") or ""), by_id_only=True)
        if refused:
            return refused
        assert ch is not None
        ts = str(data.get("ts") or "")
        with self.lock:
            msg = next((m for m in ch.messages if m.ts == ts), None)
            if msg is None:
                msg = next((r for m in ch.messages for r in m.replies if r.ts == ts), None)
            if msg is None:
                return self.err("message_not_found")
            if msg.bot_id != BOT_ID:
                return self.err("cant_update_message")
        blocks, refused = self._blocks(data.get("blocks"))
        if refused:
            return refused
        text = data.get("text")
        if text is not None and len(str(text)) > 40000:
            return self.err("msg_too_long")
        meta, refused = self._metadata(data.get("metadata"))
        if refused:
            return refused
        with self.lock:
            new_blocks = msg.blocks if "blocks" not in data else blocks
            new_text = msg.text if text is None else str(text)
            if not new_text and not new_blocks:
                return self.err("no_text")
            msg.edits.append({"at": self._next_ts(), "text": msg.text, "blocks": msg.blocks})
            msg.text, msg.blocks = new_text, new_blocks
            if meta is not None:
                msg.metadata = meta
        return json_response({"ok": True, "channel": ch.id, "ts": msg.ts, "text": msg.text,
                              "message": msg.view(True)})

    def _history(self, req: Request) -> Response:
        token, _ = self._token(req)
        assert token
        data = self._data(req)
        ch = self.channels.get(str(data.get("channel") or ""))
        if ch is None or (ch.private and not ch.bot_member):
            return self.err("channel_not_found")
        refused = self._scope(token, "conversations.history", ch.private)
        if refused:
            return refused
        if not ch.bot_member:
            return self.err("not_in_channel")
        try:
            limit = min(999, max(1, int(data.get("limit") or 100)))
            oldest = float(data.get("oldest") or 0)  # the double compares numerically; clients keep strings
            latest = float(data["latest"]) if data.get("latest") else math.inf
            offset = int(data.get("cursor") or 0)
        except ValueError:
            return self.err("invalid_arguments")
        inclusive = self._flag(data.get("inclusive"))
        with_meta = self._flag(data.get("include_all_metadata"))
        with self.lock:
            picked = [
                m for m in reversed(ch.messages)
                if (oldest <= float(m.ts) if inclusive else oldest < float(m.ts))
                and (float(m.ts) <= latest if inclusive else float(m.ts) < latest)
            ]
            page = picked[offset: offset + limit]
            views = [m.view(with_meta) for m in page]
        more = offset + limit < len(picked)
        body: dict[str, Any] = {"ok": True, "messages": views, "has_more": more, "pin_count": 0}
        if more:
            body["response_metadata"] = {"next_cursor": str(offset + limit)}
        return json_response(body)

    @route("GET", r"/api/conversations\.history")
    def history_get(self, req: Request) -> Response:
        return self._history(req)

    @route("POST", r"/api/conversations\.history")
    def history_post(self, req: Request) -> Response:
        return self._history(self._read_method_body(req))

    def _replies(self, req: Request) -> Response:
        token, _ = self._token(req)
        assert token
        data = self._data(req)
        ch = self.channels.get(str(data.get("channel") or ""))
        if ch is None or (ch.private and not ch.bot_member):
            return self.err("channel_not_found")
        refused = self._scope(token, "conversations.history", ch.private)
        if refused:
            return refused
        ts = str(data.get("ts") or "")
        with self.lock:
            parent = next((m for m in ch.messages if m.ts == ts), None)
            if parent is None:
                return self.err("thread_not_found")
            views = [parent.view(False)] + [r.view(False) for r in parent.replies]
        return json_response({"ok": True, "messages": views, "has_more": False})

    @route("GET", r"/api/conversations\.replies")
    def replies_get(self, req: Request) -> Response:
        return self._replies(req)

    @route("POST", r"/api/conversations\.replies")
    def replies_post(self, req: Request) -> Response:
        return self._replies(self._read_method_body(req))

    def _list(self, req: Request) -> Response:
        token, _ = self._token(req)
        assert token
        refused = self._scope(token, "conversations.list")
        if refused:
            return refused
        data = self._data(req)
        exclude_archived = self._flag(data.get("exclude_archived"))
        with self.lock:
            chans = [
                {"id": c.id, "name": c.name, "is_private": c.private, "is_archived": c.archived,
                 "is_member": c.bot_member}
                for c in self.channels.values()
                if not (c.private and not c.bot_member) and not (exclude_archived and c.archived)
            ]
        return json_response({"ok": True, "channels": chans, "response_metadata": {"next_cursor": ""}})

    @route("GET", r"/api/conversations\.list")
    def list_get(self, req: Request) -> Response:
        return self._list(req)

    @route("POST", r"/api/conversations\.list")
    def list_post(self, req: Request) -> Response:
        return self._list(self._read_method_body(req))

    # --------------------------------------------------------- webhooks
    @route("POST", r"/services/(?P<rest>.+)")
    def webhook(self, req: Request) -> Response:
        cid = self.webhooks.get(req.path)
        if cid is None:
            return Response(404, "no_service")
        ch = self.channels[cid]
        if ch.archived:
            return Response(410, "channel_is_archived")
        try:
            data = req.json() if req.content_type == "application/json" else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return Response(400, "invalid_payload")
        blocks, refused = self._blocks(data.get("blocks"))
        if refused:
            return Response(400, "invalid_blocks")
        text = str(data.get("text") or "")
        if not text and not blocks:
            return Response(400, "no_text")
        if len(text) > 40000:
            return Response(400, "msg_too_long")
        with self.lock:
            ch.messages.append(Message(self._next_ts(), text, blocks, "U0WEBHOOK", "B0WEBHOOK"))
        return Response(200, "ok")
