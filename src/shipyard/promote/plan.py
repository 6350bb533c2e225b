"""Which target overlays to change, and why any candidate is refused.

A candidate is a service whose target overlay (per cluster) differs from its source overlay. It is promoted only
when, for every cluster: the source image is pinned by digest, Argo CD reports the source application Synced and
Healthy for at least the soak time and running the git image (or no live pod), ECR has the digest and its scan
is below ``fail-on-severity``, no dependency is left behind, and no freeze window covers the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shipyard.fleetview.fleet import Cell, Fleet, same_build
from shipyard.fleetview.overlays import Build
from shipyard.promote.config import Policy, wave_of


@dataclass
class Move:
    target: Cell
    source: Cell

    @property
    def path(self) -> str:
        return self.target.overlay.path

    def between(self) -> list[Build]:
        """The source's builds newer than the target's image (newest first)."""
        tgt = self.target.image
        out: list[Build] = []
        for build in self.source.overlay.builds:
            if tgt is not None and same_build(build.image, tgt.tag, tgt.digest):
                break
            out.append(build)
        return out


@dataclass
class Candidate:
    service: str
    moves: list[Move] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    wave: int = 0

    @property
    def ok(self) -> bool:
        return not self.refused and bool(self.moves)


@dataclass
class Plan:
    candidates: list[Candidate]
    unchanged: list[str]
    frozen: str = ""

    @property
    def accepted(self) -> list[Candidate]:
        return [c for c in self.candidates if c.ok]

    @property
    def refused(self) -> list[Candidate]:
        return [c for c in self.candidates if c.refused]

    def waves(self) -> list[list[Candidate]]:
        by: dict[int, list[Candidate]] = {}
        for c in self.accepted:
            by.setdefault(c.wave, []).append(c)
        return [sorted(by[w], key=lambda c: c.service) for w in sorted(by)]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min"


def _source_for(fleet: Fleet, target: Cell) -> Cell | None:
    slot = target.slot
    same = fleet.cell(slot.service, fleet.source_env, slot.cluster)
    if same is not None:
        return same
    sources = [c for s, c in fleet.cells.items() if s.service == slot.service and s.env == fleet.source_env]
    keys = {c.image.key for c in sources if c.image}
    return sources[0] if len(sources) >= 1 and len(keys) == 1 else None


def gate(fleet: Fleet, move: Move, policy: Policy, *, fail_on: str | None, require_ecr: bool) -> list[str]:
    src = move.source
    where = src.slot.column
    image = src.image
    reasons: list[str] = []
    if image is None:
        return [f"{where}: the source overlay has no readable image ({src.overlay.problem})"]
    if not image.digest:
        reasons.append(f"{where}: {image.ref} is not pinned by digest (promote exact digests only)")
    if not fleet.argo.known:
        reasons.append(f"{where}: Argo CD state unknown ({fleet.argo.state}), cannot confirm it runs Healthy")
    elif src.app is None:
        reasons.append(f"{where}: no Argo CD application found for {src.overlay.path}")
    else:
        app = src.app
        if app.sync != "Synced" or app.health != "Healthy":
            reasons.append(f"{where}: Argo CD reports {app.sync}/{app.health}, not Synced/Healthy")
        elif src.live == "drift":
            reasons.append(f"{where}: the cluster runs {', '.join(src.running)}, not the git image {image.ref}")
        else:
            soak = policy.soak_for(src.slot.service) * 60
            if soak > 0:
                if app.healthy_since is None:
                    reasons.append(f"{where}: Argo CD does not say since when it is Healthy (soak "
                                   f"{_minutes(soak)} cannot be checked)")
                else:
                    healthy = fleet.now - app.healthy_since.timestamp()
                    if healthy < soak:
                        reasons.append(f"{where}: Healthy for {_minutes(max(0.0, healthy))}, soak time is "
                                       f"{_minutes(soak)}")
    facts = src.facts
    if require_ecr and image.digest:
        if facts is None:
            reasons.append(f"{where}: {image.digest[:19]} could not be checked in ECR ({fleet.registry.detail})")
        elif not facts.found:
            reasons.append(f"{where}: {image.digest[:19]} is missing from ECR ({facts.problem})")
        elif fail_on and facts.at_or_above(fail_on):
            counts = ", ".join(f"{n} {s}" for s, n in sorted(facts.counts.items()) if n)
            reasons.append(f"{where}: the scan gate fails ({counts}; threshold {fail_on})")
        elif fail_on and facts.scan not in ("COMPLETE", ""):
            reasons.append(f"{where}: scan status {facts.scan or 'unknown'}, not COMPLETE")
    return reasons


def differs(fleet: Fleet, service: str) -> bool:
    for slot, cell in fleet.cells.items():
        if slot.service == service and slot.env == fleet.target_env:
            source = _source_for(fleet, cell)
            if source is not None and source.image != cell.image:
                return True
    return False


def build(fleet: Fleet, policy: Policy, services: list[str] | None, *, fail_on: str | None,
          require_ecr: bool) -> Plan:
    frozen = next((f for f in policy.freezes if f.covers(fleet.target_env, fleet.now)), None)
    chosen = services if services is not None else fleet.services
    candidates: list[Candidate] = []
    unchanged: list[str] = []
    for service in chosen:
        cand = Candidate(service)
        targets = [c for s, c in sorted(fleet.cells.items(), key=lambda kv: kv[0].cluster)
                   if s.service == service and s.env == fleet.target_env]
        for target in targets:
            source = _source_for(fleet, target)
            if source is None:
                cand.refused.append(f"{target.slot.column}: no single source overlay in {fleet.source_env}")
                continue
            if source.image and target.image and source.image == target.image:
                continue
            move = Move(target, source)
            cand.moves.append(move)
            cand.refused += gate(fleet, move, policy, fail_on=fail_on, require_ecr=require_ecr)
        if not cand.moves and not cand.refused:
            unchanged.append(service)
            continue
        candidates.append(cand)
    moving = {c.service for c in candidates}
    waves = wave_of(policy, sorted(moving))
    for cand in candidates:
        cand.wave = waves.get(cand.service, 0)
    ok = {c.service for c in candidates if c.ok}
    changed = True
    while changed:
        changed = False
        for cand in candidates:
            if not cand.ok:
                continue
            for dep in policy.dependencies.get(cand.service, []):
                if (dep in moving and dep not in ok) or (dep not in moving and differs(fleet, dep)):
                    cand.refused.append(f"depends on {dep}, which is not promoted in this run")
                    ok.discard(cand.service)
                    changed = True
                    break
    plan = Plan(candidates, unchanged)
    if frozen is not None:
        import datetime as dt

        until = dt.datetime.fromtimestamp(frozen.end, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        plan.frozen = f"{fleet.target_env} is frozen until {until} ({frozen.reason})"
    return plan
