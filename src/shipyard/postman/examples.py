"""Example values from JSON schemas, deterministic and bounded (depth and breadth), so deeply nested or
recursive schemas never blow up the way openapi-to-postman's "Too many levels of nesting" does."""

from __future__ import annotations

from typing import Any

from shipyard.postman.model import Resolver

MAX_DEPTH = 6
MAX_PROPERTIES = 60

_FORMATS: dict[str, Any] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "user@example.com",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "uri": "https://example.com",
    "url": "https://example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "U2hpcHlhcmQ=",
    "binary": "<binary>",
    "password": "********",
}


def example(schema: Any, resolver: Resolver, depth: int = 0, seen: tuple[str, ...] = ()) -> Any:
    node, seen = resolver.deref(schema, seen)
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return None
    for key in ("example", "const", "default"):
        if key in node:
            return node[key]
    examples = node.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    if isinstance(node.get("allOf"), list):
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            value = example(part, resolver, depth + 1, seen)
            if isinstance(value, dict):
                merged.update(value)
            elif value is not None and not merged:
                return value
        extra = {k: v for k, v in node.items() if k != "allOf"}
        if extra.get("properties"):
            value = example(extra, resolver, depth + 1, seen)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    for key in ("oneOf", "anyOf"):
        options = node.get(key)
        if isinstance(options, list) and options:
            for option in options:
                target, _ = resolver.deref(option, seen)
                if isinstance(target, dict) and target.get("type") == "null":
                    continue
                return example(option, resolver, depth + 1, seen)
            return None
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind is None:
        if "properties" in node:
            kind = "object"
        elif "items" in node:
            kind = "array"
    if kind == "object":
        props = node.get("properties") or {}
        result: dict[str, Any] = {}
        for name in list(props)[:MAX_PROPERTIES]:
            value = example(props[name], resolver, depth + 1, seen)
            result[str(name)] = value
        return result
    if kind == "array":
        item = example(node.get("items") or {}, resolver, depth + 1, seen)
        return [] if item is None else [item]
    if kind == "string":
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS:
            return _FORMATS[fmt]
        return "string"
    if kind == "integer":
        return int(node.get("minimum", 0) or 0)
    if kind == "number":
        return float(node.get("minimum", 0) or 0)
    if kind == "boolean":
        return True
    return None


def scalar_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)
