"""Unit tests of the pure parts: spec search, validation messages, conversion, id carrying, breaking changes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.postman import convert
from shipyard.postman.diff import breaking_changes
from shipyard.postman.spec import find, validate
from shipyard.runtime import UserError
from tests.postman.conftest import SPECS


def orders() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SPECS / "orders-3.0.yaml").read_text())
    return data


def _find(root: Path, **kw: Any) -> Any:
    args: dict[str, Any] = {"spec_path": None, "generate_command": None, "fastapi_app": None, "python": "python3",
                            "env": {"PATH": "/usr/bin:/bin"}, "extra_env": {}, "timeout": 60}
    args.update(kw)
    return find(root, **args)


def test_search_order_committed_then_build_then_command(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "openapi.json").write_text(json.dumps({"openapi": "3.0.3", "info": {"title": "B"}}))
    assert _find(tmp_path).kind == "build"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "openapi.yml").write_text("openapi: 3.0.3\ninfo: {title: C}\n")
    found = _find(tmp_path, generate_command="echo '{}'")
    assert (found.kind, found.source) == ("file", "docs/openapi.yml")


def test_generate_command_stdout_is_the_spec(tmp_path: Path) -> None:
    cmd = """printf '{"openapi":"3.1.0","info":{"title":"Gen","version":"1"},"paths":{}}'"""
    found = _find(tmp_path, generate_command=cmd)
    assert found.kind == "command" and found.document["info"]["title"] == "Gen"


def test_generate_command_failure_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        _find(tmp_path, generate_command="echo boom >&2; exit 3")
    assert "exit code 3" in str(err.value) and "boom" in str(err.value)


def test_spec_not_found_names_the_inputs(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        _find(tmp_path)
    assert "No OpenAPI document found" in err.value.message
    assert err.value.fix and "fastapi-app" in err.value.fix and "spec-path" in err.value.fix


def test_missing_spec_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        _find(tmp_path, spec_path="api/openapi.yaml")
    assert err.value.input_name == "spec-path"


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    (tmp_path / "openapi.yaml").write_text("openapi: 3.0.3\ninfo:\n  title: [unclosed\n")
    with pytest.raises(UserError) as err:
        _find(tmp_path)
    assert "not valid YAML at line" in err.value.message


def test_invalid_spec_reports_json_paths() -> None:
    spec = orders()
    spec["paths"]["/orders"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["type"] = "objekt"
    del spec["paths"]["/healthz"]["get"]["responses"]["200"]["description"]
    with pytest.raises(UserError) as err:
        validate(spec, "openapi.yaml")
    text = err.value.message
    assert "$.paths['/orders'].get.responses['200'].content['application/json'].schema.type" in text
    assert "$.paths['/healthz'].get.responses['200']: 'description' is a required property" in text


@pytest.mark.parametrize("name", ["orders-3.0.yaml", "pets-swagger-2.0.json"])
def test_committed_specs_are_valid(name: str) -> None:
    doc = yaml.safe_load((SPECS / name).read_text())
    assert validate(doc, name) in ("2.0", "3.0")


def test_conversion_is_deterministic_and_structured() -> None:
    spec = orders()
    one = convert.to_collection(spec, name="Orders", digest="d" * 64)
    reordered = json.loads(json.dumps(spec, sort_keys=True))
    two = convert.to_collection(reordered, name="Orders", digest="d" * 64)
    assert [f["name"] for f in one["item"]] == ["orders", "customers", "health"]
    assert json.dumps(one["item"][0]) == json.dumps(convert.to_collection(spec, name="Orders", digest="d" * 64)["item"][0])
    assert convert.spec_hash(spec) == convert.spec_hash(reordered)
    assert len(one["item"]) == len(two["item"])
    get_order = one["item"][0]["item"][2]["request"]
    assert get_order["url"]["raw"] == "{{baseUrl}}/orders/:orderId"
    assert get_order["url"]["variable"] == [{"key": "orderId", "value": "1"}]
    listing = one["item"][0]["item"][0]["request"]
    assert {q["key"]: q.get("disabled", False) for q in listing["url"]["query"]} == {"limit": True, "status": True}
    assert any(h["key"] == "X-Request-Id" for h in listing["header"])
    body = json.loads(one["item"][0]["item"][1]["request"]["body"]["raw"])
    assert body["lines"][0]["price"] == {"amount": 1999, "currency": "EUR"}
    assert one["variable"][0] == {"key": "baseUrl", "value": "https://api.orders.example.com/v2", "type": "string"}
    assert convert.stored_hash(one) == "d" * 64
    assert convert.stored_spec(one) == json.loads(convert.canonical(spec))


def test_swagger2_form_and_body() -> None:
    spec = json.loads((SPECS / "pets-swagger-2.0.json").read_text())
    col = convert.to_collection(spec, name="Pets", digest="0" * 64)
    add, upload = col["item"][0]["item"][1], col["item"][0]["item"][2]
    assert json.loads(add["request"]["body"]["raw"]) == {"id": 0, "name": "Rex", "tag": "string"}
    assert upload["request"]["body"]["mode"] == "formdata"
    assert col["variable"][0]["value"] == "https://pets.example.com/v1"


def test_carry_ids_matches_method_and_path_not_names() -> None:
    spec = orders()
    current = convert.to_collection(spec, name="Orders", digest="0" * 64)
    for n, item in enumerate(convert.walk(current["item"])):
        item["id"] = f"id-{n}"
        for m, resp in enumerate(item.get("response") or []):
            resp["id"] = f"resp-{n}-{m}"
    current["info"]["_postman_id"] = "col-1"
    changed = copy.deepcopy(spec)
    changed["paths"]["/orders/{id}"] = changed["paths"].pop("/orders/{orderId}")  # renamed path parameter
    changed["paths"]["/orders/{id}"]["parameters"][0]["name"] = "id"
    changed["paths"]["/orders"]["get"]["summary"] = "All orders"  # renamed request
    changed["paths"]["/refunds"] = {"post": {"tags": ["orders"], "responses": {"201": {"description": "ok"}}}}
    new = convert.to_collection(changed, name="Orders", digest="1" * 64)
    counts = convert.carry_ids(new, current)
    ids = {convert.item_key(i) or i["name"]: i.get("id") for i in convert.walk(new["item"])}
    old_ids = {convert.item_key(i) or i["name"]: i.get("id") for i in convert.walk(current["item"])}
    assert ids["GET /orders"] == old_ids["GET /orders"]
    assert ids["GET /orders/{}"] == old_ids["GET /orders/{}"]
    assert ids["orders"] == old_ids["orders"]
    assert ids["POST /refunds"] is None
    assert counts == {"kept": len(old_ids), "new": 1, "removed": 0}
    assert new["info"]["_postman_id"] == "col-1"
    assert new["item"][0]["item"][0]["response"][0]["id"].startswith("resp-")


def test_breaking_changes_listed() -> None:
    old = orders()
    new = copy.deepcopy(old)
    del new["paths"]["/orders/{orderId}"]["delete"]
    new["paths"]["/orders"]["get"]["parameters"][1]["required"] = True
    new["paths"]["/orders"]["get"]["parameters"].pop(2)
    new["paths"]["/customers/{customerId}"]["get"]["parameters"].append(
        {"name": "tenant", "in": "query", "required": True, "schema": {"type": "string"}})
    new["components"]["schemas"]["Order"]["allOf"][1]["properties"]["id"] = {"type": "string"}
    changes = {(c.kind, c.operation, c.detail) for c in breaking_changes(old, new)}
    assert ("removed-operation", "DELETE /orders/{orderId}", "operation removed") in changes
    assert ("newly-required-parameter", "GET /orders", "query parameter 'status' is now required") in changes
    assert ("removed-parameter", "GET /orders", "header parameter 'X-Request-Id' removed") in changes
    assert ("newly-required-parameter", "GET /customers/{customerId}", "new required query parameter 'tenant'") in changes
    assert ("changed-response-type", "GET /orders/{orderId}",
            "response 200: property 'id' type changed from integer to string") in changes
    assert ("changed-response-type", "GET /orders",
            "response 200: property 'orders[].id' type changed from integer to string") in changes
    assert breaking_changes(old, copy.deepcopy(old)) == []


def test_additive_changes_are_not_breaking() -> None:
    old = orders()
    new = copy.deepcopy(old)
    new["paths"]["/orders"]["get"]["parameters"].append({"name": "q", "in": "query", "schema": {"type": "string"}})
    new["components"]["schemas"]["Order"]["allOf"][1]["properties"]["note"] = {"type": "string"}
    new["paths"]["/refunds"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    assert breaking_changes(old, new) == []


def test_reconstructed_previous_spec_detects_removed_operations() -> None:
    col = convert.to_collection(orders(), name="Orders", digest="0" * 64)
    col["variable"] = []  # a collection made by hand or by import: no stored spec
    old = convert.reconstruct(col)
    new = orders()
    del new["paths"]["/customers/{customerId}"]
    kinds = {(c.kind, c.operation) for c in breaking_changes(old, new, reconstructed=True)}
    assert ("removed-operation", "GET /customers/{p0}") in kinds


def test_postman_error_shapes_become_one_message() -> None:
    from shipyard.postman.api import error_of

    old = error_of(404, {"error": {"name": "instanceNotFoundError", "message": "We could not find the collection"}})
    new = error_of(404, {"type": "https://api.postman.com/problems/not-found", "title": "Workspace not found",
                         "detail": "We could not find the workspace", "status": 404})
    limited = error_of(429, {"error": "rateLimited", "message": "Rate limit exceeded. Please retry after 1795577529"})
    assert (old.name, old.message) == ("instanceNotFoundError", "We could not find the collection")
    assert (new.name, new.message) == ("Workspace not found", "We could not find the workspace")
    assert (limited.name, limited.status) == ("rateLimited", 429) and "retry after" in limited.message
    assert error_of(502, "<html>bad gateway</html>").name == "HTTP 502"


def test_multipart_file_fields_are_file_parts() -> None:
    spec = json.loads((SPECS / "pets-swagger-2.0.json").read_text())
    body = convert.to_collection(spec, name="Pets", digest="0" * 64)["item"][0]["item"][2]["request"]["body"]
    assert body["formdata"][1] == {"key": "file", "type": "file", "src": []}


def test_cli_dry_run_without_key_validates_and_converts(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "openapi.yaml").write_text((SPECS / "orders-3.0.yaml").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env["GITHUB_WORKSPACE"] = str(tmp_path)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "postman-publish", "--dry-run", "true", "--collection-file", "out.json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated only" in proc.stdout and "output changed=true" in proc.stdout
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["info"]["name"] == "Orders API" and convert.count_requests(written) == 6


def test_child_env_drops_shipyard_path_keeps_users() -> None:
    from shipyard.postman.spec import _child_env

    env = _child_env({"SHIPYARD_ROOT": "/opt/sy", "PYTHONPATH": "/opt/sy/src:/work/lib", "INPUT_API_KEY": "k",
                      "PATH": "/bin"}, Path("/svc"), {"DEBUG": "1"})
    assert env == {"PYTHONPATH": "/svc:/work/lib", "PATH": "/bin", "DEBUG": "1"}


def test_validation_of_an_unknown_version_is_explained() -> None:
    with pytest.raises(UserError) as err:
        validate({"openapi": "4.0.0", "info": {}, "paths": {}}, "openapi.yaml")
    assert "unsupported OpenAPI version" in err.value.message


def test_moved_operation_keeps_its_item_id_through_the_operation_id() -> None:
    old_spec = orders()
    current = convert.to_collection(old_spec, name="Orders", digest="0" * 64)
    for n, item in enumerate(convert.walk(current["item"])):
        item["id"] = f"id-{n}"
    new_spec = copy.deepcopy(old_spec)
    new_spec["paths"]["/v2/customers/{customerId}"] = new_spec["paths"].pop("/customers/{customerId}")
    moved = convert.renames(old_spec, new_spec)
    assert moved == {"GET /v2/customers/{}": "GET /customers/{}"}
    new = convert.to_collection(new_spec, name="Orders", digest="1" * 64)
    convert.carry_ids(new, current, moved)
    old_id = next(i["id"] for i in convert.walk(current["item"]) if convert.item_key(i) == "GET /customers/{}")
    assert next(i["id"] for i in convert.walk(new["item"]) if convert.item_key(i) == "GET /v2/customers/{}") == old_id


def test_scripts_auth_and_user_variables_survive_an_update() -> None:
    current = convert.to_collection(orders(), name="Orders", digest="0" * 64)
    test_script = [{"listen": "test", "script": {"exec": ["pm.test('ok', () => pm.response.to.be.ok)"]}}]
    current["event"] = [{"listen": "prerequest", "script": {"exec": ["// login"]}}]
    current["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": "{{token}}"}]}
    current["variable"].append({"key": "token", "value": "", "type": "string"})
    for n, item in enumerate(convert.walk(current["item"])):
        item["id"] = f"id-{n}"
        if convert.item_key(item) == "GET /orders":
            item["event"] = test_script
    new = convert.to_collection(orders(), name="Orders", digest="1" * 64)
    convert.carry_ids(new, current)
    assert new["event"] == current["event"] and new["auth"] == current["auth"]
    assert [v["key"] for v in new["variable"]] == ["baseUrl", convert.SPEC_VARIABLE, "token"]
    listing = next(i for i in convert.walk(new["item"]) if convert.item_key(i) == "GET /orders")
    assert listing["event"] == test_script
