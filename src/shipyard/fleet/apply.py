"""One branch and one pull request per repository, written through the Git Data API (no clone).

* The PR carries a marker with the digest of its change: a re-run whose change is the same sends nothing.
* An open PR from the fleet branch is reused: a new commit on the default branch's head, the branch moved
  (force: the branch is ours) and the PR's body updated. Never a second PR.
* A PR the repository's owners closed without merging is respected for ``closed_days`` days.
* A failure after the branch was created deletes it again (no orphan branch).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from shipyard.fleet.client import GitHub, GitHubError
from shipyard.fleet.plan import Plan
from shipyard.runtime import UserError

MARKER = re.compile(r"<!-- shipyard-fleet digest=([0-9a-f]{16}) -->")
BODY_LIMIT = 60000
WHY = {
    "adopt": "This repository has no Shipyard pipeline. This adds the organisation's template for its language, "
             "configured through the organisation's `SHIPYARD_*` variables and secrets.",
    "upgrade": "Its Shipyard pins are behind the latest release. The pinning style is kept (a SHA stays a SHA "
               "with its version comment, a tag stays a tag).",
    "repair": "Its workflow drifted from Shipyard's template as generated today. The repository's own inputs, "
              "values, comments and jobs are kept; only the drift listed below is put back.",
}


@dataclass
class Outcome:
    status: str  # opened | updated | unchanged | respected | kept | failed | planned
    url: str = ""
    number: int = 0
    detail: str = ""


class PermissionProblem(UserError):
    pass


def title(plan: Plan, latest: str | None) -> str:
    if plan.action == "adopt":
        return f"Shipyard: adopt the pipeline ({plan.repo.language})"
    if plan.action == "repair":
        return "Shipyard: repair workflow drift" + (f" and move to {latest}" if latest else "")
    return f"Shipyard: upgrade to {latest}" if latest else "Shipyard: upgrade"


def body(plan: Plan, latest: str | None) -> str:
    diff = plan.diff()
    if len(diff) > BODY_LIMIT:
        diff = diff[:BODY_LIMIT] + "\n… (diff clipped)\n"
    changes = "\n".join(f"- {c}" for c in plan.changes) or "- (no change listed)"
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`{3,}", diff)), default=0) + 1)
    return (f"{WHY.get(plan.action, plan.reason)}\n\n### What changes\n{changes}\n\n"
            f"### Why\n{plan.reason}" + (f" (latest Shipyard release: {latest})" if latest else "") + ".\n\n"
            "Close this pull request to opt out for a while; add the topic `shipyard-opt-out` (or `fleet: "
            "{opt-out: true}` in `.shipyard.yml`) to opt out for good.\n\n"
            f"### Diff\n{fence}diff\n{diff}{fence}\n\n<!-- shipyard-fleet digest={plan.digest} -->\n")


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def find_prs(gh: GitHub, plan: Plan, org: str, branch: str) -> list[dict[str, Any]]:
    prs = gh.get(f"/repos/{plan.repo.full_name}/pulls", {"head": f"{org}:{branch}", "state": "all",
                                                        "per_page": "100"})
    return sorted((p for p in prs or [] if isinstance(p, dict)), key=lambda p: -int(p.get("number") or 0))


def permission_error(exc: GitHubError, what: str) -> PermissionProblem | None:
    text = exc.message.lower()
    if ("workflow" in text and ("refusing" in text or "permission" in text or "scope" in text)) or (
            exc.status == 404 and "/git/" in exc.path):
        return PermissionProblem(
            f"GitHub refused to {what}: the credential may not write workflow files ({exc}).",
            "give the GitHub App the `Workflows: Read and write` permission (and accept it on the installation), "
            "or use a token with the `workflow` scope; the Actions GITHUB_TOKEN can never write workflow files.",
            input_name="token", title="missing permission")
    if exc.not_accessible or (exc.status == 403 and "permission" in text):
        return PermissionProblem(
            f"GitHub refused to {what}: {exc.message}.",
            "give the GitHub App `Contents: Read and write` and `Pull requests: Read and write` (or a token "
            "with the `repo` and `workflow` scopes).", input_name="token", title="missing permission")
    return None


def apply_plan(gh: GitHub, plan: Plan, *, org: str, branch: str, closed_days: int, now: Callable[[], float],
               latest: str | None, dry_run: bool) -> Outcome:
    prs = find_prs(gh, plan, org, branch)
    open_pr = next((p for p in prs if p.get("state") == "open"), None)
    if open_pr is not None:
        m = MARKER.search(str(open_pr.get("body") or ""))
        if m and m.group(1) == plan.digest:
            return Outcome("unchanged", str(open_pr.get("html_url") or ""), int(open_pr["number"]))
        if not made_by_us(gh, plan, str((open_pr.get("head") or {}).get("sha") or "")):
            return Outcome("kept", str(open_pr.get("html_url") or ""), int(open_pr["number"]),
                           "someone else pushed to the PR's branch: not overwritten (close the PR to get a fresh one)")
        if dry_run:
            return Outcome("planned", str(open_pr.get("html_url") or ""), int(open_pr["number"]), "would update")
        sha = commit(gh, plan, latest)
        gh.write("PATCH", f"/repos/{plan.repo.full_name}/git/refs/heads/{branch}", {"sha": sha, "force": True})
        gh.write("PATCH", f"/repos/{plan.repo.full_name}/pulls/{open_pr['number']}",
                 {"title": title(plan, latest), "body": body(plan, latest)})
        return Outcome("updated", str(open_pr.get("html_url") or ""), int(open_pr["number"]))
    closed = next((p for p in prs if p.get("state") == "closed" and not p.get("merged_at")), None)
    if closed is not None:
        when = _parse_time(closed.get("closed_at"))
        if when is not None and (now() - when.timestamp()) < closed_days * 86400:
            until = datetime.fromtimestamp(when.timestamp() + closed_days * 86400, timezone.utc)
            return Outcome("respected", str(closed.get("html_url") or ""), int(closed["number"]),
                           f"closed by the owners on {when:%Y-%m-%d}; not proposed again before {until:%Y-%m-%d}")
    if dry_run:
        return Outcome("planned", detail="would open a pull request")
    # The branch first, at the default branch's head: a ruleset that forbids it stops us before any object
    # is written; then the commit, then the branch moved onto it.
    created = create_or_move_branch(gh, plan, branch, str(plan.repo.head))
    try:
        sha = commit(gh, plan, latest)
        gh.write("PATCH", f"/repos/{plan.repo.full_name}/git/refs/heads/{branch}", {"sha": sha, "force": True})
        pr = gh.write("POST", f"/repos/{plan.repo.full_name}/pulls",
                      {"title": title(plan, latest), "head": branch, "base": plan.repo.default_branch,
                       "body": body(plan, latest), "maintainer_can_modify": True},
                      before_retry=lambda: not find_open(gh, plan, org, branch))
    except GitHubError:
        if created:
            delete_branch(gh, plan, branch)
        raise
    if not isinstance(pr, dict) or "number" not in pr:  # applied but answered 5xx: the look-up found it
        pr = find_open(gh, plan, org, branch) or {}
    return Outcome("opened", str(pr.get("html_url") or ""), int(pr.get("number") or 0))


def made_by_us(gh: GitHub, plan: Plan, head: str) -> bool:
    """The PR branch's head is one fleet commit (ours, on the default branch): safe to replace. A commit
    someone pushed on top is never overwritten."""
    if not head:
        return True
    try:
        data = gh.get(f"/repos/{plan.repo.full_name}/git/commits/{head}", conditional=False)
    except GitHubError as exc:
        if exc.status == 404:
            return True
        raise
    return str(data.get("message", "")).startswith("Shipyard: ") and len(data.get("parents") or []) == 1


def find_open(gh: GitHub, plan: Plan, org: str, branch: str) -> dict[str, Any] | None:
    prs = gh.get(f"/repos/{plan.repo.full_name}/pulls", {"head": f"{org}:{branch}", "state": "open"},
                 conditional=False)
    return prs[0] if prs else None


def commit(gh: GitHub, plan: Plan, latest: str | None) -> str:
    full = plan.repo.full_name
    entries = [{"path": path, "mode": "100644", "type": "blob", "content": new}
               for path, (_, new) in sorted(plan.files.items())]
    tree = gh.write("POST", f"/repos/{full}/git/trees", {"base_tree": plan.repo.tree, "tree": entries})
    message = title(plan, latest) + "\n\n" + "\n".join(f"- {c}" for c in plan.changes) + "\n"
    made = gh.write("POST", f"/repos/{full}/git/commits",
                    {"message": message, "tree": tree["sha"], "parents": [plan.repo.head]})
    return str(made["sha"])


def create_or_move_branch(gh: GitHub, plan: Plan, branch: str, sha: str) -> bool:
    """True when the branch was created (False: it existed, e.g. left by a merged PR, and was moved)."""
    full = plan.repo.full_name
    try:
        gh.write("POST", f"/repos/{full}/git/refs", {"ref": f"refs/heads/{branch}", "sha": sha})
        return True
    except GitHubError as exc:
        if exc.status == 422 and "already exists" in str(exc).lower():
            gh.write("PATCH", f"/repos/{full}/git/refs/heads/{branch}", {"sha": sha, "force": True})
            return False
        raise


def delete_branch(gh: GitHub, plan: Plan, branch: str) -> None:
    try:
        gh.write("DELETE", f"/repos/{plan.repo.full_name}/git/refs/heads/{branch}")
    except GitHubError as exc:
        gh.action.warning(f"{plan.repo.full_name}: could not delete branch {branch} after the failure: {exc}")
