"""Repair a drifted copy with a ruamel round trip: the repository's file is edited in place towards the
template, so its comments, its own inputs and values, its extra jobs and keys survive; only what
:mod:`shipyard.fleet.drift` counts as drift is put back (missing triggers, inputs and secrets added,
``secrets: inherit`` replaced by the named secrets, permissions reset, stray job keys removed).
"""

from __future__ import annotations

import io
import re
from typing import Any

from shipyard.fleet.drift import JOB_EXTRAS


def _yaml(text: str) -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, sequence, offset = _indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _indent(text: str) -> tuple[int, int, int]:
    """Guess the file's block-sequence style (``- x`` under its key, or indented by two)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^( *)- ", line)
        if m and i > 0:
            prev = lines[i - 1]
            key_indent = len(prev) - len(prev.lstrip(" "))
            if prev.rstrip().endswith(":"):
                dash = len(m.group(1))
                return (2, 4, 2) if dash == key_indent + 2 else (2, 2, 0)
    return 2, 4, 2


def _pipeline_job(doc: Any, pattern: re.Pattern[str]) -> Any:
    jobs = doc.get("jobs")
    if not hasattr(jobs, "items"):
        return None
    for _, job in jobs.items():
        if hasattr(job, "get") and isinstance(job.get("uses"), str) and pattern.fullmatch(job["uses"].strip()):
            return job
    return None


def _plain(value: Any) -> Any:
    if hasattr(value, "items"):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _add_missing(target: Any, source: Any) -> None:
    for key, value in source.items():
        if key not in target:
            target[key] = value


def repair(text: str, template_text: str, shipyard_repo: str) -> str:
    """``text`` edited towards ``template_text`` (both full workflow files); returns the new text."""
    yaml = _yaml(text)
    doc = yaml.load(text)
    tpl = _yaml(template_text).load(template_text)
    pattern = re.compile(re.escape(shipyard_repo) + r"/\.github/workflows/pipeline[\w.-]*\.ya?ml@\S+", re.IGNORECASE)
    job, tjob = _pipeline_job(doc, pattern), _pipeline_job(tpl, pattern)
    if job is None or tjob is None:
        return text
    # triggers
    if "on" not in doc or not hasattr(doc["on"], "items"):
        doc["on"] = tpl["on"]
    else:
        _add_missing(doc["on"], tpl["on"])
        dispatch, tdispatch = doc["on"].get("workflow_dispatch"), tpl["on"].get("workflow_dispatch")
        if hasattr(tdispatch, "get") and tdispatch.get("inputs"):
            if not hasattr(dispatch, "items"):
                doc["on"]["workflow_dispatch"] = tdispatch
            elif not hasattr(dispatch.get("inputs"), "items"):
                dispatch["inputs"] = tdispatch["inputs"]
            else:
                _add_missing(dispatch["inputs"], tdispatch["inputs"])
    # permissions, workflow and job
    if _plain(doc.get("permissions")) != _plain(tpl.get("permissions")):
        if "permissions" in doc:
            doc["permissions"] = tpl["permissions"]
        else:
            doc.insert(min(len(doc), list(tpl).index("permissions")), "permissions", tpl["permissions"])
    for key in list(tjob):
        if key == "uses":
            continue
        if key not in job or (key == "permissions" and _plain(job[key]) != _plain(tjob[key])):
            job[key] = tjob[key]
        elif key in ("with", "secrets"):
            if hasattr(job[key], "items"):
                _add_missing(job[key], tjob[key])
            else:  # e.g. secrets: inherit
                job[key] = tjob[key]
    for key in list(job):
        if key not in tjob and key not in JOB_EXTRAS:
            del job[key]
    out = io.StringIO()
    yaml.dump(doc, out)
    new = out.getvalue()
    if "\n\n\n" not in text:  # a key added after a value that carried the blank line doubles it
        while "\n\n\n" in new:
            new = new.replace("\n\n\n", "\n\n")
    return new
