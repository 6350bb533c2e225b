"""Running git with credentials that never reach argv, a URL or a log.

Credentials travel as an ``http.extraHeader`` set through git's environment-only configuration
(``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n``, git >= 2.31), scoped to the remote's
URL so a redirect to another host never receives them. ``git`` runs with a clean, non-interactive
environment: no terminal prompts, no system or global config surprises.

Anything taken from an input or a remote (a URL, a ref, a branch name) goes after ``--end-of-options``:
pass it in ``run_git(..., operands=[...])`` so ``--upload-pack=...`` can never be read as an option.
:func:`network_config` bounds every HTTP transfer (``http.lowSpeedLimit``/``http.lowSpeedTime``), so a server
that accepts a connection and never answers costs seconds, not hours.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.runtime import UserError

END_OF_OPTIONS = "--end-of-options"


def network_config(low_speed_time: float = 60.0, low_speed_limit: int = 1000) -> list[tuple[str, str]]:
    """git config (for ``extra_config``) that aborts an HTTP transfer slower than ``low_speed_limit`` bytes/s
    for ``low_speed_time`` seconds: a stalled or silent server fails fast instead of hanging."""
    return [
        ("http.lowSpeedLimit", str(max(1, int(low_speed_limit)))),
        ("http.lowSpeedTime", str(max(1, round(low_speed_time)))),
    ]


@dataclass(frozen=True)
class GitAuth:
    """How to authenticate to one HTTPS remote. ``kind`` is ``basic``, ``bearer`` or ``none``."""

    kind: str = "none"
    username: str = ""
    secret: str = ""
    scope_url: str = ""  # apply only to URLs starting with this (e.g. "https://host/")

    def header(self) -> str | None:
        if self.kind == "basic":
            token = base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()
            return f"Authorization: Basic {token}"
        if self.kind == "bearer":
            return f"Authorization: Bearer {self.secret}"
        return None

    def mask_values(self) -> list[str]:
        """Everything derived from the secret that could show up somewhere: mask all of it."""
        values = [self.secret] if self.secret else []
        header = self.header()
        if header:
            values.append(header.split(" ", 2)[-1])
        return values


@dataclass
class GitResult:
    returncode: int
    stdout: str
    stderr: str
    args: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def git_env(auth: GitAuth | None = None, base: Mapping[str, str] | None = None,
            extra_config: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """A process environment for git with the credential as a URL-scoped extraHeader."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("GIT_CONFIG_")}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "true",  # never prompt; a missing credential fails instead of hanging
            "GCM_INTERACTIVE": "never",
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
        }
    )
    config: list[tuple[str, str]] = list(extra_config)
    header = auth.header() if auth else None
    if auth and header:
        key = f"http.{auth.scope_url}.extraHeader" if auth.scope_url else "http.extraHeader"
        config.append((key, header))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def scrub(text: str, auth: GitAuth | None) -> str:
    if auth:
        for value in auth.mask_values():
            if value:
                text = text.replace(value, "***")
    return text


class GitTimeout(UserError):
    """git did not finish within its time: a user error by default (the fix is named); callers that retry within
    a stage deadline treat it as transient (a server that accepts and never answers)."""


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    auth: GitAuth | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    input_text: str | None = None,
    timeout: float | None = 600,
    operands: Sequence[str] = (),
    extra_config: Sequence[tuple[str, str]] = (),
) -> GitResult:
    """Run ``git ARGS [--end-of-options OPERANDS]``; with ``check`` a failure raises a UserError carrying git's
    (scrubbed) message. ``operands`` are URLs, refs and paths that came from outside: never options."""
    cmd = ["git", *args, *((END_OF_OPTIONS, *operands) if operands else ())]
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=git_env(auth, env, extra_config),
            capture_output=True,
            text=True,
            input=input_text,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise UserError("git is not installed on this runner.", "install git (apt-get install git).")
    except subprocess.TimeoutExpired:
        raise GitTimeout(f"git {args[0] if args else ''} did not finish within {timeout or 0:.0f}s.",
                         "check the remote is reachable and answering, then re-run.") from None
    result = GitResult(proc.returncode, scrub(proc.stdout, auth), scrub(proc.stderr, auth), list(cmd[1:]))
    if check and not result.ok:
        raise UserError(f"git {' '.join(args[:2])} failed: {result.stderr.strip() or result.stdout.strip()}",
                        "see git's message above; check the repository, the ref and the credential.")
    return result
