"""Checks of the build stage's identifier inputs, before any side effect.

Values from inputs reach the builder's argv: some inside comma-separated options that buildx and buildah parse
(``--cache-from type=gha,scope=<service>``, ``--secret id=<id>,env=<VAR>``), some as the value of an option.
Every identifier is full-matched against a strict pattern (no control characters, no ``,`` or ``=``, no leading
``-``); free-text values (build-arg and label values) may hold anything printable but no control characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from shipyard.runtime import UserError

SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
TARGET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
BUILD_ARG_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
LABEL_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}")
SECRET_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
ENV_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)?[^\s/@]*:[^\s/@]*@")


def redact(value: str) -> str:
    """``user:token@`` parts of a value replaced by ``***@`` (for messages: an input may carry a credential)."""
    return _USERINFO.sub(lambda m: (m.group(1) or "") + "***@", value)


def has_credentials(value: str) -> bool:
    return redact(value) != value


def _shown(value: str) -> str:
    """The value as it can be printed safely (credentials redacted, control characters escaped, cut)."""
    text = redact(value).encode("unicode_escape").decode("ascii")
    return text if len(text) <= 80 else text[:77] + "..."


def identifier(name: str, value: str, pattern: re.Pattern[str], what: str, fix: str) -> str:
    if not pattern.fullmatch(value):
        raise UserError(f"Input '{name}' has '{_shown(value)}', which is not {what}.", fix, input_name=name)
    return value


def service_name(value: str) -> str:
    return identifier("service-name", value, SERVICE_RE, "a valid service name",
                      "use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit); it "
                      "names the build's cache scope.")


def target(value: str) -> str:
    return identifier("target", value, TARGET_RE, "a Dockerfile stage name",
                      "give the name of a stage of the Dockerfile (`FROM ... AS <name>`): letters, digits, '.', "
                      "'_', '-'.")


def no_control(name: str, key: str, value: str) -> None:
    if has_credentials(value):
        raise UserError(f"Input '{name}': the value of '{key}' carries credentials (user:token@...).",
                        "never put a credential in an input that is logged or stored in the image: pass it as a "
                        "build secret (`secret-envs: ID=ENV_VAR`, read with `RUN --mount=type=secret,id=ID`).",
                        input_name=name)
    if _CONTROL.search(value):
        raise UserError(f"Input '{name}': the value of '{key}' holds a control character (newline, tab, ...): "
                        f"'{_shown(value)}'.", f"give '{key}' a one-line value without control characters.",
                        input_name=name)


def build_args(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        identifier("build-args", key, BUILD_ARG_RE, "a build argument name",
                   "write NAME=value per line; names hold letters, digits and '_' and start with a letter or '_'.")
        no_control("build-args", key, value)


def labels(values: Mapping[str, str]) -> None:
    for key, value in values.items():
        identifier("labels", key, LABEL_KEY_RE, "a label key",
                   "write key=value per line; keys hold letters, digits, '.', '_', '/', '-' (e.g. "
                   "`org.opencontainers.image.vendor=ACME`).")
        no_control("labels", key, value)


def secret_envs(values: Mapping[str, str]) -> None:
    for sid, var in values.items():
        identifier("secret-envs", sid, SECRET_ID_RE, "a build secret id",
                   "write ID=ENV_VAR per line; the id holds letters, digits, '.', '_', '-' (it is what "
                   "`RUN --mount=type=secret,id=<id>` names).")
        identifier("secret-envs", var, ENV_VAR_RE, "an environment variable name",
                   "write ID=ENV_VAR per line, ENV_VAR being the name of a variable set in the step's `env:` "
                   "(letters, digits, '_').")


def source_url(value: str) -> str:
    """The image's ``org.opencontainers.image.source`` label: an http(s) URL without credentials."""
    fix = "give the repository's web address, e.g. `https://github.com/acme/shop` (no user or token in it)."
    if _CONTROL.search(value) or any(c.isspace() for c in value):
        raise UserError(f"Input 'source-url' has '{_shown(value)}', which holds spaces or control characters.",
                        fix, input_name="source-url")
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise UserError(f"Input 'source-url' has '{_shown(value)}', which is not an http(s) URL.", fix,
                        input_name="source-url")
    if parts.username is not None or parts.password is not None:
        # the label is public with the image: never print or store the credential part
        raise UserError("Input 'source-url' carries credentials (user:token@host); the label would publish them "
                        "with the image.", fix, input_name="source-url")
    return value
