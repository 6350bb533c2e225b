"""A small framework for protocol doubles: real HTTP servers on loopback that check auth, enforce rate
limits with the real headers, inject faults and keep a transcript that tests assert on.

A double subclasses :class:`DoubleServer` and registers handlers with :func:`route`::

    class SlackDouble(DoubleServer):
        @route("POST", r"/api/chat\\.postMessage")
        def post_message(self, req: Request) -> Response:
            ...

Faults are queued with :meth:`DoubleServer.inject` and consumed by matching requests, in order:

* ``status`` (e.g. 429 or 503): answered before the handler runs (nothing applied);
* ``timeout``: the server holds the request for ``delay`` seconds and then drops the connection;
* ``applied_status``: the handler runs (the change is applied) and the answer is replaced by this status
  (the "applied but answered 500" fault of Postman and other APIs);
* ``reset``: the connection is closed at once, without an answer (nothing applied);
* ``truncated``: the handler runs, the status line, the headers (with the full ``Content-Length``) and half the
  body are sent, then the connection is closed (a reset mid-body: requests raises ChunkedEncodingError).
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[Any, "Request"], "Response"]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Mark a method of a DoubleServer subclass as the handler for METHOD + path regex (full match).
    Named groups of the regex are passed in ``req.params``."""

    def mark(fn: Handler) -> Handler:
        routes = getattr(fn, "_routes", [])
        routes.append((method.upper(), re.compile(pattern)))
        fn._routes = routes  # type: ignore[attr-defined]
        return fn

    return mark


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    client: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()

    def json(self) -> Any:
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def data(self) -> dict[str, Any]:
        """JSON body, or form body, merged over the query string."""
        merged: dict[str, Any] = dict(self.query)
        if self.content_type == "application/json":
            body = self.json()
            if isinstance(body, dict):
                merged.update(body)
        elif self.body:
            merged.update(self.form())
        return merged

    def bearer(self) -> str | None:
        auth = self.header("authorization")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return None

    def basic(self) -> tuple[str, str] | None:
        import base64

        auth = self.header("authorization")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
        except ValueError:
            return None
        return user, password


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), "application/json; charset=utf-8"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body or b"", "application/octet-stream"


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(status, body, dict(headers))


@dataclass
class Fault:
    kind: str  # "status" | "timeout" | "applied_status" | "reset" | "truncated"
    status: int = 500
    match: str | None = None  # regex on "METHOD /path"
    count: int = 1
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass
class Exchange:
    """One request and its answer, as tests see them (credentials are kept: tests check them)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    response: Any
    fault: str | None
    at: float

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status}{' (' + self.fault + ')' if self.fault else ''}>"


class RateLimiter:
    """A fixed-window counter per key: ``allow(key)`` returns 0 when allowed, else seconds until reset."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> float:
        with self._lock:
            now = self.clock()
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            if count >= self.limit:
                return max(0.001, self.window - (now - start))
            self._windows[key] = (start, count + 1)
            return 0.0

    def remaining(self, key: str) -> int:
        with self._lock:
            now = self.clock()
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window:
                return self.limit
            return max(0, self.limit - count)

    def reset_in(self, key: str) -> float:
        with self._lock:
            now = self.clock()
            start, _ = self._windows.get(key, (now, 0))
            return max(0.0, self.window - (now - start))


class _Server(ThreadingHTTPServer):
    # Set before the socket listens (an attribute set afterwards leaves the backlog at 5): bursts of
    # concurrent clients must queue, not see connection resets.
    request_queue_size = 256
    daemon_threads = True


class DoubleServer:
    """Base class: a threaded HTTP server on 127.0.0.1 with routing, faults and a transcript."""

    name = "double"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.transcript: list[Exchange] = []
        self.faults: list[Fault] = []
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        for attr in dir(type(self)):
            fn = getattr(type(self), attr, None)
            for method, pattern in getattr(fn, "_routes", []):
                self._routes.append((method, pattern, fn))  # type: ignore[arg-type]
        self._server = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------- control
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DoubleServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> DoubleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(
        self,
        kind: str = "status",
        status: int = 500,
        *,
        match: str | None = None,
        count: int = 1,
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        if kind not in ("status", "timeout", "applied_status", "reset", "truncated"):
            raise ValueError(f"unknown fault kind {kind}")
        with self.lock:
            self.faults.append(Fault(kind, status, match, count, delay, headers or {}, body))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Exchange]:
        """Transcript entries, filtered by method and a path regex (full match)."""
        with self.lock:
            entries = list(self.transcript)
        return [
            e
            for e in entries
            if (method is None or e.method == method) and (path is None or re.fullmatch(path, e.path))
        ]

    # -------------------------------------------------------- for subclasses
    def authenticate(self, req: Request) -> Response | None:
        """Return an error Response to refuse the request, None to let it through."""
        return None

    def rate_limit(self, req: Request) -> Response | None:
        """Return a 429 Response when over the limit, None otherwise."""
        return None

    def fault_response(self, fault: Fault, req: Request) -> Response:
        """How this API answers an injected status (subclasses give the real error shape)."""
        body = fault.body if fault.body is not None else {"error": f"injected {fault.status}"}
        return Response(fault.status, body, dict(fault.headers))

    def not_found(self, req: Request) -> Response:
        return json_response({"error": "not_found"}, 404)

    # ---------------------------------------------------------------- engine
    def _take_fault(self, req: Request) -> Fault | None:
        key = f"{req.method} {req.path}"
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and (fault.match is None or re.search(fault.match, key)):
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def dispatch(self, req: Request) -> tuple[Response, str | None]:
        for method, pattern, fn in self._routes:
            if method != req.method:
                continue
            m = pattern.fullmatch(req.path)
            if m:
                req.params = {k: urllib.parse.unquote(v) for k, v in m.groupdict().items() if v is not None}
                refused = self.authenticate(req) or self.rate_limit(req)
                if refused is not None:
                    return refused, None
                fault = self._take_fault(req)
                if fault and fault.kind == "status":
                    return self.fault_response(fault, req), f"injected {fault.status}"
                if fault and fault.kind == "timeout":
                    time.sleep(fault.delay or 30)
                    raise ConnectionAbortedError("injected timeout")
                if fault and fault.kind == "reset":
                    raise ConnectionAbortedError("injected reset")
                response = fn(self, req)
                if fault and fault.kind == "applied_status":
                    return self.fault_response(fault, req), f"applied, answered {fault.status}"
                if fault and fault.kind == "truncated":
                    return response, "truncated"
                return response, None
        return self.not_found(req), None

    def _record(self, req: Request, response: Response | None, fault: str | None) -> None:
        body: Any
        try:
            body = req.json() if req.content_type == "application/json" else (
                req.form() if req.content_type == "application/x-www-form-urlencoded" else req.body
            )
        except ValueError:
            body = req.body
        resp_body = None
        if response is not None:
            resp_body = response.body
        entry = Exchange(
            req.method,
            req.path,
            req.query,
            req.headers,
            body,
            response.status if response else 0,
            resp_body,
            fault,
            time.time(),
        )
        with self.lock:
            self.transcript.append(entry)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    method=self.command,
                    path=parsed.path,
                    query=dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    client=self.client_address[0],
                )
                try:
                    response, fault = double.dispatch(req)
                except ConnectionAbortedError as exc:
                    double._record(req, None, "reset" if "reset" in str(exc) else "timeout")
                    self.close_connection = True
                    return
                except Exception as exc:  # a bug in the double must show up, not hang the client
                    response, fault = Response(500, f"double error: {type(exc).__name__}: {exc}"), "double-bug"
                double._record(req, response, fault)
                payload, ctype = response.encoded()
                self.send_response(response.status)
                headers = {"Content-Type": ctype, **response.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if fault == "truncated":  # the full length announced, half of it sent, then the connection closed
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        return _Handler
