"""One view of an OpenAPI 2.0/3.0/3.1 document that the converter and the breaking-change check share.

Local ``$ref``s (``#/...``) are resolved lazily with a cycle guard; anything else (an external file ref)
resolves to an empty schema rather than failing, since the validator has already accepted the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM = re.compile(r"\{[^}/]+\}")


def norm_path(path: str) -> str:
    """``/items/{item_id}`` -> ``/items/{}``: renaming a path parameter is not a different endpoint."""
    path = "/" + path.strip("/")
    return _PARAM.sub("{}", path)


def op_key(method: str, path: str) -> str:
    return f"{method.upper()} {norm_path(path)}"


class Resolver:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def lookup(self, ref: str) -> Any:
        if not ref.startswith("#/"):
            return {}
        node: Any = self.spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return {}
        return node

    def deref(self, node: Any, seen: tuple[str, ...] = ()) -> tuple[Any, tuple[str, ...]]:
        """Follow a chain of $refs; returns the target and the refs followed (for cycle checks)."""
        hops = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and hops < 32:
            ref = node["$ref"]
            if ref in seen:
                return {}, seen
            seen = (*seen, ref)
            node = self.lookup(ref)
            hops += 1
        return node, seen


@dataclass
class Param:
    name: str
    location: str  # path | query | header | cookie | formData
    required: bool
    schema: dict[str, Any]
    description: str = ""
    example: Any = None
    deprecated: bool = False


@dataclass
class Resp:
    code: str
    description: str
    media_type: str | None
    schema: dict[str, Any] | None


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    description: str
    tags: list[str]
    params: list[Param]
    body_media_type: str | None = None
    body_schema: dict[str, Any] | None = None
    body_required: bool = False
    body_example: Any = None
    responses: list[Resp] = field(default_factory=list)
    deprecated: bool = False

    @property
    def key(self) -> str:
        return op_key(self.method, self.path)


def version(spec: dict[str, Any]) -> str:
    if str(spec.get("swagger", "")).startswith("2"):
        return "2.0"
    text = str(spec.get("openapi", ""))
    return "3.1" if text.startswith("3.1") else "3.0"


def _pick_media(content: Any) -> tuple[str | None, dict[str, Any]]:
    if not isinstance(content, dict) or not content:
        return None, {}
    for preferred in ("application/json", "application/problem+json"):
        if preferred in content:
            return preferred, content[preferred] or {}
    for media, body in content.items():
        if "json" in media:
            return media, body or {}
    media = sorted(content)[0]
    return media, content[media] or {}


def _example_of(media_obj: dict[str, Any], resolver: Resolver) -> Any:
    if "example" in media_obj:
        return media_obj["example"]
    examples = media_obj.get("examples")
    if isinstance(examples, dict) and examples:
        first, _ = resolver.deref(examples[sorted(examples)[0]])
        if isinstance(first, dict) and "value" in first:
            return first["value"]
    return None


def _param(raw: Any, resolver: Resolver, v2: bool) -> Param | None:
    node, _ = resolver.deref(raw)
    if not isinstance(node, dict) or "name" not in node or "in" not in node:
        return None
    if v2 and node["in"] != "body":
        schema = {k: node[k] for k in ("type", "format", "items", "enum", "default", "minimum", "maximum") if k in node}
    else:
        schema = node.get("schema") or {}
        if not schema and isinstance(node.get("content"), dict):
            _, media = _pick_media(node["content"])
            schema = media.get("schema") or {}
    example = node.get("example", node.get("x-example"))
    return Param(
        name=str(node["name"]),
        location=str(node["in"]),
        required=bool(node.get("required", node["in"] == "path")),
        schema=schema if isinstance(schema, dict) else {},
        description=str(node.get("description") or ""),
        example=example,
        deprecated=bool(node.get("deprecated", False)),
    )


def operations(spec: dict[str, Any]) -> list[Operation]:
    """Every operation in document order (paths in order, methods in the order written)."""
    resolver = Resolver(spec)
    v2 = version(spec) == "2.0"
    ops: list[Operation] = []
    paths = spec.get("paths") or {}
    if not isinstance(paths, dict):
        return ops
    global_consumes = spec.get("consumes") or ["application/json"]
    global_produces = spec.get("produces") or ["application/json"]
    for path, item in paths.items():
        item, _ = resolver.deref(item)
        if not isinstance(item, dict):
            continue
        shared = [p for p in (_param(r, resolver, v2) for r in item.get("parameters") or []) if p]
        for method, raw_op in item.items():
            if method not in METHODS or not isinstance(raw_op, dict):
                continue
            own = [p for p in (_param(r, resolver, v2) for r in raw_op.get("parameters") or []) if p]
            merged: dict[tuple[str, str], Param] = {(p.location, p.name): p for p in shared}
            merged.update({(p.location, p.name): p for p in own})
            params = [p for p in merged.values() if p.location != "body"]
            op = Operation(
                method=method.upper(),
                path=str(path),
                operation_id=str(raw_op.get("operationId") or ""),
                summary=str(raw_op.get("summary") or ""),
                description=str(raw_op.get("description") or ""),
                tags=[str(t) for t in raw_op.get("tags") or []],
                params=params,
                deprecated=bool(raw_op.get("deprecated", False)),
            )
            if v2:
                body = next((p for p in merged.values() if p.location == "body"), None)
                form = [p for p in params if p.location == "formData"]
                consumes = raw_op.get("consumes") or global_consumes
                if body is not None:
                    op.body_media_type = str(consumes[0]) if consumes else "application/json"
                    op.body_schema = body.schema
                    op.body_required = body.required
                    op.body_example = body.example
                elif form:
                    multipart = any("multipart" in str(c) for c in consumes)
                    op.body_media_type = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
                    op.body_schema = {
                        "type": "object",
                        "properties": {p.name: p.schema for p in form},
                        "required": [p.name for p in form if p.required],
                    }
                    op.body_required = any(p.required for p in form)
                    op.params = [p for p in params if p.location != "formData"]
                produces = raw_op.get("produces") or global_produces
                for code, raw_resp in (raw_op.get("responses") or {}).items():
                    resp, _ = resolver.deref(raw_resp)
                    if not isinstance(resp, dict):
                        continue
                    schema = resp.get("schema")
                    op.responses.append(
                        Resp(str(code), str(resp.get("description") or ""),
                             str(produces[0]) if schema and produces else None, schema)
                    )
            else:
                raw_body, _ = resolver.deref(raw_op.get("requestBody"))
                if isinstance(raw_body, dict):
                    media, media_obj = _pick_media(raw_body.get("content"))
                    op.body_media_type = media
                    op.body_schema = media_obj.get("schema") or {}
                    op.body_required = bool(raw_body.get("required", False))
                    op.body_example = _example_of(media_obj, resolver)
                for code, raw_resp in (raw_op.get("responses") or {}).items():
                    resp, _ = resolver.deref(raw_resp)
                    if not isinstance(resp, dict):
                        continue
                    media, media_obj = _pick_media(resp.get("content"))
                    op.responses.append(
                        Resp(str(code), str(resp.get("description") or ""), media, media_obj.get("schema"))
                    )
            ops.append(op)
    return ops


def base_url(spec: dict[str, Any]) -> str:
    if version(spec) == "2.0":
        host = spec.get("host")
        if not host:
            return str(spec.get("basePath") or "/").rstrip("/") or ""
        scheme = (spec.get("schemes") or ["https"])[0]
        return f"{scheme}://{host}{spec.get('basePath') or ''}".rstrip("/")
    servers = spec.get("servers") or []
    if servers and isinstance(servers[0], dict):
        url = str(servers[0].get("url") or "")
        for name, var in (servers[0].get("variables") or {}).items():
            if isinstance(var, dict) and "default" in var:
                url = url.replace("{" + name + "}", str(var["default"]))
        return url.rstrip("/")
    return ""


def tag_order(spec: dict[str, Any], ops: list[Operation]) -> list[str]:
    order: list[str] = []
    for tag in spec.get("tags") or []:
        if isinstance(tag, dict) and tag.get("name") and tag["name"] not in order:
            order.append(str(tag["name"]))
    for op in ops:
        for tag in op.tags[:1]:
            if tag not in order:
                order.append(tag)
    return order


def tag_descriptions(spec: dict[str, Any]) -> dict[str, str]:
    return {
        str(t["name"]): str(t.get("description") or "")
        for t in spec.get("tags") or []
        if isinstance(t, dict) and t.get("name")
    }
