"""Is a repository's workflow Shipyard's template as generated today, or a drifted copy?

The comparison is structural (parsed YAML, never text), so formatting, quoting, key order and comments never
count. The values a repository sets on purpose never count either: the ``@ref`` (that is the upgrade's
business), the pipeline it calls (its language choice), ``with:`` values, the push branches and paths, the
workflow's ``name``, extra jobs and extra top-level keys of its own. What counts: a trigger, input or secret of
the template that is missing, ``secrets: inherit`` instead of the named secrets, different ``permissions``,
and keys in the Shipyard job that a calling job should not carry.
"""

from __future__ import annotations

import re
from typing import Any

#: keys a calling job may carry besides the template's, set on purpose by the repository
JOB_EXTRAS = frozenset({"if", "name", "needs", "concurrency", "strategy"})


def pipeline_job(doc: Any, shipyard_repo: str) -> tuple[str, dict[str, Any]] | None:
    """The job calling one of Shipyard's pipelines (``<repo>/.github/workflows/pipeline*.yml@ref``)."""
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    if not isinstance(jobs, dict):
        return None
    pattern = re.compile(re.escape(shipyard_repo) + r"/\.github/workflows/pipeline[\w.-]*\.ya?ml@\S+", re.IGNORECASE)
    for name, job in jobs.items():
        if isinstance(job, dict) and isinstance(job.get("uses"), str) and pattern.fullmatch(job["uses"].strip()):
            return str(name), job
    return None


def template_key(job: dict[str, Any]) -> str | None:
    """pipeline-go.yml -> go; pipeline.yml (the generic one) -> None."""
    m = re.search(r"/pipeline-([\w-]+)\.ya?ml@", str(job.get("uses", "")))
    return m.group(1) if m else None


def _on(doc: dict[Any, Any]) -> dict[str, Any]:
    value = doc.get("on", doc.get(True))
    if isinstance(value, str):
        return {value: None}
    if isinstance(value, list):
        return {str(v): None for v in value}
    return value if isinstance(value, dict) else {}


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def compare(doc: Any, template: Any, shipyard_repo: str) -> list[str]:
    """The differences that make ``doc`` a drifted copy of ``template`` (empty: it is the template)."""
    if not isinstance(doc, dict):
        return ["the file is not a workflow mapping"]
    found = pipeline_job(doc, shipyard_repo)
    tjob_found = pipeline_job(template, shipyard_repo)
    if found is None or tjob_found is None:
        return ["no job calls a Shipyard pipeline"]
    name, job = found
    _, tjob = tjob_found
    diffs: list[str] = []
    mine, theirs = _on(doc), _on(template)
    for trigger, spec in theirs.items():
        if trigger not in mine:
            diffs.append(f"trigger `{trigger}` missing")
        elif trigger == "workflow_dispatch" and isinstance(spec, dict):
            have: dict[str, Any] = {}
            if isinstance(mine[trigger], dict):
                have = mine[trigger].get("inputs") or {}
            for inp in (spec.get("inputs") or {}):
                if inp not in have:
                    diffs.append(f"workflow_dispatch input `{inp}` missing")
    if _norm(doc.get("permissions")) != _norm(template.get("permissions")):
        diffs.append(f"workflow permissions {_show(doc.get('permissions'))} (template: "
                     f"{_show(template.get('permissions'))})")
    if _norm(job.get("permissions")) != _norm(tjob.get("permissions")):
        diffs.append(f"job `{name}` permissions {_show(job.get('permissions'))} (template: "
                     f"{_show(tjob.get('permissions'))})")
    with_: dict[str, Any] = job["with"] if isinstance(job.get("with"), dict) else {}
    for key in tjob.get("with") or {}:
        if key not in with_:
            diffs.append(f"input `{key}` missing")
    secrets = job.get("secrets")
    if secrets == "inherit":
        diffs.append("`secrets: inherit` passes every secret (template: the named secrets)")
    else:
        have = secrets if isinstance(secrets, dict) else {}
        for key in tjob.get("secrets") or {}:
            if key not in have:
                diffs.append(f"secret `{key}` missing")
    for key in job:
        if key not in tjob and key not in JOB_EXTRAS:
            diffs.append(f"job `{name}` has `{key}` (not in the template)")
    return diffs


def _show(value: Any) -> str:
    import json

    return json.dumps(_norm(value), sort_keys=True) if value is not None else "unset"
