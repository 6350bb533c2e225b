"""The pull request's title, body and commit message: each service from -> to, the builds in between (with their
commit, run and source links) and the scan results. Remote text is escaped for markdown."""

from __future__ import annotations

import datetime as dt

from shipyard.board.markdown import md
from shipyard.board.view import safe_url, short_digest
from shipyard.fleetview.fleet import Fleet
from shipyard.promote.plan import Candidate, Plan

MARKER = "<!-- shipyard promote: this branch is bot-owned and rewritten on every run -->"


def _ref(tag: str | None, digest: str | None) -> str:
    return f"{md(tag or '(no tag)')} @ {md(short_digest(digest) or 'no digest')}"


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d") if ts else "?"


def title(fleet: Fleet, cands: list[Candidate], wave: int | None) -> str:
    names = ", ".join(c.service for c in cands[:4]) + (f" +{len(cands) - 4}" if len(cands) > 4 else "")
    suffix = f" (wave {wave})" if wave is not None else ""
    return f"promote {fleet.source_env} → {fleet.target_env}: {names}{suffix}"


def service_section(fleet: Fleet, cand: Candidate, web: str, slug: str | None) -> list[str]:
    out = [f"#### {md(cand.service)} (wave {cand.wave + 1})", "",
           "| cluster | from | to | scan |", "|---|---|---|---|"]
    for move in cand.moves:
        t, s = move.target.image, move.source.image
        facts = move.source.facts
        scan = "not checked"
        if facts is not None and facts.found:
            scan = ", ".join(f"{n} {k.lower()}" for k, n in sorted(facts.counts.items()) if n) or "no findings"
        elif facts is not None:
            scan = f"missing: {facts.problem}"
        out.append(f"| {md(move.target.slot.column)} | {_ref(t.tag if t else None, t.digest if t else None)} | "
                   f"{_ref(s.tag if s else None, s.digest if s else None)} | {md(scan)} |")
    builds = cand.moves[0].between() if cand.moves else []
    if builds:
        out += ["", f"Builds in {md(fleet.source_env)} since {md(fleet.target_env)}'s image (newest first):", ""]
        for b in builds:
            links = []
            if slug and b.commit.sha:
                links.append(f"[{b.commit.sha[:8]}]({safe_url(f'{web}/{slug}/commit/{b.commit.sha}')})")
            if safe_url(b.run_url):
                links.append(f"[run]({safe_url(b.run_url)})")
            if safe_url(b.source_url):
                links.append(f"[source]({safe_url(b.source_url)})")
            subject = b.commit.message.splitlines()[0] if b.commit.message else ""
            out.append(f"- {md(b.image.tag or '')} ({_when(b.commit.time)}): {md(subject)} {' '.join(links)}".rstrip())
    return [*out, ""]


def render(fleet: Fleet, plan: Plan, cands: list[Candidate], web: str, slug: str | None, run_url: str,
           wave: int | None, earlier: list[int]) -> str:
    lines = [f"Promotes the exact digests running Healthy in **{md(fleet.source_env)}** to "
             f"**{md(fleet.target_env)}** (config repository tip `{fleet.tip[:12]}`).", ""]
    if earlier:
        waves = ", ".join(str(w) for w in earlier)
        lines += [f"Merge after the pull request{'s' if len(earlier) > 1 else ''} of wave {waves} "
                  "(opened by the same run).", ""]
    lines += ["| service | wave | clusters |", "|---|---|---|"]
    for c in cands:
        lines.append(f"| {md(c.service)} | {c.wave + 1} | {md(', '.join(m.target.slot.column for m in c.moves))} |")
    lines.append("")
    for c in cands:
        lines += service_section(fleet, c, web, slug)
    if plan.refused:
        lines += ["#### Not promoted", ""]
        for c in plan.refused:
            lines.append(f"- **{md(c.service)}**: {md('; '.join(c.refused))}")
        lines.append("")
    if safe_url(run_url):
        lines.append(f"Run: {safe_url(run_url)}")
    lines += ["", MARKER]
    return "\n".join(lines)


def commit_message(fleet: Fleet, cands: list[Candidate], heading: str) -> str:
    lines = [heading, ""]
    for c in cands:
        for m in c.moves:
            t, s = m.target.image, m.source.image
            before, after = t.ref if t else "?", s.ref if s else "?"
            lines.append(f"{m.target.slot.service} {m.target.slot.column}: {before} -> {after}")
    return "\n".join(lines) + "\n"
