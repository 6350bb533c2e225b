"""A token-auth OCI registry double (the Docker Hub / ECR-style Bearer challenge flow).

The real local registry (tests/stack/registry.py) only speaks Basic auth; this double covers the other
scheme a distribution registry answers with, faithfully to the distribution spec:

* ``GET /v2/`` without a token: ``401`` + ``WWW-Authenticate: Bearer realm=".../token",service="..."``; a
  repository call adds ``scope="repository:<name>:pull[,push]"``.
* ``GET /token?service=&scope=`` with Basic credentials: ``{"token", "access_token", "expires_in"}``; wrong
  credentials: ``401 {"errors":[{"code":"UNAUTHORIZED"}]}``. Tokens carry the granted scope; a pull-only
  token used for a PUT gets ``401`` with an ``insufficient_scope`` challenge.
* manifests by tag or digest (``MANIFEST_UNKNOWN``), PUT checks Content-Type against ``mediaType`` and the
  4 MiB manifest limit (``MANIFEST_INVALID`` / ``SIZE_INVALID``), ``Docker-Content-Digest`` on every answer;
  tags/list paginates with ``n``/``last`` and a ``Link: <...>; rel="next"`` header.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from tests.doubles.base import DoubleServer, Request, Response, json_response, route

MAX_MANIFEST = 4 * 1024 * 1024
MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
}
NAME = r"(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)"


def _err(status: int, code: str, message: str, **headers: str) -> Response:
    return Response(status, {"errors": [{"code": code, "message": message, "detail": None}]}, headers)


class TokenRegistryDouble(DoubleServer):
    name = "token-registry"
    service = "registry.test"

    def __init__(self, username: str = "robot", password: str = "s3cret-pass") -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.tokens: dict[str, set[str]] = {}  # token -> granted scopes
        self.manifests: dict[str, dict[str, tuple[str, bytes]]] = {}  # repo -> digest -> (type, body)
        self.tag_map: dict[str, dict[str, str]] = {}  # repo -> tag -> digest
        self.blobs: dict[str, dict[str, bytes]] = {}
        self.immutable: set[str] = set()  # repositories whose existing tags cannot move (ECR IMMUTABLE)

    # -- seeding ---------------------------------------------------------------------------------------
    def add_image(self, repo: str, tag: str, config: dict[str, Any]) -> str:
        config_body = json.dumps(config).encode()
        config_digest = "sha256:" + hashlib.sha256(config_body).hexdigest()
        self.blobs.setdefault(repo, {})[config_digest] = config_body
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": len(config_body)},
            "layers": [],
        }
        body = json.dumps(manifest, indent=3).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests.setdefault(repo, {})[digest] = (manifest["mediaType"], body)
        self.tag_map.setdefault(repo, {})[tag] = digest
        return digest

    # -- auth ------------------------------------------------------------------------------------------
    def _challenge(self, scope: str | None, error: str | None = None) -> Response:
        value = f'Bearer realm="{self.url}/token",service="{self.service}"'
        if scope:
            value += f',scope="{scope}"'
        if error:
            value += f',error="{error}"'
        return _err(401, "UNAUTHORIZED", "authentication required", **{"WWW-Authenticate": value})

    def authenticate(self, req: Request) -> Response | None:
        if req.path == "/token":
            creds = req.basic()
            if creds != (self.username, self.password):
                return _err(401, "UNAUTHORIZED", "invalid username or password")
            return None
        name = req.params.get("name")
        need = "pull,push" if req.method in ("PUT", "POST", "PATCH", "DELETE") else "pull"
        scope = f"repository:{name}:{need}" if name else None
        token = req.bearer()
        if token is None or token not in self.tokens:
            return self._challenge(scope)
        if scope and not any(self._covers(g, scope) for g in self.tokens[token]):
            return self._challenge(scope, "insufficient_scope")
        return None

    @staticmethod
    def _covers(granted: str, wanted: str) -> bool:
        g_type, g_name, g_actions = granted.split(":", 2)
        w_type, w_name, w_actions = wanted.split(":", 2)
        return g_type == w_type and g_name == w_name and set(w_actions.split(",")) <= set(g_actions.split(","))

    @route("GET", r"/token")
    def token(self, req: Request) -> Response:
        if req.query.get("service") != self.service:
            return _err(400, "UNSUPPORTED", f"unknown service '{req.query.get('service')}'")
        token = secrets.token_urlsafe(24)
        scope = req.query.get("scope", "")
        self.tokens[token] = {scope} if scope else set()
        return json_response({"token": token, "access_token": token, "expires_in": 300})

    @route("GET", r"/v2/")
    def base(self, req: Request) -> Response:
        return json_response({})

    # -- API -------------------------------------------------------------------------------------------
    def _resolve(self, name: str, ref: str) -> tuple[str, str, bytes] | None:
        digest = ref if ref.startswith("sha256:") else self.tag_map.get(name, {}).get(ref)
        if not digest or digest not in self.manifests.get(name, {}):
            return None
        media_type, body = self.manifests[name][digest]
        return digest, media_type, body

    @route("GET", rf"/v2/{NAME}/manifests/(?P<ref>[^/]+)")
    def get_manifest(self, req: Request) -> Response:
        found = self._resolve(req.params["name"], req.params["ref"])
        if found is None:
            return _err(404, "MANIFEST_UNKNOWN", "manifest unknown")
        digest, media_type, body = found
        return Response(200, body, {"Content-Type": media_type, "Docker-Content-Digest": digest})

    @route("HEAD", rf"/v2/{NAME}/manifests/(?P<ref>[^/]+)")
    def head_manifest(self, req: Request) -> Response:
        return self.get_manifest(req)

    @route("PUT", rf"/v2/{NAME}/manifests/(?P<ref>[^/]+)")
    def put_manifest(self, req: Request) -> Response:
        name, ref = req.params["name"], req.params["ref"]
        if len(req.body) > MAX_MANIFEST:
            return _err(400, "SIZE_INVALID", "manifest too large")
        try:
            data = json.loads(req.body)
        except ValueError:
            return _err(400, "MANIFEST_INVALID", "manifest invalid")
        if req.content_type not in MANIFEST_TYPES or data.get("mediaType", req.content_type) != req.content_type:
            return _err(400, "MANIFEST_INVALID", "manifest invalid: content type mismatch")
        digest = "sha256:" + hashlib.sha256(req.body).hexdigest()
        if ref.startswith("sha256:") and ref != digest:
            return _err(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        config = (data.get("config") or {}).get("digest")
        if config and config not in self.blobs.get(name, {}):
            return _err(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry")
        if name in self.immutable and not ref.startswith("sha256:") and ref in self.tag_map.get(name, {}):
            return _err(400, "TAG_INVALID", f"The image tag '{ref}' already exists in the '{name}' repository and "
                        "cannot be overwritten because the repository is immutable.")
        self.manifests.setdefault(name, {})[digest] = (req.content_type, req.body)
        if not ref.startswith("sha256:"):
            self.tag_map.setdefault(name, {})[ref] = digest
        return Response(201, b"", {"Docker-Content-Digest": digest, "Location": f"/v2/{name}/manifests/{digest}"})

    @route("GET", rf"/v2/{NAME}/tags/list")
    def tags(self, req: Request) -> Response:
        name = req.params["name"]
        if name not in self.tag_map:
            return _err(404, "NAME_UNKNOWN", "repository name not known to registry")
        tags = sorted(self.tag_map[name])
        last = req.query.get("last")
        if last:
            tags = [t for t in tags if t > last]
        n = int(req.query.get("n") or 100)
        page, more = tags[:n], len(tags) > n
        headers = {"Link": f'</v2/{name}/tags/list?n={n}&last={page[-1]}>; rel="next"'} if more and page else {}
        return json_response({"name": name, "tags": page}, **headers)

    @route("GET", rf"/v2/{NAME}/blobs/(?P<digest>sha256:[a-f0-9]+)")
    def blob(self, req: Request) -> Response:
        body = self.blobs.get(req.params["name"], {}).get(req.params["digest"])
        if body is None:
            return _err(404, "BLOB_UNKNOWN", "blob unknown to registry")
        return Response(200, body, {"Docker-Content-Digest": req.params["digest"]})

    def fault_response(self, fault: Any, req: Request) -> Response:
        body = fault.body if fault.body is not None else {
            "errors": [{"code": "TOOMANYREQUESTS" if fault.status == 429 else "UNAVAILABLE",
                        "message": "injected", "detail": None}]}
        return Response(fault.status, body, dict(fault.headers))
