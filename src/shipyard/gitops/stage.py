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
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from shipyard.git import GitAuth
from shipyard.gitops import message as msg
from shipyard.gitops.gitrepo import WorkClone
from shipyard.gitops.imageref import build_update
from shipyard.gitops.inputs import (
    COMMIT,
    CONTROL,
    DIGITS,
    END_OF_OPTIONS,
    IDENT,
    IMAGE,
    LOGIN,
    SLUG,
    TEAM,
    check_branch,
    check_identifier,
    check_template,
    check_text,
    check_url,
    shown,
)
from shipyard.gitops.objects import ZERO
from shipyard.gitops.targets import KeyPaths
from shipyard.gitops.updater import UpdateOutcome, Updater, UpdateRequest
from shipyard.runtime import Action, TransientError, UserError, md_escape, redact_url

if TYPE_CHECKING:
    from shipyard.gitops.github_pr import PullRequestSpec

T = TypeVar("T")
FORMATS = ("auto", "kustomize", "helm", "yaml")


def repository_url(action: Action) -> str:
    raw = action.require("repository")
    check_text(raw, "repository")
    if "://" not in raw and raw.count("/") == 1 and not raw.startswith(("/", "-")):
        check_identifier(raw, "repository", SLUG, "an HTTPS URL or owner/name (letters, digits, '_', '.', '-')")
        server = action.env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{raw}.git"
    return check_url(raw, "repository", mask=action.mask)


def built_at(action: Action, source_commit: str | None, repo_dir: str | None) -> float | None:
    raw = action.input("built-at")
    if raw:
        value = msg.parse_time(raw)
        if value is None:
            raise UserError(f"Input 'built-at' is not a timestamp: '{shown(raw)}'.",
                            "give ISO 8601 (2026-01-02T03:04:05Z) or epoch seconds.", input_name="built-at")
        return value
    if source_commit and repo_dir and os.path.isdir(repo_dir):
        try:
            proc = subprocess.run(["git", "-C", repo_dir, "log", "-1", "--format=%ct", END_OF_OPTIONS,
                                   source_commit], capture_output=True, text=True, timeout=30, check=False)
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


PR_BRANCH_PLACEHOLDERS = ("service", "environment")
PR_TITLE_PLACEHOLDERS = ("service", "environment", "new_ref", "tag", "digest")
DEFAULT_PR_BRANCH = "shipyard/{service}-{environment}"
DEFAULT_PR_TITLE = "deploy({service}/{environment}): {new_ref}"
# inputs that are free text on one line (the identifiers are checked one by one below)
ONE_LINE = ("image-uri", "new-name", "tag", "digest", "tag-key", "digest-key", "name-key", "source-repo-path",
            "built-at", "pr-branch", "pr-title", "github-api-url", "app-installation-id", "bot-name", "bot-email")


def read_request(action: Action) -> tuple[UpdateRequest, str]:
    url = repository_url(action)
    for name in ONE_LINE:
        value = action.input(name)
        if value:
            check_text(value, name)
    for name in ("image-uri", "new-name", "image", "tag", "digest"):
        if "://" in (action.input(name) or ""):
            raise UserError(f"Input '{name}' looks like a URL; an image reference has no scheme.",
                            f"give `{name}` as registry/repository:tag@sha256:... (no https://, no credentials).",
                            input_name=name)
    update = build_update(
        image=action.input("image"), tag=action.input("tag"), digest=action.input("digest"),
        image_uri=action.input("image-uri"), new_name=action.input("new-name"),
        set_new_name=action.boolean("set-new-name", False),
    )
    check_identifier(update.name, "image" if action.input("image") else "image-uri", IMAGE,
                     "an image name as in the Kustomize `images:` entry (e.g. orders or "
                     "123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders)")
    if update.new_name:
        check_identifier(update.new_name, "new-name" if action.input("new-name") else "image-uri", IMAGE,
                         "an image repository (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/orders)")
    repo_name = (action.github("repository") or "").split("/")[-1]
    service = action.input("service") or repo_name
    if not service:
        raise UserError("Input 'service' is required outside GitHub Actions.", "add `service: <name>`.",
                        input_name="service")
    check_identifier(service, "service", IDENT,
                     "a service name: letters, digits, '.', '_' and '-', starting and ending with a letter or digit")
    environment = action.require("environment")
    check_identifier(environment, "environment", IDENT,
                     "an environment name such as dev, stg or prd (letters, digits, '.', '_', '-')")
    branch = check_branch(action.input("branch") or "main", "branch")
    template = check_text(action.input("commit-message") or msg.DEFAULT_TEMPLATE, "commit-message", multiline=True)
    msg.check_template(template)
    source_commit = action.input("source-commit") or action.github("sha") or None
    if source_commit:
        check_identifier(source_commit, "source-commit", COMMIT, "a commit id (7 to 64 hex digits)")
    repo_dir = action.input("source-repo-path") or action.github("workspace") or None
    source_url = None
    if source_commit and action.github("repository"):
        server = action.env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        source_url = f"{server}/{action.github('repository')}/commit/{source_commit}"
    bot_name = action.input("bot-name") or "shipyard-bot"
    bot_email = action.input("bot-email") or "shipyard-bot@users.noreply.github.com"
    for name, value in (("bot-name", bot_name), ("bot-email", bot_email)):
        if any(c in value for c in "<>"):
            raise UserError(f"Input '{name}' must not contain '<' or '>'.",
                            f"give `{name}` as a plain name or address (git writes the brackets).", input_name=name)
    req = UpdateRequest(
        service=service,
        environment=environment,
        branch=branch,
        paths=read_paths(action),
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
        bot_name=bot_name,
        bot_email=bot_email,
        validate=action.choice("validate", ("auto", "kustomize", "parse"), "auto"),
        guard=action.boolean("out-of-order-guard", True),
        max_attempts=action.integer("max-attempts", 30, minimum=1, maximum=500),
        queue=action.boolean("queue", True),
        max_seconds=action.number("timeout", 300.0, minimum=1.0),
        dry_run=action.dry_run,
    )
    req.built_at = built_at(action, source_commit, repo_dir)
    return req, url


def read_paths(action: Action) -> list[str]:
    if action.input("paths") is None:
        raise UserError(
            "Input 'paths' is required: which file(s) in the config repository hold the image?",
            "add `paths: apps/<service>/overlays/<environment>/kustomization.yaml` (one per line or "
            "comma-separated; globs like apps/*/overlays/dev/kustomization.yaml work).",
            input_name="paths",
        )
    paths = action.items("paths", required=True)
    for path in paths:
        check_text(path, "paths")
        if path.startswith(("/", "-")) or ".." in path.split("/") or "\\" in path:
            raise UserError(f"Input 'paths' entry '{shown(path)}' leaves the repository or is not a plain path.",
                            "give paths relative to the config repository root (no leading '/' or '-', no '..').",
                            input_name="paths")
    return paths


def pr_settings(action: Action, req: UpdateRequest) -> tuple[str, str]:
    """The PR branch (formatted and checked) and the PR title template (checked), before any side effect."""
    branch_template = check_template(action.input("pr-branch") or DEFAULT_PR_BRANCH, "pr-branch",
                                     PR_BRANCH_PLACEHOLDERS)
    title = check_template(action.input("pr-title") or DEFAULT_PR_TITLE, "pr-title", PR_TITLE_PLACEHOLDERS)
    try:
        branch = branch_template.format(service=req.service, environment=req.environment)
    except (ValueError, IndexError, KeyError, AttributeError) as exc:
        raise UserError(f"Input 'pr-branch' is not a valid template: {exc}.",
                        f"use only {', '.join('{' + p + '}' for p in PR_BRANCH_PLACEHOLDERS)}.",
                        input_name="pr-branch")
    check_branch(branch, "pr-branch")
    if branch == req.branch:
        raise UserError("`pr-branch` equals `branch`.", "use a separate bot branch for the PR.",
                        input_name="pr-branch")
    try:
        title.format(service="", environment="", new_ref="", tag="", digest="")
    except (ValueError, IndexError, KeyError, AttributeError) as exc:
        raise UserError(f"Input 'pr-title' is not a valid template: {exc}.",
                        f"use only {', '.join('{' + p + '}' for p in PR_TITLE_PLACEHOLDERS)}.",
                        input_name="pr-title")
    for name, pattern, what in (("pr-reviewers", LOGIN, "GitHub logins"),
                                ("pr-team-reviewers", TEAM, "team slugs (team or org/team)")):
        for item in action.items(name):
            check_identifier(item, name, pattern, f"a list of {what}")
    for label in action.items("pr-labels"):
        check_text(label, "pr-labels")
    return branch, title


def git_auth(action: Action, url: str, slug: str | None, api_url: str,
             deadline: float | None = None) -> tuple[GitAuth | None, str | None]:
    token = action.secret("token")
    if token and CONTROL.search(token):
        raise UserError("Input 'token' contains a control character (a newline?).",
                        "store the token without a trailing newline and pass it as `token:`.", input_name="token")
    app_id = action.input("app-id")
    if app_id:
        check_identifier(app_id, "app-id", DIGITS, "the GitHub App's numeric id")
        installation = action.input("app-installation-id")
        if installation:
            check_identifier(installation, "app-installation-id", DIGITS, "the installation's numeric id")
        key = action.secret("app-private-key")
        if not key:
            raise UserError("`app-id` is set but `app-private-key` is empty.",
                            "pass the App's private key (PEM) from a secret in `app-private-key`.",
                            input_name="app-private-key")
        if not slug:
            raise UserError("A GitHub App token needs the repository as owner/name.",
                            "set `github-repository: owner/name`.", input_name="github-repository")
        from shipyard.gitops.github_pr import installation_token

        left = _left(action, deadline)
        token = action.retry(
            "mint GitHub App token",
            lambda: installation_token(app_id, key.replace("\\n", "\n"), slug, api_url, installation,
                                       timeout=min(30.0, max(1.0, _left(action, deadline)))),
            attempts=4, max_elapsed=max(0.0, left * 0.5),
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


def _text(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc).rstrip(".")


def _left(action: Action, deadline: float | None) -> float:
    return 3600.0 if deadline is None else deadline - action.clock()


def run(action: Action) -> None:
    req, url = read_request(action)
    deadline = action.clock() + req.max_seconds  # one deadline over the whole stage
    mode = action.choice("mode", ("push", "pull-request"), "push")
    api_url = action.input("github-api-url") or action.env.get("GITHUB_API_URL") or "https://api.github.com"
    check_url(api_url, "github-api-url", mask=action.mask)
    from shipyard.gitops.github_pr import repo_slug

    slug = action.input("github-repository") or repo_slug(url)
    if slug:
        check_identifier(slug, "github-repository", SLUG, "owner/name")
    pr_branch = pr_title = None
    if mode == "pull-request":
        if not slug:
            raise UserError("Cannot tell the GitHub repository (owner/name) from `repository`.",
                            "set `github-repository: owner/name`.", input_name="github-repository")
        pr_branch, pr_title = pr_settings(action, req)
        if not action.secret("token") and not action.input("app-id"):
            raise UserError("`mode: pull-request` needs a token (or a GitHub App) to open the PR.",
                            "pass `token:` (or `app-id` and `app-private-key`).", input_name="token")
    auth, token = git_auth(action, url, slug, api_url, deadline)
    app_key = action.secret("app-private-key") if action.input("app-id") else None
    if app_key:
        # App installation tokens differ between runs; the private key is what every updater shares.
        from shipyard.gitops.updater import queue_key

        req.queue_key = queue_key(app_key)
    pr: PullRequests | None = None
    if pr_branch and pr_title and not req.dry_run:
        pr = PullRequests(action, req, slug or "", pr_branch, pr_title, token or "", api_url, deadline)
        pr.preflight()  # GitHub reachable, token and repository right: before the branch is pushed
    clone = WorkClone(url, auth, base_env=action.env, timeout=min(120.0, max(2.0, req.max_seconds / 3)))
    clone.deadline = deadline
    clone.clock = action.clock
    started = time.monotonic()
    pr_url = ""
    try:
        with action.group(f"Update {req.update.describe()} for {req.service} in {req.environment}"):
            action.info(f"config repository: {redact_url(url)} branch {req.branch} ({mode} mode)")
            updater = Updater(clone, req, log=action.info, warn=action.warning, sleep=action.sleep,
                              clock=action.clock, rng=action.rng)
            outcome = updater.run(target_branch=pr_branch)
            action.info(f"{outcome.status} after {outcome.attempts} attempt(s) in {outcome.elapsed:.2f}s")
            if outcome.diff:
                action.info(outcome.diff.rstrip())
        if pr is not None and outcome.status in ("updated", "pr-up-to-date"):
            pr_url = pr.open_or_update(outcome, clone)
    finally:
        clone.close()
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


class PullRequests:
    """PR mode's GitHub side, bounded by the stage's deadline: a look before the branch is pushed, then open or
    update the PR; when GitHub keeps failing after the push, the branch is put back (nothing half-written)."""

    def __init__(self, action: Action, req: UpdateRequest, slug: str, branch: str, title: str, token: str,
                 api_url: str, deadline: float) -> None:
        from shipyard.gitops import github_pr

        self.action, self.req, self.slug, self.branch, self.title = action, req, slug, branch, title
        self.deadline = deadline
        # one request may take a third of the stage's time at most, so a stalled one leaves time to retry
        self.request_timeout = min(30.0, max(1.0, req.max_seconds / 3))
        self.gh = github_pr.client(token, api_url, timeout=self.request_timeout)
        self.api_url = api_url

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        left = self.deadline - self.action.clock()
        if left <= 0:
            raise TransientError(f"no time left to {what}")
        from shipyard.gitops import github_pr

        github_pr.set_timeout(self.gh, min(self.request_timeout, max(0.5, left)))
        return self.action.retry(what, fn, attempts=4, max_elapsed=max(0.0, left - 0.5))

    def spec(self, outcome: UpdateOutcome | None) -> PullRequestSpec:
        from shipyard.gitops import github_pr

        req, action = self.req, self.action
        title = self.title.format(
            service=req.service, environment=req.environment,
            new_ref=req.update.describe().split("/")[-1], tag=req.update.tag or "", digest=req.update.digest or "")
        body = ""
        if outcome is not None:
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
        return github_pr.PullRequestSpec(
            repository=self.slug, head=self.branch, base=req.branch, title=title, body=body,
            labels=action.items("pr-labels"), reviewers=action.items("pr-reviewers"),
            team_reviewers=action.items("pr-team-reviewers"), auto_merge=action.boolean("auto-merge", False),
            merge_method=action.choice("merge-method", ("MERGE", "SQUASH", "REBASE"), "SQUASH"),
        )

    def preflight(self) -> None:
        from shipyard.gitops import github_pr

        try:
            github_pr.find_pull(self.gh, self.spec(None), self._retry)
        except TransientError as exc:
            raise UserError(
                f"GitHub ({redact_url(self.api_url)}) did not answer in time, so nothing was pushed: {exc}.",
                "check `github-api-url` and that the runner can reach GitHub, then rerun the job.",
                input_name="github-api-url")

    def open_or_update(self, outcome: UpdateOutcome, clone: WorkClone) -> str:
        from shipyard.gitops import github_pr

        spec = self.spec(outcome)
        try:
            result = github_pr.open_or_update(self.gh, spec, self._retry)
        except (TransientError, UserError) as exc:
            try:  # is the PR there (opened before a later step failed)? then the branch stays with it
                found = github_pr.find_pull(self.gh, spec, lambda what, fn: fn())
            except Exception:  # GitHub is failing: the push is undone below
                found = None
            fix = exc.fix if isinstance(exc, UserError) and exc.fix else "rerun the job once GitHub answers."
            if found is not None:
                raise UserError(f"GitHub failed while updating the pull request {found.html_url}: {_text(exc)}",
                                fix, input_name=getattr(exc, "input_name", None))
            undone = self._undo(outcome, clone)
            raise UserError(f"GitHub kept failing while opening the pull request: {_text(exc)}. {undone}", fix,
                            input_name=getattr(exc, "input_name", None))
        self.action.info(f"pull request {'opened' if result.created else 'updated'}: {result.url}")
        if result.auto_merge and result.auto_merge != "enabled":
            self.action.warning(f"auto-merge not enabled: {result.auto_merge}")
        return str(result.url)

    def _undo(self, outcome: UpdateOutcome, clone: WorkClone) -> str:
        """Put the PR branch back where it was (deleted when we created it), only if it is still at our commit."""
        if outcome.status != "updated":
            return "The branch was not changed."
        ref = f"refs/heads/{self.branch}"
        clone.deadline = max(clone.deadline or 0.0, self.action.clock() + 10.0)  # a small margin to clean up
        try:
            result = clone.send_commands([(outcome.commit, outcome.replaced or ZERO, ref)], [])
        except (TransientError, UserError) as exc:
            return f"The branch {self.branch} was pushed and could not be removed ({exc}); delete it by hand."
        if result.get(ref) == "ok":
            return (f"The branch {self.branch} was removed again." if not outcome.replaced
                    else f"The branch {self.branch} was reset to {outcome.replaced[:12]}.")
        return f"The branch {self.branch} moved meanwhile and was left as it is."


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
