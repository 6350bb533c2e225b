"""A thin adapter over :func:`shipyard.build.detect.detect`: a repository's root entries (from the trees API)
to a language, without a clone.

The build detector looks at files on disk; we lay out the root names as empty files in a temporary folder
and fill in the few whose content decides the language (package.json: node or spa; Gradle and Maven files:
java or kotlin). Nothing else is fetched.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from shipyard.runtime import UserError

#: files whose content the detector reads to tell languages apart
CONTENT_FILES = ("package.json", "build.gradle", "build.gradle.kts", "pom.xml")
#: detector language -> template key (shipyard-<key>.yml)
TEMPLATE_KEYS = {"java": "java", "kotlin": "kotlin", "python": "python", "node": "node", "spa": "vue", "go": "go",
                 "swift": "swift"}


def language(files: Iterable[str], dirs: Iterable[str], read: Callable[[str], str | None]) -> str | None:
    """``files``/``dirs``: paths in the repository (root names and, for Kotlin, ``src/main/kotlin``).
    ``read(name)`` returns a root file's text (only called for :data:`CONTENT_FILES`). None: nothing detected."""
    from shipyard.build.detect import detect

    names = {f for f in files if "/" not in f}
    with tempfile.TemporaryDirectory(prefix="shipyard-fleet-") as tmp:
        root = Path(tmp)
        for name in names:
            if name in (".", "..") or name.startswith("/"):
                continue
            text = read(name) if name in CONTENT_FILES else ""
            (root / name).write_text(text or "", encoding="utf-8")
        for directory in dirs:
            if directory == "src/main/kotlin":
                (root / directory).mkdir(parents=True, exist_ok=True)
        try:
            return detect(root).language
        except UserError:
            return None
