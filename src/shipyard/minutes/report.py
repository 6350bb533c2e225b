"""The step summary (a burn-down chart that renders on GitHub, tables, the waste list) and ``--format json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shipyard.minutes.forecast import Forecast
from shipyard.minutes.jobs import SELF_HOSTED, UNMAPPED, Totals
from shipyard.minutes.reconcile import Reconciliation
from shipyard.minutes.scan import ScanResult
from shipyard.minutes.usage import UsageOfRecord
from shipyard.minutes.waste import Finding
from shipyard.runtime import Summary


@dataclass
class Report:
    org: str
    month: str
    plan: str
    totals: Totals
    usage: UsageOfRecord | None
    used: float
    forecast: Forecast
    reconciliation: Reconciliation | None
    findings: list[Finding]
    scan: ScanResult
    requests: int
    not_modified: int
    guard: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, Any] = field(default_factory=dict)
    routing: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def n(value: float) -> str:
    return f"{value:,.0f}"


def day_name(value: date | None) -> str:
    return value.strftime("%a %d %b") if value else "not this month"


def chart(report: Report) -> str:
    fc = report.forecast
    daily = [round(d[1]) for d in fc.days]
    projected = [round(d[3]) for d in fc.days]
    top = max([fc.included, *projected, *daily, 1.0])
    included = [round(fc.included)] * len(fc.days)
    axis = ", ".join(str(d[0].day) for d in fc.days)
    return "\n".join([
        "```mermaid",
        "xychart-beta",
        f'    title "Actions minutes, {report.org}, {report.month}"',
        f"    x-axis [{axis}]",
        f'    y-axis "minutes" 0 --> {int(top * 1.1) + 1}',
        f"    bar [{', '.join(map(str, daily))}]",
        f"    line [{', '.join(map(str, projected))}]",
        f"    line [{', '.join(map(str, included))}]",
        "```",
    ])


def _rows(values: dict[Any, float], limit: int = 10) -> list[tuple[Any, float]]:
    return sorted(((k, v) for k, v in values.items() if v), key=lambda kv: (-kv[1], str(kv[0])))[:limit]


def markdown(report: Report) -> str:
    fc, totals = report.forecast, report.totals
    s = Summary()
    s.heading(f"Actions minutes: {report.org}, {report.month}", 3)
    status = ":red_circle: forecast exceeds the budget" if fc.over_budget else ":green_circle: within budget"
    s.key_values([
        ("Used (against included)", f"{n(report.used)} of {n(fc.included)} ({fc.percent:.0f}%), plan {report.plan}"),
        ("Forecast for the month", f"{n(fc.projected)} (budget {n(fc.budget)}): {status}"),
        ("Included minutes run out", day_name(fc.runs_out_on)),
        ("Run rate", f"{n(fc.weekday_rate)}/weekday, {n(fc.weekend_rate)}/weekend day"),
        ("Billed job minutes (attributed)", f"{n(totals.billed)} in {n(totals.jobs)} jobs; self-hosted "
                                            f"{n(totals.self_hosted)} (not billed)"),
        ("Usage of record", f"{n(report.usage.minutes)} minutes, paid ${report.usage.paid_amount:,.2f}"
         if report.usage else "unavailable"),
        ("Scan", ("complete" if report.scan.complete else f"partial: {report.scan.stopped}") +
         f"; {report.requests} requests ({report.not_modified} answered 304)"),
        ("This guard's cost", report.guard.get("text", "")),
    ])
    s.text(chart(report))
    s.text("Bars: minutes per day; rising line: cumulative minutes (actual, then projected); flat line: the "
           "included minutes.")
    if totals.unmapped:
        s.text(f":warning: **Unmapped runner labels** ({n(sum(totals.unmapped.values()))} minutes counted 1:1): "
               + ", ".join(f"`{k}` {n(v)}" for k, v in totals.unmapped.items())
               + ". Fix: map each to its SKU with `runner-skus` (e.g. `linux-4core=actions_linux_4_core`).")
    s.heading("Top repositories", 4)
    record = report.usage.by_repo if report.usage else {}
    s.table(["repository", "minutes (weighted)", "job minutes of record"],
            [(r, n(m), n(record.get(r, 0))) for r, m in _rows(totals.by_repo)])
    s.heading("Top workflows", 4)
    s.table(["repository", "workflow", "minutes (weighted)"],
            [(r, w, n(m)) for (r, w), m in _rows(totals.by_workflow)])
    s.heading("Top jobs", 4)
    s.table(["repository", "workflow", "job", "minutes (weighted)"],
            [(r, w, j, n(m)) for (r, w, j), m in _rows(totals.by_job)])
    s.heading("By trigger", 4)
    s.table(["event", "minutes"], [(e, n(m)) for e, m in _rows(totals.by_event)])
    s.heading("Where minutes are wasted", 4)
    s.table(["finding", "minutes", "count", "biggest", "fix"],
            [(f.title, n(f.minutes), f.count, "; ".join(f"{w} ({n(m)})" for w, m in f.top), f.fix)
             for f in report.findings if f.minutes])
    if report.reconciliation:
        rec = report.reconciliation
        s.heading("Reconciliation with the usage of record", 4)
        s.table(["SKU", "attributed", "of record", "difference"],
                [(sku, n(a), n(r), f"{d:+,.0f}") for sku, a, r, d in rec.rows])
        s.text("\n".join(f"- {why}" + (f": {n(m)} minutes" if m else "") for why, m in rec.explained))
    if report.alerts:
        s.text(f"**Slack:** {report.alerts.get('text', '')}")
    if report.routing:
        s.text(f"**Runner routing:** {report.routing.get('text', '')}")
    for note in report.notes:
        s.text(f"- {note}")
    return s.render()


def as_json(report: Report) -> dict[str, Any]:
    fc, totals = report.forecast, report.totals
    return {
        "org": report.org, "month": report.month, "plan": report.plan,
        "used": round(report.used, 1), "included": fc.included, "budget": fc.budget, "percent": round(fc.percent, 1),
        "forecast": {"projected": round(fc.projected, 1), "over_budget": fc.over_budget,
                     "runs_out_on": fc.runs_out_on.isoformat() if fc.runs_out_on else None,
                     "weekday_rate": round(fc.weekday_rate, 1), "weekend_rate": round(fc.weekend_rate, 1),
                     "days": [{"day": d.isoformat(), "minutes": round(m, 1),
                               "actual": None if a is None else round(a, 1), "projected": round(p, 1)}
                              for d, m, a, p in fc.days]},
        "attributed": {"jobs": totals.jobs, "billed": totals.billed, "weighted": round(totals.weighted, 1),
                       "self_hosted": totals.self_hosted, "by_sku": dict(totals.minutes_by_sku),
                       "unmapped": dict(totals.unmapped),
                       "by_day": {k: round(v, 1) for k, v in sorted(totals.by_day.items())},
                       "by_repo": {k: round(v, 1) for k, v in _rows(totals.by_repo, 1000)},
                       "by_workflow": [{"repo": r, "workflow": w, "minutes": round(m, 1)}
                                       for (r, w), m in _rows(totals.by_workflow, 50)],
                       "by_job": [{"repo": r, "workflow": w, "job": j, "minutes": round(m, 1)}
                                  for (r, w, j), m in _rows(totals.by_job, 50)],
                       "by_event": {k: round(v, 1) for k, v in _rows(totals.by_event, 100)}},
        "usage_of_record": None if report.usage is None else {
            "minutes": report.usage.minutes, "by_sku": dict(report.usage.gross),
            "included": dict(report.usage.included), "paid": dict(report.usage.paid),
            "paid_amount": round(report.usage.paid_amount, 4)},
        "reconciliation": None if report.reconciliation is None else {
            "attributed": report.reconciliation.attributed, "record": report.reconciliation.record,
            "difference": report.reconciliation.difference,
            "rows": [{"sku": s, "attributed": a, "record": r, "difference": d}
                     for s, a, r, d in report.reconciliation.rows],
            "explained": [{"why": w, "minutes": m} for w, m in report.reconciliation.explained]},
        "waste": [f.as_json() for f in report.findings],
        "scan": {"complete": report.scan.complete, "stopped": report.scan.stopped, "requests": report.requests,
                 "not_modified": report.not_modified, "repos": report.scan.repos_total,
                 "repos_done": report.scan.repos_done, "new_jobs": report.scan.new_jobs,
                 "pending_runs": report.scan.pending},
        "guard": report.guard, "alerts": report.alerts, "routing": report.routing, "notes": report.notes,
        "skus": {"self_hosted": SELF_HOSTED, "unmapped": UNMAPPED},
    }
