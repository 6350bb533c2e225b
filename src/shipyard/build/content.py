"""The content hash: one digest of everything that goes into the image, cheap to compute from git.

Inputs, in a canonical form:

* the files of the build context that git tracks, as ``mode blob-id path`` from ``git ls-files -s`` (blob
  ids are content hashes, so mtimes do not matter and untracked or ignored files never appear); tracked
  files modified in the working tree are re-hashed with ``git hash-object``; paths matched by the
  context's ``.dockerignore`` are left out because they never reach the image;
* the Dockerfile text (the repository's or the generated one);
* build args, target, platforms, the build mode and (host mode) the toolchain version;
* the base images, by digest.

Outside a git work tree every regular file under the context is hashed instead (with a warning).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shipyard import globs
from shipyard.runtime import UserError

TAG_PREFIX = "ch-"
TAG_HEX = 24


@dataclass(frozen=True)
class ContextFiles:
    """``entries`` are ``(path, mode, blob-id)`` tuples relative to the context; ``git`` says how they were found."""

    entries: tuple[tuple[str, str, str], ...]
    git: bool


class DockerIgnore:
    """``.dockerignore`` semantics: Go ``filepath.Match`` patterns plus ``**``, ``!`` exceptions, last match wins."""

    def __init__(self, patterns: Sequence[str]) -> None:
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        for raw in patterns:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            line = os.path.normpath(line.lstrip("/")).replace(os.sep, "/")
            if line == ".":
                continue
            self.rules.append((negate, re.compile(self._translate(line))))

    @staticmethod
    def _translate(pattern: str) -> str:
        return f"^{globs.translate(pattern)}(?:/.*)?$"  # a matched directory excludes everything below it

    @classmethod
    def load(cls, context: Path, ignorefile: Path | None = None) -> DockerIgnore:
        path = ignorefile or next((context / n for n in (".containerignore", ".dockerignore")
                                   if (context / n).exists()), None)
        if path is None or not path.exists():
            return cls([])
        return cls(path.read_text(encoding="utf-8", errors="replace").splitlines())

    def ignored(self, path: str) -> bool:
        result = False
        for negate, rule in self.rules:
            if rule.match(path):
                result = not negate
        return result


def _git(context: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(context), *args], capture_output=True, check=False, timeout=120,
                          env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"})


def context_files(context: Path, ignore: DockerIgnore | None = None) -> ContextFiles:
    """The files that go into the build context, each with a content id (git blob id)."""
    ignore = ignore or DockerIgnore([])
    listed = _git(context, "ls-files", "-s", "-z", "--", ".")
    if listed.returncode != 0:
        return ContextFiles(_walk(context, ignore), False)
    entries: dict[str, tuple[str, str]] = {}
    for record in listed.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if not record:
            continue
        meta, _, path = record.partition("\t")
        mode, blob, _stage = meta.split(" ")
        if mode != "160000" and ignore.ignored(path):  # submodules: their gitlink commit is in `blob`
            continue
        entries[path] = (mode, blob)
    # Tracked files changed (or only touched) in the working tree: hash what is really there.
    changed = _git(context, "ls-files", "-m", "-d", "-z", "--", ".")
    dirty = sorted({p for p in changed.stdout.decode("utf-8", "surrogateescape").split("\0") if p in entries})
    if dirty:
        existing = [p for p in dirty if (context / p).is_file() or (context / p).is_symlink()]
        for path in set(dirty) - set(existing):
            entries.pop(path, None)
        if existing:
            hashed = subprocess.run(
                ["git", "-C", str(context), "hash-object", "--no-filters", "--stdin-paths"],
                input="\n".join(existing).encode("utf-8", "surrogateescape"), capture_output=True, check=True,
                timeout=300,
            ).stdout.decode().split()
            for path, blob in zip(existing, hashed, strict=False):
                entries[path] = (entries[path][0], blob)
    return ContextFiles(tuple(sorted((p, m, b) for p, (m, b) in entries.items())), True)


def _walk(context: Path, ignore: DockerIgnore, limit: int = 200_000) -> tuple[tuple[str, str, str], ...]:
    out: list[tuple[str, str, str]] = []
    for root, dirs, files in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            full = Path(root) / name
            rel = full.relative_to(context).as_posix()
            if ignore.ignored(rel) or not full.is_file():
                continue
            data = full.read_bytes()
            blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's blob id
            out.append((rel, "100755" if os.access(full, os.X_OK) else "100644", blob))
            if len(out) > limit:
                raise UserError(f"build context '{context}' has more than {limit} files.",
                                "point `context:` at the service directory or add a .dockerignore.")
    return tuple(out)


def compute(
    files: ContextFiles,
    dockerfile_text: str,
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platforms: Iterable[str] = (),
    base_digests: Iterable[str] = (),
    extra: Mapping[str, str] | None = None,
) -> str:
    """The sha256 (hex) over a canonical JSON document of every input."""
    doc = {
        "v": 1,
        "files": [list(e) for e in files.entries],
        "dockerfile": dockerfile_text,
        "build_args": dict(sorted((build_args or {}).items())),
        "target": target or "",
        "platforms": sorted(set(platforms)),
        "bases": sorted(set(base_digests)),
        "extra": dict(sorted((extra or {}).items())),
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def tag_for(content_hash: str) -> str:
    return TAG_PREFIX + content_hash[:TAG_HEX]
