"""Each overlay's image (name, newName, tag, digest) and the history of the builds it was set to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shipyard.fleetview.configrepo import Commit, FileChange
from shipyard.fleetview.layout import Slot

RUN_RE = re.compile(r"^Run:\s*(https?://\S+)\s*$", re.MULTILINE)
SOURCE_RE = re.compile(r"^Source:\s*(https?://\S+)\s*$", re.MULTILINE)
PR_RE = re.compile(r"(?:\(#(\d{1,9})\)\s*$|^Merge pull request #(\d{1,9}) )", re.MULTILINE)


@dataclass(frozen=True)
class Image:
    name: str  # the Kustomize images entry's name
    repository: str  # newName or name: what the cluster pulls
    tag: str | None
    digest: str | None

    @property
    def ref(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    @property
    def key(self) -> str:
        """What identifies the build: the digest when pinned, else the tag."""
        return self.digest or f"tag:{self.tag or ''}"


@dataclass(frozen=True)
class Build:
    """One value the overlay's image had, and the commit that set it."""

    image: Image
    commit: Commit

    @property
    def run_url(self) -> str:
        m = RUN_RE.search(self.commit.message)
        return m.group(1) if m else ""

    @property
    def source_url(self) -> str:
        m = SOURCE_RE.search(self.commit.message)
        return m.group(1) if m else ""

    @property
    def pr_number(self) -> int | None:
        m = PR_RE.search(self.commit.message)
        return int(m.group(1) or m.group(2)) if m else None


@dataclass
class Overlay:
    slot: Slot
    path: str
    image: Image | None
    problem: str = ""  # why the image could not be read
    builds: list[Build] = field(default_factory=list)  # newest first, one per distinct change of the image

    @property
    def current(self) -> Build | None:
        return self.builds[0] if self.builds else None


def image_entry(text: str, service: str, path: str) -> tuple[Image | None, str]:
    """The overlay's image entry for ``service`` (by name, or the only entry)."""
    import yaml

    try:  # every scalar as the string Kustomize reads (a tag 1.10 stays "1.10")
        docs = list(yaml.load_all(text, Loader=yaml.BaseLoader))
    except yaml.YAMLError as exc:
        return None, f"{path} is not valid YAML: {' '.join(str(exc).split())}"
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        images = doc.get("images")
        if not isinstance(images, list):
            continue
        entries = [i for i in images if isinstance(i, dict) and i.get("name") is not None]
        pick = [i for i in entries if str(i["name"]) == service or str(i["name"]).rsplit("/", 1)[-1] == service]
        if not pick and len(entries) == 1:
            pick = entries
        if pick:
            e = pick[0]
            name = str(e["name"])
            tag = None if e.get("newTag") in (None, "", "~", "null") else str(e["newTag"])
            digest = None if e.get("digest") in (None, "", "~", "null") else str(e["digest"])
            return Image(name, str(e.get("newName") or name), tag, digest), ""
    return None, f"no `images:` entry for {service}"


def builds_from_history(service: str, path: str, changes: list[FileChange], blobs: dict[str, str]) -> list[Build]:
    """Collapse the file's history to the commits that changed its image (newest first)."""
    ordered: list[tuple[Image, Commit]] = []
    for change in reversed(changes):  # oldest first
        text = blobs.get(change.blob)
        if text is None:
            continue
        image, _ = image_entry(text, service, path)
        if image is None:
            continue
        if ordered and ordered[-1][0] == image:
            continue
        ordered.append((image, change.commit))
    return [Build(img, commit) for img, commit in reversed(ordered)]


def load(slot: Slot, path: str, text: str, changes: list[FileChange], blobs: dict[str, str]) -> Overlay:
    image, problem = image_entry(text, slot.service, path)
    overlay = Overlay(slot, path, image, problem)
    overlay.builds = builds_from_history(slot.service, path, changes, blobs)
    if image is not None and (not overlay.builds or overlay.builds[0].image != image):
        # history cut short (max commits): the tip's value without a known commit
        overlay.builds.insert(0, Build(image, Commit("", 0.0, "", "")))
    return overlay
