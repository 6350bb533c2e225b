"""The stage against the Postman double: create, update in place with ids kept, skip, breaking changes,
applied-but-500, rate limits, async updates, and every configuration error."""

from __future__ import annotations

import copy
import json
import time

import yaml

from shipyard.postman import convert
from tests.postman.conftest import EXAMPLE, SPECS, VIEWER_KEY, WORKSPACE, Service


def _ids(double_collection: dict[str, object]) -> dict[str, str]:
    return {convert.item_key(i) or str(i["name"]): str(i["id"]) for i in convert.walk(double_collection["item"])}  # type: ignore[arg-type]


def _orders() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((SPECS / "orders-3.0.yaml").read_text())
    return data


def test_first_publish_creates_then_updates_in_place_keeping_ids(service: Service) -> None:
    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    first = service.publish()
    assert first.code == 0, first.out
    uid = first.outputs["collection-uid"]
    assert first.outputs["changed"] == "true"
    assert first.outputs["collection-url"].endswith(f"/collection/{uid}")
    assert len(double.collections) == 1 and double.calls("POST", "/collections")[0].query == {"workspace": WORKSPACE}
    stored = double.collection(uid)
    assert stored is not None
    before = _ids(stored.data)

    spec = _orders()
    paths = spec["paths"]
    assert isinstance(paths, dict)
    paths["/refunds"] = {"post": {"tags": ["orders"], "summary": "Refund",
                                  "responses": {"201": {"description": "ok"}}}}
    paths["/orders"]["get"]["summary"] = "All the orders"
    service.write_spec(yaml.safe_dump(spec))
    second = service.publish()
    assert second.code == 0, second.out
    assert second.outputs["collection-uid"] == uid
    assert len(double.collections) == 1
    after = _ids(double.collection(uid).data)  # type: ignore[union-attr]
    assert {k: after[k] for k in before} == before  # every item and folder kept its id
    assert "POST /refunds" in after and after["POST /refunds"] not in before.values()
    put = double.calls("PUT")[-1]
    assert put.status == 200 and "Prefer" not in put.headers and "prefer" not in put.headers
    assert "1 new" in second.out and "kept" in second.out
    assert json.loads(second.outputs["breaking-changes"]) == []


def test_unchanged_spec_is_skipped(service: Service) -> None:
    service.write_spec(SPECS / "orders-3.0.yaml")
    assert service.publish().code == 0
    # same spec, reformatted as JSON with other key order: same normalised hash
    service.write_spec(json.dumps(_orders(), sort_keys=True, indent=1), "openapi.json")
    (service.root / "openapi.yaml").unlink()
    again = service.publish()
    assert again.code == 0, again.out
    assert again.outputs["changed"] == "false"
    assert "skipped" in again.out
    assert not service.double.calls("PUT")
    forced = service.publish(force="true")
    assert forced.outputs["changed"] == "true" and len(service.double.calls("PUT")) == 1


def test_breaking_change_is_reported_and_fail_on_breaking_stops(service: Service) -> None:
    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    uid = service.publish().outputs["collection-uid"]
    spec = _orders()
    del spec["paths"]["/orders/{orderId}"]["delete"]  # type: ignore[index]
    service.write_spec(yaml.safe_dump(spec))
    stopped = service.publish(fail_on_breaking="true")
    assert stopped.code == 1
    assert "::error" in stopped.out or "error:" in stopped.out
    assert "1 breaking change(s)" in stopped.out and "fail-on-breaking" in stopped.out
    assert json.loads(stopped.outputs["breaking-changes"]) == [
        {"kind": "removed-operation", "operation": "DELETE /orders/{orderId}", "detail": "operation removed"}
    ]
    assert not double.calls("PUT")
    assert "| removed-operation | DELETE /orders/{orderId} | operation removed |" in stopped.out
    published = service.publish()
    assert published.code == 0 and published.outputs["changed"] == "true"
    assert json.loads(published.outputs["breaking-changes"])[0]["kind"] == "removed-operation"
    assert "DELETE /orders/{}" not in _ids(double.collection(uid).data)  # type: ignore[union-attr]


def test_applied_but_500_on_create_leaves_exactly_one_collection(service: Service) -> None:
    double = service.double
    double.inject("applied_status", 500, match=r"^POST /collections$")
    service.write_spec(SPECS / "orders-3.0.yaml")
    run = service.publish()
    assert run.code == 0, run.out
    assert len(double.collections) == 1
    assert run.outputs["collection-uid"] == next(iter(double.collections.values())).uid
    posts = double.calls("POST", "/collections")
    assert [p.status for p in posts] == [500]  # looked up by name instead of posting again
    assert double.calls("GET", "/collections")[-1].query == {"workspace": WORKSPACE, "name": "Orders API"}
    assert "adopted" in run.out


def test_plain_500_on_create_is_retried_once_nothing_applied(service: Service) -> None:
    double = service.double
    double.inject("status", 503, match=r"^POST /collections$")
    service.write_spec(SPECS / "orders-3.0.yaml")
    run = service.publish()
    assert run.code == 0, run.out
    assert [p.status for p in double.calls("POST", "/collections")] == [503, 200]
    assert len(double.collections) == 1


def test_applied_but_500_on_update_is_not_sent_twice(service: Service) -> None:
    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    uid = service.publish().outputs["collection-uid"]
    spec = _orders()
    spec["paths"]["/refunds"] = {"post": {"responses": {"201": {"description": "ok"}}}}  # type: ignore[index]
    service.write_spec(yaml.safe_dump(spec))
    double.inject("applied_status", 504, match=r"^PUT /collections/")
    run = service.publish()
    assert run.code == 0, run.out
    assert [p.status for p in double.calls("PUT")] == [504]
    assert "applied despite an error answer" in run.out
    assert "POST /refunds" in _ids(double.collection(uid).data)  # type: ignore[union-attr]
    assert len(double.collections) == 1


def test_rate_limit_429_then_success_waits_retry_after(service: Service) -> None:
    double = service.double
    double.inject("status", 429, match=r"^GET /collections$", headers={"RetryAfter": "1", "X-RateLimit-RetryAfter": "1"})
    service.write_spec(SPECS / "orders-3.0.yaml")
    start = time.monotonic()
    run = service.publish(real_sleep=True)
    elapsed = time.monotonic() - start
    assert run.code == 0, run.out
    assert elapsed >= 1.0
    statuses = [c.status for c in double.calls("GET", "/collections")]
    assert statuses[:2] == [429, 200]


def test_client_paces_itself_to_the_remaining_quota(service: Service) -> None:
    from tests.doubles.base import RateLimiter

    double = service.double
    double.limiter = RateLimiter(3, 1.5)  # 3 requests per 1.5 s per key
    service.write_spec(SPECS / "orders-3.0.yaml")
    start = time.monotonic()
    run = service.publish(real_sleep=True)
    assert run.code == 0, run.out
    assert time.monotonic() - start >= 1.0  # five calls at 3 per 1.5 s: had to wait for a reset
    assert len(double.collections) == 1
    assert [c.status for c in double.transcript if c.status == 429] == []  # paced by RateLimit-Remaining


def test_large_collection_uses_async_put_and_polls_the_task(service: Service) -> None:
    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    uid = service.publish().outputs["collection-uid"]
    spec = _orders()
    spec["info"]["version"] = "2.4.0"  # type: ignore[index]
    service.write_spec(yaml.safe_dump(spec))
    run = service.publish(async_threshold="0")
    assert run.code == 0, run.out
    put = double.calls("PUT")[-1]
    assert put.headers.get("prefer") == "respond-async" and put.status == 202
    polls = double.calls("GET", r"/collection-updates-tasks/.+")
    assert [p.response["status"] for p in polls] == ["in-progress", "in-progress", "successful"]
    assert run.sleeps  # waited between polls
    assert "asynchronously" in run.out and run.outputs["collection-uid"] == uid


def test_failed_async_task_is_an_error(service: Service) -> None:
    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    service.publish()
    spec = _orders()
    spec["info"]["version"] = "9"  # type: ignore[index]
    service.write_spec(yaml.safe_dump(spec))
    double.fail_tasks = True
    run = service.publish(async_threshold="0")
    assert run.code == 1 and "task" in run.out and "failed" in run.out


def test_collection_found_by_stored_uid_in_config_file(service: Service) -> None:
    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    uid = service.publish().outputs["collection-uid"]
    (service.root / ".shipyard").mkdir()
    (service.root / ".shipyard" / "postman.json").write_text(json.dumps({"collection-uid": uid}))
    spec = _orders()
    spec["info"]["version"] = "3"  # type: ignore[index]
    service.write_spec(yaml.safe_dump(spec))
    run = service.publish(workspace="", collection_name="Orders (renamed)")
    assert run.code == 0, run.out
    assert run.outputs["collection-uid"] == uid
    assert not [c for c in double.calls("GET", "/collections") if c.query.get("name")][1:]
    assert double.collection(uid).data["info"]["name"] == "Orders (renamed)"  # type: ignore[union-attr]


def test_fastapi_example_app_spec(service: Service) -> None:
    import shutil

    shutil.copytree(EXAMPLE / "app", service.root / "app")
    run = service.publish(fastapi_app="app.main:app")
    assert run.code == 0, run.out
    col = next(iter(service.double.collections.values())).data
    assert col["info"]["name"] == "Inventory Service"
    assert {i["name"] for i in col["item"]} == {"ops", "items"}
    assert "GET /items/{}" in _ids(col)


def test_missing_api_key_and_invalid_key(service: Service) -> None:
    service.write_spec(SPECS / "orders-3.0.yaml")
    missing = service.publish(api_key="")
    assert missing.code == 1 and "api-key" in missing.out and "POSTMAN_API_KEY" in missing.out
    wrong = service.publish(api_key="PMAK-not-a-real-key-000")
    assert wrong.code == 1
    assert "401 AuthenticationError" in wrong.out and "Invalid API Key" in wrong.out
    assert "PMAK-not-a-real-key-000" not in wrong.out
    assert not service.double.collections


def test_viewer_key_gets_403_and_nothing_is_published(service: Service) -> None:
    service.write_spec(SPECS / "orders-3.0.yaml")
    run = service.publish(api_key=VIEWER_KEY)
    assert run.code == 1
    assert "no editor rights" in run.out and "Editor role" in run.out
    assert not service.double.collections


def test_unknown_workspace(service: Service) -> None:
    service.write_spec(SPECS / "orders-3.0.yaml")
    run = service.publish(workspace="00000000-dead-beef-0000-000000000000")
    assert run.code == 1 and "Unknown Postman workspace" in run.out and "workspace" in run.out
    assert not service.double.calls("POST")


def test_stale_uid_is_explained(service: Service) -> None:
    service.write_spec(SPECS / "orders-3.0.yaml")
    run = service.publish(collection_uid="1000-6f0c7d1e-0000-4000-8000-000000000000")
    assert run.code == 1 and "does not exist any more" in run.out and not service.double.calls("POST")


def test_invalid_spec_fails_before_any_call(service: Service) -> None:
    spec = _orders()
    spec["paths"]["/healthz"]["get"]["responses"]["200"].pop("description")  # type: ignore[index]
    service.write_spec(yaml.safe_dump(spec))
    run = service.publish()
    assert run.code == 1
    assert "$.paths['/healthz'].get.responses['200']: 'description' is a required property" in run.out
    assert not service.double.transcript


def test_ids_from_another_collection_are_rejected_by_the_double(service: Service) -> None:
    """The double's rule the stage must respect: ids only ever come from the collection being updated."""
    import requests

    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    uid = service.publish().outputs["collection-uid"]
    spec = _orders()
    spec["info"]["title"] = "Other"  # type: ignore[index]
    service.write_spec(yaml.safe_dump(spec))
    other_uid = service.publish().outputs["collection-uid"]
    assert other_uid != uid
    stolen = copy.deepcopy(double.collection(uid).data)  # type: ignore[union-attr]
    stolen["info"].pop("_postman_id")
    headers = {"X-API-Key": service.defaults["api-key"]}
    answer = requests.put(f"{double.url}/collections/{other_uid}", json={"collection": stolen}, headers=headers,
                          timeout=10)
    assert answer.status_code == 400 and "another collection" in answer.json()["error"]["message"]


def test_import_endpoint_creates_a_new_collection_each_call(service: Service) -> None:
    import requests

    double = service.double
    headers = {"x-api-key": service.defaults["api-key"]}
    body = {"type": "json", "input": _orders()}
    uids = {requests.post(f"{double.url}/import/openapi", params={"workspace": WORKSPACE}, json=body,
                          headers=headers, timeout=10).json()["collections"][0]["uid"] for _ in range(2)}
    assert len(uids) == 2 and len(double.collections) == 2
    answer = requests.get(f"{double.url}/me", timeout=10)
    assert answer.status_code == 401 and answer.json()["error"]["name"] == "AuthenticationError"
    ok = requests.get(f"{double.url}/me", headers={"X-API-KEY": service.defaults["api-key"]}, timeout=10)
    assert ok.status_code == 200 and ok.headers["X-RateLimit-Limit"] == "300" and "RateLimit" in ok.headers


def test_dry_run_publishes_nothing(service: Service) -> None:
    service.write_spec(SPECS / "orders-3.0.yaml")
    run = service.publish(dry_run="true")
    assert run.code == 0 and "would create" in run.out
    assert not service.double.calls("POST") and not service.double.collections


def test_dropped_connection_on_create_is_retried_after_a_lookup(service: Service) -> None:
    double = service.double
    double.inject("timeout", match=r"^POST /collections$", delay=0.1)
    service.write_spec(SPECS / "orders-3.0.yaml")
    run = service.publish()
    assert run.code == 0, run.out
    posts = double.calls("POST", "/collections")
    assert [p.fault for p in posts] == ["timeout", None]
    lookups = [c for c in double.calls("GET", "/collections") if c.query.get("name") == "Orders API"]
    assert len(lookups) == 2  # once before the first create, once before the retry
    assert len(double.collections) == 1


def test_two_collections_with_the_name_is_an_error(service: Service) -> None:
    service.write_spec(SPECS / "orders-3.0.yaml")
    assert service.publish().code == 0
    double = service.double
    import requests

    stored = next(iter(double.collections.values()))
    requests.post(f"{double.url}/collections", params={"workspace": WORKSPACE},
                  json={"collection": {"info": {"name": "Orders API", "schema": stored.data["info"]["schema"]},
                                       "item": []}},
                  headers={"X-Api-Key": service.defaults["api-key"]}, timeout=10)
    run = service.publish(force="true")
    assert run.code == 1 and "2 collections named 'Orders API'" in run.out and "collection-uid" in run.out
