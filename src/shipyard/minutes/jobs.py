"""Attribution: each job is billed ``ceil((completed_at - started_at) / 60 s)`` on the SKU its runner labels map
to; re-run attempts count again; self-hosted jobs are counted apart and bill 0; labels nobody mapped are counted
as ``unmapped`` and named with the fix.

The label -> SKU table and the SKU multipliers are configurable (``runner-skus``, ``multipliers``) because
whether Windows/macOS still weigh 2x/10x against the included minutes in 2026 is not settled: the reconciliation
against the usage of record shows which table matches the bill.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from shipyard.runtime import UserError

SELF_HOSTED = "self_hosted"
UNMAPPED = "unmapped"

DEFAULT_LABELS: dict[str, str] = {
    **{f"ubuntu-{v}": "actions_linux" for v in ("latest", "24.04", "22.04", "20.04")},
    "ubuntu-slim": "actions_linux_slim",
    **{f"ubuntu-{v}-arm": "actions_linux_arm" for v in ("24.04", "22.04")},
    **{f"windows-{v}": "actions_windows" for v in ("latest", "2025", "2022", "2019")},
    "windows-11-arm": "actions_windows_arm",
    **{f"macos-{v}": "actions_macos" for v in ("latest", "26", "15", "14", "13")},
    **{f"macos-{v}-large": "actions_macos_12_core" for v in ("latest", "15", "14", "13")},
    **{f"macos-{v}-xlarge": "actions_macos_xl" for v in ("latest", "15", "14", "13")},
}
DEFAULT_MULTIPLIERS: dict[str, float] = {
    "actions_linux": 1, "actions_linux_slim": 1, "actions_linux_arm": 1, "actions_windows": 2,
    "actions_windows_arm": 2, "actions_macos": 10, "actions_macos_12_core": 10, "actions_macos_xl": 10,
    SELF_HOSTED: 0, UNMAPPED: 1,
}
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}")
SKU = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass
class SkuTable:
    labels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LABELS))
    multipliers: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MULTIPLIERS))

    def weight(self, sku: str) -> float:
        return self.multipliers.get(sku, 1.0)


def sku_table(runner_skus: Mapping[str, str], multipliers: Mapping[str, str]) -> SkuTable:
    """``runner-skus`` lines ``LABEL=SKU`` and ``multipliers`` lines ``SKU=NUMBER`` over the defaults."""
    table = SkuTable()
    for label, sku in runner_skus.items():
        if not LABEL.fullmatch(label) or not SKU.fullmatch(sku):
            raise UserError(
                f"Input 'runner-skus' has a bad entry '{label}={sku}'.",
                "write one `LABEL=SKU` per line, e.g. `linux-8core=actions_linux_8_core` (SKU names: "
                "lower-case letters, digits and _ as in the usage report).", input_name="runner-skus")
        table.labels[label.lower()] = sku
        table.multipliers.setdefault(sku, 1.0)
    for sku, raw in multipliers.items():
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not SKU.fullmatch(sku) or not (0 <= value <= 1000) or not math.isfinite(value):
            raise UserError(
                f"Input 'multipliers' has a bad entry '{sku}={raw}'.",
                "write one `SKU=NUMBER` per line, e.g. `actions_windows=1` when Windows minutes count 1:1.",
                input_name="multipliers")
        table.multipliers[sku] = value
    return table


def parse_time(value: Any) -> float | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def billable(started: float | None, completed: float | None) -> int:
    if started is None or completed is None:
        return 0
    return math.ceil(max(0.0, completed - started) / 60.0)


def is_self_hosted(job: Mapping[str, Any]) -> bool:
    labels = [str(x).lower() for x in job.get("labels") or []]
    if "self-hosted" in labels:
        return True
    group = job.get("runner_group_id")
    name = str(job.get("runner_group_name") or "")
    return bool(group) and name not in ("", "GitHub Actions")


def classify(job: Mapping[str, Any], table: SkuTable) -> tuple[str, str]:
    """(SKU, label that decided it). ``unmapped`` carries the labels joined, for the fix."""
    if is_self_hosted(job):
        return SELF_HOSTED, "self-hosted"
    labels = [str(x) for x in job.get("labels") or []]
    for label in labels:
        sku = table.labels.get(label.lower())
        if sku:
            return sku, label
    return UNMAPPED, ",".join(labels) or "(no labels)"


# A counted job, kept in the state: compact so a month of 20,000 jobs stays a few MB.
JOB_FIELDS = ("run", "attempt", "name", "sku", "label", "started", "completed", "conclusion")


def job_record(run_key: str, job: Mapping[str, Any], table: SkuTable) -> list[Any]:
    sku, label = classify(job, table)
    started = parse_time(job.get("started_at"))
    completed = parse_time(job.get("completed_at"))
    return [run_key, int(job.get("run_attempt") or 1), str(job.get("name") or "?"), sku, label,
            started or 0.0, completed or 0.0, str(job.get("conclusion") or "")]


@dataclass
class Totals:
    """Everything counted, rolled up for the report. Minutes are billed (rounded-up) job minutes."""

    jobs: int = 0
    minutes_by_sku: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    weighted: float = 0.0  # against the included minutes (multipliers applied; self-hosted 0)
    self_hosted: int = 0
    unmapped: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # labels -> minutes
    by_repo: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_workflow: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    by_job: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))
    by_event: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    by_branch: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    by_day: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # YYYY-MM-DD -> weighted

    @property
    def billed(self) -> int:
        return sum(m for s, m in self.minutes_by_sku.items() if s != SELF_HOSTED)


def attribute(runs: Mapping[str, list[Any]], jobs: Iterable[list[Any]], table: SkuTable) -> Totals:
    """Roll the counted jobs up. ``runs[key]`` is the run record of :mod:`scan` (repo, workflow, event...)."""
    totals = Totals()
    for rec in jobs:
        run_key, _attempt, name, sku, label, started, completed, _conclusion = rec
        minutes = billable(started, completed)
        totals.jobs += 1
        if not minutes:
            continue
        run = runs.get(run_key) or ["?", 0, "?", "?", "?", "?", "?", 0.0, 0]
        repo, workflow, event, branch = run[0], run[2], run[4], run[5]
        totals.minutes_by_sku[sku] += minutes
        if sku == SELF_HOSTED:
            totals.self_hosted += minutes
            continue
        if sku == UNMAPPED:
            totals.unmapped[label] += minutes
        weight = minutes * table.weight(sku)
        totals.weighted += weight
        totals.by_repo[repo] += weight
        totals.by_workflow[(repo, workflow)] += weight
        totals.by_job[(repo, workflow, name)] += weight
        totals.by_event[event] += weight
        totals.by_branch[(repo, branch)] += weight
        totals.by_day[datetime.fromtimestamp(completed, timezone.utc).strftime("%Y-%m-%d")] += weight
    return totals


def unmapped_fix(unmapped: Mapping[str, int]) -> str:
    first = next(iter(unmapped), "my-runner")
    label = first.split(",")[0]
    return (f"map each label to its SKU with the `runner-skus` input, e.g. `{label}=actions_linux_4_core` "
            "(SKU names as in the usage report); until then these minutes count 1:1 as `unmapped`.")
