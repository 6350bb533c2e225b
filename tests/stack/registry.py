"""A real OCI registry (CNCF distribution 2.8, Debian's ``docker-registry``) on loopback.

Filesystem storage in a temp dir, deletes enabled, htpasswd (bcrypt) basic auth over **plain
HTTP**: distribution 2.8 accepts basic credentials without TLS (it only logs nothing about it), so
no certificate is needed.  Clients must treat the registry as insecure: buildah/skopeo via
``--tls-verify=false`` or an ``insecure = true`` entry in registries.conf (see
:mod:`tests.stack.buildah`).

The config file is written as JSON, which is valid YAML, and passed as
``docker-registry serve CONFIG``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from pathlib import Path
from typing import Any

import requests

from .ports import (
    LOOPBACK,
    ChildService,
    ServiceError,
)

REGISTRY_BINARY = "/usr/bin/docker-registry"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST])


class Registry(ChildService):
    """``docker-registry`` on 127.0.0.1:<random port> with one htpasswd user.

    Use as a context manager or call :meth:`start` / :meth:`stop`.  ``workdir`` (default: a new
    temp dir, removed on stop) holds ``config.yml``, ``htpasswd``, ``data/`` and ``registry.log``.
    """

    title = "docker-registry"

    def __init__(
        self,
        workdir: Path | str | None = None,
        username: str = "shipyard",
        password: str | None = None,
    ) -> None:
        super().__init__(workdir, "registry-", "registry.log")
        self.username = username
        self.password = password or secrets.token_urlsafe(18)

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` -- the registry part of an image reference."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    def start(self, timeout: float = 15.0, attempts: int = 3) -> Registry:
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        htpasswd = self.workdir / "htpasswd"
        # htpasswd -i reads the password from stdin: it never appears in argv.
        result = subprocess.run(
            ["htpasswd", "-B", "-i", "-n", self.username],
            input=self.password.encode(),
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"htpasswd failed: {result.stderr.decode(errors='replace')}")
        htpasswd.write_bytes(result.stdout)
        htpasswd.chmod(0o600)
        config = self.workdir / "config.yml"

        def argv(port: int) -> list[str]:
            config.write_text(json.dumps(self._config(htpasswd), indent=2))
            return [REGISTRY_BINARY, "serve", str(config)]

        self._launch(argv, self._answers_401, timeout=timeout, attempts=attempts)
        return self

    def _config(self, htpasswd: Path) -> dict[str, Any]:
        return {
            "version": 0.1,
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {
                "addr": self.host,
                "secret": secrets.token_hex(16),
                "headers": {"X-Content-Type-Options": ["nosniff"]},
            },
            "auth": {"htpasswd": {"realm": "shipyard-registry", "path": str(htpasswd)}},
        }

    def _answers_401(self) -> bool:
        try:
            return requests.get(f"{self.url}/v2/", timeout=2).status_code == 401
        except requests.RequestException:
            return False

    # -- HTTP API ------------------------------------------------------------------------------

    def ref(self, repo: str, ref: str = "latest") -> str:
        """Full image reference, ``127.0.0.1:PORT/repo:tag`` or ``...repo@sha256:...``."""
        sep = "@" if ref.startswith("sha256:") else ":"
        return f"{self.host}/{repo}{sep}{ref}"

    def get(self, path: str, *, headers: dict[str, str] | None = None, timeout: float = 10) -> requests.Response:
        """Authenticated GET of ``/v2/...`` (``path`` starts after ``/v2/``)."""
        return requests.get(f"{self.url}/v2/{path.lstrip('/')}", auth=self.auth, headers=headers, timeout=timeout)

    def manifest(self, repo: str, ref: str) -> tuple[dict[str, Any], str]:
        """Fetch a manifest (or index) by tag or digest; return ``(manifest, digest)``.

        The digest is the ``Docker-Content-Digest`` header, checked against the sha256 of the body.
        """
        resp = self.get(f"{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT})
        resp.raise_for_status()
        digest = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        header = resp.headers.get("Docker-Content-Digest")
        if header and header != digest:
            raise AssertionError(f"registry said {header} but the manifest body hashes to {digest}")
        return resp.json(), digest

    def blob(self, repo: str, digest: str) -> bytes:
        """Download a blob (config or layer) and verify its digest."""
        resp = self.get(f"{repo}/blobs/{digest}")
        resp.raise_for_status()
        actual = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        if actual != digest:
            raise AssertionError(f"blob {digest} hashes to {actual}")
        return resp.content

    def image_config(self, repo: str, ref: str) -> dict[str, Any]:
        """The image config JSON (``config.Cmd``, ``config.Env``, ``rootfs.diff_ids``...)."""
        manifest, _ = self.manifest(repo, ref)
        return json.loads(self.blob(repo, manifest["config"]["digest"]))

    def tags(self, repo: str) -> list[str]:
        resp = self.get(f"{repo}/tags/list")
        if resp.status_code == 404:
            return []
        resp.raise_for_status()
        return sorted(resp.json().get("tags") or [])

    def catalog(self) -> list[str]:
        resp = self.get("_catalog")
        resp.raise_for_status()
        return sorted(resp.json().get("repositories") or [])

    def delete_manifest(self, repo: str, digest: str) -> None:
        resp = requests.delete(f"{self.url}/v2/{repo}/manifests/{digest}", auth=self.auth, timeout=10)
        resp.raise_for_status()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
