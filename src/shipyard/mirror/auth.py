"""Bitbucket credentials: which kind was given, how REST and git use it, and the SSH key's lifecycle.

* ``api-token`` (user API token): REST ``Basic email:token``; git ``Basic x-bitbucket-api-token-auth:token``.
* ``access-token`` (repository/project/workspace; DC HTTP access token): REST ``Bearer token``; git on Cloud
  ``Basic x-token-auth:token``, on Data Center ``Bearer token``.
* ``app-password`` (removed by Bitbucket Cloud on 2026-07-28): ``Basic username:password`` for both.
* ``ssh-key``: git over SSH with ``GIT_SSH_COMMAND`` and a pinned ``known_hosts`` (REST needs a token too).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from shipyard.git import GitAuth
from shipyard.runtime import UserError

KINDS = ("auto", "api-token", "access-token", "app-password", "ssh-key")
API_TOKEN_GIT_USER = "x-bitbucket-api-token-auth"  # noqa: S105 - a fixed username
ACCESS_TOKEN_GIT_USER = "x-token-auth"  # noqa: S105 - a fixed username
APP_PASSWORD_REMOVED = dt.date(2026, 7, 28)
MIGRATION_FIX = (
    "create a Bitbucket API token (Atlassian account -> Security -> Create API token with scopes, "
    "with read:user:bitbucket, read:repository:bitbucket, write:repository:bitbucket and, to create the "
    "repository, admin:repository:bitbucket), set `token:` to it, `username:` to your Atlassian account email "
    "and `auth: api-token` (or use a workspace/repository access token with `auth: access-token`)."
)


@dataclass(frozen=True)
class Credential:
    kind: str  # api-token | access-token | app-password | ssh-key
    token: str = ""
    username: str = ""
    platform: str = "cloud"  # cloud | datacenter
    detected: str = ""  # how the kind was decided, for the summary

    @property
    def has_token(self) -> bool:
        return bool(self.token)

    def rest_headers(self) -> dict[str, str]:
        if not self.token:
            return {}
        if self.kind == "access-token" or (self.kind == "ssh-key" and not self.username):
            return {"Authorization": f"Bearer {self.token}"}
        raw = base64.b64encode(f"{self.username}:{self.token}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    def git_auth(self, scope_url: str) -> GitAuth | None:
        """The credential git sends (as an extraHeader scoped to the target's URL); None for SSH."""
        if self.kind == "ssh-key" or not self.token:
            return None
        if self.kind == "access-token":
            if self.platform == "datacenter":
                return GitAuth("bearer", secret=self.token, scope_url=scope_url)
            return GitAuth("basic", ACCESS_TOKEN_GIT_USER, self.token, scope_url)
        if self.kind == "api-token":
            user = API_TOKEN_GIT_USER if self.platform == "cloud" else self.username
            return GitAuth("basic", user, self.token, scope_url)
        return GitAuth("basic", self.username, self.token, scope_url)

    def describe(self) -> str:
        labels = {
            "api-token": "user API token",
            "access-token": "access token (repository/project/workspace)",
            "app-password": "app password",
            "ssh-key": "SSH key",
        }
        return labels[self.kind]


def detect(
    kind: str, token: str | None, username: str | None, ssh_key: str | None, platform: str
) -> Credential:
    """Decide the credential kind from the inputs (``auth: auto``) or check the explicit one."""
    token, username = token or "", username or ""
    if kind == "auto":
        if ssh_key:
            kind, why = "ssh-key", "an ssh-private-key was given"
        elif not token:
            raise UserError(
                "No Bitbucket credential was given.",
                "set `token:` (an API token with `username:` = your email, or an access token), "
                "or `ssh-private-key:` with `ssh-known-hosts:`.",
                input_name="token",
            )
        elif token.startswith("ATBB"):
            kind, why = "app-password", "the token starts with ATBB (app password format)"
        elif token.startswith("ATCTT"):
            kind, why = "access-token", "the token starts with ATCTT (access token format)"
        elif token.startswith("ATATT"):
            kind, why = "api-token", "the token starts with ATATT (API token format)"
        elif username:
            kind, why = "api-token", "a username was given with the token"
        else:
            kind, why = "access-token", "a token was given without a username"
    else:
        why = "auth input"
    if kind in ("api-token", "app-password") and not token:
        raise UserError(f"auth: {kind} needs `token:`.", "set `token:` to the secret.", input_name="token")
    if kind == "api-token" and not username and platform == "cloud":
        raise UserError(
            "A Bitbucket API token needs the Atlassian account email for the REST API.",
            "set `username:` to the email of the account that created the token.",
            input_name="username",
        )
    if kind == "app-password" and not username:
        raise UserError(
            "An app password needs the Bitbucket username (not the email).",
            "set `username:`, or better, replace the app password: " + MIGRATION_FIX,
            input_name="username",
        )
    if kind == "access-token" and not token:
        raise UserError("auth: access-token needs `token:`.", "set `token:` to the access token.", input_name="token")
    if kind == "ssh-key" and not ssh_key:
        raise UserError(
            "auth: ssh-key needs `ssh-private-key:`.", "set `ssh-private-key:` and `ssh-known-hosts:`.",
            input_name="ssh-private-key",
        )
    return Credential(kind, token, username, platform, why)


def app_password_warning(today: dt.date | None = None) -> str:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    if today >= APP_PASSWORD_REMOVED:
        return (
            f"App passwords were removed by Bitbucket Cloud on {APP_PASSWORD_REMOVED.isoformat()}: this credential "
            "no longer works for git or the API. Migrate: " + MIGRATION_FIX
        )
    return (
        f"App passwords are deprecated and stop working on {APP_PASSWORD_REMOVED.isoformat()}. Migrate now: "
        + MIGRATION_FIX
    )


@dataclass
class SshSetup:
    directory: str
    key_file: str
    known_hosts: str

    def command(self) -> str:
        return " ".join(
            [
                "ssh",
                "-F", "/dev/null",
                "-i", shlex.quote(self.key_file),
                "-o", "IdentitiesOnly=yes",
                "-o", f"UserKnownHostsFile={shlex.quote(self.known_hosts)}",
                "-o", "StrictHostKeyChecking=yes",
                "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=30",
            ]
        )

    def env(self) -> dict[str, str]:
        return {"GIT_SSH_COMMAND": self.command(), "GIT_SSH_VARIANT": "ssh"}


def check_known_hosts(text: str) -> None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines or any(len(ln.split()) < 3 for ln in lines):
        raise UserError(
            "`ssh-known-hosts` must hold known_hosts lines (`host keytype key`); host-key checking is never turned "
            "off.",
            "add the target's host key, e.g. the output of `ssh-keyscan bitbucket.org` checked against Bitbucket's "
            "published fingerprints.",
            input_name="ssh-known-hosts",
        )


@contextlib.contextmanager
def ssh_setup(private_key: str, known_hosts: str, runner_temp: str | None) -> Iterator[SshSetup]:
    """Write the key (0600) and known_hosts under RUNNER_TEMP for the duration; always removed after."""
    check_known_hosts(known_hosts)
    if "PRIVATE KEY" not in private_key:
        raise UserError(
            "`ssh-private-key` does not look like a private key (no 'PRIVATE KEY' header).",
            "paste the whole key file, including the -----BEGIN ... PRIVATE KEY----- lines, into a secret.",
            input_name="ssh-private-key",
        )
    base = runner_temp if runner_temp and os.path.isdir(runner_temp) else None
    directory = tempfile.mkdtemp(prefix="shipyard-mirror-ssh-", dir=base)
    try:
        os.chmod(directory, 0o700)
        key_file = os.path.join(directory, "id_key")
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(private_key.replace("\r\n", "\n").strip() + "\n")
        hosts = os.path.join(directory, "known_hosts")
        with open(hosts, "w", encoding="utf-8") as fh:
            fh.write(known_hosts.strip() + "\n")
        yield SshSetup(directory, key_file, hosts)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
