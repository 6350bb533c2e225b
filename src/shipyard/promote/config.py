"""promotion.yaml: waves, dependencies, soak time and freeze windows, validated against the fleet's services.

```yaml
waves:                       # optional; services not listed go last
  - [accounts, payments]
  - [orders]
dependencies:                # optional: service -> services that must be promoted first
  orders: [payments]
soak-minutes: 30             # healthy in the source for at least this long (per Argo CD)
soak:                        # optional per-service overrides
  orders: 120
freeze:                      # no promotion to these environments inside the window
  - {start: 2026-12-20T00:00:00Z, end: 2027-01-04T00:00:00Z, reason: holidays, environments: [prd]}
```
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shipyard.runtime import UserError

KEYS = {"waves", "dependencies", "soak-minutes", "soak", "freeze"}
FREEZE_KEYS = {"start", "end", "reason", "environments"}


@dataclass(frozen=True)
class Freeze:
    start: float
    end: float
    reason: str
    environments: tuple[str, ...]  # empty: every environment

    def covers(self, env: str, now: float) -> bool:
        return self.start <= now < self.end and (not self.environments or env in self.environments)


@dataclass
class Policy:
    waves: list[list[str]] = field(default_factory=list)
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    soak_minutes: float = 0.0
    soak: dict[str, float] = field(default_factory=dict)
    freezes: list[Freeze] = field(default_factory=list)

    def soak_for(self, service: str) -> float:
        return self.soak.get(service, self.soak_minutes)


def _fail(path: str, problem: str, fix: str) -> UserError:
    return UserError(f"{path}: {problem}", fix, input_name="promotion-file", title="promotion.yaml problem")


def _time(path: str, value: Any, what: str) -> float:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc).timestamp()
    if isinstance(value, str):
        from shipyard.gitops.message import parse_time

        parsed = parse_time(value)
        if parsed is not None:
            return parsed
    raise _fail(path, f"freeze {what} '{value}' is not a time.", "write times as ISO 8601, e.g. 2026-12-20T00:00:00Z.")


def _names(path: str, value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, f"{where} must be a list of service names.", f"write {where} as [service-a, service-b].")
    return list(value)


def parse(path: str, text: str | None, services: set[str]) -> Policy:
    """Parse and validate; ``services`` are the fleet's service names (unknown names are an error)."""
    if text is None:
        return Policy()
    from shipyard.gitops.yamledit import YamlEditError, load_all

    try:
        docs = load_all(path, text)
    except YamlEditError as exc:
        raise _fail(path, f"does not parse: {exc.message}", f"fix the YAML syntax of {path} in the config repository.")
    data = docs[0] if docs else None
    if data is None:
        return Policy()
    if not isinstance(data, dict):
        raise _fail(path, "is not a mapping.",
                    "write waves:, dependencies:, soak-minutes: and freeze: at the top level.")
    unknown = sorted(str(k) for k in data if k not in KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(unknown)}.", f"use only {', '.join(sorted(KEYS))}.")
    policy = Policy()
    waves = data.get("waves") or []
    if not isinstance(waves, list):
        raise _fail(path, "`waves` must be a list of lists.", "write waves: [[a, b], [c]].")
    policy.waves = [_names(path, w, f"waves[{i}]") for i, w in enumerate(waves)]
    deps = data.get("dependencies") or {}
    if not isinstance(deps, dict):
        raise _fail(path, "`dependencies` must map a service to a list.", "write dependencies: {orders: [payments]}.")
    policy.dependencies = {str(k): _names(path, v, f"dependencies.{k}") for k, v in deps.items()}
    soak = data.get("soak-minutes", 0)
    if isinstance(soak, bool) or not isinstance(soak, (int, float)) or soak < 0:
        raise _fail(path, f"`soak-minutes` must be a number of minutes >= 0, got {soak!r}.", "write soak-minutes: 30.")
    policy.soak_minutes = float(soak)
    per = data.get("soak") or {}
    if not isinstance(per, dict) or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
                                        for v in per.values()):
        raise _fail(path, "`soak` must map a service to minutes >= 0.", "write soak: {orders: 120}.")
    policy.soak = {str(k): float(v) for k, v in per.items()}
    freezes = data.get("freeze") or []
    if not isinstance(freezes, list):
        raise _fail(path, "`freeze` must be a list of windows.", "write freeze: [{start: ..., end: ..., reason: ...}].")
    for i, window in enumerate(freezes):
        if not isinstance(window, dict) or "start" not in window or "end" not in window:
            raise _fail(path, f"freeze[{i}] needs start and end.", "write {start: 2026-12-20T00:00:00Z, end: ...}.")
        extra = sorted(str(k) for k in window if k not in FREEZE_KEYS)
        if extra:
            raise _fail(path, f"freeze[{i}] has unknown key(s) {', '.join(extra)}.",
                        f"use only {', '.join(sorted(FREEZE_KEYS))}.")
        start, end = _time(path, window["start"], "start"), _time(path, window["end"], "end")
        if end <= start:
            raise _fail(path, f"freeze[{i}] ends before it starts.", "swap start and end.")
        envs = tuple(_names(path, window.get("environments") or [], f"freeze[{i}].environments"))
        policy.freezes.append(Freeze(start, end, str(window.get("reason") or "freeze window"), envs))
    named = {s for w in policy.waves for s in w} | set(policy.dependencies) | set(policy.soak)
    named |= {d for ds in policy.dependencies.values() for d in ds}
    strangers = sorted(named - services)
    if strangers:
        raise _fail(path, f"names unknown service(s) {', '.join(strangers)} (the config repository has "
                    f"{len(services)}: {', '.join(sorted(services)[:20])}{' ...' if len(services) > 20 else ''}).",
                    "fix the names or remove them from promotion.yaml.")
    seen: dict[str, int] = {}
    for i, wave in enumerate(policy.waves):
        for s in wave:
            if s in seen:
                raise _fail(path, f"service {s} is in wave {seen[s] + 1} and wave {i + 1}.", "list it in one wave.")
            seen[s] = i
    cycle = find_cycle(policy.dependencies)
    if cycle:
        raise _fail(path, f"dependency cycle {' -> '.join(cycle)}.", "remove one of these dependencies.")
    for svc, needs in policy.dependencies.items():
        for dep in needs:
            if svc in seen and dep in seen and seen[dep] >= seen[svc]:
                raise _fail(path, f"{svc} (wave {seen[svc] + 1}) depends on {dep} (wave {seen[dep] + 1}).",
                            f"move {dep} to an earlier wave than {svc}, or drop the dependency.")
    return policy


def find_cycle(deps: dict[str, list[str]]) -> list[str]:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in deps.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for node in sorted(deps):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return []


def wave_of(policy: Policy, services: list[str]) -> dict[str, int]:
    """Wave index per service: its explicit wave, else after every explicit wave, pushed later by dependencies."""
    explicit = {s: i for i, w in enumerate(policy.waves) for s in w}
    base = len(policy.waves)
    out: dict[str, int] = {}

    def level(s: str) -> int:
        if s in out:
            return out[s]
        deps = [d for d in policy.dependencies.get(s, []) if d in services]
        floor = max((level(d) + 1 for d in deps), default=0)
        out[s] = max(explicit.get(s, base), floor) if s not in explicit else explicit[s]
        return out[s]

    for s in services:
        level(s)
    return out
