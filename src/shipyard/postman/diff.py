"""Breaking changes between the previously published spec and the new one.

Reported: removed operations; removed parameters; parameters (or request bodies) that became required,
including new required ones; changed success-response types (media type, top-level type, and removed or
re-typed properties down to a few levels).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from shipyard.postman.model import Operation, Resolver, operations

SIGNATURE_DEPTH = 3


@dataclass(frozen=True)
class Change:
    kind: str  # removed-operation | removed-parameter | newly-required-parameter | newly-required-body | ...
    operation: str  # "GET /items/{item_id}"
    detail: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def signature(schema: Any, resolver: Resolver, depth: int = 0, seen: tuple[str, ...] = ()) -> Any:
    """A comparable shape: "string", ["array", <items>], {"property": <shape>, ...}; None = unknown/any."""
    node, seen = resolver.deref(schema, seen)
    if not isinstance(node, dict) or depth > SIGNATURE_DEPTH:
        return None
    if isinstance(node.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            sub = signature(part, resolver, depth, seen)
            if isinstance(sub, dict):
                merged.update(sub)
            elif sub is not None:
                return sub
        return merged or None
    for key in ("oneOf", "anyOf"):
        if isinstance(node.get(key), list):
            options = [signature(o, resolver, depth, seen) for o in node[key]]
            options = [o for o in options if o != "null"]
            return options[0] if len(options) == 1 else None
    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind is None and "properties" in node:
        kind = "object"
    if kind == "object":
        props = node.get("properties")
        if not isinstance(props, dict) or not props:
            return "object"
        return {str(k): signature(v, resolver, depth + 1, seen) for k, v in props.items()}
    if kind == "array":
        return ["array", signature(node.get("items") or {}, resolver, depth + 1, seen)]
    if kind == "integer":
        return "integer"
    return kind if isinstance(kind, str) else None


def _describe(sig: Any) -> str:
    if isinstance(sig, dict):
        return "object"
    if isinstance(sig, list):
        return f"array of {_describe(sig[1])}"
    return str(sig) if sig is not None else "any"


def _compare(old: Any, new: Any, path: str, out: list[str]) -> None:
    """Append "property 'a.b[]' removed" / "type changed" findings; ``path`` is "" at the top."""
    if old is None or new is None:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for name, old_sub in old.items():
            sub = f"{path}.{name}" if path else name
            if name not in new:
                out.append(f"property '{sub}' removed")
            else:
                _compare(old_sub, new[name], sub, out)
        return
    if isinstance(old, list) and isinstance(new, list):
        _compare(old[1], new[1], f"{path}[]", out)
        return
    if (old == "object" and isinstance(new, dict)) or (new == "object" and isinstance(old, dict)):
        return
    if old != new and not (old == "integer" and new == "number"):
        what = f"property '{path}' type" if path and path != "[]" else "type"
        out.append(f"{what} changed from {_describe(old)} to {_describe(new)}")


def _success(op: Operation) -> dict[str, Any]:
    return {r.code: r for r in op.responses if r.code.startswith("2")}


def breaking_changes(
    old_spec: dict[str, Any], new_spec: dict[str, Any], *, reconstructed: bool = False
) -> list[Change]:
    old_ops = {op.key: op for op in operations(old_spec)}
    new_ops = {op.key: op for op in operations(new_spec)}
    old_res, new_res = Resolver(old_spec), Resolver(new_spec)
    changes: list[Change] = []
    for key, old in old_ops.items():
        label = f"{old.method} {old.path}"
        new = new_ops.get(key)
        if new is None:
            changes.append(Change("removed-operation", label, "operation removed"))
            continue
        label = f"{new.method} {new.path}"
        old_params = {(p.location, p.name): p for p in old.params if p.location != "path"}
        new_params = {(p.location, p.name): p for p in new.params if p.location != "path"}
        for (loc, name), _p in old_params.items():
            if (loc, name) not in new_params:
                changes.append(Change("removed-parameter", label, f"{loc} parameter '{name}' removed"))
        if reconstructed:
            continue
        for (loc, name), p in new_params.items():
            before = old_params.get((loc, name))
            if p.required and before is None:
                changes.append(Change("newly-required-parameter", label, f"new required {loc} parameter '{name}'"))
            elif p.required and before is not None and not before.required:
                changes.append(Change("newly-required-parameter", label, f"{loc} parameter '{name}' is now required"))
        if new.body_required and not old.body_required:
            changes.append(Change("newly-required-body", label, "request body is now required"))
        old_ok, new_ok = _success(old), _success(new)
        for code, old_resp in old_ok.items():
            new_resp = new_ok.get(code)
            if new_resp is None:
                if not new_ok:
                    changes.append(Change("changed-response-type", label, f"response {code} removed"))
                continue
            if old_resp.media_type and new_resp.media_type and old_resp.media_type != new_resp.media_type:
                changes.append(Change(
                    "changed-response-type", label,
                    f"response {code} media type changed from {old_resp.media_type} to {new_resp.media_type}",
                ))
                continue
            found: list[str] = []
            _compare(signature(old_resp.schema, old_res), signature(new_resp.schema, new_res), "", found)
            changes.extend(Change("changed-response-type", label, f"response {code}: {text}") for text in found)
    return changes
