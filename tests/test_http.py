"""The shared REST client: transient answers retried with Retry-After honoured, others handed back."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from shipyard.http import Client
from shipyard.runtime import Action, TransientError
from tests.doubles.base import DoubleServer, Request, Response, json_response, route


class Echo(DoubleServer):
    name = "echo"

    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []

    @route("GET", r"/ping")
    def ping(self, req: Request) -> Response:
        return json_response({"ok": True})

    @route("POST", r"/items")
    def create(self, req: Request) -> Response:
        self.items.append(req.json()["name"])
        return json_response({"created": True}, 201)


@pytest.fixture()
def echo() -> Iterator[Echo]:
    with Echo() as server:
        yield server  # type: ignore[misc]


def client(server: Echo, sleeps: list[float], **kw: float) -> Client:
    action = Action({}, io.StringIO(), sleep=sleeps.append)
    return Client(action, server.url, timeout=kw.get("timeout", 5.0), name="echo")


def test_429_is_retried_after_the_servers_delay(echo: Echo) -> None:
    echo.inject("status", 429, match="GET /ping", headers={"Retry-After": "2"})
    sleeps: list[float] = []
    response = client(echo, sleeps).get("/ping")
    assert response.status_code == 200
    assert len(sleeps) == 1 and 2.0 <= sleeps[0] <= 2.5
    assert [e.status for e in echo.calls("GET", "/ping")] == [429, 200]


def test_postman_style_retry_after_header(echo: Echo) -> None:
    echo.inject("status", 429, match="GET /ping", headers={"X-RateLimit-RetryAfter": "3"})
    sleeps: list[float] = []
    client(echo, sleeps).get("/ping")
    assert 3.0 <= sleeps[0] <= 3.5


def test_5xx_retried_then_last_answer_handed_back(echo: Echo) -> None:
    echo.inject("status", 503, match="GET /ping", count=20)
    sleeps: list[float] = []
    c = client(echo, sleeps)
    c.attempts = 3
    response = c.get("/ping")
    assert response.status_code == 503
    assert len(echo.calls("GET", "/ping")) == 3


def test_client_errors_are_not_retried(echo: Echo) -> None:
    sleeps: list[float] = []
    response = client(echo, sleeps).get("/nothing-here")
    assert response.status_code == 404 and sleeps == []


def test_applied_but_500_write_is_looked_up_before_resending(echo: Echo) -> None:
    echo.inject("applied_status", 500, match="POST /items")
    sleeps: list[float] = []
    c = client(echo, sleeps)
    response = c.post("/items", json={"name": "a"}, before_retry=lambda: "a" not in echo.items)
    assert response.status_code == 500  # handed back: the caller knows it was applied
    assert echo.items == ["a"], "the write was not sent twice"


def test_timed_out_write_is_looked_up_before_resending(echo: Echo) -> None:
    echo.inject("timeout", match="POST /items", delay=0.3)
    sleeps: list[float] = []
    c = client(echo, sleeps, timeout=0.1)
    checks: list[bool] = []

    def not_applied() -> bool:
        checks.append(True)
        return "b" not in echo.items

    response = c.post("/items", json={"name": "b"}, before_retry=not_applied)
    assert response.status_code == 201
    assert checks == [True] and echo.items == ["b"]


def test_timeout_then_stop_raises_transient(echo: Echo) -> None:
    echo.inject("timeout", match="POST /items", delay=0.3)
    sleeps: list[float] = []
    c = client(echo, sleeps, timeout=0.1)
    with pytest.raises(TransientError, match="not re-sent"):
        c.post("/items", json={"name": "c"}, before_retry=lambda: False)


@pytest.mark.parametrize("kind", ["reset", "truncated"])
def test_a_reset_before_or_mid_body_is_retried(echo: Echo, kind: str) -> None:
    echo.inject(kind, match="GET /ping")
    sleeps: list[float] = []
    response = client(echo, sleeps).get("/ping")
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert len(sleeps) == 1
    assert [e.fault for e in echo.calls("GET", "/ping")] == [kind, None]


def test_a_write_cut_mid_body_is_looked_up_before_resending(echo: Echo) -> None:
    echo.inject("truncated", match="POST /items")
    sleeps: list[float] = []
    checks: list[bool] = []

    def not_applied() -> bool:
        checks.append(True)
        return "d" not in echo.items

    with pytest.raises(TransientError, match="not re-sent"):
        client(echo, sleeps).post("/items", json={"name": "d"}, before_retry=not_applied)
    assert checks == [True] and echo.items == ["d"], "applied once, never sent twice"


def test_a_reset_that_never_ends_is_one_transient_error(echo: Echo) -> None:
    echo.inject("truncated", match="GET /ping", count=10)
    sleeps: list[float] = []
    c = client(echo, sleeps)
    c.attempts = 3
    with pytest.raises(TransientError, match="GET /ping"):
        c.get("/ping")
    assert len(echo.calls("GET", "/ping")) == 3
