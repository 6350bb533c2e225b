"""The Postman double itself: the behaviours the stage's tests rely on are the real API's."""

from __future__ import annotations

import time

import requests

from tests.doubles.base import RateLimiter
from tests.doubles.postman import PostmanDouble
from tests.postman.conftest import EDITOR_KEY, VIEWER_KEY, WORKSPACE

SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"


def _col(*names: str) -> dict[str, object]:
    return {"info": {"name": "C", "schema": SCHEMA},
            "item": [{"name": n, "request": {"method": "GET", "url": "{{baseUrl}}/" + n}} for n in names]}


def _h(key: str = EDITOR_KEY) -> dict[str, str]:
    return {"X-Api-Key": key}


def test_put_without_ids_recreates_items_and_drops_missing(postman: PostmanDouble) -> None:
    made = requests.post(f"{postman.url}/collections", params={"workspace": WORKSPACE}, json={"collection": _col("a", "b")},
                         headers=_h(), timeout=10).json()["collection"]
    got = requests.get(f"{postman.url}/collections/{made['uid']}", headers=_h(), timeout=10).json()["collection"]
    first = {i["name"]: i["id"] for i in got["item"]}
    assert all(i["uid"].endswith(i["id"]) for i in got["item"])
    body = _col("a", "c")
    body["item"][0]["id"] = first["a"]  # type: ignore[index]
    ok = requests.put(f"{postman.url}/collections/{made['uid']}", json={"collection": body}, headers=_h(), timeout=10)
    assert ok.status_code == 200
    after = {i["name"]: i["id"] for i in postman.collection(made["uid"]).data["item"]}  # type: ignore[union-attr]
    assert after["a"] == first["a"] and "b" not in after and after["c"] not in first.values()
    again = requests.put(f"{postman.url}/collections/{made['id']}", json={"collection": _col("a")}, headers=_h(),
                         timeout=10)
    assert again.status_code == 200
    assert postman.collection(made["id"]).data["item"][0]["id"] != first["a"]  # type: ignore[union-attr]


def test_roles_workspaces_and_error_shapes(postman: PostmanDouble) -> None:
    denied = requests.post(f"{postman.url}/collections", params={"workspace": WORKSPACE},
                           json={"collection": _col("a")}, headers=_h(VIEWER_KEY), timeout=10)
    assert denied.status_code == 403 and denied.json()["error"]["name"] == "forbiddenError"
    unknown = requests.get(f"{postman.url}/workspaces/nope", headers=_h(), timeout=10)
    assert unknown.status_code == 404 and unknown.json()["title"] == "Workspace not found"
    missing = requests.get(f"{postman.url}/collections/1-0f0f0f0f-0000-4000-8000-000000000000", headers=_h(),
                           timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["name"] == "instanceNotFoundError"
    bad = requests.post(f"{postman.url}/collections", params={"workspace": WORKSPACE},
                        json={"collection": {"info": {"name": "x"}, "item": []}}, headers=_h(), timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["name"] == "malformedRequestError"


def test_rate_limit_answers_in_both_spellings(postman: PostmanDouble) -> None:
    postman.limiter = RateLimiter(2, 5.0)
    answers = [requests.get(f"{postman.url}/me", headers=_h(), timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    limited = answers[2]
    assert limited.json()["error"] == "rateLimited" and "retry after" in limited.json()["message"]
    for name in ("RetryAfter", "X-RateLimit-RetryAfter", "RateLimit-Remaining", "X-RateLimit-Remaining",
                 "RateLimit-Reset", "X-RateLimit-Reset", "RateLimit-Policy", "RateLimit"):
        assert name in limited.headers, name
    assert int(limited.headers["X-RateLimit-Reset"]) >= time.time()
    assert answers[1].headers["X-RateLimit-Remaining"] == "0"


def test_import_limit_is_10_per_10s(postman: PostmanDouble) -> None:
    body = {"type": "json", "input": {"openapi": "3.0.3", "info": {"title": "T", "version": "1"}, "paths": {}}}
    codes = [requests.post(f"{postman.url}/import/openapi", params={"workspace": WORKSPACE}, json=body,
                           headers=_h(), timeout=10).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429] and len(postman.collections) == 10


def test_async_put_task(postman: PostmanDouble) -> None:
    made = requests.post(f"{postman.url}/collections", params={"workspace": WORKSPACE}, json={"collection": _col("a")},
                         headers=_h(), timeout=10).json()["collection"]
    answer = requests.put(f"{postman.url}/collections/{made['uid']}", json={"collection": _col("b")},
                          headers={**_h(), "Prefer": "respond-async"}, timeout=10)
    assert answer.status_code == 202
    task = answer.json()["task"]["id"]
    states = [requests.get(f"{postman.url}/collection-updates-tasks/{task}", headers=_h(), timeout=10).json()["status"]
              for _ in range(3)]
    assert states == ["in-progress", "in-progress", "successful"]
