"""A copy of tests/mirror/faultproxy.py (the mirror's generic HTTP fault proxy), kept here so the ECR fault matrix
does not depend on another stage's test folder; fold the two into tests/doubles/ when both are in.

Faults are queued with :meth:`FaultProxy.inject` and consumed, in order, by requests whose ``"METHOD /path?query"``
matches the regex (``count=-1``: every matching request):

* ``status``: answered by the proxy with ``status`` and ``headers`` (e.g. 429 + Retry-After); nothing forwarded;
* ``reset``: the connection is reset (RST, ``SO_LINGER 0``) after the request was read; nothing forwarded;
* ``hang``: the request is read and never answered (a server that accepts and never answers) until the client
  gives up or the proxy stops; nothing forwarded;
* ``applied_status``: forwarded (the upstream applies it), the answer replaced by ``status``.

Every request lands in :attr:`transcript` as ``(method, path, fault or None)``.
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

KINDS = ("status", "reset", "hang", "applied_status")
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection", "te",
        "trailer", "upgrade"}


@dataclass
class ProxyFault:
    kind: str
    match: str | None = None
    count: int = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.faults: list[ProxyFault] = []
        self.transcript: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def inject(self, kind: str, *, match: str | None = None, count: int = 1, status: int = 500,
               headers: dict[str, str] | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind}; one of {KINDS}")
        with self.lock:
            self.faults.append(ProxyFault(kind, match, count, status, dict(headers or {})))

    def faulted(self) -> list[tuple[str, str, str | None]]:
        with self.lock:
            return [t for t in self.transcript if t[2]]

    def _take(self, key: str) -> ProxyFault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count != 0 and (fault.match is None or re.search(fault.match, key)):
                    if fault.count > 0:
                        fault.count -= 1
                    return fault
        return None

    def _record(self, method: str, path: str, fault: str | None) -> None:
        with self.lock:
            self.transcript.append((method, path, fault))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    data = bytearray()
                    while True:
                        size = int(self.rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                                pass
                            return bytes(data)
                        data += self.rfile.read(size)
                        self.rfile.readline(3)
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _handle(self) -> None:
                body = self._body()
                fault = proxy._take(f"{self.command} {self.path}")
                proxy._record(self.command, self.path, fault.kind if fault else None)
                if fault and fault.kind == "reset":
                    self._reset()
                    return
                if fault and fault.kind == "hang":
                    proxy.stopping.wait(120)
                    self.close_connection = True
                    return
                if fault and fault.kind == "status":
                    text = f"injected {fault.status}\n".encode()
                    self._send(fault.status, [("Content-Type", "text/plain"), *fault.headers.items()], text)
                    return
                conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                    headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                    conn.request(self.command, self.path, body=body if body or self.command in ("POST", "PUT", "PATCH")
                                 else None, headers=headers)
                    answer = conn.getresponse()
                    payload = answer.read()
                    status, answer_headers = answer.status, answer.getheaders()
                finally:
                    conn.close()
                if fault and fault.kind == "applied_status":
                    text = f"applied, answered {fault.status}\n".encode()
                    self._send(fault.status, [("Content-Type", "text/plain"), *fault.headers.items()], text)
                    return
                self._send(status, answer_headers, payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        return Handler
