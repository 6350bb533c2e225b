"""The fleet routing file: service + environment -> channel and owning team; GitHub login -> Slack user.

```yaml
defaults:
  channel: C0123DEPLOYS            # or "#deploys"
  environments:
    prod: {channel: C0456PRODDEP}
services:
  payments:                        # exact name or a glob ("payments-*")
    channel: "#payments"
    team: S0PAYMENTS               # Slack user group ID (or a list of them)
    environments:
      prod: {channel: C0789PAYPROD, team: [S0PAYMENTS, S0SRE]}
users:
  octocat: U0123OCTO               # GitHub login -> Slack member ID
```
Precedence: the `channel` input, then services.<svc>.environments.<env>, services.<svc>, defaults.environments.<env>,
defaults. The most specific service key wins (exact name before globs, longer globs first).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.runtime import UserError

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL = re.compile(r"^(#?[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{2,})$")


@dataclass
class Route:
    channel: str = ""
    teams: list[str] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)
    source: str = ""  # which part of the file decided the channel, for the summary

    def slack_user(self, login: str) -> str:
        return self.users.get(login.lower(), "") if login else ""


def _bad(path: str, where: str, problem: str) -> UserError:
    return UserError(
        f"Routing file {path}: {where} {problem}.",
        "fix the routing file (format in actions/slack-notify/README.md, 'Routing file').",
        input_name="routing-file",
    )


def _teams(value: Any, path: str, where: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    teams = []
    for item in items:
        text = str(item).strip()
        if not GROUP_ID.match(text):
            raise _bad(path, where, f"team '{text}' is not a Slack user group ID (S...)")
        teams.append(text)
    return teams


def _channel(value: Any, path: str, where: str) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if not CHANNEL.match(text):
        raise _bad(path, where, f"channel '{text}' is neither a channel ID (C...) nor a channel name")
    return text


def _level(data: Any, path: str, where: str) -> tuple[str, list[str]]:
    if data is None:
        return "", []
    if not isinstance(data, dict):
        raise _bad(path, where, "must be a mapping")
    unknown = set(data) - {"channel", "team", "teams", "environments"}
    if unknown:
        raise _bad(path, where, f"has unknown keys {', '.join(sorted(map(str, unknown)))}")
    return _channel(data.get("channel"), path, where), _teams(data.get("team", data.get("teams")), path, where)


def _service_entry(services: dict[str, Any], service: str) -> tuple[str, Any]:
    if service in services:
        return service, services[service]
    globs = sorted((k for k in services if any(c in k for c in "*?[")), key=len, reverse=True)
    for key in globs:
        if fnmatch.fnmatchcase(service, key):
            return key, services[key]
    return "", None


def parse(text: str, path: str, service: str, environment: str) -> Route:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "the file"
        raise _bad(path, where, f"is not valid YAML ({getattr(exc, 'problem', exc)})")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _bad(path, "the top level", "must be a mapping with defaults/services/users")
    unknown = set(data) - {"defaults", "services", "users"}
    if unknown:
        raise _bad(path, "the top level", f"has unknown keys {', '.join(sorted(map(str, unknown)))}")
    route = Route()
    users = data.get("users") or {}
    if not isinstance(users, dict):
        raise _bad(path, "users", "must map GitHub logins to Slack member IDs")
    for login, slack_id in users.items():
        if not USER_ID.match(str(slack_id).strip()):
            raise _bad(path, f"users.{login}", f"'{slack_id}' is not a Slack member ID (U... or W...)")
        route.users[str(login).lower()] = str(slack_id).strip()
    services = data.get("services") or {}
    if not isinstance(services, dict):
        raise _bad(path, "services", "must be a mapping of service name to its routing")
    levels: list[tuple[str, Any]] = []
    key, entry = _service_entry({str(k): v for k, v in services.items()}, service)
    defaults = data.get("defaults")
    for prefix, block in ((f"services.{key}", entry), ("defaults", defaults)):
        if block is None:
            continue
        if not isinstance(block, dict):
            raise _bad(path, prefix, "must be a mapping")
        envs = block.get("environments") or {}
        if not isinstance(envs, dict):
            raise _bad(path, f"{prefix}.environments", "must map environment names to routing")
        if environment and environment in envs:
            levels.append((f"{prefix}.environments.{environment}", envs[environment]))
        levels.append((prefix, block))
    for where, block in levels:
        channel, teams = _level(block, path, where)
        if channel and not route.channel:
            route.channel, route.source = channel, where
        if teams and not route.teams:
            route.teams = teams
    return route


def load(path: str, service: str, environment: str) -> Route:
    file = Path(path)
    if not file.is_file():
        raise UserError(
            f"Routing file '{path}' does not exist.",
            "check the `routing-file` path (relative to the workspace; check out the central routing repo first).",
            input_name="routing-file",
        )
    return parse(file.read_text(encoding="utf-8"), path, service, environment)
