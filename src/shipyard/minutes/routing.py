"""Routing before the wall: when the forecast crosses the budget, the organisation variable (default
``SHIPYARD_RUNS_ON``) is set to the self-hosted runners' labels; the reusable pipeline workflows read their
default ``runs-on`` from it (``runs-on: ${{ fromJSON(vars.SHIPYARD_RUNS_ON || '"ubuntu-latest"') }}``), so no
run pays a minute for a decision job. When the month turns the variable goes back to what it was.

Dry-run by default: the change is printed; ``route-runners: true`` writes it. A refused write is reported
(with the permission to grant) and changes nothing else: the alert still goes out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from shipyard.minutes.github import ApiError, GitHubApi

GRANT_VARIABLES = ("grant the token the organisation permission \"Variables: Read and write\" (GitHub App: "
                   "Organization permissions > Variables; fine-grained PAT: Organization permissions > Variables; "
                   "classic PAT: admin:org)")


@dataclass
class Change:
    name: str
    value: str  # the JSON text the variable should hold
    reason: str
    restore: bool = False


@dataclass
class Outcome:
    change: Change | None
    applied: bool = False
    previous: str | None = None
    problem: str = ""
    dry_run: bool = True


def labels_json(labels: list[str]) -> str:
    return json.dumps(labels[0] if len(labels) == 1 else labels, separators=(",", ":"))


def plan(memory: dict[str, Any], month: str, over_budget: bool, name: str, self_hosted: str) -> Change | None:
    routed_month = memory.get("month")
    if over_budget:
        if routed_month == month and memory.get("value") == self_hosted:
            return None
        return Change(name, self_hosted, "the forecast exceeds the budget")
    if routed_month and routed_month != month:
        previous = memory.get("previous")
        return Change(name, previous if isinstance(previous, str) else "", "the month turned", restore=True)
    return None


def apply(api: GitHubApi, org: str, change: Change, memory: dict[str, Any], month: str, *,
          write: bool, hosted_default: str) -> Outcome:
    outcome = Outcome(change, dry_run=not write)
    path = f"/orgs/{org}/actions/variables/{change.name}"
    exists = True
    try:
        body, _ = api.get(path)
        outcome.previous = str(body.get("value", ""))
    except ApiError as exc:
        if exc.status == 404:
            exists = False
        elif write:
            outcome.problem = f"reading {change.name} was refused ({exc.status}: {exc.message}); {GRANT_VARIABLES}"
            return outcome
    value = change.value or hosted_default
    if not write:
        return outcome
    if outcome.previous == value:
        outcome.applied = True
    else:
        response = api.write("PATCH", path, {"name": change.name, "value": value}) if exists else \
            api.write("POST", f"/orgs/{org}/actions/variables", {"name": change.name, "value": value,
                                                                 "visibility": "all"})
        if response.status_code not in (200, 201, 204):
            try:
                message = str(response.json().get("message", ""))
            except ValueError:
                message = response.text[:200]
            outcome.problem = (f"GitHub refused to set {change.name} ({response.status_code}: {message}); "
                               f"{GRANT_VARIABLES}")
            return outcome
        outcome.applied = True
    if change.restore:
        memory.clear()
    else:
        memory.update({"month": month, "value": value,
                       "previous": memory.get("previous", outcome.previous or hosted_default)})
    return outcome
