"""mode: spec-hub against the double: create the spec and generate its collection, skip when unchanged,
update the file and synchronise (collection UID and unchanged items kept), breaking changes, no duplicates."""

from __future__ import annotations

import json

import yaml

from tests.postman.conftest import SPECS, Service


def _orders() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load((SPECS / "orders-3.0.yaml").read_text())
    return data


def test_spec_hub_create_skip_update_sync(service: Service) -> None:
    double = service.double
    service.write_spec(SPECS / "orders-3.0.yaml")
    first = service.publish(mode="spec-hub")
    assert first.code == 0, first.out
    spec_id, uid = first.outputs["spec-id"], first.outputs["collection-uid"]
    assert spec_id in double.specs and double.collection(uid) is not None
    assert double.calls("POST", "/specs")[0].query == {"workspaceId": service.defaults["workspace"]}
    root = double.specs[spec_id]["files"]["index.json"]
    assert root["type"] == "ROOT" and json.loads(root["content"])["info"]["title"] == "Orders API"

    again = service.publish(mode="spec-hub")
    assert again.outputs["changed"] == "false" and not double.calls("PATCH")

    before = {i["name"]: i["id"] for i in double.collection(uid).data["item"]}  # type: ignore[union-attr]
    spec = _orders()
    del spec["paths"]["/orders/{orderId}"]["delete"]  # type: ignore[index]
    service.write_spec(yaml.safe_dump(spec))
    updated = service.publish(mode="spec-hub")
    assert updated.code == 0, updated.out
    assert updated.outputs["collection-uid"] == uid and updated.outputs["spec-id"] == spec_id
    assert json.loads(updated.outputs["breaking-changes"])[0]["kind"] == "removed-operation"
    assert double.calls("PATCH")[0].body == {"content": double.specs[spec_id]["files"]["index.json"]["content"]}
    assert double.calls("PUT", r"/collections/.+/synchronizations")[0].query == {"specId": spec_id}
    after = {i["name"]: i["id"] for i in double.collection(uid).data["item"]}  # type: ignore[union-attr]
    assert "DELETE /orders/{orderId}" not in after
    assert all(after[k] == v for k, v in before.items() if k in after)
    assert len(double.specs) == 1 and len(double.collections) == 1


def test_spec_hub_fail_on_breaking_and_applied_but_500(service: Service) -> None:
    double = service.double
    double.inject("applied_status", 500, match=r"^POST /specs$")
    service.write_spec(SPECS / "orders-3.0.yaml")
    first = service.publish(mode="spec-hub")
    assert first.code == 0, first.out
    assert len(double.specs) == 1 and [c.status for c in double.calls("POST", "/specs")] == [500]
    spec = _orders()
    del spec["paths"]["/healthz"]  # type: ignore[attr-defined]
    service.write_spec(yaml.safe_dump(spec))
    stopped = service.publish(mode="spec-hub", fail_on_breaking="true")
    assert stopped.code == 1 and "breaking change" in stopped.out and not double.calls("PATCH")


def test_spec_hub_generation_locked_423_waits(service: Service) -> None:
    double = service.double
    double.inject("status", 423, match=r"^POST /specs/.+/generations/collection$",
                  body={"type": "https://api.postman.com/problems/locked", "title": "Locked",
                        "detail": "A collection generation is already in progress", "status": 423})
    service.write_spec(SPECS / "orders-3.0.yaml")
    run = service.publish(mode="spec-hub")
    assert run.code == 0, run.out
    assert [c.status for c in double.calls("POST", r"/specs/.+/generations/collection")] == [423, 202]
    assert run.sleeps and len(double.collections) == 1
