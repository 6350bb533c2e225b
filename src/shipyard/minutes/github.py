"""GitHub REST for the guard, on :mod:`shipyard.http`: Link-header pagination, conditional requests (ETag/304,
free against the primary limit), the primary limit (``x-ratelimit-remaining``/``-reset``: the scan stops with a
reserve left and resumes next run) and secondary limits (403/429 with ``retry-after``, else one minute).

The ETag cache is a plain dict the caller keeps (the guard keeps it in its state file), mapping a request to
``[etag, compact value, next page URL]``: a 304 hands back the compact value without a body.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shipyard.http import Client, retry_after
from shipyard.runtime import Action, TransientError

API_VERSION = "2022-11-28"
LINK_NEXT = re.compile(r'<([^<>\s]+)>\s*;\s*rel="next"')


class ApiError(Exception):
    """A non-transient answer the caller must interpret (401, 403, 404, 410, 422...)."""

    def __init__(self, status: int, message: str, method: str, path: str) -> None:
        super().__init__(f"{method} {path} answered {status}: {message}")
        self.status = status
        self.message = message
        self.method = method
        self.path = path


class RateLimitLow(Exception):
    """The primary limit is (nearly) spent: stop now, keep what is counted, resume after ``reset_at``."""

    def __init__(self, remaining: int, reset_at: float) -> None:
        super().__init__(f"primary rate limit nearly spent ({remaining} left); it resets at "
                         f"{time.strftime('%H:%M:%S UTC', time.gmtime(reset_at))}")
        self.remaining = remaining
        self.reset_at = reset_at


@dataclass
class Rate:
    limit: int = 0
    remaining: int = -1
    reset_at: float = 0.0
    resource: str = ""


def message_of(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or "")[:200]
    return str(body.get("message", "")) if isinstance(body, dict) else ""


def next_link(headers: Mapping[str, str]) -> str | None:
    match = LINK_NEXT.search(headers.get("Link") or headers.get("link") or "")
    return match.group(1) if match else None


class GitHubApi:
    """One token, one base URL; counts its requests (and 304s) for the report and the benchmark."""

    def __init__(
        self,
        action: Action,
        base_url: str,
        token: str,
        *,
        cache: dict[str, list[Any]] | None = None,
        reserve: int = 50,
        timeout: float = 30.0,
        max_elapsed: float = 300.0,
    ) -> None:
        self.action = action
        self.base_url = base_url.rstrip("/")
        self.http = Client(
            action, self.base_url, timeout=timeout, name="GitHub",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": API_VERSION, "User-Agent": "shipyard-minutes-guard"},
        )
        self.cache = cache if cache is not None else {}
        self.reserve = reserve
        self.max_elapsed = max_elapsed
        self.rate = Rate()
        self.requests = 0
        self.not_modified = 0

    # ------------------------------------------------------------ plumbing
    def _note_rate(self, headers: Mapping[str, str]) -> None:
        try:
            if headers.get("x-ratelimit-remaining") is not None:
                self.rate.remaining = int(headers["x-ratelimit-remaining"])
                self.rate.limit = int(headers.get("x-ratelimit-limit") or 0)
                self.rate.reset_at = float(headers.get("x-ratelimit-reset") or 0)
                self.rate.resource = str(headers.get("x-ratelimit-resource") or "")
        except ValueError:
            pass

    def _check_url(self, url: str) -> str:
        """Only our API host gets the token: a Link header pointing elsewhere is refused."""
        if url.startswith(("http://", "https://")):
            base = urllib.parse.urlsplit(self.base_url)
            got = urllib.parse.urlsplit(url)
            if (got.scheme, got.netloc) != (base.scheme, base.netloc) or not got.path.startswith(base.path):
                raise ApiError(0, f"refusing to follow a link to another host ({got.netloc})", "GET", url)
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    def send(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
             json: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        """One call with retries for 429/5xx/timeouts and secondary limits; returns the response (any status
        the caller must judge: 2xx, 304, 4xx)."""
        url = self._check_url(path)

        def once() -> Any:
            if 0 <= self.rate.remaining <= self.reserve and method == "GET":
                raise RateLimitLow(self.rate.remaining, self.rate.reset_at)
            self.requests += 1
            try:
                response = self.http.request(method, url, retry=False, params=params, json=json,
                                             headers=dict(headers or {}))
            except TransientError as exc:
                raise TransientError(str(exc), exc.retry_after if exc.retry_after is not None else None)
            self._note_rate(response.headers)
            if response.status_code == 403:
                text = message_of(response)
                wait = retry_after(response.headers)
                if wait is not None or "secondary rate limit" in text.lower():
                    raise TransientError(f"{method} {path}: secondary rate limit", wait if wait is not None else 60.0)
                if response.headers.get("x-ratelimit-remaining") == "0":
                    raise RateLimitLow(0, self.rate.reset_at)
            return response

        return self.action.retry(f"GitHub {method} {urllib.parse.urlsplit(url).path}", once, attempts=6,
                                 max_elapsed=self.max_elapsed)

    def _fail(self, response: Any, method: str, path: str) -> ApiError:
        return ApiError(response.status_code, message_of(response), method, urllib.parse.urlsplit(path).path)

    # ------------------------------------------------------------ reading
    def get(self, path: str, params: Mapping[str, Any] | None = None, *,
            compact: Callable[[Any], Any] | None = None) -> tuple[Any, str | None]:
        """GET one page: ``(value, next URL)``. With ``compact`` the page is conditional: its ETag and
        ``compact(body)`` are kept in the cache and a 304 returns the cached value."""
        key = self._key(path, params)
        cached = self.cache.get(key) if compact is not None else None
        headers = {"If-None-Match": cached[0]} if cached else {}
        response = self.send("GET", path, params=params, headers=headers)
        if response.status_code == 304 and cached:
            self.not_modified += 1
            return cached[1], cached[2]
        if response.status_code != 200:
            raise self._fail(response, "GET", path)
        body = response.json()
        following = next_link(response.headers)
        if compact is None:
            return body, following
        value = compact(body)
        etag = response.headers.get("ETag")
        if etag:
            self.cache[key] = [etag, value, following]
        return value, following

    def pages(self, path: str, params: Mapping[str, Any] | None = None, *,
              compact: Callable[[Any], Any] | None = None) -> Iterator[Any]:
        """Every page of a list, following ``Link: rel="next"`` (which carries the query itself)."""
        value, following = self.get(path, {**(params or {}), "per_page": 100}, compact=compact)
        yield value
        seen = 1
        while following:
            seen += 1
            if seen > 1000:
                raise ApiError(0, "more than 1000 pages: refusing to loop", "GET", path)
            value, following = self.get(following, None, compact=compact)
            yield value

    @staticmethod
    def _key(path: str, params: Mapping[str, Any] | None) -> str:
        split = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(split.query))
        query.update({k: str(v) for k, v in (params or {}).items()})
        return split.path + "?" + urllib.parse.urlencode(sorted(query.items()))

    # ------------------------------------------------------------ writing
    def write(self, method: str, path: str, body: Mapping[str, Any]) -> Any:
        """PATCH/POST: returned as is (the caller reports a refusal); 5xx retried by ``send``."""
        return self.send(method, path, json=dict(body))
