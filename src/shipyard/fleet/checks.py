"""Required checks by GitHub plan, created or updated idempotently; the plan shows the ruleset diff first.

* Enterprise Cloud: one organisation ruleset with a ``workflows`` rule requiring Shipyard's workflow on the
  default branch of the managed repositories. Pitfalls handled: the rule targets repositories by name (a new
  repository is never blocked at creation, and ``do_not_enforce_on_create`` is set), bypass actors come from
  the configuration, the source workflow must be at least as visible as its targets and must run on
  ``pull_request``/``merge_group`` (filters are ignored there).
* Team (and public repositories on Free): a repository ruleset requiring the pipeline's status check, only
  where the pipeline already runs on the default branch (a check that never reports would block merging).
* Free, private repositories: nothing can be enforced; each repository says why.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

from shipyard.fleet.client import GitHub, GitHubError
from shipyard.fleet.inventory import Repo
from shipyard.runtime import UserError

ORG_RULESET = "Shipyard required workflow"
REPO_RULESET = "Shipyard required checks"
PLANS = ("enterprise", "team", "free")
ACTOR_TYPES = ("OrganizationAdmin", "RepositoryRole", "Team", "Integration", "DeployKey")
ACTOR = re.compile(r"(?P<type>[A-Za-z]+):(?P<id>\d+)(?::(?P<mode>always|pull_request))?")
WORKFLOW_REF = re.compile(r"(?P<repo>[\w.-]+/[\w.-]+):(?P<path>\.github/workflows/[\w.-]+\.ya?ml)"
                          r"(?:@(?P<ref>refs/(?:heads|tags)/[\w./-]+))?")


@dataclass
class CheckResult:
    scope: str
    status: str  # created | updated | unchanged | planned | not possible | failed | skipped
    detail: str = ""
    diff: str = ""


def parse_bypass(items: list[str]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        m = ACTOR.fullmatch(item.strip())
        if not m or m.group("type") not in ACTOR_TYPES:
            raise UserError(f"Input 'bypass-actors' has an invalid entry '{item[:60]}'.",
                            f"give TYPE:ID[:always|pull_request], TYPE one of {', '.join(ACTOR_TYPES)} (e.g. "
                            "`OrganizationAdmin:1`, `Integration:123456` for the fleet's GitHub App).",
                            input_name="bypass-actors")
        out.append({"actor_id": int(m.group("id")), "actor_type": m.group("type"),
                    "bypass_mode": m.group("mode") or "always"})
    return out


def parse_workflow_ref(value: str) -> tuple[str, str, str | None]:
    m = WORKFLOW_REF.fullmatch(value.strip())
    if not m:
        raise UserError("Input 'required-workflow' is not OWNER/REPO:.github/workflows/FILE.yml"
                        f"[@refs/heads/BRANCH]: '{value[:80]}'.",
                        "e.g. `acme/.github:.github/workflows/shipyard-required.yml@refs/heads/main`.",
                        input_name="required-workflow")
    return m.group("repo"), m.group("path"), m.group("ref")


def detect_plan(gh: GitHub, org: str) -> str | None:
    try:
        data = gh.get(f"/orgs/{org}")
    except GitHubError:
        return None
    name = str(((data or {}).get("plan") or {}).get("name") or "").lower()
    if "enterprise" in name:
        return "enterprise"
    if name in ("team", "business"):
        return "team"
    if name == "free":
        return "free"
    return None


def _subset(have: Any, want: Any) -> Any:
    """``have`` reduced to the keys ``want`` sets (GitHub adds ids, timestamps, links)."""
    if isinstance(want, dict) and isinstance(have, dict):
        return {k: _subset(have.get(k), v) for k, v in want.items()}
    if isinstance(want, list) and isinstance(have, list):
        return [_subset(h, w) for h, w in zip(have, want, strict=False)] + have[len(want):]
    return have


def ruleset_diff(existing: dict[str, Any] | None, desired: dict[str, Any], label: str) -> str:
    old = json.dumps(_subset(existing, desired), indent=2, sort_keys=True).splitlines() if existing else []
    new = json.dumps(desired, indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(old, new, f"{label} (now)", f"{label} (wanted)", lineterm=""))


def _upsert(gh: GitHub, base: str, name: str, desired: dict[str, Any], scope: str, dry_run: bool,
            source_type: str | None = None) -> CheckResult:
    existing = None
    for summary in gh.paginate(base):
        if summary.get("name") == name and (source_type is None or summary.get("source_type") == source_type):
            existing = gh.get(f"{base}/{summary['id']}")
            break
    diff = ruleset_diff(existing, desired, name)
    if existing is not None and not diff:
        return CheckResult(scope, "unchanged", f"ruleset '{name}' is as wanted")
    if dry_run:
        return CheckResult(scope, "planned", f"would {'update' if existing else 'create'} ruleset '{name}'", diff)
    if existing is None:
        gh.write("POST", base, desired)
        return CheckResult(scope, "created", f"ruleset '{name}'", diff)
    gh.write("PUT", f"{base}/{existing['id']}", desired)
    return CheckResult(scope, "updated", f"ruleset '{name}'", diff)


VISIBILITY = {"public": 0, "internal": 1, "private": 2}


def org_ruleset(gh: GitHub, org: str, repos: list[Repo], workflow: tuple[str, str, str | None],
                bypass: list[dict[str, Any]], enforcement: str, dry_run: bool) -> list[CheckResult]:
    source_full, path, ref = workflow
    results: list[CheckResult] = []
    try:
        source = gh.get(f"/repos/{source_full}")
    except GitHubError as exc:
        return [CheckResult(org, "failed", f"the required workflow's repository {source_full}: {exc}")]
    targets = sorted(r.name for r in repos if r.has_pipeline)
    source_vis = str(source.get("visibility") or ("private" if source.get("private") else "public"))
    wider = [r.name for r in repos if r.name in targets and
             VISIBILITY.get(r.visibility, 2) < VISIBILITY.get(source_vis, 2)]
    if wider:
        results.append(CheckResult(org, "warning", f"{source_full} is {source_vis}: it cannot serve the more visible "
                                   f"repositories {', '.join(wider[:10])} (make the source at least as visible)"))
    if not bypass:
        results.append(CheckResult(org, "warning", "no bypass actors: nobody (not even this App) can bypass the "
                                   "rule; set `bypass-actors` (e.g. OrganizationAdmin:1)"))
    results += source_workflow_warnings(gh, org, source_full, path, ref)
    if not targets:
        return [*results, CheckResult(org, "skipped", "no repository runs the pipeline yet")]
    rule_ref: dict[str, Any] = {"repository_id": int(source["id"]), "path": path}
    if ref:
        rule_ref["ref"] = ref
    desired = {
        "name": ORG_RULESET, "target": "branch", "enforcement": enforcement, "bypass_actors": bypass,
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []},
                       "repository_name": {"include": targets, "exclude": [], "protected": False}},
        "rules": [{"type": "workflows", "parameters": {"do_not_enforce_on_create": True, "workflows": [rule_ref]}}],
    }
    try:
        results.append(_upsert(gh, f"/orgs/{org}/rulesets", ORG_RULESET, desired, org, dry_run))
    except GitHubError as exc:
        results.append(CheckResult(org, "not possible" if exc.status in (403, 404) else "failed",
                                   f"organisation rulesets: {exc.message} (they need GitHub Enterprise Cloud and "
                                   "the App's `Organization administration: write`)"))
    return results


def source_workflow_warnings(gh: GitHub, org: str, source_full: str, path: str, ref: str | None) -> list[CheckResult]:
    """The documented pitfalls of the required workflow itself: it must exist, run on pull_request or
    merge_group (its filters are ignored there) and not cancel runs in progress."""
    import base64

    from shipyard.fleet.templates import load_workflow

    params = {"ref": ref} if ref else None
    found = gh.maybe(f"/repos/{source_full}/contents/{path}", params)
    if not isinstance(found, dict):
        return [CheckResult(org, "warning", f"{source_full}:{path} does not exist"
                            + (f" at {ref}" if ref else "") + ": the rule would wait for a check that never runs")]
    try:
        doc = load_workflow(base64.b64decode(str(found.get("content", ""))).decode("utf-8", errors="replace"))
    except Exception:  # any parse problem is the same warning
        return [CheckResult(org, "warning", f"{source_full}:{path} does not parse")]
    doc = doc if isinstance(doc, dict) else {}
    on = doc.get("on", doc.get(True))
    events = set(on) if isinstance(on, (dict, list)) else {on}
    out = []
    if not events & {"pull_request", "pull_request_target", "merge_group"}:
        out.append(CheckResult(org, "warning", f"{source_full}:{path} does not run on pull_request or merge_group: "
                               "a required workflow only runs on those events (stuck on 'waiting for status')"))
    text = json.dumps(doc, default=str)
    if '"cancel-in-progress": true' in text:
        out.append(CheckResult(org, "warning", f"{source_full}:{path} uses `cancel-in-progress: true`, which "
                               "required workflows do not support"))
    return out


def repo_ruleset(gh: GitHub, repo: Repo, check: str, bypass: list[dict[str, Any]], enforcement: str,
                 plan: str, dry_run: bool) -> CheckResult:
    if repo.skip:
        return CheckResult(repo.name, "skipped", repo.skip)
    if plan == "free" and repo.visibility != "public":
        return CheckResult(repo.name, "not possible", "GitHub Free has no rulesets or branch protection for private "
                           "repositories (Team or making the repository public would allow it)")
    if not any(w.pipeline for w in repo.workflows):
        return CheckResult(repo.name, "skipped", "no pipeline on the default branch yet: requiring its check would "
                           "block every merge")
    desired = {
        "name": REPO_RULESET, "target": "branch", "enforcement": enforcement, "bypass_actors": bypass,
        "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
        "rules": [{"type": "required_status_checks", "parameters": {
            "strict_required_status_checks_policy": False, "do_not_enforce_on_create": False,
            "required_status_checks": [{"context": check}]}}],
    }
    try:
        return _upsert(gh, f"/repos/{repo.full_name}/rulesets", REPO_RULESET, desired, repo.name, dry_run,
                       source_type="Repository")
    except GitHubError as exc:
        if exc.not_accessible:
            return CheckResult(repo.name, "failed", "the credential may not manage rulesets here: give the App "
                               "`Administration: Read and write` (or a token with admin rights on the repository)")
        if exc.status == 403 and "upgrade" in exc.message.lower():
            return CheckResult(repo.name, "not possible", exc.message)
        return CheckResult(repo.name, "failed", str(exc))
