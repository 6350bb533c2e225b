"""The board as markdown for the step summary: a mermaid pie of the markers and the services x columns table.

Remote text is escaped for GitHub's markdown: HTML is turned into entities, markdown syntax is backslashed and
table pipes and newlines cannot break the row.
"""

from __future__ import annotations

import re

from shipyard.board.view import MARKER_LABELS, CellView, counts, rows
from shipyard.fleetview.fleet import MARKERS, Fleet

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>])")
EMOJI = {"ok": "🟢", "warn": "🟡", "bad": "🔴", "unknown": "⚪"}


def md(value: object) -> str:
    text = " ".join(("" if value is None else str(value)).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _cell(c: CellView | None) -> str:
    if c is None:
        return "—"
    parts = [f"{EMOJI.get(c.state_kind, '⚪')} **{md(c.tag or '(no tag)')}**"]
    if c.digest:
        parts.append(md(c.digest))
    if c.age:
        parts.append(md(c.age))
    parts.append(md(c.state))
    text = " · ".join(parts)
    if c.markers:
        text += "<br>" + "; ".join(md(detail if kind in ("behind", "drift") else label)
                                   for kind, label, detail in c.markers)
    links = [f"[{md(link.label)}]({link.url.replace('(', '%28').replace(')', '%29')})" for link in c.links]
    if links:
        text += "<br>" + " ".join(links)
    return text


def render(fleet: Fleet, *, web: str, slug: str | None, repo_label: str, page_note: str = "") -> str:
    tally = counts(fleet)
    out = [f"### Deploy board: {md(repo_label)} @ {md(fleet.tip[:12])}", ""]
    argo = "read" if fleet.argo.known else f"**unknown** ({md(fleet.argo.detail)})"
    out.append(f"{len(fleet.services)} services x {len(fleet.columns)} environments/clusters · Argo CD: {argo} · "
               f"ECR: {md(fleet.registry.state)}")
    if page_note:
        out += ["", page_note]
    if tally:
        out += ["", "```mermaid", "pie showData title Markers across the fleet"]
        out += [f'    "{MARKER_LABELS[k]}" : {tally[k]}' for k in MARKERS if tally.get(k)]
        out += ["```"]
    header = ["service"] + [f"{env}/{cl}" if cl else env for env, cl in fleet.columns]
    out += ["", "| " + " | ".join(md(h) for h in header) + " |", "|" + "---|" * len(header)]
    for row in rows(fleet, web, slug):
        out.append("| " + " | ".join([f"**{md(row.service)}**"] + [_cell(c) for c in row.cells]) + " |")
    return "\n".join(out) + "\n"
