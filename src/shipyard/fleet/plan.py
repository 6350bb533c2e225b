"""One action per repository: adopt, upgrade, repair, nothing (or skip / error), with the new file texts."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field

from shipyard.fleet import refs, repair, templates
from shipyard.fleet.detect import TEMPLATE_KEYS
from shipyard.fleet.inventory import Repo

ADOPT_PATHS = (".github/workflows/shipyard.yml", ".github/workflows/shipyard-pipeline.yml")


@dataclass
class Plan:
    repo: Repo
    action: str  # adopt | upgrade | repair | nothing | skip | error
    reason: str
    files: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # path -> (old, new)
    changes: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """Names this exact change: a PR whose body carries it needs no update."""
        h = hashlib.sha256()
        for path in sorted(self.files):
            h.update(path.encode() + b"\0" + self.files[path][1].encode() + b"\0")
        return h.hexdigest()[:16]

    def diff(self) -> str:
        out: list[str] = []
        for path in sorted(self.files):
            old, new = self.files[path]
            out += difflib.unified_diff((old or "").splitlines(keepends=True), new.splitlines(keepends=True),
                                        f"a/{path}" if old is not None else "/dev/null", f"b/{path}")
        return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def plan_repo(repo: Repo, tpls: dict[str, templates.Template], releases: refs.Releases, shipyard_repo: str) -> Plan:
    if repo.skip:
        return Plan(repo, "skip", repo.skip)
    if repo.error:
        return Plan(repo, "error", repo.error)
    broken = [w.error for w in repo.workflows if w.error]
    if broken:
        return Plan(repo, "error", "; ".join(e for e in broken if e))
    if not repo.has_pipeline:
        key = TEMPLATE_KEYS.get(repo.language or "")
        if key is None or key not in tpls:
            return Plan(repo, "nothing", "no pipeline, and no language detected from the root files")
        path = next((p for p in ADOPT_PATHS if p not in repo.paths), None)
        if path is None:
            return Plan(repo, "nothing", f"no Shipyard pipeline, but {' and '.join(ADOPT_PATHS)} exist already")
        text, _ = refs.bump_text(tpls[key].render(repo.default_branch), shipyard_repo, releases)
        return Plan(repo, "adopt", f"no pipeline: the {key} template", {path: (None, text)},
                    [f"add {path} from shipyard-{key}.yml"])
    plan = Plan(repo, "nothing", "up to date")
    drifted = False
    for wf in repo.workflows:
        if not wf.refs or wf.text is None:
            continue
        new = wf.text
        changes: list[str] = []
        if wf.drift and wf.template in tpls:
            new = repair.repair(new, tpls[wf.template or ""].render(repo.default_branch), shipyard_repo)
            changes += [f"{wf.path}: repair {d}" for d in wf.drift]
            drifted = True
        new, bumps = refs.bump_text(new, shipyard_repo, releases)
        changes += [f"{wf.path}: {b}" for b in bumps]
        if new != wf.text:
            plan.files[wf.path] = (wf.text, new)
            plan.changes += changes
    if plan.files:
        plan.action = "repair" if drifted else "upgrade"
        plan.reason = ("drifted from the template" if drifted else "pins behind the latest release")
    elif any(r.kind == "branch" for r in repo.shipyard_refs):
        plan.reason = "pinned to a branch (never moved)"
    return plan
