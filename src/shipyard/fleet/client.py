"""GitHub REST for the fleet stage on :mod:`shipyard.http`: pagination, conditional requests, rate limits.

* Every GET goes out with the ``If-None-Match`` of the last answer (kept in :class:`~shipyard.fleet.state.State`
  between runs); a ``304`` hands back the stored body, so a re-run on an unchanged fleet costs one cheap
  request per resource (GitHub does not count 304s against the rate limit).
* ``Link: <...>; rel="next"`` pagination.
* A spent primary limit (403/429 with ``x-ratelimit-remaining: 0``) waits until ``x-ratelimit-reset`` when that
  fits in the budget; a secondary limit (403 with ``retry-after`` or the "secondary rate limit" message) waits
  ``retry-after``. 429/5xx/timeouts are retried by shipyard.http.
* Errors come back as :class:`GitHubError` with GitHub's status, message and ``errors[]``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shipyard.runtime import Action, UserError

if TYPE_CHECKING:
    import requests

    from shipyard.fleet.state import State

API_VERSION = "2022-11-28"
NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass
class GitHubError(Exception):
    """A non-2xx answer GitHub meant (not a transient one)."""

    status: int
    message: str
    method: str
    path: str
    errors: list[Any] = field(default_factory=list)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        detail = "; ".join(
            str(e.get("message") or e.get("code") or e) if isinstance(e, dict) else str(e) for e in self.errors
        )
        return f"{self.method} {self.path}: HTTP {self.status} {self.message}" + (f" ({detail})" if detail else "")

    @property
    def not_accessible(self) -> bool:
        return self.status == 403 and "not accessible by integration" in self.message.lower()


@dataclass
class Counter:
    """Requests by kind, for the report and the benchmark."""

    total: int = 0
    not_modified: int = 0
    writes: int = 0


class GitHub:
    def __init__(
        self,
        action: Action,
        api_url: str,
        token: str,
        state: State,
        *,
        now: Callable[[], float],
        rate_limit_budget: float = 900.0,
        timeout: float = 30.0,
    ) -> None:
        from shipyard.http import Client

        self.action = action
        self.state = state
        self.now = now
        self.rate_limit_budget = rate_limit_budget
        self.http = Client(
            action,
            api_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": API_VERSION, "User-Agent": "shipyard-fleet"},
            timeout=timeout,
            name="GitHub",
        )
        self.count = Counter()
        self.scopes: set[str] | None = None  # classic PAT scopes (X-OAuth-Scopes), None when not told

    # ------------------------------------------------------------------ plumbing
    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        waited = 0.0
        while True:
            response = self.http.request(method, path, **kwargs)
            self.count.total += 1
            if method != "GET":
                self.count.writes += 1
            scopes = response.headers.get("X-OAuth-Scopes")
            if scopes is not None and self.scopes is None:
                self.scopes = {s.strip() for s in scopes.split(",") if s.strip()}
            wait = self._rate_limit_wait(response)
            if wait is None:
                return response
            if waited + wait > self.rate_limit_budget:
                raise UserError(
                    f"GitHub's API rate limit is spent ({method} {path}) and resets in {wait:.0f}s, beyond the "
                    f"stage's {self.rate_limit_budget:.0f}s budget.",
                    "run again after the reset, use a GitHub App installation token (higher limit), or give "
                    "`rate-limit-wait` more seconds.",
                    title="GitHub rate limit",
                )
            self.action.warning(f"GitHub rate limit on {method} {path}: waiting {wait:.0f}s")
            self.action.sleep(wait)
            waited += wait

    def _rate_limit_wait(self, response: requests.Response) -> float | None:
        if response.status_code not in (403, 429):
            return None
        from shipyard.http import retry_after

        hint = retry_after(response.headers)
        if hint is not None:
            return max(1.0, hint)
        if response.headers.get("x-ratelimit-remaining") == "0":
            try:
                reset = float(response.headers.get("x-ratelimit-reset") or 0)
            except ValueError:
                reset = 0
            return max(1.0, reset - self.now())
        message = _message(response).lower()
        if "secondary rate limit" in message:
            return 60.0
        return None

    def _error(self, method: str, path: str, response: requests.Response) -> GitHubError:
        body = _json(response)
        errors = body.get("errors") if isinstance(body, dict) else None
        return GitHubError(response.status_code, _message(response), method, path,
                           list(errors) if isinstance(errors, list) else [], dict(response.headers))

    # ------------------------------------------------------------------ reads
    def get(self, path: str, params: Mapping[str, str] | None = None, *, conditional: bool = True) -> Any:
        data, _ = self._get(path, params, conditional=conditional)
        return data

    def _get(self, path: str, params: Mapping[str, str] | None, *, conditional: bool) -> tuple[Any, str | None]:
        key = path + ("?" + "&".join(f"{k}={v}" for k, v in sorted(params.items())) if params else "")
        cached = self.state.etags.get(key) if conditional else None
        headers = {"If-None-Match": cached["etag"]} if cached else {}
        response = self._send("GET", path, params=dict(params or {}), headers=headers)
        if response.status_code == 304 and cached:
            self.count.not_modified += 1
            self.state.touch(key)
            return cached["data"], cached.get("next")
        if response.status_code >= 300:
            raise self._error("GET", path, response)
        data = _json(response)
        match = NEXT_LINK.search(response.headers.get("Link", ""))
        nxt = match.group(1) if match else None
        etag = response.headers.get("ETag")
        if conditional and etag:
            self.state.etags[key] = {"etag": etag, "data": data, "next": nxt}
            self.state.touch(key)
        return data, nxt

    def paginate(self, path: str, params: Mapping[str, str] | None = None, *, key: str | None = None) -> Iterator[Any]:
        """Every item of a listing (``key`` names the list inside an object answer, e.g. ``repositories``)."""
        page_params = {"per_page": "100", **(params or {})}
        url: str | None = path
        first = True
        while url:
            data, nxt = self._get(url, page_params if first else None, conditional=True)
            first = False
            items = data.get(key, []) if key and isinstance(data, dict) else data
            yield from items if isinstance(items, list) else []
            url = nxt

    def maybe(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET that answers None for a 404."""
        try:
            return self.get(path, params)
        except GitHubError as exc:
            if exc.status == 404:
                return None
            raise

    # ------------------------------------------------------------------ writes
    def write(self, method: str, path: str, body: Mapping[str, Any] | None = None,
              before_retry: Callable[[], bool] | None = None) -> Any:
        response = self._send(method, path, json=dict(body) if body is not None else None,
                              before_retry=before_retry)
        if response.status_code >= 300:
            raise self._error(method, path, response)
        return _json(response) if response.content else None


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def _message(response: requests.Response) -> str:
    body = _json(response)
    if isinstance(body, dict) and body.get("message"):
        return " ".join(str(body["message"]).split())
    return response.reason or ""
