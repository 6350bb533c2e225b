"""Registry login: ``GetAuthorizationToken`` -> the containers auth file (0600) and docker's config.

The password never reaches argv: it is written to the auth file (buildah, skopeo and podman read
``$REGISTRY_AUTH_FILE``) and, when docker keeps credentials in a helper/store, handed to ``docker login
--password-stdin``. ``expiresAt`` is informational only (moto answers a date in 2015; real tokens last 12 hours).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from shipyard.ecr.aws import call
from shipyard.oci import write_auth_file
from shipyard.runtime import Action, UserError


@dataclass
class Login:
    registry: str  # <account>.dkr.ecr.<region>.amazonaws.com
    username: str
    password: str = field(repr=False)
    expires_at: str = ""
    endpoint: str = ""  # data-plane host[:port] when overridden (VPC endpoint, tests), else == registry
    insecure: bool = False  # plain HTTP data plane (only when registry-endpoint says http://)

    @property
    def data_host(self) -> str:
        return self.endpoint or self.registry


def parse_endpoint(value: str | None) -> tuple[str, bool]:
    """``https://vpce-...`` / ``http://127.0.0.1:5000`` / ``host:port`` -> (host[:port], plain HTTP?)."""
    if not value:
        return "", False
    text = value.strip().rstrip("/")
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise UserError(f"Input 'registry-endpoint' has '{value}', which is not a registry host or URL.",
                            "write `https://host[:port]` (or `http://` for a plain-HTTP registry).",
                            input_name="registry-endpoint")
        return parts.netloc, parts.scheme == "http"
    from shipyard.oci import _HOST_RE

    if not _HOST_RE.fullmatch(text):
        raise UserError(f"Input 'registry-endpoint' has '{text[:80]}', which is not a registry host or URL.",
                        "write `https://host[:port]` (or `http://` for a plain-HTTP registry).",
                        input_name="registry-endpoint")
    return text, False


def endpoint_for(spec: str | None, region: str) -> tuple[str, bool]:
    """``registry-endpoint`` is one endpoint for every region, or ``region=endpoint`` lines."""
    if not spec:
        return "", False
    lines = [line.strip() for line in spec.replace(",", "\n").splitlines() if line.strip()]
    if all("=" in line and "://" not in line.split("=", 1)[0] for line in lines):
        mapping = dict(line.split("=", 1) for line in lines)
        return parse_endpoint(mapping.get(region))
    if len(lines) != 1:
        raise UserError("Input 'registry-endpoint' must be one endpoint or `region=endpoint` lines.",
                        "write one `https://host[:port]`, or one `eu-west-1=https://host` line per region.",
                        input_name="registry-endpoint")
    return parse_endpoint(lines[0])


def get_login(action: Action, ecr: Any, registry_id: str, endpoint_spec: str | None, region: str) -> Login:
    data = call(action, ecr, "get_authorization_token", registryIds=[registry_id]).get("authorizationData") or []
    if not data:
        raise UserError(f"ECR returned no authorization data for registry {registry_id}.",
                        "check registry-id and that the role may call ecr:GetAuthorizationToken.")
    entry = data[0]
    token = str(entry.get("authorizationToken") or "")
    action.mask(token)
    try:
        username, _, password = base64.b64decode(token).decode("utf-8").partition(":")
    except ValueError:
        raise UserError("ECR returned an authorization token that is not base64 'user:password'.")
    action.mask(password)
    proxy = str(entry.get("proxyEndpoint") or f"https://{registry_id}.dkr.ecr.{region}.amazonaws.com")
    registry = urlsplit(proxy).netloc or proxy
    host, insecure = endpoint_for(endpoint_spec, region)
    expires = entry.get("expiresAt")
    return Login(registry, username, password, str(expires or ""), host, insecure)


def auth_file_path(action: Action) -> tuple[Path, bool]:
    """$REGISTRY_AUTH_FILE, else a file under RUNNER_TEMP (exported for later steps). Returns (path, new?)."""
    current = action.env.get("REGISTRY_AUTH_FILE")
    if current:
        return Path(current), False
    base = action.env.get("RUNNER_TEMP") or action.env.get("TMPDIR") or "/tmp"  # noqa: S108
    return Path(base) / "shipyard-registry-auth.json", True


def write_logins(action: Action, logins: list[Login], docker: str = "auto") -> Path:
    """Write every login to the auth file (and docker's config); export REGISTRY_AUTH_FILE if we chose it."""
    path, new = auth_file_path(action)
    for login in logins:
        for host in dict.fromkeys([login.registry, login.data_host]):
            write_auth_file(path, host, login.username, login.password)
    os.chmod(path, 0o600)
    if new:
        action.set_env("REGISTRY_AUTH_FILE", str(path))
        action.env["REGISTRY_AUTH_FILE"] = str(path)
    if docker != "false":
        docker_login(action, logins, required=docker == "true")
    return path


def _docker_config(action: Action) -> Path:
    base = action.env.get("DOCKER_CONFIG") or str(Path(action.env.get("HOME") or Path.home()) / ".docker")
    return Path(base) / "config.json"


def docker_login(action: Action, logins: list[Login], *, required: bool) -> None:
    """Docker's config too: direct ``auths`` entries unless docker keeps credentials in a store/helper, in which
    case ``docker login --password-stdin`` (the only way to reach the helper) -- never the password in argv."""
    binary = shutil.which("docker", path=action.env.get("PATH"))
    if binary is None and not required:
        return
    config = _docker_config(action)
    try:
        data = json.loads(config.read_text(encoding="utf-8")) if config.exists() else {}
    except (OSError, ValueError):
        data = {}
    uses_helper = bool(data.get("credsStore") or data.get("credHelpers"))
    for login in logins:
        if not uses_helper or binary is None:
            for host in dict.fromkeys([login.registry, login.data_host]):
                write_auth_file(config, host, login.username, login.password)
            continue
        proc = subprocess.run(
            [binary, "login", "--username", login.username, "--password-stdin", login.data_host],
            input=login.password, capture_output=True, text=True, timeout=120, check=False,
            env={**action.env, "DOCKER_CONFIG": str(config.parent)},
        )
        if proc.returncode != 0:
            message = f"docker login {login.data_host} failed: {proc.stderr.strip()[-300:]}"
            if required:
                raise UserError(message, "check the docker credential helper, or set `docker-login: false`.")
            action.warning(message)
