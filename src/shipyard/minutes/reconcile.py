"""Our attribution against the usage of record, per SKU and per repository, with the difference explained
where the data allows it."""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.minutes.jobs import SELF_HOSTED, UNMAPPED, Totals
from shipyard.minutes.usage import UsageOfRecord


@dataclass
class Reconciliation:
    rows: list[tuple[str, float, float, float]] = field(default_factory=list)  # sku, attributed, record, diff
    attributed: float = 0.0
    record: float = 0.0
    explained: list[tuple[str, float]] = field(default_factory=list)  # (why, minutes)

    @property
    def difference(self) -> float:
        return self.record - self.attributed

    @property
    def unexplained(self) -> float:
        return self.difference - sum(m for _, m in self.explained)


def reconcile(totals: Totals, usage: UsageOfRecord, scanned: set[str], pending_runs: int,
              complete: bool) -> Reconciliation:
    rec = Reconciliation()
    ours = {sku: float(m) for sku, m in totals.minutes_by_sku.items() if sku != SELF_HOSTED}
    for sku in sorted(set(ours) | set(usage.gross)):
        a, r = ours.get(sku, 0.0), float(usage.gross.get(sku, 0.0))
        rec.rows.append((sku, a, r, r - a))
    rec.attributed = sum(ours.values())
    rec.record = usage.minutes
    if usage.repo_report:
        lower = {s.lower() for s in scanned}
        unseen = {repo: m for repo, m in usage.by_repo.items() if repo.lower() not in lower and m}
        if unseen:
            names = ", ".join(sorted(unseen)[:5])
            rec.explained.append((f"minutes in repositories the scan did not see (deleted or not visible to the "
                                  f"token): {names}", sum(unseen.values())))
    unmapped = float(totals.minutes_by_sku.get(UNMAPPED, 0))
    if unmapped:
        billed_as = [sku for sku in usage.gross if sku not in ours]
        rec.explained.append((f"unmapped labels ({', '.join(sorted(totals.unmapped))}) are billed as "
                              f"{', '.join(billed_as) or 'another SKU'}: map them with `runner-skus`", 0.0))
    notes = []
    if pending_runs:
        notes.append(f"{pending_runs} runs still in progress (their finished jobs are billed, counted when the "
                     "run ends)")
    if not complete:
        notes.append("the scan stopped early (resumes next run)")
    notes.append("the usage report can lag a few hours behind finished jobs")
    rec.explained.append(("; ".join(notes), 0.0))
    return rec
