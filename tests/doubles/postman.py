"""A Postman API double, faithful to the behaviour this project depends on (see the Postman research note).

* ``x-api-key`` auth (header name case-insensitive): missing key -> 401 AuthenticationError "API Key missing",
  unknown key -> 401 AuthenticationError "Invalid API Key".
* The three error shapes: ``{"error":{"name","message"}}`` (collections, auth, roles), the newer problem shape
  ``{"type","title","detail","status"}`` (workspaces) and ``{"error":"rateLimited","message"}`` (429).
* Rate limits per key: 300 requests per 60 s (configurable) and 10 per 10 s on ``/import/*``, with the headers
  in both spellings on every answer (RateLimit, RateLimit-Policy, (X-)RateLimit-Limit/Remaining/Reset,
  (X-)RateLimit-RetryAfter/RetryAfter on 429, monthly quota).
* ``POST /import/openapi`` creates a NEW collection on every call; ``POST /collections`` creates one.
* ``PUT /collections/{id}`` replaces the whole collection: items sent without ids are (re)created with new ids,
  items left out are deleted, ids that belong to another collection are rejected (400). ``Prefer:
  respond-async`` answers 202 with a task that ``GET /collection-updates-tasks/{id}`` reports in-progress for
  ``task_polls`` polls and then successful (or failed when ``fail_tasks``).
* Roles: keys are "editor" or "viewer" (viewer writes -> 403 forbiddenError); unknown workspace -> 404.
* Spec Hub: ``/specs?workspaceId=`` (12 MB per file, one ROOT file), ``PATCH /specs/{id}/files/{path}`` (exactly
  one of content/name/type), ``POST /specs/{id}/generations/collection`` (202 + task; 423 while one runs),
  ``PUT /collections/{uid}/synchronizations?specId=`` (only for collections generated from that spec), tasks
  on ``/specs/{id}/tasks/{t}`` and ``/collections/{uid}/tasks/{t}`` (pending for ``task_polls`` polls).
* Faults come from the base class (``inject("applied_status", 500, match="POST /collections")``: the handler
  runs, the answer is a 500).
"""

from __future__ import annotations

import copy
import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.doubles.base import DoubleServer, Fault, RateLimiter, Request, Response, json_response, route

MAX_BODY = 100 * 1024 * 1024


@dataclass
class Key:
    user_id: int
    username: str
    role: str = "editor"  # editor | viewer


@dataclass
class StoredCollection:
    id: str
    owner: int
    workspace: str
    data: dict[str, Any]
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @property
    def uid(self) -> str:
        return f"{self.owner}-{self.id}"


def _err(status: int, name: str, message: str) -> Response:
    return json_response({"error": {"name": name, "message": message}}, status)


def _problem(status: int, title: str, detail: str) -> Response:
    slug = title.lower().replace(" ", "-")
    body = {"type": f"https://api.postman.com/problems/{slug}", "title": title, "detail": detail, "status": status}
    return json_response(body, status)


class PostmanDouble(DoubleServer):
    name = "postman"

    def __init__(self, *, per_minute: int = 300, window: float = 60.0, import_limit: int = 10,
                 import_window: float = 10.0, task_polls: int = 2) -> None:
        super().__init__()
        self.keys: dict[str, Key] = {}
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.collections: dict[str, StoredCollection] = {}
        self.item_owner: dict[str, str] = {}  # item/folder/response id -> collection id
        self.tasks: dict[str, dict[str, Any]] = {}
        self.task_polls = task_polls
        self.fail_tasks = False
        self.limiter = RateLimiter(per_minute, window)
        self.import_limiter = RateLimiter(import_limit, import_window)
        self.specs: dict[str, dict[str, Any]] = {}
        self.spec_tasks: dict[str, dict[str, Any]] = {}
        self.per_minute = per_minute
        self.window = window
        self.month_used = 0

    # ------------------------------------------------------------------ setup helpers
    def add_key(self, key: str, *, role: str = "editor", user_id: int | None = None, username: str = "ci") -> None:
        self.keys[key] = Key(user_id or 1000 + len(self.keys), username, role)

    def add_workspace(self, workspace_id: str, name: str = "APIs", type_: str = "team") -> None:
        self.workspaces[workspace_id] = {"id": workspace_id, "name": name, "type": type_, "visibility": type_}

    def in_workspace(self, workspace_id: str) -> list[StoredCollection]:
        return [c for c in self.collections.values() if c.workspace == workspace_id]

    def collection(self, ref: str) -> StoredCollection | None:
        cid = ref.split("-", 1)[1] if ref.count("-") == 5 else ref
        return self.collections.get(cid)

    # ------------------------------------------------------------------ framework hooks
    def authenticate(self, req: Request) -> Response | None:
        key = req.header("x-api-key")
        if not key:
            return _err(401, "AuthenticationError", "API Key missing. Every request requires an API Key to be sent.")
        if key not in self.keys:
            return _err(401, "AuthenticationError", "Invalid API Key. Every request requires a valid API Key to be sent.")
        return None

    def _limit_headers(self, key: str, limiter: RateLimiter) -> dict[str, str]:
        remaining = limiter.remaining(key)
        reset_in = limiter.reset_in(key)
        reset = math.ceil(reset_in)
        return {
            "RateLimit": f"limit={limiter.limit}, remaining={remaining}, reset={reset}",
            "RateLimit-Policy": f"{limiter.limit};w={int(limiter.window)}",
            "RateLimit-Limit": str(limiter.limit),
            "X-RateLimit-Limit": str(limiter.limit),
            "RateLimit-Remaining": str(remaining),
            "X-RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
            "X-RateLimit-Reset": str(math.ceil(time.time() + reset_in)),
            "RateLimit-Limit-Month": "1000000",
            "RateLimit-Remaining-Month": str(max(0, 1000000 - self.month_used)),
        }

    def rate_limit(self, req: Request) -> Response | None:
        key = req.header("x-api-key")
        for limiter in ([self.import_limiter] if req.path.startswith("/import/") else []) + [self.limiter]:
            wait = limiter.allow(key)
            if wait:
                retry = max(1, math.ceil(wait))
                headers = self._limit_headers(key, limiter)
                headers.update({"RetryAfter": str(retry), "X-RateLimit-RetryAfter": str(retry)})
                body = {"error": "rateLimited",
                        "message": f"Rate limit exceeded. Please retry after {int(time.time()) + retry}"}
                return Response(429, body, headers)
        self.month_used += 1
        return None

    def fault_response(self, fault: Fault, req: Request) -> Response:
        if fault.body is not None:
            return Response(fault.status, fault.body, dict(fault.headers))
        if fault.status == 429:
            headers = {"RetryAfter": "1", "X-RateLimit-RetryAfter": "1", **fault.headers}
            body = {"error": "rateLimited", "message": f"Rate limit exceeded. Please retry after {int(time.time()) + 1}"}
            return Response(429, body, headers)
        names = {500: "serverError", 502: "badGateway", 503: "serviceUnavailable", 504: "gatewayTimeout"}
        return Response(fault.status, {"error": {"name": names.get(fault.status, "serverError"),
                                                 "message": "Something went wrong. Please try again."}},
                        dict(fault.headers))

    def dispatch(self, req: Request) -> tuple[Response, str | None]:
        response, fault = super().dispatch(req)
        key = req.header("x-api-key")
        if key in self.keys and response.status != 429:
            limiter = self.import_limiter if req.path.startswith("/import/") else self.limiter
            for name, value in self._limit_headers(key, limiter).items():
                response.headers.setdefault(name, value)
        return response, fault

    def not_found(self, req: Request) -> Response:
        return _err(404, "notFound", f"Requested resource not found: {req.method} {req.path}")

    # ------------------------------------------------------------------ helpers
    def _key(self, req: Request) -> Key:
        return self.keys[req.header("x-api-key")]

    def _writer(self, req: Request) -> Response | None:
        if self._key(req).role != "editor":
            return _err(403, "forbiddenError", "You are not permitted to perform the action.")
        return None

    def _assign_ids(self, items: list[Any], cid: str, keep: set[str]) -> Response | None:
        """Give every item/folder/response an id; keep ids of this collection; reject other collections' ids."""
        for item in items:
            if not isinstance(item, dict):
                return _err(400, "malformedRequestError", "Found 1 errors with the supplied collection.")
            for node in [item, *[r for r in item.get("response") or [] if isinstance(r, dict)]]:
                given = node.get("id")
                if given is not None:
                    owner = self.item_owner.get(str(given))
                    if owner is not None and owner != cid:
                        return _err(400, "invalidParamsError",
                                    f"The specified item ID {given} already exists in another collection. Remove "
                                    "the id, uid and postman_id values to copy items between collections.")
                    if owner is None or str(given) in keep:
                        node["id"] = str(given)
                    else:
                        node["id"] = str(uuid.uuid4())
                else:
                    node["id"] = str(uuid.uuid4())
                node.pop("uid", None)
            if isinstance(item.get("item"), list):
                bad = self._assign_ids(item["item"], cid, keep)
                if bad:
                    return bad
        return None

    def _ids(self, items: list[Any]) -> set[str]:
        found: set[str] = set()
        for item in items or []:
            if isinstance(item, dict):
                if item.get("id"):
                    found.add(str(item["id"]))
                found |= {str(r["id"]) for r in item.get("response") or [] if isinstance(r, dict) and r.get("id")}
                found |= self._ids(item.get("item") or [])
        return found

    def _validate(self, body: Any) -> tuple[dict[str, Any] | None, Response | None]:
        if not isinstance(body, dict) or not isinstance(body.get("collection"), dict):
            return None, _err(400, "paramMissingError", "Parameter is missing in the request.")
        col = body["collection"]
        info = col.get("info")
        schema = str(info.get("schema", "")) if isinstance(info, dict) else ""
        if not isinstance(info, dict) or not info.get("name") or not schema.endswith("v2.1.0/collection.json"):
            return None, _err(400, "malformedRequestError",
                              "Found 1 errors with the supplied collection. info: must have name and schema")
        if not isinstance(col.get("item", []), list):
            return None, _err(400, "malformedRequestError", "Found 1 errors with the supplied collection. item")
        return copy.deepcopy(col), None

    def _store(self, workspace: str, col: dict[str, Any], owner: int) -> StoredCollection | Response:
        cid = str(uuid.uuid4())
        col.setdefault("info", {}).pop("_postman_id", None)
        bad = self._assign_ids(col.get("item") or [], cid, keep=set())
        if bad:
            return bad
        col["info"]["_postman_id"] = cid
        stored = StoredCollection(cid, owner, workspace, col)
        self.collections[cid] = stored
        for i in self._ids(col.get("item") or []):
            self.item_owner[i] = cid
        return stored

    def _render(self, stored: StoredCollection) -> dict[str, Any]:
        data = copy.deepcopy(stored.data)

        def add_uids(items: list[Any]) -> None:
            for item in items:
                item["uid"] = f"{stored.owner}-{item['id']}"
                for resp in item.get("response") or []:
                    resp["uid"] = f"{stored.owner}-{resp['id']}"
                add_uids(item.get("item") or [])

        add_uids(data.get("item") or [])
        data["info"].update({"_postman_id": stored.id, "uid": stored.uid,
                             "updatedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(stored.updated))})
        return data

    def _summary(self, stored: StoredCollection) -> dict[str, Any]:
        return {"id": stored.id, "name": stored.data["info"]["name"], "owner": str(stored.owner),
                "uid": stored.uid, "isPublic": False,
                "createdAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(stored.created)),
                "updatedAt": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(stored.updated))}

    # ------------------------------------------------------------------ routes
    @route("GET", r"/me")
    def me(self, req: Request) -> Response:
        key = self._key(req)
        return json_response({"user": {"id": key.user_id, "username": key.username, "teamId": 1}})

    @route("GET", r"/workspaces")
    def list_workspaces(self, req: Request) -> Response:
        return json_response({"workspaces": [dict(w) for w in self.workspaces.values()]})

    @route("GET", r"/workspaces/(?P<wid>[^/]+)")
    def get_workspace(self, req: Request) -> Response:
        ws = self.workspaces.get(req.params["wid"])
        if ws is None:
            return _problem(404, "Workspace not found", "We could not find the workspace you are looking for.")
        cols = [{"id": c.id, "name": c.data["info"]["name"], "uid": c.uid} for c in self.in_workspace(ws["id"])]
        return json_response({"workspace": {**ws, "collections": cols}})

    @route("GET", r"/collections")
    def list_collections(self, req: Request) -> Response:
        cols = list(self.collections.values())
        if "workspace" in req.query:
            if req.query["workspace"] not in self.workspaces:
                return _problem(404, "Workspace not found", "We could not find the workspace you are looking for.")
            cols = [c for c in cols if c.workspace == req.query["workspace"]]
        if "name" in req.query:
            cols = [c for c in cols if c.data["info"]["name"] == req.query["name"]]
        return json_response({"collections": [self._summary(c) for c in cols]})

    @route("GET", r"/collections/(?P<cid>[^/]+)")
    def get_collection(self, req: Request) -> Response:
        stored = self.collection(req.params["cid"])
        if stored is None:
            return _err(404, "instanceNotFoundError", "We could not find the collection you are looking for")
        return json_response({"collection": self._render(stored)})

    @route("POST", r"/collections")
    def create_collection(self, req: Request) -> Response:
        denied = self._writer(req)
        if denied:
            return denied
        workspace = req.query.get("workspace", "")
        if workspace and workspace not in self.workspaces:
            return _problem(404, "Workspace not found", "We could not find the workspace you are looking for.")
        if len(req.body) > MAX_BODY:
            return _err(413, "requestTooLarge", "The request body is too large.")
        col, bad = self._validate(req.json())
        if bad or col is None:
            return bad or _err(400, "malformedRequestError", "bad collection")
        stored = self._store(workspace, col, self._key(req).user_id)
        if isinstance(stored, Response):
            return stored
        return json_response({"collection": {"id": stored.id, "name": col["info"]["name"], "uid": stored.uid}})

    @route("PUT", r"/collections/(?P<cid>[^/]+)")
    def put_collection(self, req: Request) -> Response:
        denied = self._writer(req)
        if denied:
            return denied
        stored = self.collection(req.params["cid"])
        if stored is None:
            return _err(404, "instanceNotFoundError", "We could not find the collection you are looking for")
        if len(req.body) > MAX_BODY:
            return _err(413, "requestTooLarge", "The request body is too large.")
        col, bad = self._validate(req.json())
        if bad or col is None:
            return bad or _err(400, "malformedRequestError", "bad collection")
        given_pid = col["info"].get("_postman_id")
        if given_pid and given_pid != stored.id:
            return _err(400, "invalidParamsError", "The collection ID in the body does not match the URL.")
        before = self._ids(stored.data.get("item") or [])
        bad = self._assign_ids(col.get("item") or [], stored.id, keep=before)
        if bad:
            return bad
        after = self._ids(col.get("item") or [])
        for gone in before - after:
            self.item_owner.pop(gone, None)
        for new in after:
            self.item_owner[new] = stored.id
        col["info"]["_postman_id"] = stored.id
        stored.data = col
        stored.updated = time.time()
        summary = {"id": stored.id, "name": col["info"]["name"], "uid": stored.uid}
        if req.header("prefer").lower() == "respond-async":
            task_id = str(uuid.uuid4())
            self.tasks[task_id] = {"polls": 0, "collection": stored.id}
            return json_response({"task": {"id": task_id, "status": "in-progress"}}, 202)
        return json_response({"collection": summary})

    @route("GET", r"/collection-updates-tasks/(?P<tid>[^/]+)")
    def get_task(self, req: Request) -> Response:
        task = self.tasks.get(req.params["tid"])
        if task is None:
            return _err(404, "instanceNotFoundError", "We could not find the task you are looking for")
        task["polls"] += 1
        status = "in-progress" if task["polls"] <= self.task_polls else ("failed" if self.fail_tasks else "successful")
        return json_response({"id": req.params["tid"], "status": status})

    @route("DELETE", r"/collections/(?P<cid>[^/]+)")
    def delete_collection(self, req: Request) -> Response:
        denied = self._writer(req)
        if denied:
            return denied
        stored = self.collection(req.params["cid"])
        if stored is None:
            return _err(404, "instanceNotFoundError", "We could not find the collection you are looking for")
        del self.collections[stored.id]
        return json_response({"collection": {"id": stored.id, "uid": stored.uid}})

    @route("POST", r"/import/openapi")
    def import_openapi(self, req: Request) -> Response:
        """Every call creates a NEW collection (the reason the stage does not use it for updates)."""
        denied = self._writer(req)
        if denied:
            return denied
        body = req.json()
        if not isinstance(body, dict) or body.get("type") not in ("json", "string") or "input" not in body:
            return _err(400, "paramMissingError", "type and input are required")
        spec = body["input"]
        if body["type"] == "string":
            try:
                spec = json.loads(spec)
            except ValueError:
                import yaml

                spec = yaml.safe_load(spec)
        title = str(((spec or {}).get("info") or {}).get("title") or "Imported")
        items = []
        for path, ops in ((spec or {}).get("paths") or {}).items():
            for method in ops:
                items.append({"name": f"{method.upper()} {path}",
                              "request": {"method": method.upper(), "url": "{{baseUrl}}" + path}})
        col = {"info": {"name": title, "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
               "item": items}
        stored = self._store(req.query.get("workspace", ""), col, self._key(req).user_id)
        assert isinstance(stored, StoredCollection)
        return json_response({"collections": [{"id": stored.id, "name": title, "uid": stored.uid}]})

    # ------------------------------------------------------------------ Spec Hub
    def _spec_collection(self, spec: dict[str, Any], name: str, owner: int, existing: str | None) -> str:
        """Generate (or re-generate in place, keeping ids of unchanged operations) a collection from a spec."""
        import yaml

        root = next(f for f in spec["files"].values() if f["type"] == "ROOT")
        doc = yaml.safe_load(root["content"]) or {}
        old_ids: dict[str, str] = {}
        if existing:
            for item in self.collections[existing].data.get("item") or []:
                old_ids[item["name"]] = item["id"]
        items = []
        for path, ops in (doc.get("paths") or {}).items():
            for method in ops:
                if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                    label = f"{method.upper()} {path}"
                    item: dict[str, Any] = {"name": label, "request": {"method": method.upper(),
                                                                       "url": "{{baseUrl}}" + path}}
                    if label in old_ids:
                        item["id"] = old_ids[label]
                    items.append(item)
        col = {"info": {"name": name,
                        "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
               "item": items}
        if existing:
            stored = self.collections[existing]
            before = self._ids(stored.data.get("item") or [])
            self._assign_ids(col["item"], stored.id, keep=before)
            col["info"]["_postman_id"] = stored.id
            stored.data = col
            for i in self._ids(col["item"]):
                self.item_owner[i] = stored.id
            return stored.uid
        made = self._store(spec["workspace"], col, owner)
        assert isinstance(made, StoredCollection)
        return made.uid

    def _spec_task(self, kind: str, owner_ref: str, resource: str) -> str:
        task_id = str(uuid.uuid4())
        self.spec_tasks[task_id] = {"polls": 0, "kind": kind, "ref": owner_ref, "resource": resource}
        return task_id

    @route("GET", r"/specs")
    def list_specs(self, req: Request) -> Response:
        wid = req.query.get("workspaceId")
        if not wid:
            return _problem(400, "Bad Request", "workspaceId is required")
        if wid not in self.workspaces:
            return _problem(404, "Workspace not found", "We could not find the workspace you are looking for.")
        found = [{"id": s["id"], "name": s["name"], "type": s["type"]} for s in self.specs.values()
                 if s["workspace"] == wid]
        return json_response({"specs": found, "meta": {"nextCursor": None}})

    @route("POST", r"/specs")
    def create_spec(self, req: Request) -> Response:
        denied = self._writer(req)
        if denied:
            return denied
        wid = req.query.get("workspaceId", "")
        if wid not in self.workspaces:
            return _problem(404, "Workspace not found", "We could not find the workspace you are looking for.")
        body = req.json() or {}
        files = body.get("files")
        if body.get("type") not in ("OPENAPI:2.0", "OPENAPI:3.0", "OPENAPI:3.1") or not body.get("name") or \
                not isinstance(files, list) or not files:
            return _problem(400, "Bad Request", "name, a supported type and files are required")
        roots = [f for f in files if isinstance(f, dict) and f.get("type") == "ROOT"]
        if len(files) > 1 and len(roots) != 1:
            return _problem(400, "Bad Request", "Multi-file specifications must have exactly one root file")
        if any(len(str(f.get("content", "")).encode()) > 12 * 1024 * 1024 for f in files):
            return _problem(400, "Bad Request", "Files cannot exceed a maximum of 12 MB in size")
        spec_id = str(uuid.uuid4())
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        self.specs[spec_id] = {
            "id": spec_id, "name": body["name"], "type": body["type"], "workspace": wid, "createdAt": now,
            "files": {f["path"]: {"path": f["path"], "content": f.get("content", ""),
                                  "type": "ROOT" if (f in roots or len(files) == 1) else "DEFAULT"} for f in files},
            "collections": [], "running": None,
        }
        return json_response({"id": spec_id, "name": body["name"], "type": body["type"], "createdAt": now}, 201)

    def _spec(self, req: Request) -> dict[str, Any] | None:
        return self.specs.get(req.params["sid"])

    @route("GET", r"/specs/(?P<sid>[^/]+)")
    def get_spec(self, req: Request) -> Response:
        spec = self._spec(req)
        if spec is None:
            return _problem(404, "Not Found", "Spec not found")
        return json_response({k: spec[k] for k in ("id", "name", "type", "createdAt")})

    @route("GET", r"/specs/(?P<sid>[^/]+)/files")
    def list_spec_files(self, req: Request) -> Response:
        spec = self._spec(req)
        if spec is None:
            return _problem(404, "Not Found", "Spec not found")
        return json_response({"files": [{"path": f["path"], "type": f["type"]} for f in spec["files"].values()]})

    @route("GET", r"/specs/(?P<sid>[^/]+)/files/(?P<path>.+)")
    def get_spec_file(self, req: Request) -> Response:
        spec = self._spec(req)
        file = spec["files"].get(req.params["path"]) if spec else None
        if file is None:
            return _problem(404, "Not Found", "File not found")
        return json_response(dict(file))

    @route("PATCH", r"/specs/(?P<sid>[^/]+)/files/(?P<path>.+)")
    def patch_spec_file(self, req: Request) -> Response:
        denied = self._writer(req)
        if denied:
            return denied
        spec = self._spec(req)
        file = spec["files"].get(req.params["path"]) if spec else None
        if file is None:
            return _problem(404, "Not Found", "File not found")
        body = req.json() or {}
        given = [k for k in ("content", "name", "type") if k in body]
        if len(given) != 1:
            return _problem(400, "Bad Request", "Provide exactly one of content, name or type")
        if len(str(body.get("content", "")).encode()) > 10 * 1024 * 1024:
            return _problem(400, "Bad Request", "Files cannot exceed a maximum of 10 MB in size")
        file[given[0]] = body[given[0]]
        return json_response(dict(file))

    @route("POST", r"/specs/(?P<sid>[^/]+)/generations/collection")
    def generate_collection(self, req: Request) -> Response:
        denied = self._writer(req)
        if denied:
            return denied
        spec = self._spec(req)
        if spec is None:
            return _problem(404, "Not Found", "Spec not found")
        running = spec.get("running")
        if running and self.spec_tasks[running]["polls"] <= self.task_polls:
            return _problem(423, "Locked", "A collection generation is already in progress for this spec")
        name = str((req.json() or {}).get("name") or spec["name"])
        uid = self._spec_collection(spec, name, self._key(req).user_id, None)
        spec["collections"].append(uid)
        task = self._spec_task("generation", spec["id"], uid)
        spec["running"] = task
        return json_response({"taskId": task, "url": f"/specs/{spec['id']}/tasks/{task}"}, 202)

    @route("GET", r"/specs/(?P<sid>[^/]+)/generations/collection")
    def list_generated(self, req: Request) -> Response:
        spec = self._spec(req)
        if spec is None:
            return _problem(404, "Not Found", "Spec not found")
        cols = [{"id": uid, "name": self.collection(uid).data["info"]["name"]}  # type: ignore[union-attr]
                for uid in spec["collections"] if self.collection(uid)]
        return json_response({"collections": cols, "meta": {"nextCursor": None}})

    @route("PUT", r"/collections/(?P<cid>[^/]+)/synchronizations")
    def sync_collection(self, req: Request) -> Response:
        denied = self._writer(req)
        if denied:
            return denied
        stored = self.collection(req.params["cid"])
        spec = self.specs.get(req.query.get("specId", ""))
        if stored is None or spec is None:
            return _problem(404, "Not Found", "Collection or spec not found")
        if stored.uid not in spec["collections"]:
            return _problem(400, "Bad Request", "The collection was not generated from this spec")
        self._spec_collection(spec, stored.data["info"]["name"], stored.owner, stored.id)
        task = self._spec_task("sync", stored.uid, stored.uid)
        return json_response({"taskId": task, "url": f"/collections/{stored.uid}/tasks/{task}"}, 202)

    @route("GET", r"/(?P<kind>specs|collections)/(?P<ref>[^/]+)/tasks/(?P<tid>[^/]+)")
    def spec_task(self, req: Request) -> Response:
        task = self.spec_tasks.get(req.params["tid"])
        if task is None or task["ref"] != req.params["ref"]:
            return _problem(404, "Not Found", "Task not found")
        task["polls"] += 1
        if task["polls"] <= self.task_polls:
            return json_response({"status": "pending"})
        status = "failed" if self.fail_tasks else "completed"
        return json_response({"status": status, "meta": {"model": "collection", "action": task["kind"]},
                              "details": {"resources": [{"id": task["resource"],
                                                         "url": f"/collections/{task['resource']}"}]}})
