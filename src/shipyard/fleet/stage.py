"""The fleet stage: inventory every service repository of an organisation, plan adopt/upgrade/repair, open or
update one pull request per repository, require the pipeline's checks where the GitHub plan allows, report.

Heavy imports (requests, yaml, ruamel) happen inside the modules this function loads, never at import.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shipyard.runtime import Action, TransientError, UserError

ORG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
REPO = re.compile(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}")
BRANCH = re.compile(r"(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![/.])")
CHECK = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


def _inputs(action: Action) -> dict[str, Any]:
    org = action.require("organization")
    if not ORG.fullmatch(org):
        raise UserError(f"Input 'organization' is not a GitHub organisation login: '{org[:60]}'.",
                        "give the login as in github.com/<org> (letters, digits, hyphens).", input_name="organization")
    shipyard_repo = action.input("shipyard-repository", default="shipyard/shipyard") or ""
    if not REPO.fullmatch(shipyard_repo):
        raise UserError(f"Input 'shipyard-repository' is not OWNER/NAME: '{shipyard_repo[:60]}'.",
                        "e.g. `shipyard/shipyard` (where the actions and reusable workflows live).",
                        input_name="shipyard-repository")
    branch = action.input("branch", default="shipyard/fleet") or ""
    if not BRANCH.fullmatch(branch) or branch.endswith(".lock"):
        raise UserError(f"Input 'branch' is not a valid branch name: '{branch[:60]}'.",
                        "e.g. `shipyard/fleet`.", input_name="branch")
    check = action.input("required-check", default="ship / pipeline / ship") or ""
    if not CHECK.fullmatch(check):
        raise UserError("Input 'required-check' must be one line without control characters.",
                        "give the status check's name as shown on a pull request, e.g. `ship / pipeline / ship`.",
                        input_name="required-check")
    from shipyard.fleet import checks

    mode = action.choice("required-checks", ("auto", "off", *checks.PLANS), "auto")
    workflow = action.input("required-workflow")
    token = action.secret("token")
    app_id = action.input("app-id")
    key = action.secret("app-private-key")
    if app_id and not re.fullmatch(r"\d{1,12}", app_id):
        raise UserError("Input 'app-id' must be the App's numeric id.", "see the App's settings page (App ID).",
                        input_name="app-id")
    if app_id and not key:
        raise UserError("`app-id` is set but `app-private-key` is empty.", "pass the App's PEM private key.",
                        input_name="app-private-key")
    if not token and not app_id:
        raise UserError("No credential: give `token` (a token with the `repo` and `workflow` scopes) or `app-id` and "
                        "`app-private-key` (a GitHub App with Contents, Pull requests and Workflows: write).",
                        "pass one of them from a secret; the Actions GITHUB_TOKEN cannot write workflow files.",
                        input_name="token")
    installation = action.input("installation-id")
    if installation and not re.fullmatch(r"\d{1,15}", installation):
        raise UserError("Input 'installation-id' must be numeric.", "leave it empty to look it up.",
                        input_name="installation-id")
    slack_channel = action.input("slack-channel")
    slack_token = action.secret("slack-token")
    if slack_channel and not slack_token:
        raise UserError("`slack-channel` is set but `slack-token` is empty.", "pass the Slack bot token.",
                        input_name="slack-token")
    templates_dir = action.input("templates")
    return {
        "org": org, "shipyard_repo": shipyard_repo, "branch": branch, "check": check, "mode": mode,
        "workflow": checks.parse_workflow_ref(workflow) if workflow else None,
        "bypass": checks.parse_bypass(action.items("bypass-actors")),
        "enforcement": action.choice("enforcement", ("evaluate", "active", "disabled"), "evaluate"),
        "token": token, "app_id": app_id, "key": key, "installation": installation,
        "api": (action.input("github-api-url") or action.github("api_url") or "https://api.github.com").rstrip("/"),
        "closed_days": action.integer("closed-pr-days", 30, minimum=0, maximum=3650),
        "exclude": {e.lower() for e in action.items("exclude")},
        "state_dir": Path(action.input("state-dir", default=".shipyard-fleet") or ".shipyard-fleet"),
        "templates": Path(templates_dir) if templates_dir else None,
        "slack_channel": slack_channel, "slack_token": slack_token,
        "rate_wait": action.number("rate-limit-wait", 900.0),
        "dry_run": action.dry_run,
    }


def run(action: Action, *, now: Callable[[], float] = time.time) -> None:
    from shipyard.fleet import auth, checks, inventory, refs, report, templates
    from shipyard.fleet.apply import Outcome, PermissionProblem, apply_plan, permission_error
    from shipyard.fleet.client import GitHub, GitHubError
    from shipyard.fleet.plan import Plan, plan_repo
    from shipyard.fleet.state import State

    cfg = _inputs(action)
    org, shipyard_repo, dry_run = cfg["org"], cfg["shipyard_repo"], cfg["dry_run"]
    tpls = templates.load(cfg["templates"])
    started = time.monotonic()
    if cfg["app_id"]:
        # the JWT is checked against GitHub's clock: always the real one
        token, permissions = auth.installation_token(action, cfg["api"], org, cfg["app_id"], cfg["key"],
                                                     cfg["installation"], time.time)
        auth.check_app_permissions(permissions, writes=not dry_run,
                                   checks=cfg["mode"] if cfg["mode"] != "auto" else "")
    else:
        token = cfg["token"]
    state = State.load(cfg["state_dir"])
    gh = GitHub(action, cfg["api"], token, state, now=now, rate_limit_budget=cfg["rate_wait"])

    with action.group(f"Inventory of {org}"):
        listing = inventory.list_repos(gh, org)
        auth.check_token_scopes(gh.scopes, writes=not dry_run)
        tags = _release_tags(gh, shipyard_repo)
        releases = refs.Releases(tags)
        repos = []
        for data in listing:
            repo = inventory.scan_repo(gh, org, data, shipyard_repo, tpls, releases, cfg["exclude"])
            action.info(f"{repo.full_name}: " + (repo.skip or repo.error or f"{repo.language or '-'}, "
                                                 f"{len(repo.shipyard_refs)} Shipyard ref(s)"))
            repos.append(repo)
        scan_requests = gh.count.total
    plans: list[Plan] = [plan_repo(r, tpls, releases, shipyard_repo) for r in repos]
    latest = releases.latest
    outcomes: dict[str, Outcome] = {}
    wrote = False
    with action.group("Plan" if dry_run else "Pull requests"):
        for plan in plans:
            if plan.action not in ("adopt", "upgrade", "repair"):
                continue
            try:
                outcome = apply_plan(gh, plan, org=org, branch=cfg["branch"], closed_days=cfg["closed_days"],
                                     now=now, latest=latest, dry_run=dry_run)
                wrote = wrote or outcome.status in ("opened", "updated")
            except GitHubError as exc:
                problem = permission_error(exc, f"write to {plan.repo.full_name}")
                if problem is not None and not wrote:
                    raise problem from None
                outcome = Outcome("failed", detail=_explain(exc))
                action.warning(f"{plan.repo.full_name}: {outcome.detail}")
            except PermissionProblem:
                raise
            except TransientError as exc:
                outcome = Outcome("failed", detail=f"GitHub did not answer: {exc}")
                action.warning(f"{plan.repo.full_name}: {outcome.detail}")
            outcomes[plan.repo.full_name] = outcome
            action.info(f"{plan.repo.full_name}: {plan.action} -> {outcome.status} {outcome.url}".rstrip())
    rows = [report.row(p, outcomes.get(p.repo.full_name), releases) for p in plans]
    if dry_run:
        action.info(report.plan_table(rows))

    results = _required_checks(action, gh, cfg, repos, checks, dry_run)
    elapsed = time.monotonic() - started

    s = action.summary.heading(f"Shipyard fleet: {org}" + (" (dry run)" if dry_run else ""))
    counts = {a: sum(1 for r in rows if r["action"] == a) for a in ("adopt", "upgrade", "repair", "nothing", "skip",
                                                                    "error")}
    s.text(f"{len(rows)} repositories, latest Shipyard release {latest or 'unknown'}; "
           + ", ".join(f"{n} {a}" for a, n in counts.items() if n) + f"; {gh.count.total} API requests "
           f"({gh.count.not_modified} not modified) in {elapsed:.1f}s.")
    s.text(report.pie(rows))
    s.table(report.COLUMNS, report.summary_rows(rows))
    if results:
        s.heading("Required checks", 4).table(["scope", "status", "detail"], report.checks_rows(results))
        for r in results:
            if r.diff:
                s.details(f"ruleset diff: {r.scope}", f"```diff\n{r.diff}\n```")
    prs = [{"repository": r["repository"], "status": r["pr_status"], "url": r["pr"]} for r in rows if r["pr_status"]]
    action.set_output("report", json.dumps(rows))
    action.set_output("counts", json.dumps(counts))
    action.set_output("pull-requests", json.dumps(prs))
    action.set_output("requests", str(gh.count.total))
    action.set_output("scan-requests", str(scan_requests))
    lines = report.digest(state.report, rows)
    if cfg["slack_channel"] and not dry_run:
        _slack(action, cfg, org, lines)
    if not dry_run:
        state.save(rows)
    else:
        state.save(state.report)  # keep the last applied run as the digest's base, refresh the caches
    errors = [r for r in rows if r["action"] == "error" or r["pr_status"] == "failed"]
    for r in errors:
        action.warning(f"{r['repository']}: {r['reason'] if r['action'] == 'error' else r['pr_detail']}")


def _release_tags(gh: Any, shipyard_repo: str) -> dict[str, str]:
    from shipyard.fleet.client import GitHubError

    try:
        return {str(t.get("name")): str((t.get("commit") or {}).get("sha") or "")
                for t in gh.paginate(f"/repos/{shipyard_repo}/tags")}
    except GitHubError as exc:
        if exc.status in (403, 404):
            raise UserError(f"Cannot read the tags of '{shipyard_repo}' ({exc.message}).",
                            "set `shipyard-repository` to where Shipyard's actions live (OWNER/NAME) and make sure "
                            "the credential can read it.", input_name="shipyard-repository") from None
        raise


def _explain(exc: Any) -> str:
    text = str(exc)
    if exc.status == 422 and "rule" in exc.message.lower():
        return (f"{text}: a ruleset blocks the bot from creating the fleet branch; add the App as a bypass actor "
                "or allow the `branch` input's name")
    if exc.status == 403 and "protected" in exc.message.lower():
        return f"{text}: the branch is protected against the bot"
    return text


def _required_checks(action: Action, gh: Any, cfg: dict[str, Any], repos: list[Any], checks: Any,
                     dry_run: bool) -> list[Any]:
    mode = cfg["mode"]
    if mode == "off":
        return []
    if mode == "auto":
        detected = checks.detect_plan(gh, cfg["org"])
        if detected is None:
            action.warning("could not tell the organisation's GitHub plan (the credential cannot read it): set "
                           "`required-checks` to enterprise, team or free to require the pipeline's checks")
            return []
        mode = detected
    with action.group(f"Required checks ({mode})"):
        if mode == "enterprise":
            if cfg["workflow"] is None:
                return [checks.CheckResult(cfg["org"], "skipped", "set `required-workflow` to the workflow the "
                                           "organisation ruleset requires")]
            results = checks.org_ruleset(gh, cfg["org"], [r for r in repos if not r.skip], cfg["workflow"],
                                         cfg["bypass"], cfg["enforcement"], dry_run)
        else:
            results = [checks.repo_ruleset(gh, r, cfg["check"], cfg["bypass"], cfg["enforcement"], mode, dry_run)
                       for r in repos if not r.skip]
        for r in results:
            action.info(f"{r.scope}: {r.status} {r.detail}")
            if r.diff:
                action.info(r.diff)
    return results


def _slack(action: Action, cfg: dict[str, Any], org: str, lines: list[str]) -> None:
    """The digest of what changed; a Slack failure is a warning, never a failed run."""
    if not lines:
        return
    from shipyard.slack.api import SlackApi

    text = f"Shipyard fleet ({org}): {len(lines)} change(s) since the last run\n" + "\n".join(
        f"• {_slack_escape(line)}" for line in lines[:50]) + ("\n…" if len(lines) > 50 else "")
    try:
        SlackApi(cfg["slack_token"], base_url=action.env.get("SHIPYARD_SLACK_API_URL") or
                 "https://slack.com/api/").post(cfg["slack_channel"], text)
    except Exception as exc:
        action.warning(f"Slack digest not sent: {exc}")


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
