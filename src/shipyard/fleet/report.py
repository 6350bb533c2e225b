"""The fleet table (step summary and JSON) and the Slack digest of what changed since the last run."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shipyard.fleet.apply import Outcome
from shipyard.fleet.checks import CheckResult
from shipyard.fleet.plan import Plan
from shipyard.fleet.refs import Releases

COLUMNS = ("repository", "language", "pipeline", "version", "drift", "action", "pr")


def version_label(plan: Plan, releases: Releases) -> str:
    labels = []
    for ref in plan.repo.shipyard_refs:
        if ref.kind == "sha":
            label = f"{ref.version or '?'} (SHA {ref.ref[:7]})"
        elif ref.kind == "branch":
            label = f"{ref.ref} (branch)"
        else:
            label = ref.ref
        behind = ref.behind(releases)
        if behind:
            label += f", {behind} behind"
        if label not in labels:
            labels.append(label)
    return "; ".join(labels)


def row(plan: Plan, outcome: Outcome | None, releases: Releases) -> dict[str, Any]:
    repo = plan.repo
    pipeline = ", ".join(w.path.rsplit("/", 1)[-1] for w in repo.workflows if w.pipeline or w.refs)
    return {
        "repository": repo.full_name,
        "language": repo.language or "",
        "pipeline": pipeline or ("" if repo.skip else "none"),
        "version": version_label(plan, releases),
        "drift": [d for w in repo.workflows for d in w.drift],
        "action": plan.action,
        "reason": plan.reason,
        "changes": plan.changes,
        "pr": outcome.url if outcome else "",
        "pr_status": outcome.status if outcome else "",
        "pr_detail": outcome.detail if outcome else "",
    }


def summary_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        drift = f"{len(r['drift'])} difference(s)" if r["drift"] else ("" if r["action"] == "skip" else "none")
        action = r["action"] if r["action"] not in ("skip", "error", "nothing") else f"{r['action']}: {r['reason']}"
        pr = f"[{r['pr_status']}]({r['pr']})" if r["pr"] else r["pr_status"] + (
            f" ({r['pr_detail']})" if r["pr_detail"] else "")
        out.append([r["repository"], r["language"], r["pipeline"], r["version"], drift, action, pr])
    return out


def pie(rows: list[dict[str, Any]]) -> str:
    counts = Counter(r["action"] for r in rows)
    lines = ["```mermaid", "pie title Fleet plan"]
    lines += [f'    "{name}" : {n}' for name, n in sorted(counts.items())]
    return "\n".join([*lines, "```"])


def plan_table(rows: list[dict[str, Any]]) -> str:
    """The dry-run plan as a fixed-width text table for the log."""
    data = [["repository", "language", "version", "drift", "action", "reason"]]
    for r in rows:
        data.append([r["repository"], r["language"], r["version"] or "-", str(len(r["drift"])), r["action"],
                     r["reason"][:70]])
    widths = [max(len(str(line[i])) for line in data) for i in range(len(data[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=False)).rstrip()
                     for line in data)


def digest(previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[str]:
    """One line per repository whose version, drift, action or PR changed since the last run."""
    before = {r.get("repository"): r for r in previous if isinstance(r, dict)}
    lines = []
    for r in current:
        known = r["repository"] in before
        old = before.get(r["repository"]) or {}
        bits = [f"new in the fleet ({r['action']})"] if previous and not known else []
        if known and old.get("version") != r["version"] and r["version"]:
            bits.append(f"now on {r['version']}" + (f" (was {old.get('version')})" if old.get("version") else ""))
        if known and bool(old.get("drift")) != bool(r["drift"]):
            bits.append("drifted" if r["drift"] else "drift repaired")
        if old.get("pr_status") != r["pr_status"] and r["pr_status"] in ("opened", "updated", "respected"):
            bits.append(f"PR {r['pr_status']}" + (f" {r['pr']}" if r["pr"] else ""))
        if known and old.get("action") != r["action"] and not bits:
            bits.append(f"{old.get('action')} -> {r['action']}")
        if bits:
            lines.append(f"{r['repository']}: " + ", ".join(bits))
    gone = set(before) - {r["repository"] for r in current}
    lines += [f"{name}: no longer in the organisation" for name in sorted(str(g) for g in gone)]
    return lines


def checks_rows(results: list[CheckResult]) -> list[list[str]]:
    return [[r.scope, r.status, r.detail] for r in results]
