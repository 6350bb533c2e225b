"""A tiny HTTP proxy in front of moto that answers AWS JSON-protocol faults, by operation.

ECR speaks ``awsJson1_1``: every call is ``POST /`` with ``X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>``.
Faults are answered the way AWS answers them: ``400 {"__type": "ThrottlingException", "message": "Rate exceeded"}``
for throttling, ``503 {"__type": "ServiceUnavailableException"}`` for an outage. Everything else is forwarded to
moto unchanged (signature headers included), and every exchange lands in the transcript.
"""

from __future__ import annotations

import json
import threading

import requests

from tests.doubles.base import DoubleServer, Request, Response, route


class AwsFaultProxy(DoubleServer):
    name = "aws-fault-proxy"

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self._faults: list[list[object]] = []  # [operation, status, code, remaining]
        self._lock = threading.Lock()
        self.operations: list[tuple[str, int]] = []
        self.injected: list[tuple[str, int]] = []

    def fail(self, operation: str, status: int, code: str, times: int = 1) -> None:
        with self._lock:
            self._faults.append([operation, status, code, times])

    def count(self, operation: str, status: int | None = None) -> int:
        return sum(1 for op, st in self.operations if op == operation and (status is None or st == status))

    def _fault_for(self, operation: str) -> tuple[int, str] | None:
        with self._lock:
            for fault in self._faults:
                if fault[0] == operation and int(fault[3]) > 0:  # type: ignore[call-overload]
                    fault[3] = int(fault[3]) - 1  # type: ignore[call-overload]
                    return int(fault[1]), str(fault[2])  # type: ignore[call-overload]
        return None

    @route("POST", r"/.*")
    def forward(self, req: Request) -> Response:
        target = req.header("x-amz-target")
        operation = target.rsplit(".", 1)[-1] if target else req.form().get("Action", "?")
        fault = self._fault_for(operation)
        if fault:
            status, code = fault
            self.operations.append((operation, status))
            self.injected.append((operation, status))
            return Response(status, json.dumps({"__type": code, "message": "Rate exceeded" if status == 400
                                                else "Service unavailable"}),
                            {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": "fault"})
        headers = {k: v for k, v in req.headers.items() if k not in ("host", "content-length", "connection")}
        query = ("?" + "&".join(f"{k}={v}" for k, v in req.query.items())) if req.query else ""
        upstream = requests.post(self.upstream + req.path + query, data=req.body, headers=headers, timeout=30)
        self.operations.append((operation, upstream.status_code))
        out_headers = {k: v for k, v in upstream.headers.items()
                       if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding",
                                            "server", "date")}
        return Response(upstream.status_code, upstream.content, out_headers)
