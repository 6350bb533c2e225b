"""``mode: spec-hub``: publish the spec itself to Postman's Spec Hub and let Postman generate (first run) and
synchronise (later runs) the collection from it.

Identity: ``spec-id`` (input or ``.shipyard/postman.json``), else the spec named ``collection-name`` in the
workspace. The root file holds the canonical JSON of the document, so its normalised hash is the skip check
and its previous content is the baseline for breaking changes. Creates look up by name before a retry.
"""

from __future__ import annotations

import json
from typing import Any

from shipyard.postman import convert
from shipyard.postman.api import PostmanApi, SpecHubApi
from shipyard.postman.diff import Change, breaking_changes
from shipyard.postman.spec import parse
from shipyard.runtime import Action, UserError

ROOT_PATH = "index.json"


def spec_type(version: str) -> str:
    return {"2.0": "OPENAPI:2.0", "3.0": "OPENAPI:3.0", "3.1": "OPENAPI:3.1"}[version]


def content_of(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def publish(
    action: Action,
    api: PostmanApi,
    document: dict[str, Any],
    version: str,
    *,
    name: str,
    workspace: str | None,
    spec_id: str | None,
    rows: list[tuple[str, object]],
    dry_run: bool,
    force: bool,
    fail_on_breaking: bool,
    task_timeout: float,
) -> dict[str, Any]:
    hub = SpecHubApi(api)
    content = content_of(document)
    digest = convert.spec_hash(document, {"name": name, "mode": "spec-hub"})
    spec_id = spec_id or _find(hub, workspace, name)
    if spec_id is None:
        assert workspace is not None
        return _create(action, hub, version, content, name=name, workspace=workspace, rows=rows, dry_run=dry_run,
                       task_timeout=task_timeout)
    return _update(action, hub, document, content, digest, spec_id, name=name, rows=rows, dry_run=dry_run,
                   force=force, fail_on_breaking=fail_on_breaking, task_timeout=task_timeout)


def _find(hub: SpecHubApi, workspace: str | None, name: str) -> str | None:
    """The spec named ``name`` in the workspace (None: not yet created)."""
    if not workspace:
        raise UserError("Spec Hub mode needs `workspace` or `spec-id`.", "set `workspace:`.", input_name="workspace")
    same = hub.find_by_name(workspace, name)
    if len(same) > 1:
        raise UserError(
            f"Workspace {workspace} has {len(same)} specs named '{name}'.",
            "set `spec-id:` to this service's spec.", input_name="spec-id",
        )
    return str(same[0]["id"]) if same else None


def _create(action: Action, hub: SpecHubApi, version: str, content: str, *, name: str, workspace: str,
            rows: list[tuple[str, object]], dry_run: bool, task_timeout: float) -> dict[str, Any]:
    """First run: create the spec (adopting one a failed create left) and let Postman generate the collection."""
    result: dict[str, Any] = {"uid": None, "spec_id": None, "changes": []}
    action.set_output("breaking-changes", "[]")
    action.set_output("changed", "true")
    if dry_run:
        rows.append(("Result", f"would create spec '{name}' in workspace {workspace} (dry run)"))
        return result

    def lookup() -> dict[str, Any] | None:
        hits = hub.find_by_name(workspace, name)
        return hits[0] if hits else None

    created, adopted = hub.create(workspace, name, spec_type(version), ROOT_PATH, content, lookup)
    spec_id = str(created.get("id") or "")
    result["spec_id"] = spec_id
    task = hub.generate(spec_id, name)
    done = hub.wait(f"/specs/{spec_id}/tasks/{task}", task_timeout)
    if done.get("status") != "completed":
        raise UserError(f"Postman could not generate a collection from spec {spec_id}: {done}.",
                        "open the spec in Spec Hub and check its errors; then re-run.")
    resources = (done.get("details") or {}).get("resources") or [{}]
    result["uid"] = str(resources[0].get("id") or "")
    rows.append(("Result", "spec created, collection generated" + (" (adopted after an error)" if adopted else "")))
    return result


def _update(action: Action, hub: SpecHubApi, document: dict[str, Any], content: str, digest: str, spec_id: str, *,
            name: str, rows: list[tuple[str, object]], dry_run: bool, force: bool, fail_on_breaking: bool,
            task_timeout: float) -> dict[str, Any]:
    """Later runs: skip when the root file has the same normalised hash; else report breaking changes, update
    the root file and synchronise (or generate) the collection."""
    changes: list[Change] = []
    result: dict[str, Any] = {"uid": None, "spec_id": spec_id, "changes": changes}
    root = hub.root_file(spec_id)
    old_doc: dict[str, Any] | None = None
    if root and isinstance(root.get("content"), str):
        try:
            old_doc = parse(root["content"], f"spec {spec_id} root file")
        except UserError:
            old_doc = None
    generated = hub.generated(spec_id)
    uid = str(generated[0].get("id")) if generated else None
    result["uid"] = uid
    if old_doc is not None and convert.spec_hash(old_doc, {"name": name, "mode": "spec-hub"}) == digest and uid \
            and not force:
        action.set_output("changed", "false")
        action.set_output("breaking-changes", "[]")
        rows.append(("Result", "unchanged: the spec in Spec Hub has the same normalised hash; skipped"))
        return result
    if old_doc is not None:
        changes.extend(breaking_changes(old_doc, document))
    action.set_output("breaking-changes", json.dumps([c.as_dict() for c in changes]))
    if changes and fail_on_breaking:
        action.set_output("changed", "false")
        action.summary.heading(f"Breaking changes ({len(changes)})", 4).table(
            ["kind", "operation", "change"], [(c.kind, c.operation, c.detail) for c in changes]
        )
        raise UserError(
            f"{len(changes)} breaking change(s) against spec {spec_id}; not published (fail-on-breaking is true).",
            "restore compatibility, or publish deliberately with `fail-on-breaking: false`.",
            input_name="fail-on-breaking",
        )
    action.set_output("changed", "true")
    if dry_run:
        rows.append(("Result", f"would update spec {spec_id} and synchronise its collection (dry run)"))
        return result
    hub.update_file(spec_id, str((root or {}).get("path") or ROOT_PATH), content)
    if uid:
        task = hub.synchronize(uid, spec_id)
        done = hub.wait(f"/collections/{uid}/tasks/{task}", task_timeout)
        what = "spec updated, collection synchronised"
    else:
        task = hub.generate(spec_id, name)
        done = hub.wait(f"/specs/{spec_id}/tasks/{task}", task_timeout)
        resources = (done.get("details") or {}).get("resources") or [{}]
        result["uid"] = str(resources[0].get("id") or "")
        what = "spec updated, collection generated"
    if done.get("status") != "completed":
        raise UserError(f"Postman's Spec Hub task failed: {done}.", "open the spec in Spec Hub, check it, re-run.")
    rows.append(("Result", what))
    return result
