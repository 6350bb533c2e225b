"""The Postman API calls this stage makes, with Postman's limits and error shapes.

* One client-side limiter per key: 300 requests a minute overall and 10 per 10 s for ``/import/*``; when a
  response says ``RateLimit-Remaining: 0`` (either spelling) the next call waits for the reset.
* 429 waits for what the answer says: ``RetryAfter``/``X-RateLimit-RetryAfter``/``Retry-After``, then
  ``RateLimit-Reset``/``X-RateLimit-Reset``, then the "retry after <epoch>" message.
* 5xx and network faults get a short jittered backoff (honouring a ``Retry-After`` if the answer has one, never
  the rate-limit reset every answer carries); a request that gets no answer gives up after ``io_timeout``.
* Everything ends within the stage's ``timeout``: each call's retries are bounded by what is left of it.
* Creates are not blindly retried: before each retry the ``lookup`` callback checks whether the failed
  attempt was applied anyway (Postman answers 500/504 to some applied writes).
* Postman's three error shapes (``{"error":{"name","message"}}``, ``{"type","title","detail"}`` and
  ``{"error":"rateLimited","message"}``) become one readable message.
"""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.http import Client, retry_after
from shipyard.runtime import Action, TransientError, UserError, parse_retry_after

if TYPE_CHECKING:
    import requests

DEFAULT_API_URL = "https://api.getpostman.com"
TRANSIENT = frozenset({429, 500, 502, 503, 504})
_RETRY_AT = re.compile(r"retry after (\d{9,})", re.IGNORECASE)


class ApiError(Exception):
    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(f"{status} {name}: {message}")
        self.status = status
        self.name = name
        self.message = message


def error_of(status: int, body: Any) -> ApiError:
    name, message = "", ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            name = str(err.get("name") or "")
            message = str(err.get("message") or "")
            details = err.get("details")
            if details:
                message += f" ({details})"
        elif isinstance(err, str):
            name, message = err, str(body.get("message") or "")
        elif body.get("title") or body.get("detail"):
            name = str(body.get("title") or body.get("type") or "")
            message = str(body.get("detail") or body.get("title") or "")
    return ApiError(status, name or f"HTTP {status}", message or "no message")


class Limiter:
    """Sliding windows: at most ``limit`` calls per ``window`` seconds, on the action's clock."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.sleep = sleep
        self.calls: collections.deque[float] = collections.deque()
        self.blocked_until = 0.0
        self.waited = 0.0

    def acquire(self) -> None:
        for _ in range(self.limit + 2):
            now = self.clock()
            while self.calls and now - self.calls[0] >= self.window:
                self.calls.popleft()
            wait = max(0.0, self.blocked_until - now)
            if not wait and len(self.calls) >= self.limit:
                wait = self.window - (now - self.calls[0])
            if wait <= 0:
                self.calls.append(now)
                return
            self.waited += wait
            self.sleep(wait)
        self.calls.append(self.clock())

    def block_for(self, seconds: float) -> None:
        self.blocked_until = max(self.blocked_until, self.clock() + seconds)


@dataclass
class Task:
    id: str
    status: str


class PostmanApi:
    def __init__(
        self,
        action: Action,
        api_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        per_minute: int = 300,
        imports_per_10s: int = 10,
        attempts: int = 6,
        max_elapsed: float = 180.0,
        timeout: float = 900.0,
    ) -> None:
        self.action = action
        self.started = action.clock()
        self.timeout = timeout
        self.io_timeout = max(1.0, min(60.0, timeout / 5))
        self.client = Client(
            action,
            base_url,
            headers={"X-Api-Key": api_key, "Accept": "application/json", "User-Agent": "shipyard-postman-publish"},
            timeout=self.io_timeout,
            name="Postman",
            retry_statuses=frozenset(),  # every answer comes back: 429/5xx are handled below with their hints
        )
        self.general = Limiter(per_minute, 60.0, action.clock, action.sleep)
        self.imports = Limiter(imports_per_10s, 10.0, action.clock, action.sleep)
        self.attempts = attempts
        self.max_elapsed = max_elapsed
        self.retries = 0

    # ------------------------------------------------------------------ plumbing
    def _wait_hint(self, response: requests.Response) -> float | None:
        hint = retry_after(response.headers)
        if hint is not None:
            return hint
        for name in ("RateLimit-Reset", "X-RateLimit-Reset"):
            value = parse_retry_after(response.headers.get(name))
            if value is not None:
                return value
        combined = response.headers.get("RateLimit")
        if combined:
            match = re.search(r"reset=(\d+(?:\.\d+)?)", combined)
            if match:
                return parse_retry_after(match.group(1))
        try:
            message = str((response.json() or {}).get("message", ""))
        except ValueError:
            message = ""
        match = _RETRY_AT.search(message)
        if match:
            return parse_retry_after(match.group(1))
        return None

    def _note_limits(self, response: requests.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining") or response.headers.get("RateLimit-Remaining")
        combined = response.headers.get("RateLimit")
        if remaining is None and combined:
            match = re.search(r"remaining=(\d+)", combined)
            remaining = match.group(1) if match else None
        if remaining is not None and remaining.strip() == "0":
            reset = None
            for name in ("X-RateLimit-Reset", "RateLimit-Reset"):
                reset = parse_retry_after(response.headers.get(name)) if reset is None else reset
            if reset is None and combined:
                match = re.search(r"reset=(\d+(?:\.\d+)?)", combined)
                reset = parse_retry_after(match.group(1)) if match else None
            if reset:
                self.general.block_for(min(reset, 65.0))

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
        lookup: Callable[[], Any] | None = None,
    ) -> tuple[int, Any]:
        """One logical call, retried on 429/5xx/timeouts. ``lookup`` (non-idempotent calls): runs before each
        retry; a non-None result means the earlier attempt was applied and is returned as (0, result)."""
        found: list[Any] = []

        def once() -> tuple[int, Any]:
            if self.attempts_this_call and lookup is not None:
                hit = lookup()
                if hit is not None:
                    found.append(hit)
                    return 0, hit
            self.general.acquire()
            if path.startswith("/import"):
                self.imports.acquire()
            self.attempts_this_call += 1
            try:
                response = self.client.request(
                    method, path, retry=False, params=params, json=json, data=data, headers=headers
                )
            except TransientError as exc:
                self.retries += 1
                raise TransientError(f"{method} {path}: {exc}") from exc
            self._note_limits(response)
            try:
                body = response.json() if response.content else None
            except ValueError:
                body = response.text
            if response.status_code in TRANSIENT:
                if response.status_code == 429:  # rate limited: wait for the reset the answer names
                    hint = self._wait_hint(response)
                    if hint is not None:
                        self.general.block_for(hint)
                else:  # a server fault: short backoff; only an explicit Retry-After is honoured
                    hint = retry_after(response.headers)
                    hint = min(hint, 30.0) if hint is not None else None
                self.retries += 1
                err = error_of(response.status_code, body)
                raise TransientError(f"{method} {path} answered {err}", hint)
            if response.status_code not in ok:
                raise error_of(response.status_code, body)
            return response.status_code, body

        self.attempts_this_call = 0
        left = self.left()
        if left <= 0:
            raise UserError(
                f"postman-publish ran out of its {self.timeout:.0f}s timeout before {method} {path}; nothing more was "
                "sent.",
                "re-run the job (it resumes: the collection is found, not duplicated), or raise `timeout:`.",
                input_name="timeout",
            )
        return self.action.retry(
            f"Postman {method} {path}", once, attempts=self.attempts,
            max_elapsed=max(0.0, min(self.max_elapsed, left - self.io_timeout)), cap=10.0,
        )

    def left(self) -> float:
        """Seconds left of the stage's timeout."""
        return self.timeout - (self.action.clock() - self.started)

    attempts_this_call = 0

    # ------------------------------------------------------------------ endpoints
    def me(self) -> dict[str, Any]:
        _, body = self.call("GET", "/me")
        return (body or {}).get("user") or {}

    def workspace(self, workspace_id: str) -> dict[str, Any]:
        _, body = self.call("GET", f"/workspaces/{workspace_id}")
        return (body or {}).get("workspace") or {}

    def find_by_name(self, workspace_id: str, name: str) -> list[dict[str, Any]]:
        _, body = self.call("GET", "/collections", params={"workspace": workspace_id, "name": name})
        found = (body or {}).get("collections") or []
        return [c for c in found if isinstance(c, dict) and c.get("name") == name]

    def get_collection(self, uid: str) -> dict[str, Any]:
        _, body = self.call("GET", f"/collections/{uid}")
        return (body or {}).get("collection") or {}

    def create_collection(
        self, workspace_id: str, collection: dict[str, Any], lookup: Callable[[], Any]
    ) -> tuple[dict[str, Any], bool]:
        """POST /collections; returns (collection summary, adopted) where adopted means an earlier attempt
        that answered an error had in fact created it (found by ``lookup``)."""
        status, body = self.call(
            "POST", "/collections", params={"workspace": workspace_id}, json={"collection": collection}, lookup=lookup
        )
        if status == 0:
            return body, True
        return (body or {}).get("collection") or {}, False

    def put_collection(
        self, uid: str, collection: dict[str, Any], *, async_: bool, lookup: Callable[[], Any] | None = None
    ) -> tuple[int, Any]:
        headers = {"Prefer": "respond-async"} if async_ else None
        return self.call("PUT", f"/collections/{uid}", json={"collection": collection}, headers=headers, lookup=lookup)

    def task(self, task_id: str) -> Task:
        _, body = self.call("GET", f"/collection-updates-tasks/{task_id}")
        node = (body or {}).get("task", body) if isinstance(body, dict) else {}
        return Task(str(node.get("id") or task_id), str(node.get("status") or "in-progress"))

    def wait_task(self, task_id: str, timeout: float) -> Task:
        timeout = max(1.0, min(timeout, self.left()))
        start = self.action.clock()
        delay = 1.0
        polls = 0
        while True:
            task = self.task(task_id)
            polls += 1
            if task.status in ("successful", "completed", "failed"):
                return task
            if self.action.clock() - start + delay > timeout or polls > 1000:
                raise UserError(
                    f"Postman's update task {task_id} was still '{task.status}' after {timeout:.0f}s.",
                    "re-run later (the next run skips if the update landed) or raise `task-timeout`.",
                    input_name="task-timeout",
                )
            self.action.sleep(delay)
            delay = min(delay * 1.5, 10.0)


def monotonic() -> float:
    return time.monotonic()


class SpecHubApi:
    """Spec Hub calls (``/specs``): the spec is the source of truth and Postman generates the collection."""

    def __init__(self, api: PostmanApi) -> None:
        self.api = api

    def find_by_name(self, workspace_id: str, name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(50):  # bounded pagination
            params = {"workspaceId": workspace_id, "limit": "100"}
            if cursor:
                params["cursor"] = cursor
            _, body = self.api.call("GET", "/specs", params=params)
            body = body or {}
            found.extend(s for s in body.get("specs") or [] if isinstance(s, dict) and s.get("name") == name)
            cursor = (body.get("meta") or {}).get("nextCursor")
            if not cursor:
                break
        return found

    def create(self, workspace_id: str, name: str, kind: str, path: str, content: str,
               lookup: Callable[[], Any]) -> tuple[dict[str, Any], bool]:
        body = {"name": name, "type": kind, "files": [{"path": path, "content": content, "type": "ROOT"}]}
        status, answer = self.api.call("POST", "/specs", params={"workspaceId": workspace_id}, json=body,
                                       lookup=lookup)
        return (answer or {}), status == 0

    def get(self, spec_id: str) -> dict[str, Any]:
        _, body = self.api.call("GET", f"/specs/{spec_id}")
        return body or {}

    def root_file(self, spec_id: str) -> dict[str, Any] | None:
        _, body = self.api.call("GET", f"/specs/{spec_id}/files")
        files = (body or {}).get("files") or []
        root = next((f for f in files if isinstance(f, dict) and f.get("type") == "ROOT"), None)
        if root is None:
            return None
        _, file = self.api.call("GET", f"/specs/{spec_id}/files/{root['path']}")
        return file or None

    def update_file(self, spec_id: str, path: str, content: str) -> None:
        self.api.call("PATCH", f"/specs/{spec_id}/files/{path}", json={"content": content})

    def generated(self, spec_id: str) -> list[dict[str, Any]]:
        _, body = self.api.call("GET", f"/specs/{spec_id}/generations/collection")
        return [c for c in (body or {}).get("collections") or [] if isinstance(c, dict)]

    def generate(self, spec_id: str, name: str, *, attempts: int = 10) -> str:
        """Start a collection generation; 423 (one is already running) waits and tries again."""
        delay = 2.0
        for attempt in range(attempts):
            try:
                _, body = self.api.call("POST", f"/specs/{spec_id}/generations/collection",
                                        json={"name": name, "options": {"requestNameSource": "Fallback",
                                                                        "folderStrategy": "Tags"}})
                return str((body or {}).get("taskId") or "")
            except ApiError as exc:
                if exc.status != 423 or attempt == attempts - 1:
                    raise
                self.api.action.warning(f"a collection generation is already running for spec {spec_id}; waiting")
                self.api.action.sleep(delay)
                delay = min(delay * 2, 20.0)
        raise AssertionError("unreachable")

    def synchronize(self, collection_uid: str, spec_id: str) -> str:
        _, body = self.api.call("PUT", f"/collections/{collection_uid}/synchronizations", params={"specId": spec_id})
        return str((body or {}).get("taskId") or "")

    def wait(self, path: str, timeout: float) -> dict[str, Any]:
        timeout = max(1.0, min(timeout, self.api.left()))
        start = self.api.action.clock()
        delay = 1.0
        for _ in range(1000):
            _, body = self.api.call("GET", path)
            body = body or {}
            status = str(body.get("status") or "pending")
            if status in ("completed", "failed"):
                return body
            if self.api.action.clock() - start + delay > timeout:
                break
            self.api.action.sleep(delay)
            delay = min(delay * 1.5, 10.0)
        raise UserError(
            f"Postman's Spec Hub task {path} did not finish within {timeout:.0f}s.",
            "re-run later (the next run finds the spec and synchronises again) or raise `task-timeout`.",
            input_name="task-timeout",
        )
