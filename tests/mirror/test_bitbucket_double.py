"""The Bitbucket double itself answers like Bitbucket: auth kinds, error shapes, scopes, rate limits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.doubles.bitbucket import BitbucketDouble


@pytest.fixture
def double() -> Iterator[BitbucketDouble]:
    d = BitbucketDouble(rate_limit=3, window=30)
    d.add_workspace("acme", ["PROJ"])
    d.add_project("OPS")
    d.add_credential("api-token", "ATATTgood", user="me@acme.example")
    d.add_credential("access-token", "ATCTTgood")
    d.add_credential("app-password", "ATBBgone", user="me", gone=410)
    with d:
        yield d


def test_api_token_needs_email_and_basic(double: BitbucketDouble) -> None:
    ok = requests.get(f"{double.url}/2.0/user", auth=("me@acme.example", "ATATTgood"), timeout=5)
    assert ok.status_code == 200 and "read:user:bitbucket" in ok.headers["X-OAuth-Scopes"]
    bad = requests.get(f"{double.url}/2.0/user", auth=("me", "ATATTgood"), timeout=5)
    assert bad.status_code == 401 and bad.json() == {"type": "error", "error": {"message": (
        "Token is invalid, expired, or not supported for this endpoint.")}}
    bearer = requests.get(f"{double.url}/2.0/user", headers={"Authorization": "Bearer ATATTgood"}, timeout=5)
    assert bearer.status_code == 401


def test_access_token_is_bearer_and_not_a_user(double: BitbucketDouble) -> None:
    h = {"Authorization": "Bearer ATCTTgood"}
    assert requests.get(f"{double.url}/2.0/user", headers=h, timeout=5).status_code == 401
    r = requests.get(f"{double.url}/2.0/repositories/acme/nope", headers=h, timeout=5)
    assert r.status_code == 404 and r.json()["error"]["message"] == "Repository acme/nope not found"
    assert requests.get(f"{double.url}/2.0/workspaces/acme", auth=("x", "ATCTTgood"), timeout=5).status_code == 401


def test_removed_app_password_answers_410(double: BitbucketDouble) -> None:
    r = requests.get(f"{double.url}/2.0/user", auth=("me", "ATBBgone"), timeout=5)
    assert r.status_code == 410


def test_create_then_already_exists_and_project_check(double: BitbucketDouble) -> None:
    auth = ("me@acme.example", "ATATTgood")
    url = f"{double.url}/2.0/repositories/acme/svc"
    body = {"scm": "git", "is_private": True, "project": {"key": "PROJ"}, "fork_policy": "no_public_forks"}
    assert requests.post(url, json=body, auth=auth, timeout=5).status_code == 200
    again = requests.post(url, json=body, auth=auth, timeout=5)
    assert again.status_code == 400 and "already exists" in again.json()["error"]["message"]
    wrong = requests.post(f"{double.url}/2.0/repositories/acme/other", json={**body, "project": {"key": "NOPE"}},
                          auth=auth, timeout=5)
    assert wrong.status_code == 400 and "project" in wrong.json()["error"]["fields"]


def test_rate_limit_answers_429_with_retry_after(double: BitbucketDouble) -> None:
    auth = ("me@acme.example", "ATATTgood")
    codes = [requests.get(f"{double.url}/2.0/user", auth=auth, timeout=5) for _ in range(4)]
    assert [r.status_code for r in codes] == [200, 200, 200, 429]
    assert int(codes[-1].headers["Retry-After"]) >= 1 and codes[-1].headers["X-RateLimit-Limit"] == "3"


def test_data_center_error_shape(double: BitbucketDouble) -> None:
    h = {"Authorization": "Bearer ATCTTgood"}
    r = requests.get(f"{double.url}/rest/api/latest/projects/NOPE", headers=h, timeout=5)
    assert r.status_code == 404
    assert r.json()["errors"][0]["exceptionName"] == "com.atlassian.bitbucket.project.NoSuchProjectException"
    r = requests.get(f"{double.url}/rest/api/latest/projects/OPS", headers={"Authorization": "Bearer bad"}, timeout=5)
    assert r.status_code == 401 and "Authentication failed" in r.json()["errors"][0]["message"]
    assert len(double.calls("GET", r"/rest/api/latest/projects/.*")) == 2
