"""``bitbucket-mirror``: mirror every branch and tag of this repository to its Bitbucket twin, verified.

Flow: inputs -> credential kind -> REST pre-flight (identity, workspace/project, repository, write permission)
-> create the repository if missing -> ``ls-remote`` both sides (skip when equal) -> complete the local view
(fetch all branches and tags with full history into a private namespace, verified against ``ls-remote``) ->
plan explicit refspecs -> write check (``push --dry-run``) -> LFS objects -> ``push --atomic`` -> verify.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import string
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from shipyard.git import END_OF_OPTIONS, GitAuth
from shipyard.mirror import refs as R
from shipyard.mirror.auth import KINDS, Credential, app_password_warning, detect, ssh_setup
from shipyard.mirror.bitbucket import CLOUD_API, CLOUD_WEB, FORK_POLICIES, Bitbucket, Preflight, Repo, slugify
from shipyard.mirror.transport import (
    SOURCE_NS,
    Deadline,
    Endpoint,
    Git,
    classify,
    parse_porcelain,
    remote_messages,
)
from shipyard.runtime import Action, TransientError, UserError, redact_url
from shipyard.urls import GIT, HTTP, check_url, mask_credentials, one_line, safe_repr

T = TypeVar("T")
PLACEHOLDERS = ("workspace", "project", "slug")
DEFAULT_TIMEOUT = 1800.0
_REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
_REPO_NAME = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,128}")
_SECRET_TEXT = re.compile(r"[^\x00-\x20\x7f]+")


@dataclass
class Settings:
    platform: str
    repo: Repo
    credential: Credential
    api_url: str
    git_url: str
    create: bool
    private: bool
    fork_policy: str
    description: str
    prune: bool
    keep_deleted: bool
    lfs: str
    path: str
    source_url: str
    source_token: str
    source_lfs_url: str
    target_lfs_url: str
    ssh_key: str
    known_hosts: str
    dry_run: bool
    slug_input: str
    timeout: float = DEFAULT_TIMEOUT
    source_remote: str = "origin"


def check_git_url_template(value: str) -> str:
    """``git-url`` may name ``{workspace}``, ``{project}`` and ``{slug}`` and nothing else (no format specs,
    no attribute access); returns the template."""
    allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        fields = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise UserError(f"Input 'git-url' is not a valid template ({exc}).",
                        f"write literal braces as {{{{ and }}}}; the placeholders are {allowed}.",
                        input_name="git-url") from None
    for name, spec, conv in fields:
        if name not in PLACEHOLDERS or spec or conv:
            shown = "{" + (name + ("!" + conv if conv else "") + (":" + spec if spec else ""))[:40] + "}"
            raise UserError(f"Input 'git-url' uses the unknown placeholder {shown!r}.",
                            f"use only {allowed} (e.g. https://bitbucket.example.com/scm/{{project}}/{{slug}}.git).",
                            input_name="git-url")
    check_url("git-url", value.format(workspace="ws", project="proj", slug="repo"), GIT)
    return value


def _seconds(action: Action, name: str, default: float) -> float:
    raw = action.input(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 86400:  # also false for nan and inf
        raise UserError(f"Input '{name}' must be a number of seconds between 1 and 86400 (got "
                        f"'{safe_repr(raw, 40)}').", f"set `{name}:` to e.g. {default:.0f}.", input_name=name)
    return value


def _secret_text(action: Action, name: str) -> str:
    """A credential input: one line, no whitespace or control characters (a newline in a header value would
    inject a second header)."""
    value = action.secret(name) or ""
    if value and not _SECRET_TEXT.fullmatch(value):
        raise UserError(f"Input '{name}' contains whitespace or control characters.",
                        f"store the bare secret (one line, no spaces) and pass it as `{name}:`.", input_name=name)
    return value


def _read(action: Action) -> Settings:
    platform = action.choice("platform", ["cloud", "datacenter"], default="cloud")
    server = (action.input("server-url") or "").rstrip("/")
    if platform == "datacenter" and not server:
        raise UserError("Input 'server-url' is required for platform: datacenter.",
                        "set `server-url:` to the Bitbucket base URL, e.g. https://bitbucket.example.com.",
                        input_name="server-url")
    repo_name = action.input("repository") or action.github("repository").split("/")[-1]
    if repo_name and (not _REPO_NAME.fullmatch(repo_name) or repo_name.startswith("-")):
        raise UserError(f"Input 'repository' ('{safe_repr(repo_name)}') is not a repository name.",
                        "use one line of at most 128 characters (letters, digits, spaces, '.', '_', '-'), not "
                        "starting with '-'.",
                        input_name="repository")
    if not repo_name:
        raise UserError("Input 'repository' is required outside GitHub Actions.",
                        "set `repository:` to the Bitbucket repository name.", input_name="repository")
    slug = slugify(repo_name)
    if not slug:
        raise UserError(f"Input 'repository' ('{safe_repr(repo_name)}') has no characters Bitbucket allows in a slug.",
                        "use letters, digits, '.', '_' or '-'.", input_name="repository")
    if platform == "cloud":
        namespace = action.require("workspace").strip()
        if slugify(namespace) != namespace.lower():
            raise UserError(f"Input 'workspace' ('{safe_repr(namespace)}') is not a workspace ID.",
                            "use the ID from the workspace URL (bitbucket.org/<workspace>/), lowercase.",
                            input_name="workspace")
        namespace = namespace.lower()
        project = (action.input("project") or "").upper()
    else:
        namespace = action.require("project").upper()
        project = namespace
    if project and not all(c.isalnum() or c == "_" for c in project):
        raise UserError(f"Input 'project' ('{safe_repr(project)}') is not a project key.",
                        "use the project KEY (letters, digits, underscore), not its name.", input_name="project")
    fork_policy = action.choice("fork-policy", list(FORK_POLICIES), default="no_public_forks")
    kind = action.choice("auth", list(KINDS), default="auto")
    token = _secret_text(action, "token")
    username = action.input("username") or ""
    if username and not re.fullmatch(r"[^\x00-\x20\x7f:]{1,200}", username):
        raise UserError("Input 'username' contains whitespace, ':' or control characters.",
                        "set `username:` to the Atlassian account email (API token) or the Bitbucket username.",
                        input_name="username")
    ssh_key = action.secret("ssh-private-key") or ""
    known_hosts = action.input("ssh-known-hosts") or ""
    credential = detect(kind, token, username, ssh_key, platform)
    if credential.kind == "ssh-key" and not known_hosts:
        raise UserError("`ssh-known-hosts` is required with an SSH key: host-key checking is never turned off.",
                        "set `ssh-known-hosts:` to the target's known_hosts line(s).", input_name="ssh-known-hosts")
    api_url = (action.input("api-url") or (CLOUD_API if platform == "cloud" else server)).rstrip("/")
    git_url = action.input("git-url") or ""
    if git_url:
        check_git_url_template(git_url)
    else:
        if credential.kind == "ssh-key":
            git_url = "git@bitbucket.org:{workspace}/{slug}.git" if platform == "cloud" else ""
        else:
            git_url = (CLOUD_WEB + "/{workspace}/{slug}.git") if platform == "cloud" else (
                server + "/scm/{project}/{slug}.git")
    for name in ("api-url", "server-url", "source-lfs-url", "target-lfs-url"):
        value = action.input(name)
        if value:
            check_url(name, value, HTTP)
    source_url = action.input("source-url") or ""
    if source_url:
        check_url("source-url", source_url, GIT)
    source_remote = action.input("source-remote") or "origin"
    if not _REMOTE_NAME.fullmatch(source_remote):
        raise UserError("Input 'source-remote' is not a git remote name.",
                        "set `source-remote:` to the checkout's remote name (e.g. origin).", input_name="source-remote")
    timeout = _seconds(action, "timeout", DEFAULT_TIMEOUT)
    source_token = _secret_text(action, "source-token")
    path = action.input("path") or action.env.get("GITHUB_WORKSPACE") or "."
    return Settings(
        platform=platform,
        repo=Repo(platform, namespace, slug, repo_name, project),
        credential=credential,
        api_url=api_url,
        git_url=git_url,
        create=action.boolean("create", True),
        private=action.boolean("private", True),
        fork_policy=fork_policy,
        description=action.input("description") or "",
        prune=action.boolean("prune", True),
        keep_deleted=action.boolean("keep-deleted", False),
        lfs=action.choice("lfs", ["auto", "true", "false"], default="auto"),
        path=path,
        source_url=source_url,
        source_token=source_token,
        source_lfs_url=action.input("source-lfs-url") or "",
        target_lfs_url=action.input("target-lfs-url") or "",
        ssh_key=ssh_key,
        known_hosts=known_hosts,
        dry_run=action.dry_run,
        slug_input=repo_name,
        timeout=timeout,
        source_remote=source_remote,
    )


def _target_url(s: Settings, pre: Preflight | None) -> str:
    if s.git_url:
        url = s.git_url.format(workspace=s.repo.namespace, project=s.repo.namespace.lower()
                               if s.platform == "datacenter" else s.repo.project, slug=s.repo.slug)
        return check_url("git-url", url, GIT)
    links = pre.clone_urls if pre else {}
    url = links.get("ssh" if s.credential.kind == "ssh-key" else "https", "")
    if not url:
        raise UserError("No clone URL for the target repository is known.",
                        "set `git-url:` (e.g. ssh://git@bitbucket.example.com:7999/{project}/{slug}.git).",
                        input_name="git-url")
    return check_url("git-url", url, GIT)  # a clone link Bitbucket sent us is checked like an input


def _source_url(action: Action, s: Settings, git_repo: str | None) -> str:
    if s.source_url:
        return s.source_url
    import subprocess

    if git_repo:
        proc = subprocess.run(["git", "remote", "get-url", END_OF_OPTIONS, s.source_remote],
                              cwd=git_repo, capture_output=True, text=True, check=False, timeout=60,
                              stdin=subprocess.DEVNULL)
        url = proc.stdout.strip()
        if proc.returncode == 0 and url:
            try:
                return check_url("source-url", url, GIT)
            except UserError as exc:
                raise UserError(f"The checkout's remote '{s.source_remote}' URL is not usable: {exc.message}",
                                "set `source-url:` to the repository's https:// or ssh URL (no credentials in it).",
                                input_name="source-url") from None
    server, repo = action.env.get("GITHUB_SERVER_URL", "https://github.com"), action.github("repository")
    if repo:
        return f"{server.rstrip('/')}/{repo}.git"
    raise UserError("Could not tell which repository to mirror: the checkout has no remote.",
                    "set `source-url:` or run after actions/checkout.", input_name="source-url")


def _scope(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else ""


@contextlib.contextmanager
def _local_repo(action: Action, path: str) -> Iterator[str]:
    """The checkout, or a scratch bare repository when there is none (the mirror then fetches everything)."""
    import subprocess
    import tempfile

    usable, why = False, "does not exist"
    if os.path.isdir(path):
        proc = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=path, capture_output=True, text=True,
                              check=False)
        partial = subprocess.run(["git", "config", "--get", "extensions.partialClone"], cwd=path,
                                 capture_output=True, text=True, check=False)
        usable = proc.returncode == 0 and not partial.stdout.strip()
        why = "is a partial clone (blobs missing)" if proc.returncode == 0 else "is not a git checkout"
    if usable:
        yield path
        return
    base = action.env.get("RUNNER_TEMP")
    scratch = tempfile.mkdtemp(prefix="shipyard-mirror-", dir=base if base and os.path.isdir(base) else None)
    try:
        subprocess.run(["git", "init", "--bare", "--quiet", scratch], check=True, capture_output=True)
        action.info(f"working in a scratch repository: {safe_repr(path, 200)} {why}")
        yield scratch
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def run(action: Action) -> None:
    mask_credentials(action)  # a token pasted into any input (https://user:TOKEN@...) never reaches a log
    s = _read(action)
    deadline = Deadline(s.timeout, action.clock)
    try:
        _run(action, s, deadline)
    except TransientError as exc:
        raise UserError(
            f"bitbucket-mirror gave up after retrying: {' '.join(str(exc).split())}. Nothing was half-written: "
            "pushes are atomic and verified.",
            "check that Bitbucket and the source repository answer (status pages, network, firewalls), then "
            "re-run the job: the mirror resumes from what the target already has.",
        ) from None


def _retry(action: Action, deadline: Deadline, what: str, fn: Callable[[], T], attempts: int = 5) -> T:
    """``action.retry`` bounded by what is left of the stage's timeout."""
    left = deadline.remaining()
    if left <= 0:
        raise deadline.expired(what)
    try:
        return action.retry(what, fn, attempts=attempts, max_elapsed=min(120.0, left))
    except TransientError as exc:
        if deadline.remaining() <= deadline.io_timeout:
            raise deadline.expired(what, str(exc)) from None
        raise


def _run(action: Action, s: Settings, deadline: Deadline) -> None:
    started = time.monotonic()
    cred = s.credential
    if cred.kind == "app-password":
        action.warning(app_password_warning())
    action.info(f"credential: {cred.describe()} ({cred.detected})")
    if s.repo.slug != s.slug_input:
        action.notice(f"repository name '{s.slug_input}' becomes the Bitbucket slug '{s.repo.slug}'")
    facts: list[tuple[str, object]] = [("credential", f"{cred.describe()} ({cred.detected})")]

    with contextlib.ExitStack() as stack:
        extra_env: dict[str, str] = {}
        if cred.kind == "ssh-key":
            setup = stack.enter_context(ssh_setup(s.ssh_key, s.known_hosts, action.env.get("RUNNER_TEMP")))
            extra_env.update(setup.env())
        source_url = _source_url(action, s, s.path if os.path.isdir(s.path) else None)
        source_auth = GitAuth("basic", "x-access-token", s.source_token, _scope(source_url)) if (
            s.source_token and _scope(source_url)) else None

        def make_git(repo_dir: str, target_url: str) -> Git:
            git = Git(
                repo_dir,
                Endpoint("source", source_url, source_auth, s.source_lfs_url),
                Endpoint("target", target_url, cred.git_auth(_scope(target_url)), s.target_lfs_url),
                extra_env=extra_env,
                base_env=action.env,
                deadline=deadline,
            )
            for value in git.secrets:
                action.mask(value)
            return git

        source: dict[str, str] | None = None
        if s.git_url:
            skipped, source = _quick_skip(action, s, make_git(_probe_dir(action, s), _target_url(s, None)), facts,
                                          started)
            if skipped:
                return
        if source is None:
            # The source must be readable before anything is created on Bitbucket (nothing half-written).
            probe = make_git(_probe_dir(action, s), "")
            source = _retry(action, deadline, "ls-remote source",
                            lambda: probe.ls_remote(probe.source, ["refs/heads/*", "refs/tags/*"]))
        if not R.heads_and_tags(source):
            raise UserError(f"The source {redact_url(source_url)} has no branches or tags; refusing to mirror "
                            "(an empty view must never prune the backup). Nothing was created or pushed.",
                            "check `source-url:`/`source-token:`.", input_name="source-url")

        pre = _preflight_and_create(action, s, facts, deadline)
        target_url = _target_url(s, pre)
        action.set_output("target-url", redact_url(target_url))
        repo_dir = stack.enter_context(_local_repo(action, s.path))
        _mirror(action, s, make_git(repo_dir, target_url), pre is not None and pre.created, started,
                target_missing=pre is not None and not pre.exists, facts=facts, source=source, deadline=deadline)


def _probe_dir(action: Action, s: Settings) -> str:
    """Any directory works for ``ls-remote``; prefer the checkout."""
    if os.path.isdir(s.path):
        return s.path
    temp = action.env.get("RUNNER_TEMP")
    return temp if temp and os.path.isdir(temp) else os.getcwd()


def _quick_skip(action: Action, s: Settings, git: Git, facts: list[tuple[str, object]],
                started: float) -> tuple[bool, dict[str, str] | None]:
    """The no-op fast path: both ``ls-remote``s at once, before any REST call. Equal branches and tags mean
    there is nothing to push, so nothing needs checking. Any failure (missing repository, refused credential,
    network) falls through to the full path, whose pre-flight explains it. Returns (skipped, the source's
    refs when they could be read)."""
    from concurrent.futures import ThreadPoolExecutor

    patterns = ["refs/heads/*", "refs/tags/*"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        src = pool.submit(git.ls_remote, git.source, patterns)
        tgt = pool.submit(git.ls_remote, git.target, patterns)
        source_all: dict[str, str] | None = None
        try:
            source_all = src.result()
            source, target = R.heads_and_tags(source_all), R.heads_and_tags(tgt.result())
        except Exception as exc:  # the full path reports it properly
            action.debug(f"quick check inconclusive: {exc}")
            return False, source_all
    if not source or source != target:
        return False, source_all
    elapsed = time.monotonic() - started
    action.set_output("target-url", redact_url(git.target.url))
    action.info(f"{len(source)} branches and tags already identical on the target: nothing to push ({elapsed:.2f}s)")
    _outputs(action, [], [], [], skipped=True)
    action.summary.heading("Bitbucket mirror").key_values([
        ("target", redact_url(git.target.url)), ("result", "unchanged: skipped (no REST call needed)"),
        ("refs", len(source)), *facts, ("time", f"{elapsed:.2f}s")])
    return True, source_all


def _preflight_and_create(action: Action, s: Settings, facts: list[tuple[str, object]],
                          deadline: Deadline | None = None) -> Preflight | None:
    cred = s.credential
    if not cred.has_token:
        facts.append(("write access", "checked by git (push --dry-run) before pushing"))
        return None
    bb = Bitbucket(action, cred, s.repo, s.api_url, deadline=deadline)
    with action.group("Pre-flight"):
        pre = bb.preflight()
        action.info(f"identity: {one_line(pre.identity) or '(token)'}; repository {s.repo.full_name} "
                    f"{'exists' if pre.exists else 'is missing'}; write: "
                    f"{'unknown' if pre.can_write is None else pre.can_write}; scopes: "
                    f"{', '.join(pre.scopes) or '-'}")
        for note in pre.notes:
            action.info(one_line(note))
    facts.append(("identity", one_line(pre.identity) or "(token without a user)"))
    facts.append(("write access", {True: "yes", False: "no", None: "checked by git before pushing"}[pre.can_write]))
    if pre.exists and pre.can_write is False:
        raise UserError(
            f"The {cred.describe()} can read {s.repo.full_name} but not write to it; nothing was pushed.",
            "use a credential with write access (API token scope write:repository:bitbucket, access token "
            "scope repository:write, or repository permission write/admin).",
            input_name="token",
        )
    if pre.exists:
        return pre
    if not s.create:
        raise UserError(f"The Bitbucket repository {s.repo.full_name} does not exist and `create` is false.",
                        "create it, or set `create: true`.", input_name="create")
    if pre.can_create is False:
        raise UserError(
            f"{s.repo.full_name} does not exist and the {cred.describe()} may not create repositories.",
            "create it by hand, or use a credential with admin:repository:bitbucket / repository:admin "
            "(Data Center: PROJECT_ADMIN).", input_name="token")
    if s.dry_run:
        action.notice(f"dry-run: would create {s.repo.full_name}")
        return pre
    with action.group(f"Create {s.repo.full_name}"):
        pre.clone_urls = bb.create(s.private, s.fork_policy, s.description) or pre.clone_urls
        pre.exists = pre.created = True
        action.info(f"created {s.repo.full_name} (private: {s.private}, fork policy: {s.fork_policy})")
    return pre


def _mirror(action: Action, s: Settings, git: Git, created: bool, started: float, target_missing: bool,
            facts: list[tuple[str, object]], source: dict[str, str], deadline: Deadline) -> None:
    desired = R.heads_and_tags(source)
    target_all = {} if target_missing else _retry(action, deadline, "ls-remote target",
                                                   lambda: git.ls_remote(git.target))
    target = R.heads_and_tags(target_all)
    if target == desired:
        elapsed = time.monotonic() - started
        action.info(f"{len(desired)} branches and tags already identical on the target: nothing to push "
                    f"({elapsed:.2f}s)")
        _outputs(action, [], [], [], skipped=True)
        action.summary.heading("Bitbucket mirror").key_values([
            ("target", redact_url(git.target.url)), ("result", "unchanged: skipped"),
            ("refs", len(desired)), *facts, ("time", f"{elapsed:.2f}s")])
        return

    with action.group("Complete the local view of the source"):
        fetched = R.heads_and_tags(_retry(action, deadline, "fetch source", git.fetch_source))
        if fetched != desired:
            # The source moved between ls-remote and fetch. The fetch is itself a complete view (every branch
            # and tag the source advertised, pruned, full history), so it becomes the state to mirror.
            changed = ", ".join(d[0] for d in R.diff_refs(desired, fetched)[:10])
            action.notice(f"the source changed during the run ({changed}): mirroring the newer state")
            desired = fetched
        if not desired:
            raise UserError("The fetch from the source returned no branches or tags; refusing to mirror.",
                            "check `source-url:`/`source-token:`.", input_name="source-url")
        action.info(f"{len(desired)} branches and tags with full history")

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    plan = R.plan_push(
        desired, target_all, is_fast_forward=git.is_ancestor, prune=s.prune, keep_deleted=s.keep_deleted,
        stamp=stamp, local_ref=lambda r: SOURCE_NS + r[len("refs/"):],
    )
    if not s.prune:
        extra = sorted(set(target) - set(desired))
        if extra:
            action.warning(f"prune: false keeps {len(extra)} refs on the target that the source no longer has; "
                           "the mirror will not be identical")
    backups = plan.by_action("backup")
    if backups:
        missing = [c.ref for c in plan.by_action("delete", "force")
                   if c.old and not git.has_object(c.old)]
        _retry(action, deadline, "fetch target refs", lambda: git.fetch_target_refs(missing))

    if s.dry_run:
        _report(action, s, git, plan, created, started, facts, dry_run=True)
        _outputs(action, [], [], [], skipped=False)
        return

    expected = desired if s.prune else {**R.heads_and_tags(target), **desired}

    def landed() -> bool:
        """Did a push that answered an error land anyway (a 5xx after receive-pack applied it)?"""
        try:
            return not R.diff_refs(expected, git.ls_remote(git.target))
        except Exception:  # could not look: treat as not landed, the retry decides
            return False

    atomic = _retry(action, deadline, "push check", lambda: _write_check(action, git, plan))
    _lfs(action, s, git, plan)
    with action.group(f"Push {len(plan.changes)} ref changes"):
        _push(action, git, plan, atomic, deadline, landed)
    after = _retry(action, deadline, "ls-remote target", lambda: git.ls_remote(git.target))
    diff = R.diff_refs(expected, after)
    if diff:
        lines = ", ".join(f"{ref} (source {R.short(exp) or 'absent'}, target {R.short(got) or 'absent'})"
                          for ref, exp, got in diff[:20])
        raise UserError(f"Verification failed: after the push the target differs from the source in {len(diff)} "
                        f"refs: {lines}", "re-run the mirror; if it persists, check branch restrictions or hooks "
                        "on the Bitbucket repository.")
    _report(action, s, git, plan, created, started, facts, dry_run=False)
    _outputs(action, plan.by_action("create", "update", "force"), plan.by_action("delete"),
             plan.by_action("force"), skipped=False, backups=backups)


def _write_check(action: Action, git: Git, plan: R.Plan) -> bool:
    """``push --dry-run`` opens receive-pack: a read-only credential is refused here, before anything is sent.
    Returns whether the server takes ``--atomic``."""
    atomic = True
    res = git.push(plan.refspecs, atomic=True, dry_run=True, leases=plan.leases)
    if not res.ok and "does not support --atomic" in res.stderr:
        action.warning("the Bitbucket server does not support atomic pushes: refs are pushed one by one")
        atomic = False
        res = git.push(plan.refspecs, atomic=False, dry_run=True, leases=plan.leases)
    if not res.ok and not parse_porcelain(res.stdout):
        err = classify(res, git.target, git.rate_limit_wait)
        if isinstance(err, UserError):
            err.message = "Pre-flight push check failed, nothing was pushed: " + err.message
        raise err
    return atomic


def _lfs(action: Action, s: Settings, git: Git, plan: R.Plan) -> None:
    if s.lfs == "false":
        return
    refs = [c.refspec.split(":", 1)[0].lstrip("+") for c in plan.by_action("create", "update", "force")]
    if not refs:
        return
    if s.lfs == "auto" and not git.uses_lfs(refs):
        return
    if not git.lfs_available():
        raise UserError("This repository uses Git LFS but git-lfs is not installed on the runner.",
                        "install git-lfs (apt-get install git-lfs) before this step, or set `lfs: false` to mirror "
                        "only the pointers.", input_name="lfs")
    with action.group("Git LFS objects"):
        res = git.lfs_fetch_all(refs)
        action.info(res.stdout.strip() or res.stderr.strip())
        if not res.ok:
            raise UserError(f"Could not fetch the LFS objects from the source: {res.stderr.strip()[-600:]}",
                            "check the source token can read LFS objects (or set `source-lfs-url:`), or set "
                            "`lfs: false`.", input_name="lfs")
        res = git.lfs_push_all(refs)
        action.info(res.stdout.strip() or res.stderr.strip())
        if not res.ok:
            err = classify(res, git.target, git.rate_limit_wait)
            message = err.message if isinstance(err, UserError) else str(err)
            raise UserError(f"Could not push the LFS objects to Bitbucket: {message}",
                            "check the credential can write LFS objects and the repository's LFS storage quota, "
                            "or set `target-lfs-url:` if LFS is served elsewhere.", input_name="lfs")


def _push(action: Action, git: Git, plan: R.Plan, atomic: bool, deadline: Deadline,
          landed: Callable[[], bool]) -> None:
    def attempt() -> None:
        try:
            res = git.push(plan.refspecs, atomic=atomic, leases=plan.leases)
        except TransientError:
            if landed():
                action.notice("the push got no answer but the target holds every ref: it landed")
                return
            raise
        action.info(res.stdout.strip())
        if res.ok:
            return
        lines = parse_porcelain(res.stdout)
        rejected = [ln for ln in lines if ln.flag == "!" and "atomic" not in ln.summary]
        if rejected:
            hook = remote_messages(res.stderr)
            refs = ", ".join(f"{ln.dst} {ln.summary}" for ln in rejected)
            if all(("stale info" in ln.summary or "fetch first" in ln.summary or "non-fast-forward" in ln.summary)
                   for ln in rejected):
                raise UserError(
                    "The Bitbucket repository changed while mirroring (" + ", ".join(ln.dst for ln in rejected)
                    + "): someone or another mirror run pushed to it." + (" Nothing was changed." if atomic else ""),
                    "re-run the mirror; give the mirror job a `concurrency:` group so runs never overlap, and "
                    "do not push to the mirror directly.")
            protected = any("hook" in ln.summary or "protected" in ln.summary or "restriction" in ln.summary
                            or "declined" in ln.summary for ln in rejected)
            raise UserError(
                f"Bitbucket rejected the push: {refs}" + (f" (server said: {hook})" if hook else "")
                + (". Nothing was changed (atomic push)." if atomic else "."),
                "let the mirror's account or token bypass the branch restrictions (Repository settings -> Branch "
                "restrictions -> exempt it from 'Rewriting history'/'Deleting'/'Changes without a pull request'), "
                "or exclude the branch." if protected else
                "check the target's repository settings; re-run the mirror once fixed.",
            )
        err = classify(res, git.target, git.rate_limit_wait)
        if isinstance(err, TransientError) and landed():
            action.notice(f"the push answered an error ({str(err)[-120:]}) but the target holds every ref: "
                          "it landed (verified with ls-remote)")
            return
        raise err

    _retry(action, deadline, "push", attempt, attempts=3)


def _report(action: Action, s: Settings, git: Git, plan: R.Plan, created: bool, started: float,
            facts: list[tuple[str, object]], dry_run: bool) -> None:
    rows = [(c.ref, R.short(c.old), R.short(c.new), ("would " if dry_run else "") + c.action, c.note)
            for c in plan.changes]
    counts = {a: len(plan.by_action(a)) for a in ("create", "update", "force", "delete", "backup")}
    action.summary.heading("Bitbucket mirror" + (" (dry run)" if dry_run else ""))
    action.summary.key_values([
        ("target", redact_url(git.target.url)),
        ("repository", f"{s.repo.full_name}" + (" (created)" if created else "")),
        *facts,
        ("changes", ", ".join(f"{n} {a}" for a, n in counts.items() if n) or "none"),
        ("time", f"{time.monotonic() - started:.1f}s"),
    ])
    action.summary.table(["ref", "old", "new", "action", "note"], rows)
    forced = plan.by_action("force")
    if forced:
        action.summary.text("**Force-updated (history rewritten on the source):** "
                            + ", ".join(f"`{c.ref}`" for c in forced))
        for c in forced:
            action.warning(f"{c.ref}: {c.note}; force-updated {R.short(c.old)} -> {R.short(c.new)}")


def _outputs(action: Action, pushed: list[R.Change], deleted: list[R.Change], forced: list[R.Change],
             skipped: bool, backups: list[R.Change] | None = None) -> None:
    action.set_output("pushed-refs", "\n".join(R.names(pushed)))
    action.set_output("deleted-refs", "\n".join(R.names(deleted)))
    action.set_output("forced-refs", "\n".join(R.names(forced)))
    action.set_output("backup-refs", "\n".join(R.names(backups or [])))
    action.set_output("skipped", skipped)
