"""Where the overlays live: a path pattern with ``{service}``, ``{env}`` and optionally ``{cluster}``.

``apps/{service}/overlays/{env}/{cluster}/kustomization.yaml`` matches
``apps/orders/overlays/prd/eu1/kustomization.yaml`` as service ``orders``, env ``prd``, cluster ``eu1``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.runtime import UserError

PLACEHOLDERS = ("service", "env", "cluster")
NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")


@dataclass(frozen=True)
class Slot:
    """One overlay's coordinates."""

    service: str
    env: str
    cluster: str = ""

    @property
    def column(self) -> str:
        return f"{self.env}/{self.cluster}" if self.cluster else self.env


@dataclass(frozen=True)
class Layout:
    pattern: str
    regex: re.Pattern[str]
    has_cluster: bool

    def match(self, path: str) -> Slot | None:
        m = self.regex.fullmatch(path)
        if m is None:
            return None
        parts = m.groupdict()
        if not all(NAME_RE.fullmatch(v) for v in parts.values() if v is not None):
            return None
        return Slot(parts["service"], parts["env"], parts.get("cluster") or "")

    def path(self, slot: Slot) -> str:
        return self.pattern.format(service=slot.service, env=slot.env, cluster=slot.cluster)

    def prefix(self) -> str:
        """The literal directory before the first placeholder (to narrow a tree listing)."""
        head = self.pattern.split("{", 1)[0]
        return head[: head.rfind("/") + 1]


def parse_layout(pattern: str, input_name: str = "layout") -> Layout:
    text = pattern.strip()
    fields = re.findall(r"\{([^{}]*)\}", text)
    bad = [f for f in fields if f not in PLACEHOLDERS]
    problems = []
    if bad:
        problems.append(f"unknown placeholder(s) {', '.join('{' + b + '}' for b in bad)}")
    for need in ("service", "env"):
        if fields.count(need) != 1:
            problems.append(f"it needs {{{need}}} exactly once")
    if fields.count("cluster") > 1:
        problems.append("{cluster} may appear once")
    if text.startswith("/") or ".." in text.split("/") or any(c in text for c in "\n\r\t*?[]"):
        problems.append("it must be a relative path inside the repository without wildcards")
    if problems:
        raise UserError(
            f"Input '{input_name}' ('{text}') is not a usable overlay pattern: {'; '.join(problems)}.",
            "write the path of one overlay with placeholders, e.g. "
            "`apps/{service}/overlays/{env}/{cluster}/kustomization.yaml` ({cluster} is optional).",
            input_name=input_name,
        )
    regex = ""
    for piece in re.split(r"(\{[a-z]+\})", text):
        if piece.startswith("{") and piece.endswith("}"):
            regex += f"(?P<{piece[1:-1]}>[^/]+)"
        else:
            regex += re.escape(piece)
    return Layout(text, re.compile(regex), "cluster" in fields)
