"""gitops-update: commit a service's new image tag/digest to the Kustomize (or Helm values) config repository.

Push mode commits straight to the branch (dev); pull-request mode pushes a bot branch per service and
environment and opens or updates one PR (prd). See actions/gitops-update/README.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse

from shipyard.git import GitAuth
from shipyard.gitops import message as msg
from shipyard.gitops.gitrepo import WorkClone
from shipyard.gitops.imageref import build_update
from shipyard.gitops.targets import KeyPaths
from shipyard.gitops.updater import UpdateOutcome, Updater, UpdateRequest
from shipyard.runtime import Action, TransientError, UserError, md_escape, redact_url, run_stage

FORMATS = ("auto", "kustomize", "helm", "yaml")


def repository_url(action: Action) -> str:
    raw = action.require("repository")
    if "://" not in raw and raw.count("/") == 1 and not raw.startswith("/"):
        server = action.env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{raw}.git"
    parsed = urllib.parse.urlsplit(raw)
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise UserError(
            f"Input 'repository' must be an HTTPS URL or owner/name, got '{redact_url(raw)}'.",
            "write `repository: https://github.com/acme/config.git` or `repository: acme/config`.",
            input_name="repository",
        )
    if parsed.username or parsed.password:
        action.mask(parsed.password or parsed.username)
        raise UserError(
            "Input 'repository' carries credentials in the URL.",
            "remove them from the URL and pass the token in `token` (it travels as an HTTP header, never in a URL).",
            input_name="repository",
        )
    return raw


def built_at(action: Action, source_commit: str | None, repo_dir: str | None) -> float | None:
    raw = action.input("built-at")
    if raw:
        value = msg.parse_time(raw)
        if value is None:
            raise UserError(f"Input 'built-at' is not a timestamp: '{raw}'.",
                            "give ISO 8601 (2026-01-02T03:04:05Z) or epoch seconds.", input_name="built-at")
        return value
    if source_commit and repo_dir and os.path.isdir(repo_dir):
        try:
            proc = subprocess.run(["git", "-C", repo_dir, "log", "-1", "--format=%ct", source_commit],
                                  capture_output=True, text=True, timeout=30, check=False)
            if proc.returncode == 0 and proc.stdout.strip().isdigit():
                return float(proc.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            pass
    event = action.env.get("GITHUB_EVENT_PATH")
    if event and os.path.isfile(event):
        try:
            with open(event, encoding="utf-8") as fh:
                data = json.load(fh)
            stamp = ((data.get("head_commit") or {}).get("timestamp")) if isinstance(data, dict) else None
            if isinstance(stamp, str):
                return msg.parse_time(stamp)
        except (OSError, ValueError):
            pass
    return None


def read_request(action: Action) -> tuple[UpdateRequest, str]:
    url = repository_url(action)
    update = build_update(
        image=action.input("image"), tag=action.input("tag"), digest=action.input("digest"),
        image_uri=action.input("image-uri"), new_name=action.input("new-name"),
        set_new_name=action.boolean("set-new-name", False),
    )
    repo_name = (action.github("repository") or "").split("/")[-1]
    service = action.input("service") or repo_name
    if not service:
        raise UserError("Input 'service' is required outside GitHub Actions.", "add `service: <name>`.",
                        input_name="service")
    environment = action.require("environment")
    template = action.input("commit-message") or msg.DEFAULT_TEMPLATE
    msg.check_template(template)
    source_commit = action.input("source-commit") or action.github("sha") or None
    repo_dir = action.input("source-repo-path") or action.github("workspace") or None
    source_url = None
    if source_commit and action.github("repository"):
        server = action.env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        source_url = f"{server}/{action.github('repository')}/commit/{source_commit}"
    req = UpdateRequest(
        service=service,
        environment=environment,
        branch=action.input("branch") or "main",
        paths=action.items("paths", required=True),
        update=update,
        fmt=action.choice("format", FORMATS, "auto"),
        keys=KeyPaths(
            tag=action.input("tag-key") or "image.tag",
            digest=action.input("digest-key") or "image.digest",
            name=action.input("name-key") or "image.repository",
        ),
        add_if_missing=action.boolean("add-if-missing", True),
        source_commit=source_commit,
        source_url=source_url,
        source_repo_dir=repo_dir,
        run_url=action.run_url(),
        template=template,
        bot_name=action.input("bot-name") or "shipyard-bot",
        bot_email=action.input("bot-email") or "shipyard-bot@users.noreply.github.com",
        validate=action.choice("validate", ("auto", "kustomize", "parse"), "auto"),
        guard=action.boolean("out-of-order-guard", True),
        max_attempts=action.integer("max-attempts", 30, minimum=1, maximum=500),
        queue=action.boolean("queue", True),
        max_seconds=action.number("timeout", 300.0, minimum=1.0),
        dry_run=action.dry_run,
    )
    req.built_at = built_at(action, source_commit, repo_dir)
    for path in req.paths:
        if path.startswith("/") or ".." in path.split("/"):
            raise UserError(f"Input 'paths' entry '{path}' leaves the repository.",
                            "give paths relative to the config repository root.", input_name="paths")
    return req, url


def git_auth(action: Action, url: str, slug: str | None, api_url: str) -> tuple[GitAuth | None, str | None]:
    token = action.secret("token")
    app_id = action.input("app-id")
    if app_id:
        key = action.secret("app-private-key")
        if not key:
            raise UserError("`app-id` is set but `app-private-key` is empty.",
                            "pass the App's private key (PEM) from a secret in `app-private-key`.",
                            input_name="app-private-key")
        if not slug:
            raise UserError("A GitHub App token needs the repository as owner/name.",
                            "set `github-repository: owner/name`.", input_name="github-repository")
        from shipyard.gitops.github_pr import installation_token

        token = action.retry(
            "mint GitHub App token",
            lambda: installation_token(app_id, key.replace("\\n", "\n"), slug, api_url,
                                       action.input("app-installation-id")),
        )
        action.mask(token)
    if not token:
        return None, None
    parts = urllib.parse.urlsplit(url)
    scope = f"{parts.scheme}://{parts.netloc}/"
    auth = GitAuth("basic", username="x-access-token", secret=token, scope_url=scope)
    for value in auth.mask_values():
        action.mask(value)
    return auth, token


def run(action: Action) -> None:
    req, url = read_request(action)
    mode = action.choice("mode", ("push", "pull-request"), "push")
    api_url = action.input("github-api-url") or action.env.get("GITHUB_API_URL") or "https://api.github.com"
    from shipyard.gitops.github_pr import repo_slug

    slug = action.input("github-repository") or repo_slug(url)
    auth, token = git_auth(action, url, slug, api_url)
    app_key = action.secret("app-private-key") if action.input("app-id") else None
    if app_key:
        # App installation tokens differ between runs; the private key is what every updater shares.
        from shipyard.gitops.updater import queue_key

        req.queue_key = queue_key(app_key)
    pr_branch = None
    if mode == "pull-request":
        if not token:
            raise UserError("`mode: pull-request` needs a token (or a GitHub App) to open the PR.",
                            "pass `token:` (or `app-id` and `app-private-key`).", input_name="token")
        if not slug:
            raise UserError("Cannot tell the GitHub repository (owner/name) from `repository`.",
                            "set `github-repository: owner/name`.", input_name="github-repository")
        pr_branch = (action.input("pr-branch") or "shipyard/{service}-{environment}").format(
            service=req.service, environment=req.environment)
        if pr_branch == req.branch:
            raise UserError("`pr-branch` equals `branch`.", "use a separate bot branch for the PR.",
                            input_name="pr-branch")
    clone = WorkClone(url, auth, base_env=action.env)
    started = time.monotonic()
    try:
        with action.group(f"Update {req.update.describe()} for {req.service} in {req.environment}"):
            action.info(f"config repository: {redact_url(url)} branch {req.branch} ({mode} mode)")
            updater = Updater(clone, req, log=action.info, warn=action.warning, sleep=action.sleep,
                              rng=action.rng)
            outcome = updater.run(target_branch=pr_branch)
            action.info(f"{outcome.status} after {outcome.attempts} attempt(s) in {outcome.elapsed:.2f}s")
            if outcome.diff:
                action.info(outcome.diff.rstrip())
    finally:
        clone.close()
    pr_url = ""
    if pr_branch and outcome.status in ("updated", "pr-up-to-date") and not req.dry_run:
        pr_url = _pull_request(action, req, outcome, slug or "", pr_branch, token or "", api_url)
    if outcome.warning:
        action.warning(outcome.warning)
    changed = outcome.status == "updated"
    action.set_output("changed", changed)
    action.set_output("commit", outcome.commit)
    action.set_output("pr-url", pr_url)
    action.set_output("previous-tag", outcome.previous_tag or "")
    action.set_output("previous-digest", outcome.previous_digest or "")
    action.set_output("status", outcome.status)
    action.set_output("files", "\n".join(r.path for r in outcome.files if r.changed))
    _summary(action, req, outcome, mode, pr_url, time.monotonic() - started)


def _pull_request(action: Action, req: UpdateRequest, outcome: UpdateOutcome, slug: str, branch: str,
                  token: str, api_url: str) -> str:
    from shipyard.gitops import github_pr

    title = (action.input("pr-title") or "deploy({service}/{environment}): {new_ref}").format(
        service=req.service, environment=req.environment,
        new_ref=req.update.describe().split("/")[-1], tag=req.update.tag or "", digest=req.update.digest or "")
    previous_digest = f"@ `{outcome.previous_digest}`" if outcome.previous_digest else ""
    body = "\n".join([
        f"Deploys **{req.update.describe()}** to **{req.environment}** for service **{req.service}**.",
        "",
        f"- previous: `{outcome.previous_tag or '(none)'}` {previous_digest}",
        f"- source commit: {req.source_url or req.source_commit or '(unknown)'}",
        f"- run: {req.run_url or '(local run)'}",
        "",
        "```diff",
        outcome.diff.rstrip() or "(no change against the base branch)",
        "```",
        "",
        "<!-- opened by shipyard gitops-update; the branch is bot-owned (one commit per update) -->",
    ])
    spec = github_pr.PullRequestSpec(
        repository=slug, head=branch, base=req.branch, title=title, body=body,
        labels=action.items("pr-labels"), reviewers=action.items("pr-reviewers"),
        team_reviewers=action.items("pr-team-reviewers"), auto_merge=action.boolean("auto-merge", False),
        merge_method=action.choice("merge-method", ("MERGE", "SQUASH", "REBASE"), "SQUASH"),
    )
    gh = github_pr.client(token, api_url)
    try:
        result = github_pr.open_or_update(gh, spec, lambda what, fn: action.retry(what, fn, attempts=4))
    except TransientError as exc:
        raise UserError(f"GitHub kept failing while opening the pull request: {exc}. The branch {branch} was pushed.",
                        "rerun the job: the same PR branch is reused.")
    action.info(f"pull request {'opened' if result.created else 'updated'}: {result.url}")
    if result.auto_merge and result.auto_merge != "enabled":
        action.warning(f"auto-merge not enabled: {result.auto_merge}")
    return str(result.url)


def _summary(action: Action, req: UpdateRequest, outcome: UpdateOutcome, mode: str, pr_url: str,
             elapsed: float) -> None:
    icon = {"updated": ":rocket:", "up-to-date": ":white_check_mark:", "pr-up-to-date": ":white_check_mark:",
            "out-of-order": ":warning:", "dry-run": ":memo:"}.get(outcome.status, "")
    action.summary.heading(f"gitops-update: {req.service} -> {req.environment}", 3)
    action.summary.key_values([
        ("status", f"{icon} {outcome.status}"),
        ("image", f"`{req.update.describe()}`"),
        ("previous", f"`{outcome.previous_tag or '(none)'}` {outcome.previous_digest or ''}".strip()),
        ("mode", mode),
        ("branch", req.branch),
        ("commit", outcome.commit),
        ("pull request", pr_url or "-"),
        ("attempts", f"{outcome.attempts} in {elapsed:.1f}s"),
        ("validated overlays", ", ".join(outcome.validated) or "-"),
    ])
    action.summary.table(
        ["file", "change"],
        [(f"`{r.path}`", "added image entry" if r.added and r.changed else ("updated" if r.changed else "unchanged"))
         for r in outcome.files],
    )
    if outcome.warning:
        action.summary.text(f"> {md_escape(outcome.warning)}")
    if outcome.diff:
        action.summary.details("diff", f"```diff\n{outcome.diff.rstrip()}\n```")


def main() -> int:
    return run_stage(run, name="gitops-update")
