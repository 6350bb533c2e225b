"""The GitHub Actions/billing double answers with GitHub's shapes, and the guard's client reads them right."""

from __future__ import annotations

import io
import urllib.parse

import pytest
import requests

from shipyard.minutes.github import ApiError, GitHubApi
from shipyard.runtime import Action
from tests.doubles.github_actions import GitHubActionsDouble
from tests.minutes.conftest import AS_OF
from tests.minutes.fixture import Org


def get(double: GitHubActionsDouble, token: str, path: str, **headers: str) -> requests.Response:
    return requests.get(double.url + path, headers={"Authorization": f"Bearer {token}", **headers}, timeout=5)


def test_link_pagination_created_filter_and_the_search_cap(small: tuple[GitHubActionsDouble, str]) -> None:
    double, token = small
    first = get(double, token, "/repos/acme/svc-00/actions/runs?created=2026-11-01..2026-11-30&per_page=10")
    assert first.status_code == 200
    body = first.json()
    assert body["total_count"] > 10 and len(body["workflow_runs"]) == 10
    links = requests.utils.parse_header_links(first.headers["Link"])
    rels = {link["rel"]: link["url"] for link in links}
    assert set(rels) == {"next", "last"}
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(rels["next"]).query)["created"] == ["2026-11-01..2026-11-30"]
    created = [r["created_at"] for r in body["workflow_runs"]]
    assert created == sorted(created, reverse=True)
    one_day = get(double, token, "/repos/acme/svc-00/actions/runs?created=2026-11-03&per_page=100").json()
    assert all(r["created_at"].startswith("2026-11-03") for r in one_day["workflow_runs"])
    jobs = get(double, token, f"/repos/acme/svc-00/actions/runs/{body['workflow_runs'][0]['id']}/jobs?filter=all")
    job = jobs.json()["jobs"][0]
    for key in ("started_at", "completed_at", "labels", "runner_group_name", "run_attempt", "conclusion"):
        assert key in job


def test_etag_304_is_free_and_headers_are_real(small: tuple[GitHubActionsDouble, str]) -> None:
    double, token = small
    first = get(double, token, "/orgs/acme/repos?per_page=100")
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    used = int(first.headers["x-ratelimit-used"])
    again = get(double, token, "/orgs/acme/repos?per_page=100", **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["x-ratelimit-used"]) == used
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-resource"} <= {
        k.lower() for k in again.headers}


def test_permissions_answer_like_github(small: tuple[GitHubActionsDouble, str]) -> None:
    double, _ = small
    app = double.add_token(permissions=frozenset({"actions"}))
    pat = double.add_token(kind="pat", permissions=frozenset({"actions"}))
    path = "/organizations/acme/settings/billing/usage/summary?year=2026&month=11"
    assert get(double, app, path).json()["message"] == "Resource not accessible by integration"
    assert get(double, pat, path).status_code == 403
    assert get(double, "nope", path).status_code == 401


def test_variables_create_update_and_refuse(small: tuple[GitHubActionsDouble, str]) -> None:
    double, token = small
    auth = {"Authorization": f"Bearer {token}"}
    created = requests.post(double.url + "/orgs/acme/actions/variables", headers=auth, timeout=5,
                            json={"name": "SHIPYARD_RUNS_ON", "value": '"arc"', "visibility": "all"})
    assert created.status_code == 201
    patched = requests.patch(double.url + "/orgs/acme/actions/variables/SHIPYARD_RUNS_ON", headers=auth, timeout=5,
                             json={"name": "SHIPYARD_RUNS_ON", "value": '"ubuntu-latest"'})
    assert patched.status_code == 204
    assert get(double, token, "/orgs/acme/actions/variables/SHIPYARD_RUNS_ON").json()["value"] == '"ubuntu-latest"'
    double.settings.refuse_variable_writes = True
    refused = requests.patch(double.url + "/orgs/acme/actions/variables/SHIPYARD_RUNS_ON", headers=auth, timeout=5,
                             json={"value": "x"})
    assert refused.status_code == 403


def test_the_client_follows_links_and_never_sends_the_token_elsewhere(small_org: Org) -> None:
    with GitHubActionsDouble(small_org, now=AS_OF.timestamp()) as double:
        assert isinstance(double, GitHubActionsDouble)
        token = double.add_token()
        api = GitHubApi(Action({}, io.StringIO(), sleep=lambda _s: None), double.url, token)
        repo = max(small_org.repos, key=lambda n: sum(r.repo == n for r in small_org.runs))
        runs = [r for page in api.pages(f"/repos/{repo}/actions/runs", {"created": "2026-11-01..2026-11-30"})
                for r in page["workflow_runs"]]
        expected = [r for r in small_org.runs if r.repo == repo and r.created <= AS_OF.timestamp()]
        assert len(runs) == len(expected) > 100  # more than one page
        assert len({r["id"] for r in runs}) == len(runs)
        assert len(double.calls("GET", f"/repos/{repo}/actions/runs")) == -(-len(runs) // 100)
        with pytest.raises(ApiError, match="another host"):
            api.get("http://evil.example/repos/acme/svc-01/actions/runs")


def test_a_window_over_the_search_cap_is_split(small_org: Org) -> None:
    from shipyard.minutes.jobs import SkuTable, attribute
    from shipyard.minutes.scan import Scanner
    from shipyard.minutes.state import State

    def scan(cap: int) -> dict[str, int]:
        with GitHubActionsDouble(small_org, now=AS_OF.timestamp()) as double:
            assert isinstance(double, GitHubActionsDouble)
            double.search_cap = 40
            api = GitHubApi(Action({}, io.StringIO(), sleep=lambda _s: None), double.url, double.add_token())
            state = State("acme", "2026-11")
            scanner = Scanner(api, state, SkuTable(), org="acme", as_of=AS_OF, search_cap=cap)
            assert scanner.scan(scanner.repositories([])).complete
            return dict(attribute(state.runs, state.jobs.values(), SkuTable()).minutes_by_sku)

    expected = {k: int(v) for k, v in small_org.totals(AS_OF.timestamp()).items()}
    assert scan(40) == expected
    assert scan(10**6) != expected  # without splitting, the cap hides runs
