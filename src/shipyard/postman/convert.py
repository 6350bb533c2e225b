"""OpenAPI -> Postman collection v2.1, deterministic: the same spec and options give byte-identical JSON.

Folders by the first tag (in the order of the spec's ``tags`` list, then first use), requests in document
order, ``{{baseUrl}}`` as a collection variable, path variables as ``:name``, query/header parameters with
examples (optional ones disabled), request bodies and response examples generated from the schemas.

Shipyard's own state lives in the collection: a trailing ``shipyard-spec-sha256: <hex>`` line in the
description (the skip check) and the published spec, gzip+base64, in the ``shipyard-spec`` variable (the
breaking-change check of the next run).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from typing import Any

from shipyard.postman.examples import example, scalar_text
from shipyard.postman.model import Operation, Resolver, base_url, op_key, operations, tag_descriptions, tag_order

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
CONVERTER_VERSION = "1"
HASH_MARKER = "shipyard-spec-sha256:"
SPEC_VARIABLE = "shipyard-spec"
_STATUS = {
    "200": "OK", "201": "Created", "202": "Accepted", "204": "No Content", "301": "Moved Permanently",
    "302": "Found", "304": "Not Modified", "400": "Bad Request", "401": "Unauthorized", "403": "Forbidden",
    "404": "Not Found", "405": "Method Not Allowed", "409": "Conflict", "410": "Gone",
    "422": "Unprocessable Entity", "429": "Too Many Requests", "500": "Internal Server Error",
    "502": "Bad Gateway", "503": "Service Unavailable",
}
_HASH_LINE = re.compile(r"^\s*" + re.escape(HASH_MARKER) + r"\s*([0-9a-f]{64})\s*$", re.MULTILINE)


def canonical(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(spec: dict[str, Any], options: dict[str, str] | None = None) -> str:
    """Normalised hash: key order and YAML/JSON formatting do not matter; the converter version and the
    options that shape the collection (name, base URL) do."""
    digest = hashlib.sha256()
    digest.update(f"shipyard-postman/{CONVERTER_VERSION}\n".encode())
    digest.update(json.dumps(options or {}, sort_keys=True).encode() + b"\n")
    digest.update(canonical(spec).encode("utf-8"))
    return digest.hexdigest()


def pack_spec(spec: dict[str, Any]) -> str:
    return base64.b64encode(gzip.compress(canonical(spec).encode("utf-8"), mtime=0)).decode("ascii")


def unpack_spec(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(gzip.decompress(base64.b64decode(text)).decode("utf-8"))
    except (ValueError, OSError, EOFError):
        return None
    return value if isinstance(value, dict) else None


def stored_hash(collection: dict[str, Any]) -> str | None:
    description = (collection.get("info") or {}).get("description")
    if isinstance(description, dict):
        description = description.get("content")
    if not isinstance(description, str):
        return None
    found = _HASH_LINE.findall(description)
    return found[-1] if found else None


def stored_spec(collection: dict[str, Any]) -> dict[str, Any] | None:
    for var in collection.get("variable") or []:
        if isinstance(var, dict) and var.get("key") == SPEC_VARIABLE and isinstance(var.get("value"), str):
            return unpack_spec(var["value"])
    return None


def _url(op: Operation, resolver: Resolver) -> dict[str, Any]:
    segments = [s for s in op.path.strip("/").split("/") if s]
    path = [":" + s[1:-1] if s.startswith("{") and s.endswith("}") else s for s in segments]
    query = []
    variables = []
    for p in op.params:
        value = p.example if p.example is not None else example(p.schema, resolver)
        entry: dict[str, Any] = {"key": p.name, "value": scalar_text(value)}
        if p.description:
            entry["description"] = p.description
        if p.location == "query":
            if not p.required:
                entry["disabled"] = True
            query.append(entry)
        elif p.location == "path":
            variables.append(entry)
    enabled = [q for q in query if not q.get("disabled")]
    raw = "{{baseUrl}}/" + "/".join(path)
    if enabled:
        raw += "?" + "&".join(f"{q['key']}={q['value']}" for q in enabled)
    url: dict[str, Any] = {"raw": raw, "host": ["{{baseUrl}}"], "path": path}
    if query:
        url["query"] = query
    if variables:
        url["variable"] = variables
    return url


def _body(op: Operation, resolver: Resolver) -> dict[str, Any] | None:
    if not op.body_media_type:
        return None
    value = op.body_example if op.body_example is not None else example(op.body_schema or {}, resolver)
    media = op.body_media_type
    if media in ("application/x-www-form-urlencoded", "multipart/form-data") and isinstance(value, dict):
        mode = "urlencoded" if media.endswith("urlencoded") else "formdata"
        props, _ = resolver.deref(op.body_schema or {})
        props = props.get("properties") or {} if isinstance(props, dict) else {}
        fields = []
        for key, val in value.items():
            prop, _ = resolver.deref(props.get(key) or {})
            is_file = isinstance(prop, dict) and (prop.get("type") == "file" or prop.get("format") == "binary")
            if is_file and mode == "formdata":
                fields.append({"key": str(key), "type": "file", "src": []})
            else:
                fields.append({"key": str(key), "value": scalar_text(val), "type": "text"})
        return {"mode": mode, mode: fields}
    if "json" in media:
        raw = json.dumps(value, indent=2, ensure_ascii=False) if value is not None else ""
        return {"mode": "raw", "raw": raw, "options": {"raw": {"language": "json"}}}
    return {"mode": "raw", "raw": scalar_text(value)}


def _request(op: Operation, resolver: Resolver) -> dict[str, Any]:
    headers: list[dict[str, Any]] = []
    if op.body_media_type and op.body_media_type != "multipart/form-data":
        headers.append({"key": "Content-Type", "value": op.body_media_type})
    accept = next((r.media_type for r in op.responses if r.media_type and r.code.startswith("2")), None)
    if accept:
        headers.append({"key": "Accept", "value": accept})
    for p in op.params:
        if p.location == "header" and p.name.lower() not in ("content-type", "accept", "authorization"):
            value = p.example if p.example is not None else example(p.schema, resolver)
            entry: dict[str, Any] = {"key": p.name, "value": scalar_text(value)}
            if p.description:
                entry["description"] = p.description
            if not p.required:
                entry["disabled"] = True
            headers.append(entry)
    request: dict[str, Any] = {"method": op.method, "header": headers, "url": _url(op, resolver)}
    body = _body(op, resolver)
    if body:
        request["body"] = body
    text = "\n\n".join(t for t in (op.description,) if t)
    if op.deprecated:
        text = ("**Deprecated.**\n\n" + text).strip()
    if text:
        request["description"] = text
    return request


def _responses(op: Operation, resolver: Resolver, request: dict[str, Any]) -> list[dict[str, Any]]:
    result = []
    for resp in op.responses:
        code = int(resp.code) if resp.code.isdigit() else 200
        entry: dict[str, Any] = {
            "name": resp.description or f"{resp.code} response",
            "originalRequest": {"method": request["method"], "header": [], "url": request["url"]},
            "status": _STATUS.get(resp.code, resp.code),
            "code": code,
            "header": [{"key": "Content-Type", "value": resp.media_type}] if resp.media_type else [],
            "cookie": [],
        }
        if resp.schema is not None:
            value = example(resp.schema, resolver)
            if resp.media_type and "json" in resp.media_type:
                entry["_postman_previewlanguage"] = "json"
                entry["body"] = json.dumps(value, indent=2, ensure_ascii=False)
            else:
                entry["_postman_previewlanguage"] = "text"
                entry["body"] = scalar_text(value)
        result.append(entry)
    return result


def _item(op: Operation, resolver: Resolver) -> dict[str, Any]:
    request = _request(op, resolver)
    return {
        "name": op.summary or op.operation_id or f"{op.method} {op.path}",
        "request": request,
        "response": _responses(op, resolver, request),
    }


def description(spec: dict[str, Any], digest: str, source: str = "") -> str:
    info = spec.get("info") or {}
    parts = [str(info.get("description") or "").strip()]
    footer = f"Published by Shipyard{(' from ' + source) if source else ''}. Version {info.get('version', '?')}."
    parts.append("---\n" + footer + "\n" + f"{HASH_MARKER} {digest}")
    return "\n\n".join(p for p in parts if p)


def to_collection(
    spec: dict[str, Any], *, name: str, digest: str, base: str | None = None, source: str = ""
) -> dict[str, Any]:
    """The collection (no ids: :func:`carry_ids` adds the current collection's ids before an update)."""
    resolver = Resolver(spec)
    ops = operations(spec)
    folders: dict[str, list[dict[str, Any]]] = {tag: [] for tag in tag_order(spec, ops)}
    top: list[dict[str, Any]] = []
    for op in ops:
        item = _item(op, resolver)
        (folders[op.tags[0]] if op.tags else top).append(item)
    tag_text = tag_descriptions(spec)
    items: list[dict[str, Any]] = []
    for tag, children in folders.items():
        if not children:
            continue
        folder: dict[str, Any] = {"name": tag, "item": children}
        if tag_text.get(tag):
            folder["description"] = tag_text[tag]
        items.append(folder)
    items.extend(top)
    return {
        "info": {"name": name, "description": description(spec, digest, source), "schema": SCHEMA_URL},
        "item": items,
        "variable": [
            {"key": "baseUrl", "value": base if base is not None else base_url(spec), "type": "string"},
            {"key": SPEC_VARIABLE, "value": pack_spec(spec), "type": "string"},
        ],
    }


# ---------------------------------------------------------------------------------------- identity
def _url_path(request: dict[str, Any]) -> str:
    url = request.get("url")
    if isinstance(url, str):
        raw = url.split("?", 1)[0]
        raw = re.sub(r"^\{\{[^}]+\}\}", "", raw)
        raw = re.sub(r"^https?://[^/]+", "", raw)
        segments = [s for s in raw.split("/") if s]
    elif isinstance(url, dict):
        path = url.get("path") or []
        segments = path if isinstance(path, list) else [s for s in str(path).split("/") if s]
        if not segments and isinstance(url.get("raw"), str):
            return _url_path({"url": url["raw"]})
    else:
        segments = []
    parts = []
    for seg in segments:
        seg = str(seg)
        if seg.startswith(":") or (seg.startswith("{") and seg.endswith("}")):
            parts.append("{}")
        else:
            parts.append(seg)
    return "/" + "/".join(parts)


def item_key(item: dict[str, Any]) -> str | None:
    request = item.get("request")
    if not isinstance(request, dict):
        return None
    return op_key(str(request.get("method") or "GET"), _url_path(request))


def walk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        out.append(item)
        if isinstance(item.get("item"), list):
            out.extend(walk(item["item"]))
    return out


def renames(old_spec: dict[str, Any], new_spec: dict[str, Any]) -> dict[str, str]:
    """new key -> old key for operations that moved (other method/path) but kept their operationId."""
    old_by_id = {op.operation_id: op.key for op in operations(old_spec) if op.operation_id}
    new_keys = {op.key for op in operations(new_spec)}
    moved: dict[str, str] = {}
    for op in operations(new_spec):
        old_key = old_by_id.get(op.operation_id) if op.operation_id else None
        if old_key and old_key != op.key and old_key not in new_keys:
            moved[op.key] = old_key
    return moved


def carry_ids(new: dict[str, Any], current: dict[str, Any], moved: dict[str, str] | None = None) -> dict[str, int]:
    """Copy the ids of ``current`` (the collection as fetched) onto ``new``, in place.

    Requests match by method + path (path parameter names ignored), or through ``moved`` (see :func:`renames`)
    when the operation moved but kept its operationId; folders by name; responses by code + name within a
    matched request. Ids are only ever taken from the same collection (Postman rejects ids
    copied from another one). Returns counts: kept, new, removed.
    """
    by_key: dict[str, dict[str, Any]] = {}
    folders: dict[str, dict[str, Any]] = {}
    for item in walk(current.get("item") or []):
        if "item" in item and isinstance(item.get("item"), list):
            folders.setdefault(str(item.get("name")), item)
        else:
            key = item_key(item)
            if key:
                by_key.setdefault(key, item)
    used: set[str] = set()
    kept = fresh = 0
    for item in walk(new.get("item") or []):
        if "item" in item:
            old = folders.get(str(item.get("name")))
        else:
            key = item_key(item)
            old = by_key.get(key) if key else None
            if old is None and key and moved and key in moved:
                old = by_key.get(moved[key])
        old_id = old.get("id") if old else None
        if old and isinstance(old_id, str) and old_id not in used:
            item["id"] = old_id
            used.add(old_id)
            kept += 1
            _keep_user_additions(item, old)
            if "request" in item:
                old_responses = {
                    (r.get("code"), r.get("name")): r.get("id")
                    for r in old.get("response") or [] if isinstance(r, dict)
                }
                for resp in item.get("response") or []:
                    rid = old_responses.get((resp.get("code"), resp.get("name")))
                    if isinstance(rid, str) and rid not in used:
                        resp["id"] = rid
                        used.add(rid)
        else:
            item.pop("id", None)
            fresh += 1
    old_total = len(by_key) + len(folders)
    info = current.get("info") or {}
    if info.get("_postman_id"):
        new.setdefault("info", {})["_postman_id"] = info["_postman_id"]
    _keep_user_additions(new, current)
    ours = {v.get("key") for v in new.get("variable") or []}
    extra = [v for v in current.get("variable") or [] if isinstance(v, dict) and v.get("key") not in ours]
    if extra:
        new["variable"] = [*new.get("variable", []), *({k: v for k, v in var.items() if k != "id"} for var in extra)]
    return {"kept": kept, "new": fresh, "removed": max(0, old_total - kept)}


def _keep_user_additions(new: dict[str, Any], old: dict[str, Any]) -> None:
    """What people add in Postman and the spec cannot say: scripts/tests (``event``) and ``auth`` on the
    collection, folders and requests survive an update."""
    if old.get("event") and not new.get("event"):
        new["event"] = old["event"]
    if old.get("auth") and not new.get("auth"):
        new["auth"] = old["auth"]
    old_request, new_request = old.get("request"), new.get("request")
    if isinstance(old_request, dict) and isinstance(new_request, dict) and old_request.get("auth") \
            and not new_request.get("auth"):
        new_request["auth"] = old_request["auth"]


def reconstruct(collection: dict[str, Any]) -> dict[str, Any]:
    """A minimal OpenAPI document from a collection that has no stored spec (made by hand or by import):
    enough for the removed-operation and removed-parameter checks."""
    paths: dict[str, dict[str, Any]] = {}
    for item in walk(collection.get("item") or []):
        request = item.get("request")
        if not isinstance(request, dict) or "item" in item:
            continue
        path = _url_path(request)
        pieces = path.split("{}")
        path = "".join(piece + (f"{{p{n}}}" if n < len(pieces) - 1 else "") for n, piece in enumerate(pieces))
        params = []
        url = request.get("url")
        if isinstance(url, dict):
            for q in url.get("query") or []:
                if isinstance(q, dict) and q.get("key"):
                    params.append({"name": str(q["key"]), "in": "query", "required": False})
        method = str(request.get("method") or "GET").lower()
        paths.setdefault(path, {})[method] = {"parameters": params, "responses": {}}
    return {"openapi": "3.0.3", "info": {"title": "reconstructed", "version": "0"}, "paths": paths}


def count_requests(collection: dict[str, Any]) -> int:
    return sum(1 for i in walk(collection.get("item") or []) if "request" in i)


def keys(collection: dict[str, Any]) -> set[str]:
    return {k for k in (item_key(i) for i in walk(collection.get("item") or []) if "request" in i) if k}


__all__ = ["carry_ids", "op_key", "reconstruct", "spec_hash", "stored_hash", "stored_spec", "to_collection"]
