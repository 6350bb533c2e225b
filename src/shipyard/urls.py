"""One check for every URL a stage takes from an input: ``check_url(name, value, schemes=...)``.

A URL input is refused (one :class:`~shipyard.runtime.UserError` naming the input and the fix) when it

* holds a control character or whitespace (a newline would forge a second line in a log, an output or a
  commit; a URL never needs either),
* starts with ``-`` (git and curl would read it as an option: ``--upload-pack=...`` runs a command),
* carries credentials (``https://user:TOKEN@host``, ``https://TOKEN@host``, ``ssh://git:pw@host``): they
  would reach argv, logs and error messages; credentials go in the stage's token inputs,
* uses a scheme outside ``schemes`` (``ext::``, ``file://``, ``fd::`` and other git transports run local
  programs or read local files).

``scp`` in ``schemes`` allows git's scp-like form ``user@host:path`` (the user is required). The error never
repeats the value's userinfo (see :func:`safe_repr`). ``check_url`` returns the URL unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from shipyard.runtime import Action, UserError

HTTP = ("https", "http")
GIT = ("https", "http", "ssh", "scp")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*)")
_USER = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_SCP = re.compile(r"(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>(?!//).+)")


def safe_repr(value: str, limit: int = 80) -> str:
    """The value as it may be shown in an error: userinfo replaced by ``***``, control characters escaped,
    cut to ``limit`` characters."""
    text = re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@", r"\1***@", value)
    text = re.sub(r"^[^/@:]*:[^/@]*@", "***@", text)  # scp-like user:password@host:path
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_url(name: str, value: str, schemes: Iterable[str] = HTTP, *, allow_user: bool = True) -> str:
    """Return ``value`` if it is a safe URL of one of ``schemes``; raise a UserError naming input ``name``.

    ``allow_user`` lets ``ssh://git@host/...`` and ``git@host:path`` name the login user (never a password);
    http(s) URLs never carry userinfo at all (a lone ``https://TOKEN@host`` is a credential too).
    """
    allowed = tuple(s.lower() for s in schemes)
    shown = safe_repr(value)
    kinds = ", ".join("scp-like user@host:path" if s == "scp" else f"{s}://" for s in allowed)

    def refuse(problem: str, fix: str) -> UserError:
        return UserError(f"Input '{name}' {problem} (got '{shown}').", fix, input_name=name)

    if not value:
        raise refuse("is empty", f"set `{name}:` to a URL ({kinds}).")
    if value.startswith("-"):
        raise refuse("starts with '-', which git would read as an option",
                     f"set `{name}:` to a URL ({kinds}).")
    if _CONTROL.search(value):
        raise refuse("contains whitespace or a control character (a newline, tab, escape...)",
                     f"set `{name}:` to one URL on one line, without spaces.")
    if "://" not in value and "::" in value:
        raise refuse("names a git remote helper ('<transport>::<address>'), which runs a program",
                     f"use one of: {kinds}.")
    if "://" in value:
        scheme = value.split("://", 1)[0]
        if not _SCHEME.fullmatch(scheme) or scheme.lower() not in allowed:
            raise refuse(f"uses the scheme '{safe_repr(scheme, 20)}', which is not allowed here",
                         f"use one of: {kinds}.")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise refuse("is not a valid URL", f"set `{name}:` to a URL such as https://host/path.") from None
        netloc = parts.netloc
        if "@" in netloc:
            userinfo = netloc.rsplit("@", 1)[0]
            if ":" in userinfo or scheme.lower() in HTTP or not allow_user or not _USER.fullmatch(userinfo):
                raise refuse("contains credentials (user:password@ or token@ before the host)",
                             "remove them from the URL and pass the secret in the stage's token input "
                             "(e.g. `token:`/`source-token:`) from a repository secret; then rotate the "
                             "exposed credential.")
        hostport = netloc.rsplit("@", 1)[-1]
        hostname = hostport[: hostport.index("]") + 1] if hostport.startswith("[") and "]" in hostport else (
            hostport.rsplit(":", 1)[0] if ":" in hostport else hostport)
        if not hostname or not _HOST.fullmatch(hostname):
            raise refuse("has no valid host name", f"set `{name}:` to a URL such as {allowed[0]}://host/path.")
        return value
    if "scp" in allowed:
        match = _SCP.fullmatch(value)
        if match and match["user"] is not None and _HOST.fullmatch(match["host"]):
            if "@" in match["path"] or not allow_user or not _USER.fullmatch(match["user"]):
                raise refuse("contains credentials before the host",
                             "use git@host:path and pass the key in `ssh-private-key:`.")
            if match["path"].startswith("-"):
                raise refuse("has a path starting with '-'", f"set `{name}:` to a URL ({kinds}).")
            return value
    raise refuse("is not a URL git or the API can use", f"use one of: {kinds}.")


_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://([^/@\s]+)@")
_SCP_SECRET = re.compile(r"(?:^|[\s'\"(<])[A-Za-z0-9._~%+-]+:([^\s/@:]+)@[A-Za-z0-9.-]+")


def mask_credentials(action: Action, names: Iterable[str] | None = None) -> None:
    """Mask the userinfo of every ``scheme://user:secret@`` in the given inputs (default: every input), so a
    token pasted into a URL is blanked in anything printed, even in an error that repeats the value."""
    for key, value in action.env.items():
        if not key.startswith("INPUT_") or not value:
            continue
        if names is not None and key not in {"INPUT_" + n.replace("-", "_").upper() for n in names}:
            continue
        for match in _USERINFO.finditer(value):
            userinfo = match.group(1)
            action.mask(userinfo)
            if ":" in userinfo:
                action.mask(userinfo.split(":", 1)[1])
        for match in _SCP_SECRET.finditer(value):
            action.mask(match.group(1))


def one_line(text: object, limit: int = 300) -> str:
    """Remote or user text made safe for one log line: whitespace runs (newlines included) become one space,
    other control characters are dropped, so it can never start a workflow command line."""
    flat = " ".join(str(text).split())
    flat = "".join(ch for ch in flat if ch.isprintable())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
