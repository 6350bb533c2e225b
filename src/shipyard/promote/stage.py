"""promote: set the target environment's overlays to the exact digests running Healthy in the source environment,
as one pull request (or one per wave) in the config repository. See actions/promote/README.md.

Everything is read and checked first (promotion.yaml, the gates, the token); only then is a bot branch pushed and
its pull request opened or updated. A re-run rewrites the same branch and updates the same pull request.
"""

from __future__ import annotations

import json
import os
import re
import tempfile

from shipyard.board.stage import parse_now
from shipyard.fleetview import configrepo
from shipyard.fleetview.fleet import Fleet
from shipyard.fleetview.gather import read_fleet
from shipyard.fleetview.sources import SEVERITIES, Sources, clone_config, read_sources
from shipyard.promote import body, config, edit, publish
from shipyard.promote.plan import Candidate, Plan, build
from shipyard.runtime import Action, TransientError, UserError, redact_url
from shipyard.urls import mask_credentials, one_line

BRANCH_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
NAME_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")


def read_services(action: Action) -> list[str] | None:
    items = action.items("services")
    if not items or items == ["all"]:
        return None
    bad = [s for s in items if not NAME_RE.fullmatch(s)]
    if bad:
        raise UserError(f"Input 'services' has invalid name(s): {', '.join(bad)}.",
                        "list service names as in the overlay paths, or leave it empty for all that differ.",
                        input_name="services")
    return list(dict.fromkeys(items))


def read_file(git_dir: str, tip: str, path: str) -> str | None:
    files = configrepo.list_files(git_dir, tip, path)
    if path not in files:
        return None
    return configrepo.read_blobs(git_dir, [files[path]]).get(files[path])


def check_services(fleet: Fleet, services: list[str] | None) -> None:
    if services is None:
        return
    unknown = [s for s in services if s not in fleet.services]
    if unknown:
        raise UserError(f"Input 'services' names service(s) the config repository does not have: {', '.join(unknown)}.",
                        f"known services: {', '.join(fleet.services[:30])}.", input_name="services")
    in_source = {s.service for s in fleet.cells if s.env == fleet.source_env}
    in_target = {s.service for s in fleet.cells if s.env == fleet.target_env}
    missing = [s for s in services if s not in in_source]
    if missing:
        raise UserError(f"Service(s) {', '.join(missing)} have no overlay in the source environment "
                        f"'{fleet.source_env}', so there is nothing to promote.",
                        f"deploy them to {fleet.source_env} first, or drop them from `services`.",
                        input_name="services")
    absent = [s for s in services if s not in in_target]
    if absent:
        raise UserError(f"Service(s) {', '.join(absent)} have no overlay in the target environment "
                        f"'{fleet.target_env}'.", f"create their {fleet.target_env} overlays first (promote only "
                        "updates existing overlays).", input_name="services")


def changes_for(git_dir: str, fleet: Fleet, cands: list[Candidate]) -> dict[str, str]:
    files: dict[str, str] = {}
    blobs = configrepo.list_files(git_dir, fleet.tip, "")
    texts = configrepo.read_blobs(git_dir, [blobs[m.path] for c in cands for m in c.moves if m.path in blobs])
    for cand in cands:
        for move in cand.moves:
            text = texts.get(blobs.get(move.path, ""), "")
            current, wanted = move.target.image, move.source.image
            assert current is not None and wanted is not None
            files[move.path] = edit.set_image(move.path, text, current, wanted)
    return {p: t for p, t in files.items() if t != texts.get(blobs.get(p, ""))}


def report_plan(action: Action, plan: Plan) -> None:
    for c in plan.accepted:
        action.info(f"promote {c.service} (wave {c.wave + 1}): " + ", ".join(
            f"{m.target.slot.column} {m.target.image.ref if m.target.image else '?'} -> "
            f"{m.source.image.ref if m.source.image else '?'}" for m in c.moves))
    for c in plan.refused:
        action.warning(f"not promoting {c.service}: {'; '.join(c.refused)}")
    if plan.unchanged:
        action.info(f"already the same in both environments: {', '.join(plan.unchanged)}")


def run(action: Action) -> None:
    mask_credentials(action)  # a token pasted into any input's URL is blanked wherever an error repeats it
    src = read_sources(action)
    now = parse_now(action)
    services = read_services(action)
    mode = action.choice("pr-mode", ("single", "per-wave"), "single")
    fail_on_raw = (action.input("fail-on-severity") or "CRITICAL").upper()
    if fail_on_raw not in (*SEVERITIES, "NONE"):
        raise UserError(f"Input 'fail-on-severity' has unknown value '{fail_on_raw}'.",
                        f"use one of {', '.join(SEVERITIES)} or none.", input_name="fail-on-severity")
    fail_on = None if fail_on_raw == "NONE" else fail_on_raw
    require_ecr = not action.boolean("skip-ecr-check", False)
    if require_ecr and not src.aws_region:
        raise UserError("Promote checks every digest in ECR (present, scan gate) and needs `aws-region`.",
                        "set `aws-region` (and AWS credentials), or `skip-ecr-check: true` for non-ECR images.",
                        input_name="aws-region")
    policy_path = action.input("promotion-file") or "promotion.yaml"
    if policy_path.startswith("/") or ".." in policy_path.split("/") or any(ord(c) < 32 for c in policy_path):
        raise UserError(f"Input 'promotion-file' ('{policy_path}') must be a path inside the config repository.",
                        "e.g. `promotion-file: promotion.yaml`.", input_name="promotion-file")
    try:
        branch = (action.input("pr-branch") or "shipyard/promote-{source}-to-{target}").format(
            source=src.source_env, target=src.target_env)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise UserError(f"Input 'pr-branch' is not a usable template ({type(exc).__name__}: {exc}).",
                        "use only the {source} and {target} placeholders.", input_name="pr-branch")
    if not BRANCH_RE.fullmatch(branch) or ".." in branch or branch.endswith((".lock", "/")) or branch == src.branch:
        raise UserError(f"Input 'pr-branch' gives '{branch}', which is not a usable bot branch name.",
                        "use a branch other than the base, e.g. shipyard/promote-{source}-to-{target}.",
                        input_name="pr-branch")
    if not action.dry_run:
        if not src.token:
            raise UserError("Promote opens a pull request and needs `token`.",
                            "pass a token with `contents: write` and `pull-requests: write` on the config repository.",
                            input_name="token")
        if not src.slug:
            raise UserError("Cannot tell the GitHub repository (owner/name) from `repository`.",
                            "set `github-repository: owner/name`.", input_name="github-repository")
    api_url = action.input("github-api-url") or action.env.get("GITHUB_API_URL") or "https://api.github.com"
    with tempfile.TemporaryDirectory(prefix="shipyard-promote-") as tmp:
        git_dir = os.path.join(tmp, "config.git")
        with action.group(f"Read {redact_url(src.url)} ({src.branch}), Argo CD and ECR"):
            clone_config(action, src, git_dir)
            fleet = read_fleet(action, src, git_dir, now)
            if not fleet.argo.known:
                raise UserError(f"Promote needs Argo CD to confirm what runs Healthy in {src.source_env}: "
                                f"{fleet.argo.detail}; nothing was written.",
                                "set `argocd-server` and a token with `applications, get` (argocd-token), and "
                                "check the runner can reach Argo CD.", input_name="argocd-server")
            check_services(fleet, services)
            policy = config.parse(policy_path, read_file(git_dir, fleet.tip, policy_path), set(fleet.services))
            plan = build(fleet, policy, services, fail_on=fail_on, require_ecr=require_ecr)
            report_plan(action, plan)
        if plan.frozen:
            raise UserError(f"No promotion: {plan.frozen}.", "wait for the freeze window to end, or change `freeze:` "
                            f"in {policy_path} through review.", title="freeze window")
        if services is not None and plan.refused:
            raise UserError("Not promoting: " + " | ".join(f"{c.service}: {'; '.join(c.refused)}" for c in plan.refused)
                            + ".", "fix what each line says (or drop those services from `services`) and rerun; "
                            "nothing was written.", title="promotion gate")
        if not plan.accepted:
            if plan.refused:
                raise UserError("Nothing can be promoted: " + " | ".join(
                    f"{c.service}: {'; '.join(c.refused)}" for c in plan.refused) + ".",
                    "fix what each line says and rerun; nothing was written.", title="promotion gate")
            action.info(f"{fleet.target_env} already runs what {fleet.source_env} runs: nothing to promote.")
            _outputs(action, [], plan, "up-to-date")
            _summary(action, fleet, plan, [])
            return
        groups = [plan.accepted] if mode == "single" else plan.waves()
        results = []
        gh = None
        if not action.dry_run:
            gh = _github(action, src, api_url)
        for n, cands in enumerate(groups):
            # per-wave branches are named after the policy's wave, so a re-run after wave 1 merged updates the
            # open wave-2 pull request instead of renaming it
            wave = cands[0].wave + 1 if mode == "per-wave" else None
            earlier = [g[0].wave + 1 for g in groups[:n]] if mode == "per-wave" else []
            name = branch if wave is None else f"{branch}-wave-{wave}"
            results.append(_publish(action, src, fleet, plan, git_dir, cands, name, wave, earlier, gh, now))
    status = "dry-run" if action.dry_run else ("updated" if any(r["changed"] for r in results) else "pr-up-to-date")
    _outputs(action, results, plan, status)
    _summary(action, fleet, plan, results)


def _github(action: Action, src: Sources, api_url: str) -> object:
    from shipyard.promote import pulls

    gh = pulls.client(src.token or "", api_url)
    pulls.check_token(action, gh, src.slug or "")
    return gh


def _publish(action: Action, src: Sources, fleet: Fleet, plan: Plan, git_dir: str, cands: list[Candidate],
             branch: str, wave: int | None, earlier: list[int], gh: object, now: float) -> dict[str, object]:
    files = changes_for(git_dir, fleet, cands)
    heading = body.title(fleet, cands, wave)
    message = body.commit_message(fleet, cands, heading)
    text = body.render(fleet, plan, cands, src.web, src.slug, action.run_url(), wave, earlier)
    result: dict[str, object] = {"branch": branch, "services": [c.service for c in cands], "files": sorted(files),
                                 "changed": False, "pr-url": "", "wave": wave or 0}
    with action.group(f"{heading}: {len(files)} file(s) on {branch}"):
        for path in sorted(files):
            action.info(f"  {path}")
        if action.dry_run:
            action.info("dry run: no branch pushed, no pull request")
            return result
        step = src.git_timeout
        try:
            old = action.retry("look up the bot branch", lambda: publish.remote_head(
                src.url, src.auth, branch, action.env, timeout=step), attempts=4, max_elapsed=src.timeout)
            if old:
                action.retry("fetch the bot branch", lambda: publish.fetch_branch(
                    git_dir, src.url, src.auth, branch, action.env, timeout=step), attempts=4,
                    max_elapsed=src.timeout)
        except TransientError as exc:
            raise _unreachable(f"Could not read the bot branch {branch} from the config repository", exc) from None
        commit, tree = publish.make_commit(git_dir, fleet.tip, files, message,
                                           name=action.input("bot-name") or "shipyard-bot",
                                           email=action.input("bot-email") or "shipyard-bot@users.noreply.github.com",
                                           when=now, parents=(old, fleet.tip) if old else ())
        if old and publish.same_change(git_dir, old, fleet.tip, tree):
            action.info(f"{branch} already holds this change on {fleet.tip[:12]}; not pushed")
            commit = old
        else:
            try:
                action.retry("push the bot branch", lambda: publish.push(
                    git_dir, src.url, src.auth, branch, commit, old, action.env, timeout=step), attempts=4,
                    max_elapsed=src.timeout)
            except TransientError as exc:
                if not _landed(action, src, branch, commit, step):
                    raise _unreachable(f"Could not push {branch} to the config repository", exc) from None
                action.info(f"the push of {branch} answered an error but landed; going on")
            result["changed"] = True
            action.info(f"pushed {commit[:12]} to {branch}")
        result["commit"] = commit
        try:
            from shipyard.promote import pulls

            url, created = pulls.open_or_update(action, gh, src.slug or "", branch, src.branch, heading, text,
                                                action.items("pr-labels"))
        except (UserError, TransientError) as exc:
            if old is None and result["changed"]:
                gone = publish.delete_branch(git_dir, src.url, src.auth, branch, commit, action.env)
                extra = f" The branch {branch} this run pushed was deleted again." if gone else \
                    f" Delete the branch {branch} by hand: removing it failed."
            else:
                extra = ""
            if isinstance(exc, UserError):
                raise UserError(exc.message + extra, exc.fix, input_name=exc.input_name, title=exc.title)
            raise UserError(f"GitHub kept failing while opening the pull request: {exc}.{extra}",
                            "rerun the job: the same branch and pull request are reused.")
        result["pr-url"] = url
        action.info(f"pull request {'opened' if created else 'updated'}: {url}")
    return result


def _unreachable(what: str, exc: Exception) -> UserError:
    return UserError(f"{what}: {one_line(exc)}. Nothing was written.",
                     "rerun when the git server answers (errors and resets are retried within `timeout`).",
                     input_name="repository", title="config repository unreachable")


def _landed(action: Action, src: Sources, branch: str, commit: str, step: float) -> bool:
    """After a push that kept failing: did one of the attempts land (an answer lost after the server applied it)?"""
    try:
        return publish.remote_head(src.url, src.auth, branch, action.env, timeout=step) == commit
    except (TransientError, UserError):
        return False


def _outputs(action: Action, results: list[dict[str, object]], plan: Plan, status: str) -> None:
    action.set_output("status", status)
    action.set_output("pr-urls", "\n".join(str(r["pr-url"]) for r in results if r.get("pr-url")))
    action.set_output("promoted", json.dumps([s for r in results for s in r["services"]]))  # type: ignore[attr-defined]
    action.set_output("refused", json.dumps({c.service: c.refused for c in plan.refused}, sort_keys=True))
    action.set_output("changed", any(bool(r["changed"]) for r in results))


def _plain(value: object) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _summary(action: Action, fleet: Fleet, plan: Plan, results: list[dict[str, object]]) -> None:
    from shipyard.board.markdown import md

    action.summary.heading(f"promote: {md(fleet.source_env)} → {md(fleet.target_env)}", 3)
    if plan.accepted:
        lines = ["```mermaid", "flowchart LR"]
        for i, wave in enumerate(plan.waves()):
            names = "<br>".join(c.service for c in wave)
            lines.append(f'    w{i}["wave {wave[0].wave + 1}<br>{names}"]')
            if i:
                lines.append(f"    w{i - 1} --> w{i}")
        lines.append("```")
        action.summary.text("\n".join(lines))
    rows: list[tuple[str, object, str, str]] = [
        (c.service, c.wave + 1, "promote", ", ".join(m.target.slot.column for m in c.moves)) for c in plan.accepted]
    rows += [(c.service, "", "refused", "; ".join(c.refused)) for c in plan.refused]
    rows += [(s, "", "same", "") for s in plan.unchanged]
    action.summary.table(["service", "wave", "result", "detail"], [(_plain(a), b, c, _plain(d)) for a, b, c, d in rows])
    for r in results:
        if r.get("pr-url"):
            action.summary.text(f"- pull request: {r['pr-url']} ({'updated' if r['changed'] else 'unchanged'})")
