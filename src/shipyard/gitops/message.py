"""Commit messages from a template, plus the machine-readable trailers the out-of-order guard reads."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from shipyard.runtime import UserError

DEFAULT_TEMPLATE = (
    "deploy({service}/{environment}): {old_ref} -> {new_ref}\n"
    "\n"
    "Set {image} to {new_ref} in {environment}.\n"
    "Files: {files}\n"
    "Digest: {digest}\n"
    "Source: {source_link}\n"
    "Run: {run_url}"
)
PLACEHOLDERS = (
    "service", "environment", "image", "old_tag", "new_tag", "old_digest", "digest", "old_ref", "new_ref",
    "source_commit", "short_commit", "source_link", "run_url", "files", "branch",
)

T_SERVICE = "Shipyard-Service"
T_ENV = "Shipyard-Environment"
T_IMAGE = "Shipyard-Image"
T_SOURCE = "Shipyard-Source-Commit"
T_BUILT = "Shipyard-Built-At"
T_TAG = "Shipyard-Tag"
T_DIGEST = "Shipyard-Digest"

_TRAILER = re.compile(r"^(Shipyard-[A-Za-z-]+):\s*(.*?)\s*$", re.MULTILINE)


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise UserError(
            f"Input 'commit-message' uses an unknown placeholder {{{key}}}.",
            f"use only: {', '.join('{' + p + '}' for p in PLACEHOLDERS)} (write {{{{ and }}}} for literal braces).",
            input_name="commit-message",
        )


def check_template(template: str) -> None:
    render(template, {p: "" for p in PLACEHOLDERS})


def render(template: str, values: Mapping[str, str]) -> str:
    try:
        return template.format_map(_Values(values)).strip()
    except (ValueError, IndexError) as exc:
        raise UserError(
            f"Input 'commit-message' is not a valid template: {exc}.",
            "use {placeholder} fields and write {{ and }} for literal braces.",
            input_name="commit-message",
        )


def trailers(values: Mapping[str, str | None]) -> str:
    lines = [f"{k}: {v}" for k, v in values.items() if v]
    return "\n".join(lines)


def parse_trailers(message: str) -> dict[str, str]:
    """The ``Shipyard-*`` trailers of the message's last paragraph (the block :func:`trailers` writes at the end):
    a ``Shipyard-Built-At:`` line anywhere else (a template's text, a forged body) is not a trailer."""
    block = message.strip().replace("\r\n", "\n").rsplit("\n\n", 1)[-1]
    return {k: v for k, v in _TRAILER.findall(block)}


def iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> float | None:
    """ISO 8601 (``2026-01-02T03:04:05Z``, offsets, fractions) or epoch seconds -> epoch seconds."""
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return parsed.timestamp()


@dataclass(frozen=True)
class BuildRecord:
    """What a previous Shipyard commit recorded for one service and environment."""

    commit: str
    source_commit: str | None
    built_at: float | None
    tag: str | None
    digest: str | None
