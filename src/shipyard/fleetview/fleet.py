"""The joined model: services x environment/cluster columns, each cell with git, cluster and registry facts.

Pure functions over what :mod:`configrepo`, :mod:`argo` and :mod:`registry` read; ``now`` is passed in.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from shipyard.fleetview.argo import ArgoView, LiveApp
from shipyard.fleetview.layout import Slot
from shipyard.fleetview.overlays import Build, Image, Overlay
from shipyard.fleetview.registry import ImageFacts, RegistryView

ENV_ORDER = ("dev", "development", "test", "qa", "int", "stg", "stage", "staging", "uat", "pre", "preprod",
             "prd", "prod", "production")

# Marker kinds, most urgent first (the board sorts and colours by them).
MARKERS = ("degraded", "drift", "out-of-sync", "critical", "missing-image", "behind", "unknown", "no-live-pod",
           "no-app", "unreadable")


@dataclass(frozen=True)
class Marker:
    kind: str
    text: str


@dataclass
class Behind:
    builds: int | None  # None: the target's image is not in the source's history
    days: float | None
    source: Slot


@dataclass
class Cell:
    slot: Slot
    overlay: Overlay
    app: LiveApp | None = None
    live: str = "unknown"  # match | drift | no-live-pod | unknown | no-app
    running: list[str] = field(default_factory=list)  # live images of this repository
    facts: ImageFacts | None = None
    behind: Behind | None = None
    markers: list[Marker] = field(default_factory=list)

    @property
    def image(self) -> Image | None:
        return self.overlay.image

    @property
    def build(self) -> Build | None:
        return self.overlay.current

    def has(self, kind: str) -> bool:
        return any(m.kind == kind for m in self.markers)


@dataclass
class Fleet:
    services: list[str]
    columns: list[tuple[str, str]]  # (env, cluster)
    cells: dict[Slot, Cell]
    argo: ArgoView
    registry: RegistryView
    tip: str
    branch: str
    now: float
    source_env: str
    target_env: str
    git_requests: int = 0

    def cell(self, service: str, env: str, cluster: str) -> Cell | None:
        return self.cells.get(Slot(service, env, cluster))

    def environments(self) -> list[str]:
        seen: list[str] = []
        for env, _ in self.columns:
            if env not in seen:
                seen.append(env)
        return seen


def env_rank(env: str) -> tuple[int, str]:
    return (ENV_ORDER.index(env) if env in ENV_ORDER else len(ENV_ORDER) // 2, env)


def app_for(slot: Slot, overlay_path: str, apps_by_path: dict[str, LiveApp], apps_by_name: dict[str, LiveApp],
            name_template: str) -> LiveApp | None:
    directory = posixpath.dirname(overlay_path)
    found = apps_by_path.get(directory)
    if found is not None:
        return found
    name = name_template.format(service=slot.service, env=slot.env, cluster=slot.cluster)
    return apps_by_name.get(name)


def _repo_of(ref: str, repository: str = "") -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of a live image; when it starts with ``repository`` the rest is split as is, so
    an odd tag (one with a '/') cannot move the repository boundary."""
    if repository and (ref == repository or ref.startswith((repository + ":", repository + "@"))):
        rest = ref[len(repository):]
        tag_part, _, digest = rest.partition("@")
        return repository, tag_part[1:] or None, digest or None
    from shipyard.gitops.imageref import split_reference

    parsed = split_reference(ref)
    return parsed.repository, parsed.tag, parsed.digest


def same_build(image: Image, tag: str | None, digest: str | None) -> bool:
    if image.digest and digest:
        return image.digest == digest
    if image.digest and not digest:
        return False
    return (image.tag or "latest") == (tag or "latest")


def compare_live(cell: Cell) -> None:
    """Does the cluster run what git says? Only for images of the overlay's repository."""
    image = cell.image
    app = cell.app
    if app is None or image is None:
        return
    candidates = [ref for ref in app.images if _repo_of(ref, image.repository)[0] == image.repository]
    if not candidates:
        last = image.repository.rsplit("/", 1)[-1]
        candidates = [ref for ref in app.images if _repo_of(ref)[0].rsplit("/", 1)[-1] == last]
    cell.running = candidates
    if not candidates:
        cell.live = "no-live-pod"
        return
    if any(same_build(image, *_repo_of(ref, image.repository)[1:]) for ref in candidates):
        cell.live = "match"
    else:
        cell.live = "drift"


def compute_behind(source: Overlay, target: Overlay, now: float) -> Behind | None:
    """How far the target (prd) trails the source (dev): builds the source had since the target's image."""
    if source.image is None or target.image is None:
        return None
    tgt = target.image
    if same_build(source.image, tgt.tag, tgt.digest) and source.image.repository == tgt.repository:
        return None
    for i, build in enumerate(source.builds):
        if same_build(build.image, tgt.tag, tgt.digest):
            if i == 0:
                return None
            first_missing = source.builds[i - 1].commit.time
            days = (now - first_missing) / 86400 if first_missing else None
            return Behind(i, days, source.slot)
    return Behind(None, None, source.slot)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def markers_for(cell: Cell, argo_known: bool, critical_at: str) -> list[Marker]:
    out: list[Marker] = []
    if cell.image is None:
        out.append(Marker("unreadable", cell.overlay.problem or "no image in the overlay"))
        return out
    if not argo_known:
        out.append(Marker("unknown", "cluster state unknown (Argo CD not read)"))
    elif cell.app is None:
        out.append(Marker("no-app", "no Argo CD application for this overlay"))
    else:
        app = cell.app
        if app.health == "Degraded":
            out.append(Marker("degraded", "Degraded" + (f": {app.health_message}" if app.health_message else "")))
        if app.sync != "Synced":
            out.append(Marker("out-of-sync", f"sync {app.sync}"))
        if cell.live == "drift":
            out.append(Marker("drift", f"git says {cell.image.ref}, the cluster runs {', '.join(cell.running)}"))
        elif cell.live == "no-live-pod":
            out.append(Marker("no-live-pod", "no live pod (Argo CD lists images of running pods only)"))
    facts = cell.facts
    if facts is not None:
        if not facts.found:
            out.append(Marker("missing-image", f"not in ECR: {facts.problem}"))
        elif facts.at_or_above(critical_at):
            n = facts.at_or_above(critical_at)
            out.append(Marker("critical", f"{_plural(n, 'finding')} at {critical_at} or above"))
    if cell.behind is not None:
        b = cell.behind
        if b.builds is None:
            out.append(Marker("behind", f"differs from {b.source.column} (not in its history)"))
        else:
            days = f", {b.days:.0f} d" if b.days is not None else ""
            out.append(Marker("behind", f"behind {b.source.column} by {_plural(b.builds, 'build')}{days}"))
    return sorted(out, key=lambda m: MARKERS.index(m.kind))


def join(overlays: list[Overlay], argo: ArgoView, registry: RegistryView, *, tip: str, branch: str, now: float,
         source_env: str, target_env: str, app_name: str, critical_at: str = "CRITICAL") -> Fleet:
    apps_by_path: dict[str, LiveApp] = {}
    apps_by_name: dict[str, LiveApp] = {}
    for app in argo.apps:
        apps_by_name.setdefault(app.name, app)
        for path in app.paths:
            apps_by_path.setdefault(path, app)
    cells: dict[Slot, Cell] = {}
    for overlay in overlays:
        cell = Cell(overlay.slot, overlay)
        if argo.known:
            cell.app = app_for(overlay.slot, overlay.path, apps_by_path, apps_by_name, app_name)
            cell.live = "no-app" if cell.app is None else "unknown"
            compare_live(cell)
        if overlay.image is not None:
            cell.facts = registry.lookup(overlay.image.repository, overlay.image.digest)
        cells[overlay.slot] = cell
    services = sorted({s.service for s in cells})
    columns = sorted({(s.env, s.cluster) for s in cells}, key=lambda c: (env_rank(c[0]), c[1]))
    for slot, cell in cells.items():
        if slot.env != target_env:
            continue
        source = cells.get(Slot(slot.service, source_env, slot.cluster))
        if source is None:
            source = next((c for s, c in sorted(cells.items(), key=lambda kv: kv[0].cluster)
                           if s.service == slot.service and s.env == source_env), None)
        if source is not None:
            cell.behind = compute_behind(source.overlay, cell.overlay, now)
    for cell in cells.values():
        cell.markers = markers_for(cell, argo.known, critical_at)
    return Fleet(services, columns, cells, argo, registry, tip, branch, now, source_env, target_env)
