"""argocd-wait: after the config-repo commit, wait until every ArgoCD application is Synced at that commit (or a
later one containing it) and Healthy; fail on Degraded, a failed sync operation, error conditions or timeout."""

from __future__ import annotations

import json

from shipyard.gitops.inputs import shown
from shipyard.runtime import Action, UserError, format_duration

from .ancestry import SHA, Ancestry, ClonedAncestry, CompareAncestry, ExactAncestry, GitAncestry
from .apps import AppRef, parse_app, parse_apps
from .client import ArgoClient, ArgoTransient
from .status import evaluate, short
from .waiter import CANCELLED, OK, Waiter, WaitOptions, render_row

NAME = "argocd-wait"


def _ancestry(action: Action, want: str | None) -> tuple[Ancestry | None, str]:
    """The way to tell whether ArgoCD's revision contains ``want``, and a sentence describing it."""
    if not want:
        action.warning("argocd-wait: no `revision` given, so any revision counts: this checks Synced and Healthy, "
                       "not that your change is deployed. Pass gitops-update's `commit` output as `revision`.")
        return None, "no `revision` given: any revision counts (only Synced and Healthy are checked)"
    path = action.input("config-repo-path")
    repo = action.input("config-repo")
    token = action.secret("config-repo-token")
    if path:
        return GitAncestry(want, path, token=token), f"git merge-base --is-ancestor in {path}"
    if repo and repo.startswith(("https://", "http://")):
        return ClonedAncestry(want, repo, token=token), f"git merge-base --is-ancestor in a clone of {repo}"
    if repo and token:
        api = action.input("github-api-url") or action.env.get("GITHUB_API_URL") or "https://api.github.com"
        return CompareAncestry(action, want, repo, token, api), f"GitHub compare API on {repo}"
    if repo and not token:
        raise UserError("Input 'config-repo' (owner/name) needs `config-repo-token` to use the GitHub compare API.",
                        "pass a token with contents: read on the config repo, give its HTTPS clone URL instead, "
                        "or give `config-repo-path`.",
                        input_name="config-repo-token")
    action.warning(
        "argocd-wait: neither `config-repo-path` nor `config-repo` + `config-repo-token` given, so only ArgoCD "
        f"reporting exactly {short(want)} counts. On a shared branch another service's later commit will make "
        "this wait time out; pass `config-repo-path` (the clone gitops-update used) to accept descendants."
    )
    return ExactAncestry(want), "exact match only (no clone or compare API given)"


def _revision(action: Action) -> str | None:
    want = action.input("revision")
    if want is None:
        return None
    want = want.lower()
    if not SHA.fullmatch(want):
        raise UserError(f"Input 'revision' must be a commit id (7 to 64 hex digits), got '{shown(want)}'.",
                        "pass gitops-update's `commit` output: `revision: ${{ steps.gitops.outputs.commit }}`.",
                        input_name="revision")
    return want


def run(action: Action) -> None:
    server = action.require("argocd-server")
    for name in ("argocd-server", "project", "config-repo", "config-repo-path", "revision", "argocd-username"):
        value = action.input(name) or ""
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value):
            raise UserError(f"Input '{name}' contains a control character (a newline?).",
                            f"give `{name}` on one line.", input_name=name)
    for name in ("argocd-token", "argocd-password", "config-repo-token"):
        value = action.secret(name) or ""
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise UserError(f"Input '{name}' contains a control character (a trailing newline?).",
                            f"store `{name}` without a trailing newline.", input_name=name)
    if action.input("applications") is None:
        raise UserError("Input 'applications' is required: which ArgoCD application(s) to wait for?",
                        "add `applications: <app>` (one per line or comma-separated; `name@namespace` or "
                        "`project/name` where needed).", input_name="applications")
    project = action.input("project") or ""
    if project:
        parse_app(f"{project}/x", input_name="project")
    refs = parse_apps(action.items("applications", required=True), project)
    if not refs:
        raise UserError("Input 'applications' is empty.", "list at least one application.",
                        input_name="applications")
    token = action.secret("argocd-token")
    username = action.input("argocd-username")
    password = action.secret("argocd-password")
    timeout = action.number("timeout", 600.0, minimum=0.1)
    poll = action.number("poll-interval", 5.0, minimum=0.01)
    refresh = action.choice("refresh", ["normal", "hard", "none"], default="normal")
    insecure = action.boolean("insecure", False)
    fail_fast = action.boolean("fail-fast", True)
    want = _revision(action)
    if not token and not (username and password):
        raise UserError(
            "No ArgoCD credentials: set `argocd-token`, or both `argocd-username` and `argocd-password`.",
            "store a token from `argocd account generate-token --account <ci-account>` as a secret and pass it "
            "as `argocd-token: ${{ secrets.ARGOCD_TOKEN }}`.",
            input_name="argocd-token",
        )
    if token and (username or password):
        action.warning("argocd-wait: `argocd-token` is set, so `argocd-username`/`argocd-password` are ignored.")
    if insecure:
        action.warning(f"argocd-wait: TLS certificate checks are OFF for {server} (`insecure: true`); the token "
                       "could be sent to an impostor. Prefer installing the CA (REQUESTS_CA_BUNDLE).")

    client = ArgoClient(action, server, token=token, username=None if token else username,
                        password=None if token else password, insecure=insecure,
                        request_timeout=min(30.0, max(1.0, timeout / 3)), max_elapsed=min(60.0, max(1.0, timeout / 4)))
    contains, method = _ancestry(action, want)
    try:
        _wait(action, client, refs, want, contains, method, token=token, timeout=timeout, poll=poll, refresh=refresh,
              fail_fast=fail_fast)
    finally:
        if isinstance(contains, ClonedAncestry):
            contains.close()


def _wait(action: Action, client: ArgoClient, refs: list[AppRef], want: str | None, contains: Ancestry | None,
          method: str, *, token: str | None, timeout: float, poll: float, refresh: str, fail_fast: bool) -> None:
    if not token:
        client.login()

    if action.dry_run:
        _dry_run(action, client, refs, want, contains, method)
        return

    options = WaitOptions(timeout=timeout, poll=poll, refresh=None if refresh == "none" else refresh,
                          refresh_timeout=min(30.0, max(1.0, timeout / 4)), fail_fast=fail_fast,
                          heartbeat=max(5.0, min(60.0, poll * 12)))
    waiter = Waiter(action, client, want, contains or (lambda _rev: True), options)
    target = f"at {short(want)} (or a later commit containing it)" if want else "at any revision"
    names = ", ".join(r.label for r in refs)
    with action.group(f"Waiting up to {format_duration(timeout)} for {len(refs)} ArgoCD application(s): {names}"):
        action.info(f"want: Synced {target} and Healthy; ancestry: {method}; server: {client.server}")
        results = waiter.run(refs)
        for note in (contains.notes if contains else []):
            action.info(f"note: {note}")

    healthy = all(r.result == OK for r in results)
    action.set_output("results", json.dumps([r.as_json() for r in results]))
    action.set_output("healthy", healthy)
    action.set_output("revisions", json.dumps({r.app: r.revision for r in results}))

    summary = action.summary.heading(f"ArgoCD: {'deployed' if healthy else 'NOT deployed'}")
    summary.key_values([("server", client.server), ("revision", short(want) if want else "any"),
                        ("ancestry", method), ("timeout", format_duration(timeout))])
    summary.table(["app", "sync", "health", "revision", "time", "result"], [render_row(r) for r in results])
    for r in results:
        if r.result not in (OK, CANCELLED) and r.history:
            summary.details(f"{r.app}: {r.result}", "```\n" + "\n".join(r.history[-30:]) + "\n```")

    if waiter.config_error is not None:
        raise waiter.config_error
    if not healthy:
        bad = [r for r in results if r.result not in (OK, CANCELLED)]
        text = " | ".join(f"{r.app}: {r.result}: {r.message}" for r in bad)
        by_label = {ref.label: ref for ref in refs}
        apps = ", ".join(ui_url(client.server, by_label[r.app]) for r in bad)
        raise UserError(f"{len(bad)} of {len(results)} application(s) not deployed. {text}",
                        f"look at the application(s) in ArgoCD: {apps}")


def _dry_run(action: Action, client: ArgoClient, refs: list[AppRef], want: str | None, contains: Ancestry | None,
             method: str) -> None:
    """Check credentials and that every application is visible, show where each stands; no refresh, no wait."""
    judge = contains or (lambda _rev: True)
    rows = []
    results = []
    with action.group(f"dry run: current state of {len(refs)} ArgoCD application(s) (no refresh, no wait)"):
        for ref in refs:
            try:
                app = client.get_app(ref)
            except ArgoTransient as exc:
                raise UserError(f"ArgoCD at {client.server} did not answer for '{ref.label}': {exc}.",
                                "check `argocd-server` and that the runner can reach it.", input_name="argocd-server")
            obs = evaluate(app, want, judge)
            action.info(f"[{ref.label}] {obs.sync}/{obs.health} rev {short(obs.revision) or '-'}: {obs.reason}")
            rows.append([ref.label, obs.sync, obs.health, short(obs.revision) or "-", "-", f"dry run: {obs.state}"])
            results.append({"app": ref.label, "result": obs.state, "sync": obs.sync, "health": obs.health,
                            "revision": obs.revision, "operation": obs.operation, "message": obs.reason})
    action.set_output("results", json.dumps(results))
    action.set_output("healthy", all(r["result"] == "healthy" for r in results))
    action.set_output("revisions", json.dumps({r["app"]: r["revision"] for r in results}))
    action.summary.heading("ArgoCD (dry run: nothing refreshed, nothing waited for)")
    action.summary.key_values([("server", client.server), ("revision", short(want) if want else "any"),
                               ("ancestry", method)])
    action.summary.table(["app", "sync", "health", "revision", "time", "result"], rows)


def ui_url(server: str, ref: AppRef) -> str:
    return f"{server}/applications/{ref.namespace}/{ref.name}" if ref.namespace else f"{server}/applications/{ref.name}"
