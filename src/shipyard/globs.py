"""Path globs as the config-path inputs and ``.dockerignore`` use them: ``*`` and ``?`` stay inside one directory,
``**`` spans any number of them (``**/`` also matches none), ``[...]`` is a character class. One translator, used
by the gitops stage (which files to edit) and the build stage (which files a context leaves out)."""

from __future__ import annotations

import fnmatch
import functools
import re


def translate(pattern: str) -> str:
    """The regular expression (unanchored) for ``pattern``."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i)) != -1:
            out += fnmatch.translate(pattern[i : end + 1])[4:-3]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return out


@functools.lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(translate(pattern))


def match(path: str, pattern: str) -> bool:
    """Whether the whole of ``path`` matches ``pattern``."""
    return compiled(pattern).fullmatch(path) is not None
