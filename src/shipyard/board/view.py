"""What each cell shows, as plain strings (the renderers escape them): tag, short digest, age, state, markers,
links. Links are kept only when they are http(s) URLs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shipyard.fleetview.fleet import Cell, Fleet

URL_RE = re.compile(r"https?://[^\s<>\"'`]+")
MARKER_LABELS = {
    "degraded": "degraded", "drift": "git ≠ cluster", "out-of-sync": "out of sync", "critical": "critical findings",
    "missing-image": "not in ECR", "behind": "behind", "unknown": "state unknown", "no-live-pod": "no live pod",
    "no-app": "no Argo CD app", "unreadable": "unreadable overlay",
}
PROBLEMS = frozenset({"degraded", "drift", "out-of-sync", "critical", "missing-image", "behind", "unreadable"})


def safe_url(value: str | None) -> str:
    return value if value and URL_RE.fullmatch(value) else ""


def short_digest(digest: str | None) -> str:
    if not digest:
        return ""
    return digest.split(":", 1)[-1][:12]


def age(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    if seconds < 3600:
        return f"{max(1, int(seconds // 60))}m"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


@dataclass
class Link:
    label: str
    url: str


@dataclass
class CellView:
    column: str
    tag: str
    digest: str
    digest_full: str
    age: str
    set_at: float | None
    state: str
    state_kind: str  # ok | warn | bad | unknown
    markers: list[tuple[str, str, str]] = field(default_factory=list)  # kind, label, detail
    links: list[Link] = field(default_factory=list)
    pushed: str = ""
    scan: str = ""
    running: str = ""

    @property
    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.markers]

    @property
    def problem(self) -> bool:
        return any(k in PROBLEMS for k in self.kinds)


def commit_url(fleet_web: str, slug: str | None, sha: str) -> str:
    return safe_url(f"{fleet_web}/{slug}/commit/{sha}") if slug and sha else ""


def cell_view(cell: Cell, fleet: Fleet, web: str, slug: str | None) -> CellView:
    image = cell.image
    build = cell.build
    set_at = build.commit.time if build and build.commit.time else None
    app = cell.app
    if not fleet.argo.known:
        state, kind = "unknown", "unknown"
    elif app is None:
        state, kind = "no app", "unknown"
    else:
        state = f"{app.sync} · {app.health}"
        kind = "ok" if app.sync == "Synced" and app.health == "Healthy" else (
            "bad" if app.health == "Degraded" else "warn")
    view = CellView(
        column=cell.slot.column, tag=(image.tag or "") if image else "",
        digest=short_digest(image.digest if image else None),
        digest_full=(image.digest or "") if image else "", age=age(fleet.now - set_at if set_at else None),
        set_at=set_at, state=state, state_kind=kind,
    )
    for m in cell.markers:
        label = MARKER_LABELS.get(m.kind, m.kind)
        if m.kind == "behind" and cell.behind is not None and cell.behind.builds is not None:
            b = cell.behind
            label = f"behind {b.builds} build{'' if b.builds == 1 else 's'}"
            if b.days is not None:
                label += f" · {b.days:.0f}d"
        view.markers.append((m.kind, label, m.text))
    if any(k in ("degraded", "drift", "critical", "missing-image") for k in view.kinds):
        view.state_kind = "bad"
    elif view.problem and view.state_kind == "ok":
        view.state_kind = "warn"
    if build and build.commit.sha:
        url = commit_url(web, slug, build.commit.sha)
        if url:
            view.links.append(Link("commit", url))
        if safe_url(build.run_url):
            view.links.append(Link("run", build.run_url))
        if build.pr_number and slug:
            view.links.append(Link(f"PR #{build.pr_number}", safe_url(f"{web}/{slug}/pull/{build.pr_number}")))
    facts = cell.facts
    if facts is not None and facts.found:
        view.pushed = age(fleet.now - facts.pushed_at if facts.pushed_at else None)
        if facts.counts:
            ordered = sorted(facts.counts.items(), key=lambda kv: _sev(kv[0]))
            view.scan = ", ".join(f"{n} {s.lower()}" for s, n in ordered)
        else:
            view.scan = "no findings" if facts.scan == "COMPLETE" else (facts.scan or "").lower()
    if cell.running:
        view.running = ", ".join(cell.running)
    return view


def _sev(name: str) -> int:
    order = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
    return order.index(name) if name in order else len(order)


@dataclass
class Row:
    service: str
    cells: list[CellView | None]

    @property
    def kinds(self) -> list[str]:
        out: list[str] = []
        for c in self.cells:
            if c:
                out += [k for k in c.kinds if k not in out]
        return out


def rows(fleet: Fleet, web: str, slug: str | None) -> list[Row]:
    out = []
    for service in fleet.services:
        cells: list[CellView | None] = []
        for env, cluster in fleet.columns:
            cell = fleet.cell(service, env, cluster)
            cells.append(cell_view(cell, fleet, web, slug) if cell else None)
        out.append(Row(service, cells))
    return out


def counts(fleet: Fleet) -> dict[str, int]:
    out: dict[str, int] = {}
    for cell in fleet.cells.values():
        for m in cell.markers:
            out[m.kind] = out.get(m.kind, 0) + 1
    return out
