"""A small OCI distribution client: credentials from auth files, manifests, tags and server-side retags.

Used by the build stage (content-hash lookup and retag) and the ECR stage. It speaks the distribution API
(``/v2/<repo>/manifests/<ref>``, ``/v2/<repo>/tags/list``, ``/v2/<repo>/blobs/<digest>``) with:

* credentials read the way buildah/skopeo/podman and docker read them: ``$REGISTRY_AUTH_FILE``,
  ``${XDG_RUNTIME_DIR}/containers/auth.json``, ``~/.config/containers/auth.json``, then
  ``$DOCKER_CONFIG/config.json`` / ``~/.docker/config.json`` (``auth`` base64 entries, ``username``/
  ``password``, ``identitytoken``, and ``credHelpers``/``credsStore`` helpers);
* both authentication schemes a registry may answer 401 with: ``Basic`` and the ``Bearer`` token
  challenge (``realm``, ``service``, ``scope``), tokens cached per scope;
* retries for 429/5xx/timeouts through :class:`shipyard.http.Client` (``Retry-After`` honoured);
* plain HTTP for loopback registries (or when ``insecure=True``).

Secrets never reach a log line: passwords and tokens are masked through the :class:`~shipyard.runtime.Action`
as soon as they are read or minted, and errors name the registry and repository, never a credential.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.http import Client
from shipyard.runtime import Action, TransientError, UserError

if TYPE_CHECKING:
    import requests

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_ACCEPT = ", ".join(MANIFEST_TYPES)

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
# host[:port] or [v6]:port: nothing else may reach a builder's comma-separated options (`ref=<image>:buildcache`)
_HOST_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                      r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_REPO_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


class RegistryError(Exception):
    """A registry answered something we cannot use (not a user-fixable configuration error)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RegistryUnreachable(RegistryError):
    """Connection refused, DNS failure, timeouts or 5xx after retries: the registry is not there right now."""


# ---------------------------------------------------------------------------------------------- references
@dataclass(frozen=True)
class ImageRef:
    """``registry/repository[:tag][@digest]`` split into parts. ``registry`` is a host[:port]."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse an image reference the way docker does (``busybox`` -> ``docker.io/library/busybox``)."""
        ref = text.strip()
        if not ref or any(c.isspace() or not c.isprintable() for c in ref):
            raise ValueError(f"'{text}' is not an image reference")
        if "://" in ref:
            ref = ref.split("://", 1)[1]
        digest: str | None = None
        if "@" in ref:
            ref, digest = ref.split("@", 1)
            if not _DIGEST_RE.fullmatch(digest):
                raise ValueError(f"'{text}' has a malformed digest '{digest}'")
        first, slash, rest = ref.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, path = first, rest
        else:
            registry, path = DOCKER_HUB, ref
        tag: str | None = None
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            path, tag = path.rsplit(":", 1)
            if not _TAG_RE.fullmatch(tag):
                raise ValueError(f"'{text}' has a malformed tag '{tag}'")
        if registry == DOCKER_HUB and "/" not in path:
            path = f"library/{path}"
        if not _HOST_RE.fullmatch(registry):
            raise ValueError(f"'{text}' has a malformed registry host '{registry}'")
        if not path or not _REPO_RE.fullmatch(path):
            raise ValueError(f"'{text}' has a malformed repository name '{path}' (lower case, digits, . _ - /)")
        return cls(registry, path, tag, digest)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest if there is one, else the tag (default ``latest``)."""
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> ImageRef:
        return ImageRef(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def valid_tag(tag: str) -> bool:
    return bool(_TAG_RE.fullmatch(tag))


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry.split("]")[0] + "]"
    return host in LOOPBACK_HOSTS or host.startswith("127.")


# ---------------------------------------------------------------------------------------------- credentials
@dataclass(frozen=True)
class Credentials:
    """A username/password pair (or an identity token) for one registry. Never printed."""

    username: str = ""
    password: str = field(default="", repr=False)
    identity_token: str = field(default="", repr=False)
    source: str = ""  # the file or helper it came from (safe to log)

    def secrets(self) -> list[str]:
        values = [v for v in (self.password, self.identity_token) if v]
        if self.username and self.password:
            values.append(base64.b64encode(f"{self.username}:{self.password}".encode()).decode())
        return values


def auth_file_candidates(env: Mapping[str, str]) -> list[Path]:
    """Auth files in the order containers/image and docker consult them."""
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    paths: list[Path] = []
    if env.get("REGISTRY_AUTH_FILE"):
        paths.append(Path(env["REGISTRY_AUTH_FILE"]))
    if env.get("XDG_RUNTIME_DIR"):
        paths.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    paths.append(Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "containers" / "auth.json")
    if env.get("DOCKER_CONFIG"):
        paths.append(Path(env["DOCKER_CONFIG"]) / "config.json")
    paths.append(home / ".docker" / "config.json")
    return paths


def _normalise_key(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``http://host:5000`` -> ``host:5000``; keeps a path."""
    key = key.strip()
    if "://" in key:
        key = key.split("://", 1)[1]
    key = key.rstrip("/")
    if key.endswith("/v1") or key.endswith("/v2"):
        key = key[:-3]
    host, slash, path = key.partition("/")
    if host in ("index.docker.io", DOCKER_HUB_API):
        host = DOCKER_HUB
    return host + (slash + path if path else "")


def _decode_entry(entry: Mapping[str, Any], source: str) -> Credentials | None:
    username = str(entry.get("username") or "")
    password = str(entry.get("password") or "")
    token = str(entry.get("identitytoken") or "")
    raw = entry.get("auth")
    if raw:
        try:
            decoded = base64.b64decode(str(raw), validate=False).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        user, sep, secret = decoded.partition(":")
        if sep:
            username, password = user, secret
    if not (username and password) and not token:
        return None
    return Credentials(username, password, token, source)


def _helper_credentials(helper: str, registry: str, env: Mapping[str, str]) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` (the registry on stdin, the secret on stdout)."""
    try:
        proc = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=registry,
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(env),
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return None
    username, secret = str(data.get("Username") or ""), str(data.get("Secret") or "")
    if not secret:
        return None
    if username == "<token>":
        return Credentials("", "", secret, f"docker-credential-{helper}")
    return Credentials(username, secret, "", f"docker-credential-{helper}")


def load_credentials(
    registry: str, env: Mapping[str, str] | None = None, *, repository: str = "", action: Action | None = None
) -> Credentials | None:
    """Credentials for ``registry`` (host[:port]) from the first auth file that has an entry for it.

    containers-auth.json(5) allows keys scoped to a namespace (``host/org/repo``): the longest key that is a
    prefix of ``registry/repository`` wins. Unreadable or malformed files are skipped with a warning.
    """
    env = os.environ if env is None else env
    registry = _normalise_key(registry)
    wanted = f"{registry}/{repository}" if repository else registry
    for path in auth_file_candidates(env):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            if action:
                action.warning(f"skipping registry auth file {path}: {type(exc).__name__}")
            continue
        if not isinstance(data, dict):
            continue
        helpers = data.get("credHelpers") or {}
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if _normalise_key(key) == registry:
                    creds = _helper_credentials(str(helper), registry, env)
                    if creds:
                        _mask(action, creds)
                        return creds
        auths = data.get("auths") or {}
        best: tuple[int, Credentials] | None = None
        if isinstance(auths, dict):
            for key, entry in auths.items():
                norm = _normalise_key(str(key))
                if not isinstance(entry, dict):
                    continue
                if wanted == norm or wanted.startswith(norm + "/"):
                    creds = _decode_entry(entry, str(path))
                    if creds and (best is None or len(norm) > best[0]):
                        best = (len(norm), creds)
        if best:
            _mask(action, best[1])
            return best[1]
        store = data.get("credsStore")
        if store:
            creds = _helper_credentials(str(store), registry, env)
            if creds:
                _mask(action, creds)
                return creds
    return None


def _mask(action: Action | None, creds: Credentials) -> None:
    if action:
        for value in creds.secrets():
            action.mask(value)


def write_auth_file(path: Path, registry: str, username: str, password: str) -> None:
    """Add or replace ``registry``'s entry in a containers/docker auth file (mode 0600), keeping the others."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    auths = data.setdefault("auths", {})
    auths[registry] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------- challenges
@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" | "bearer"
    params: dict[str, str]


_PARAM_RE = re.compile(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"`` -> Challenge."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in
              _PARAM_RE.finditer(rest)}
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


# ---------------------------------------------------------------------------------------------- manifests
@dataclass(frozen=True)
class ManifestInfo:
    """What a HEAD answers: digest, media type and size."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A manifest or index with its exact bytes (retagging must PUT the same bytes to keep the digest)."""

    digest: str
    media_type: str
    body: bytes = field(repr=False)

    @property
    def data(self) -> dict[str, Any]:
        value = json.loads(self.body)
        return value if isinstance(value, dict) else {}

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    @property
    def size(self) -> int:
        return len(self.body)

    def image_size(self) -> int:
        """Config plus layer bytes for an image manifest; for an index, the sum of the child manifest sizes."""
        data = self.data
        if self.is_index:
            return sum(int(m.get("size") or 0) for m in data.get("manifests") or [])
        total = int((data.get("config") or {}).get("size") or 0)
        return total + sum(int(layer.get("size") or 0) for layer in data.get("layers") or [])


def sha256_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


# ---------------------------------------------------------------------------------------------- client
class RegistryClient:
    """One registry (``host[:port]``), authenticated from the auth files unless ``credentials`` is given.

    ``insecure=None`` uses plain HTTP for loopback registries only; ``True`` forces it.
    """

    def __init__(
        self,
        action: Action,
        registry: str,
        *,
        credentials: Credentials | None = None,
        insecure: bool | None = None,
        timeout: float = 30.0,
        attempts: int = 5,
        max_elapsed: float = 120.0,
    ) -> None:
        self.action = action
        self.registry = _normalise_key(registry).split("/", 1)[0]
        host = DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry
        plain = is_loopback(self.registry) if insecure is None else insecure
        self.base_url = f"{'http' if plain else 'https'}://{host}"
        self._credentials = credentials
        self._credentials_loaded = credentials is not None
        self.http = Client(
            action, self.base_url, timeout=timeout, attempts=attempts, max_elapsed=max_elapsed,
            name=f"registry {self.registry}",
        )
        self._tokens: dict[str, str] = {}
        self._basic = False
        if credentials:
            _mask(action, credentials)

    # -- auth --------------------------------------------------------------------------------------
    @property
    def credentials(self) -> Credentials | None:
        if not self._credentials_loaded:
            self._credentials = load_credentials(self.registry, self.action.env, action=self.action)
            self._credentials_loaded = True
        return self._credentials

    def _auth_header(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        creds = self.credentials
        if self._basic and creds and creds.username and creds.password:
            raw = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            return {"Authorization": f"Basic {raw}"}
        return {}

    def _fetch_token(self, challenge: Challenge, scope: str) -> str:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(f"registry {self.registry} sent a Bearer challenge without a realm")
        params: dict[str, str] = {}
        if challenge.params.get("service"):
            params["service"] = challenge.params["service"]
        params["scope"] = challenge.params.get("scope") or scope
        creds = self.credentials
        auth: tuple[str, str] | None = None
        method = "GET"
        data: dict[str, str] | None = None
        if creds and creds.identity_token:
            method = "POST"  # the OAuth2 refresh-token flow docker uses for identity tokens
            data = {**params, "grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": "shipyard"}
        elif creds and creds.username:
            auth = (creds.username, creds.password)
        try:
            response = self.http.request(method, realm, params=None if data else params, data=data, auth=auth)
        except TransientError as exc:
            raise RegistryUnreachable(f"token service for {self.registry} unreachable: {exc}") from exc
        if response.status_code in (401, 403):
            raise self._denied(response.status_code, scope)
        if response.status_code >= 400:
            raise RegistryError(f"token service for {self.registry} answered {response.status_code}",
                                response.status_code)
        try:
            body = response.json()
        except ValueError as exc:
            raise RegistryError(f"token service for {self.registry} answered a non-JSON body") from exc
        token = str(body.get("token") or body.get("access_token") or "")
        if not token:
            raise RegistryError(f"token service for {self.registry} answered no token")
        self.action.mask(token)
        return token

    def _denied(self, status: int, scope: str) -> UserError:
        creds = self.credentials
        where = f" (credentials from {creds.source})" if creds and creds.source else ""
        repo = scope.split(":")[1] if scope.count(":") >= 2 else ""
        if creds is None:
            return UserError(
                f"registry {self.registry} requires a login and no credentials were found for it.",
                f"log in first (`buildah login {self.registry}` or `docker login`, or the ecr-push stage's login) "
                "so that $REGISTRY_AUTH_FILE or ~/.docker/config.json has an entry for it.",
            )
        what = "refused the credentials" if status == 401 else f"denied access to '{repo}'"
        return UserError(
            f"registry {self.registry} {what}{where} (HTTP {status}).",
            "log in again with a valid user/token that may pull and push this repository.",
        )

    def request(
        self, method: str, path: str, *, scope: str, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        """Send a request, answering one 401 challenge (Basic or Bearer) and retrying transient failures."""
        for attempt in range(2):
            all_headers = {**(headers or {}), **self._auth_header(scope)}
            try:
                response = self.http.request(method, path, headers=all_headers, **kwargs)
            except TransientError as exc:
                raise RegistryUnreachable(f"registry {self.registry} unreachable: {exc}") from exc
            if response.status_code >= 500 or response.status_code == 429:
                raise RegistryUnreachable(
                    f"registry {self.registry} answered {response.status_code} to {method} {path}",
                    response.status_code,
                )
            if response.status_code != 401 or attempt == 1:
                if response.status_code in (401, 403):
                    raise self._denied(response.status_code, scope)
                return response
            challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
            if challenge is None or (self.credentials is None and challenge.scheme == "basic"):
                raise self._denied(401, scope)
            if challenge.scheme == "bearer":
                self._tokens[scope] = self._fetch_token(challenge, scope)
            elif challenge.scheme == "basic":
                if self._basic:
                    raise self._denied(401, scope)
                self._basic = True
            else:
                raise RegistryError(f"registry {self.registry} asked for unsupported auth '{challenge.scheme}'")
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def scope(repository: str, actions: str = "pull") -> str:
        return f"repository:{repository}:{actions}"

    # -- API ---------------------------------------------------------------------------------------
    def ping(self) -> bool:
        """True when ``/v2/`` answers (any status but 5xx); raises RegistryUnreachable otherwise."""
        try:
            response = self.http.request("GET", "/v2/")
        except TransientError as exc:
            raise RegistryUnreachable(f"registry {self.registry} unreachable: {exc}") from exc
        return response.status_code < 500

    def head_manifest(self, repository: str, reference: str) -> ManifestInfo | None:
        """Digest, media type and size of a tag or digest; None when it does not exist."""
        response = self.request(
            "HEAD", f"/v2/{repository}/manifests/{reference}", scope=self.scope(repository),
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise RegistryError(f"HEAD {repository}:{reference} answered {response.status_code}",
                                response.status_code)
        digest = response.headers.get("Docker-Content-Digest", "")
        if not digest:  # some registries omit it on HEAD: fall back to GET
            manifest = self.get_manifest(repository, reference)
            if manifest is None:
                return None
            return ManifestInfo(manifest.digest, manifest.media_type, manifest.size)
        return ManifestInfo(digest, _content_type(response), int(response.headers.get("Content-Length") or 0))

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest or index bytes; the digest is verified against the body."""
        response = self.request(
            "GET", f"/v2/{repository}/manifests/{reference}", scope=self.scope(repository),
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise RegistryError(f"GET {repository}:{reference} answered {response.status_code}",
                                response.status_code)
        body = response.content
        digest = sha256_digest(body)
        header = response.headers.get("Docker-Content-Digest")
        if reference.startswith("sha256:") and reference != digest:
            raise RegistryError(f"manifest {repository}@{reference} body hashes to {digest}")
        if header and header.startswith("sha256:") and header != digest:
            raise RegistryError(f"manifest {repository}:{reference}: registry said {header}, body hashes to {digest}")
        media_type = _content_type(response) or str(json.loads(body).get("mediaType") or OCI_MANIFEST)
        return Manifest(digest, media_type, body)

    def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> str:
        """PUT the exact bytes under ``tag`` (server-side retag); returns the digest the registry reports."""
        if not valid_tag(tag):
            raise UserError(f"'{tag}' is not a valid image tag.", "use letters, digits, '_', '.' and '-' "
                            "(at most 128, not starting with '.' or '-').")
        try:
            response = self.request(
                "PUT", f"/v2/{repository}/manifests/{tag}", scope=self.scope(repository, "pull,push"),
                headers={"Content-Type": manifest.media_type}, data=manifest.body,
            )
        except RegistryError as exc:
            # a PUT that landed but answered 5xx (or whose answer was lost) is a success: look before failing
            if self._tag_is(repository, tag, manifest.digest):
                return manifest.digest
            raise exc from None
        if response.status_code >= 400 and self._tag_is(repository, tag, manifest.digest):
            return manifest.digest  # e.g. the retry of an applied PUT refused by an immutable tag
        if response.status_code not in (200, 201, 202):
            detail = _error_text(response)
            raise RegistryError(f"PUT {repository}:{tag} answered {response.status_code}{detail}",
                                response.status_code)
        digest = response.headers.get("Docker-Content-Digest") or manifest.digest
        if digest != manifest.digest:
            raise RegistryError(f"retag {repository}:{tag} changed the digest ({manifest.digest} -> {digest})")
        return digest

    def _tag_is(self, repository: str, tag: str, digest: str) -> bool:
        try:
            info = self.head_manifest(repository, tag)
        except RegistryError:
            return False
        return info is not None and info.digest == digest

    def retag(self, repository: str, source: str, tags: Iterable[str]) -> Manifest:
        """Give the manifest at ``source`` (tag or digest) every tag in ``tags``, without moving any layer.

        Tags that already point at this manifest are left alone (no write: immutable-tag repositories refuse
        even an identical PUT)."""
        manifest = self.get_manifest(repository, source)
        if manifest is None:
            raise RegistryError(f"{repository}:{source} does not exist", 404)
        for tag in tags:
            current = self.head_manifest(repository, tag)
            if current is not None and current.digest == manifest.digest:
                continue
            self.put_manifest(repository, tag, manifest)
        return manifest

    def list_tags(self, repository: str, *, page_size: int = 1000, max_pages: int = 100) -> list[str]:
        """Every tag of ``repository`` (follows ``Link: <...>; rel="next"``); [] when it does not exist."""
        tags: list[str] = []
        path: str | None = f"/v2/{repository}/tags/list?n={page_size}"
        for _ in range(max_pages):
            if path is None:
                break
            response = self.request("GET", path, scope=self.scope(repository))
            if response.status_code == 404:
                return tags
            if response.status_code >= 400:
                raise RegistryError(f"GET tags of {repository} answered {response.status_code}",
                                    response.status_code)
            tags.extend(str(t) for t in (response.json().get("tags") or []))
            path = _next_link(response.headers.get("Link", ""))
        return tags

    def get_blob(self, repository: str, digest: str, *, max_bytes: int = 64 * 1024 * 1024) -> bytes:
        """Download a (small) blob such as an image config and verify its digest."""
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}", scope=self.scope(repository))
        if response.status_code >= 400:
            raise RegistryError(f"GET blob {repository}@{digest} answered {response.status_code}",
                                response.status_code)
        body = response.content
        if len(body) > max_bytes:
            raise RegistryError(f"blob {digest} is larger than {max_bytes} bytes")
        if digest.startswith("sha256:") and sha256_digest(body) != digest:
            raise RegistryError(f"blob {repository}@{digest} does not match its digest")
        return body

    def image_config(self, repository: str, reference: str, *, platform: str = "linux/amd64") -> dict[str, Any]:
        """The image config JSON for a tag or digest (for an index: the ``platform`` entry, else the first)."""
        manifest = self.get_manifest(repository, reference)
        if manifest is None:
            raise RegistryError(f"{repository}:{reference} does not exist", 404)
        if manifest.is_index:
            entries = manifest.data.get("manifests") or []
            os_name, _, arch = platform.partition("/")
            chosen = next(
                (m for m in entries if (m.get("platform") or {}).get("os") == os_name
                 and (m.get("platform") or {}).get("architecture") == arch),
                entries[0] if entries else None,
            )
            if not chosen:
                raise RegistryError(f"index {repository}:{reference} is empty")
            manifest = self.get_manifest(repository, str(chosen["digest"]))
            if manifest is None:
                raise RegistryError(f"{repository}@{chosen['digest']} does not exist", 404)
        config_digest = str((manifest.data.get("config") or {}).get("digest") or "")
        value = json.loads(self.get_blob(repository, config_digest))
        return value if isinstance(value, dict) else {}


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip()


def _error_text(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return ""
    texts = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
    return f" ({'; '.join(texts)})" if texts else ""


def _next_link(header: str) -> str | None:
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', header)
    return match.group(1) if match else None
