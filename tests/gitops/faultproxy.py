"""A fault-injecting HTTP proxy in front of the real git smart-HTTP server (tests/stack/gitserver.py).

The git server has no fault injection of its own; this proxy forwards every request to it and, for requests
matching a queued fault (regex on ``"METHOD /path"``), answers instead:

* ``status``: this status (with headers, e.g. ``Retry-After``) without forwarding (nothing applied);
* ``reset``: the connection is dropped with a TCP reset before anything is forwarded;
* ``hang``: the connection is accepted and never answered (held until the proxy stops);
* ``applied``: the request is forwarded (the server applies it) and the answer is replaced by this status.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

KINDS = ("status", "reset", "hang", "applied")
_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "proxy-connection"}


@dataclass
class Fault:
    kind: str
    match: str
    status: int = 500
    count: int = 1
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


# the fault matrices' names for what the proxy does: (kind, status, headers)
NAMED_FAULTS: dict[str, tuple[str, int, dict[str, str]]] = {
    "500": ("status", 500, {}),
    "429 Retry-After": ("status", 429, {"Retry-After": "1"}),
    "connection reset": ("reset", 0, {}),
    "accepts, never answers": ("hang", 0, {}),
    "applied, answered 500": ("applied", 500, {}),
}


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_base = upstream.rstrip("/")
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: list[Fault] = []
        self.transcript: list[tuple[str, str, str]] = []  # (method, path, what happened)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def url_for(self, upstream_url: str) -> str:
        return upstream_url.replace(self.upstream_base, self.base_url, 1)

    def inject_named(self, fault: str, match: str, *, count: int = 1) -> None:
        """One of :data:`NAMED_FAULTS` (the rows of a fault matrix) on requests matching ``match``."""
        kind, status, headers = NAMED_FAULTS[fault]
        self.inject(kind, match, status=status, count=count, headers=headers)

    def inject(self, kind: str, match: str, *, status: int = 500, count: int = 1,
               headers: dict[str, str] | None = None) -> None:
        assert kind in KINDS, kind
        with self.lock:
            self.faults.append(Fault(kind, match, status, count, headers or {}))

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def faulted(self) -> list[tuple[str, str, str]]:
        with self.lock:
            return [t for t in self.transcript if t[2] != "forwarded"]

    def _take(self, key: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and re.search(fault.match, key):
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _note(self, method: str, path: str, what: str) -> None:
        with self.lock:
            self.transcript.append((method, path, what))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    headers["Content-Length"] = str(len(body))
                    conn.request(self.command, self.path, body=body if self.command != "GET" else None,
                                 headers=headers)
                    resp = conn.getresponse()
                    return resp.status, resp.getheaders(), resp.read()
                finally:
                    conn.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _handle(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                body = self._body()
                fault = proxy._take(f"{self.command} {path}")
                if fault is None:
                    proxy._note(self.command, path, "forwarded")
                    self._answer(*self._forward(body))
                    return
                proxy._note(self.command, path, fault.kind)
                if fault.kind == "status":
                    self._answer(fault.status, list(fault.headers.items()), f"injected {fault.status}\n".encode())
                elif fault.kind == "applied":
                    self._forward(body)
                    self._answer(fault.status, list(fault.headers.items()), b"applied, answered an error\n")
                elif fault.kind == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                else:  # hang: accepted, never answered
                    proxy.stopping.wait(120)
                    self.close_connection = True

            do_GET = do_POST = _handle

        return Handler
