"""HTTP with the retry policy every REST stage shares (Postman, Bitbucket, ArgoCD, registries).

``Client.request`` retries transient answers (429, 500, 502, 503, 504, connection errors, timeouts, a
connection cut mid-body) with jittered exponential backoff, honouring ``Retry-After`` (and the
``X-RateLimit-RetryAfter``/``RetryAfter`` spellings some APIs use). Everything else comes back to the caller,
which decides what a 401 or 404 means for its API and raises a :class:`~shipyard.runtime.UserError` naming the fix.

``requests`` is imported lazily so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shipyard.runtime import Action, TransientError, parse_retry_after

if TYPE_CHECKING:
    import requests

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_HEADERS = ("Retry-After", "X-RateLimit-RetryAfter", "RetryAfter", "X-Retry-After")


def retry_after(headers: Mapping[str, str]) -> float | None:
    for name in RETRY_AFTER_HEADERS:
        value = headers.get(name)
        if value:
            parsed = parse_retry_after(value)
            if parsed is not None:
                return parsed
    return None


class _Stop(Exception):
    """before_retry said the call must not be sent again and there is no response to hand back."""


class Client:
    """A thin wrapper over a ``requests.Session`` with a base URL, default headers and retries."""

    def __init__(
        self,
        action: Action,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        timeout: float = 30.0,
        attempts: int = 6,
        max_elapsed: float = 180.0,
        name: str = "HTTP",
        retry_statuses: frozenset[int] = RETRY_STATUSES,
    ) -> None:
        import requests

        self.action = action
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        if auth is not None:
            self.session.auth = auth
        self.timeout = timeout
        self.attempts = attempts
        self.max_elapsed = max_elapsed
        self.name = name
        self.retry_statuses = retry_statuses
        self.requests_made = 0

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        retry: bool = True,
        before_retry: Callable[[], bool] | None = None,
        max_elapsed: float | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request, retrying transient failures.

        ``before_retry`` runs before each retry of a non-idempotent call; returning False stops the retry
        and hands back the last response (use it to look up whether a failed POST was applied anyway).
        ``max_elapsed`` bounds this call's retries (e.g. the time left in a wait) instead of the client's.
        """
        import requests

        kwargs.setdefault("timeout", self.timeout)
        url = self.url(path)
        last: list[requests.Response] = []
        tried = [0]

        def once() -> requests.Response:
            # A timed-out or 5xx'd write may still have been applied: ask before sending it again.
            if tried[0] and before_retry is not None and not before_retry():
                if last:
                    return last[-1]
                raise _Stop(f"{method} {path}: not re-sent (the earlier attempt was applied)")
            tried[0] += 1
            self.requests_made += 1
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as exc:  # the last two: a reset mid-body
                raise TransientError(f"{method} {path}: {type(exc).__name__}") from exc
            if response.status_code in self.retry_statuses:
                last.append(response)
                raise TransientError(
                    f"{method} {path} answered {response.status_code}", retry_after(response.headers)
                )
            return response

        if not retry:
            return once()
        try:
            return self.action.retry(
                f"{self.name} {method} {path}",
                once,
                attempts=self.attempts,
                max_elapsed=self.max_elapsed if max_elapsed is None else max_elapsed,
            )
        except _Stop as exc:
            raise TransientError(str(exc)) from exc
        except TransientError:
            if last:
                return last[-1]
            raise

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)
