"""A small, reusable working clone of the config repository, with no checkout and no git process per update.

Fetches speak smart HTTP from Python: the first one is a GET of the refs, the recent history as commit objects
only (``filter tree:0``, for the out-of-order guard), the tip's trees (``blob:none``) and then only the blobs of
the files we edit (a protocol-v2 fetch by object id). Retries fetch incrementally (one GET + one POST, small
blobs inline) and push with one POST to receive-pack. Objects stay in memory and reach the disk (as a promisor
pack) only when a git command has to see them: a Kustomize build, an ancestry check, or the git CLI fallback
used when a server answers something unexpected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard import globs
from shipyard.git import GitAuth, GitResult, git_env, scrub
from shipyard.gitops.inputs import END_OF_OPTIONS
from shipyard.gitops.objects import (
    Entry,
    ObjectError,
    ObjectStore,
    fetch_v2_request,
    parse_advertisement,
    parse_fetch_v2,
    parse_report,
    parse_upload_pack_v0,
    receive_pack_request,
    serialize_tree,
    unpack,
    upload_pack_request,
)
from shipyard.runtime import TransientError, UserError, parse_retry_after, redact_url

RETRYABLE_PUSH = (
    "atomic push failure",
    "atomic transaction failed",
    "non-fast-forward",
    "fetch first",
    "cannot lock ref",
    "incorrect old value provided",
    "failed to update ref",
    "failed to lock",
    "stale info",
    "reference already exists",
)
TRANSIENT = (
    "returned error: 429",
    "returned error: 500",
    "returned error: 502",
    "returned error: 503",
    "returned error: 504",
    "early eof",
    "rpc failed",
    "connection reset",
    "connection timed out",
    "operation timed out",
    "empty reply from server",
    "the remote end hung up unexpectedly",
    "could not read from remote",
    "failed to connect",
    "connection refused",
)


class PushRejected(Exception):
    """The branch moved under us (a lost race): fetch, re-apply and try again."""


class DeadlineExceeded(UserError):
    """The stage's ``timeout`` ran out: not retried, reported once."""


def _add_config(env: dict[str, str], items: Sequence[tuple[str, str]]) -> None:
    """Append git config entries to the GIT_CONFIG_COUNT/KEY/VALUE set in ``env`` (environment only)."""
    count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    for key, value in items:
        env[f"GIT_CONFIG_KEY_{count}"] = key
        env[f"GIT_CONFIG_VALUE_{count}"] = value
        count += 1
    env["GIT_CONFIG_COUNT"] = str(count)


class _NotSpoken(Exception):
    """The server answered the in-process fetch with something unexpected: let the git CLI do it."""


_PACK_ERRORS = (ObjectError, ValueError, IndexError, KeyError, zlib.error)
_FETCH_CAPS = ("no-progress", "ofs-delta", "agent=git/shipyard")


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    oid: str
    path: str


def literal_prefix(pattern: str) -> str:
    """The directory part of a glob before its first wildcard (``apps/*/x.yaml`` -> ``apps/``)."""
    parts = pattern.split("/")
    out: list[str] = []
    for part in parts[:-1]:
        if any(c in part for c in "*?["):
            break
        out.append(part)
    return "/".join(out) + ("/" if out else "")


def glob_match(path: str, pattern: str) -> bool:
    """fnmatch where ``*`` stays inside one directory and ``**`` spans any number of them."""
    return globs.match(path, pattern)


class WorkClone:
    """One bare, shallow, partial clone of ``url`` tracking ``branch``, reused across attempts."""

    def __init__(self, url: str, auth: GitAuth | None, *, workdir: str | None = None,
                 base_env: Mapping[str, str] | None = None, timeout: float = 120.0,
                 partial: bool = True, in_process: bool = True) -> None:
        self.url = url
        self.in_process = in_process  # fetch over smart HTTP from Python; the git CLI is the fallback
        self.auth = auth
        self.timeout = timeout
        self.partial = partial
        self._own = workdir is None
        self.root = Path(workdir or tempfile.mkdtemp(prefix="shipyard-gitops-"))
        self.git_dir = self.root / "repo.git"
        self.index_file = self.root / "shipyard.index"
        self._env = git_env(auth, base_env)
        self._env["GIT_DIR"] = str(self.git_dir)
        self._env.pop("GIT_WORK_TREE", None)
        self._env.pop("GIT_INDEX_FILE", None)
        self.fetched: set[str] = set()
        self._have: set[str] = set()
        self._incremental = False
        self.requests = 0
        self.first_depth = 1
        self.objects = ObjectStore(self.git_dir, self._env)
        self.objects.promisor = partial
        self.new_commits = 0  # commits that arrived with the last incremental fetch
        self.last_refs: dict[str, str] = {}
        self.last_caps: set[str] = set()
        self._http: Any = None
        # One deadline for the whole stage (``clock()`` time): every request and git process gets the time
        # left, at most ``timeout``; past it, a DeadlineExceeded ends the stage with one clear error.
        self.deadline: float | None = None
        self.clock: Callable[[], float] = time.monotonic
        # git's own transfers give up on a stalled server (below 1 kB/s for this long) instead of hanging
        low_speed = max(1, int(min(timeout, 30.0)))
        _add_config(self._env, [("http.lowSpeedLimit", "1000"), ("http.lowSpeedTime", str(low_speed))])

    def time_left(self, what: str = "the config repository") -> float:
        """Seconds for the next request or git process: ``timeout``, or less when the deadline is nearer."""
        if self.deadline is None:
            return self.timeout
        left = self.deadline - self.clock()
        if left <= 0.05:
            raise DeadlineExceeded(
                f"Out of time talking to {what} {redact_url(self.url)}: the stage's `timeout` ran out.",
                "check that the config repository's server is reachable and answering; raise `timeout` if it is "
                "just slow.",
                input_name="timeout",
            )
        return min(self.timeout, left)

    # ------------------------------------------------------------------ plumbing
    def git(self, *args: str, input_text: str | None = None, check: bool = True,
            env: Mapping[str, str] | None = None, timeout: float | None = None) -> GitResult:
        self.objects.flush()  # objects kept in memory must be on disk before git looks
        run_env = dict(self._env)
        if env:
            run_env.update(env)
        limit = min(timeout or self.timeout, self.time_left())
        try:
            proc = subprocess.run(
                ["git", *args], env=run_env, capture_output=True, text=True, input=input_text,
                timeout=limit, check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransientError(f"git {args[0]} timed out after {limit:.1f}s")
        except FileNotFoundError:
            raise UserError("git is not installed on this runner.", "install git (2.31 or later).")
        result = GitResult(proc.returncode, scrub(proc.stdout, self.auth), scrub(proc.stderr, self.auth),
                           list(args))
        if check and not result.ok:
            raise self._failure(args, result)
        return result

    def _failure(self, args: Sequence[str], result: GitResult) -> Exception:
        message = (result.stderr.strip() or result.stdout.strip()).replace(self.url, redact_url(self.url))
        low = message.lower()
        where = redact_url(self.url)
        if "authentication failed" in low or "returned error: 401" in low or "could not read username" in low:
            return UserError(
                f"The config repository {where} refused the credentials (HTTP 401): {_last_line(message)}",
                "check the `token` input (or the GitHub App id/private key): it must be valid and not expired.",
                input_name="token",
            )
        if "returned error: 403" in low or "permission to" in low or "denied" in low:
            return UserError(
                f"The config repository {where} refused access (HTTP 403): {_last_line(message)}",
                "give the token write access to the config repository (contents: write).",
                input_name="token",
            )
        if "returned error: 404" in low or "not found" in low:
            return UserError(
                f"The config repository {where} was not found: {_last_line(message)}",
                "check the `repository` input (and that the token can see the repository).",
                input_name="repository",
            )
        if any(t in low for t in TRANSIENT):
            return TransientError(f"git {args[0]}: {_last_line(message)}")
        if "couldn't find remote ref" in low:
            return UserError(
                f"Branch not found in {where}: {_last_line(message)}",
                "check the `branch` input; the branch must exist in the config repository.",
                input_name="branch",
            )
        return UserError(f"git {' '.join(args[:2])} failed: {_last_line(message)}")

    # ------------------------------------------------------------------ lifecycle
    def init(self) -> None:
        if (self.git_dir / "HEAD").exists():
            return
        # The layout `git init --bare` makes (what git needs to recognise a repository), without a process;
        # one config write instead of a dozen `git config` processes (this runs once per updater).
        for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
            (self.git_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.git_dir / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
        partial = (
            "\trepositoryformatversion = 1\n[extensions]\n\tpartialClone = origin\n" if self.partial
            else "\trepositoryformatversion = 0\n"
        )
        promisor = "\tpromisor = true\n\tpartialclonefilter = blob:none\n" if self.partial else ""
        url = self.url.replace("\\", "\\\\").replace('"', '\\"')
        (self.git_dir / "config").write_text(
            "[core]\n\tbare = true\n\tfilemode = true\n\tlogAllRefUpdates = false\n"
            + partial
            + "[gc]\n\tauto = 0\n[maintenance]\n\tauto = false\n[fetch]\n\twriteCommitGraph = false\n"
            + f'[remote "origin"]\n\turl = "{url}"\n' + promisor,
            encoding="utf-8",
        )

    def close(self) -> None:
        self.objects.close()
        if self._http is not None:
            self._http.close()
        if self._own:
            shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ remote
    def tracking_ref(self, branch: str) -> str:
        return f"refs/remotes/origin/{branch}"

    def fetch(self, branch: str, *, depth: int | None = None, missing_ok: bool = False) -> str | None:
        """Fetch ``branch``; returns its tip (None when ``missing_ok`` and the branch does not exist)."""
        ref = self.tracking_ref(branch)
        first = branch not in self.fetched
        if first and self.in_process:
            try:
                return self._first_fetch(branch, depth or self.first_depth, missing_ok)
            except _NotSpoken:
                pass  # the git CLI below fetches from scratch
        args = ["-c", "protocol.version=2", "fetch", "--no-tags", "--no-write-fetch-head", "--quiet",
                "--no-auto-gc", "--no-recurse-submodules"]
        if first:
            args.append(f"--depth={depth or self.first_depth}")
            if self.partial:
                args.append("--filter=blob:none")
        elif self.partial:
            # Incremental: the few new blobs other writers changed come inline (config files are small).
            args.append("--filter=blob:limit=512k")
        args += [END_OF_OPTIONS, "origin", f"+refs/heads/{branch}:{ref}"]
        self.requests += 1
        result = self.git(*args, check=False)
        if not result.ok:
            low = result.stderr.lower()
            if missing_ok and "couldn't find remote ref" in low:
                return None
            raise self._failure([a for a in args[2:] if a != END_OF_OPTIONS], result)
        self._incremental = self._incremental or not first
        self.fetched.add(branch)
        return self.rev_parse(ref)

    def _first_fetch(self, branch: str, depth: int, missing_ok: bool) -> str | None:
        """The first fetch of ``branch`` without a git process: one GET of the refs, then

        * with history wanted (``depth`` > 1, partial): the last ``depth`` commits alone (``filter tree:0``:
          the out-of-order guard reads only commit messages), then the trees of the tip alone (a v2 fetch of
          the root tree with ``filter blob:none``);
        * otherwise the tip commit and its trees in one request (``deepen 1``, ``filter blob:none``).

        Every object stays in memory (written to disk only when a git command needs it); the shallow
        boundary goes to ``shallow`` as git would write it. Raises :class:`_NotSpoken` when the server lacks
        a capability or answers something unexpected."""
        refs = self.advertise()
        caps = self.last_caps
        tip = refs.get(f"refs/heads/{branch}")
        if tip is None:
            if missing_ok:
                return None
            raise UserError(
                f"Branch '{branch}' not found in {redact_url(self.url)}.",
                "check the `branch` input; the branch must exist in the config repository.",
                input_name="branch",
            )
        if "shallow" not in caps or (self.partial and "filter" not in caps):
            raise _NotSpoken("the server does not offer shallow + filtered fetches")
        history = self.partial and depth > 1
        spec = "tree:0" if history else ("blob:none" if self.partial else None)
        body = upload_pack_request(tip, [], _FETCH_CAPS, spec, deepen=max(1, depth))
        try:
            boundary, pack = parse_upload_pack_v0(self._upload_pack(body), shallow=True)
            got = unpack(pack, self.objects)
            if tip not in got:
                raise _NotSpoken("the tip was not in the pack")
            if history:
                root = self.objects.commit_tree(tip)
                if root is None:
                    raise _NotSpoken("the tip commit has no tree")
                unpack(parse_fetch_v2(self._upload_pack(fetch_v2_request([root], "blob:none"), v2=True)),
                       self.objects)
        except _PACK_ERRORS as exc:
            raise _NotSpoken(str(exc))
        self._add_shallow(boundary)
        self._write_ref(self.tracking_ref(branch), tip)
        self.fetched.add(branch)
        return tip

    def _upload_pack(self, body: bytes, *, v2: bool = False) -> bytes:
        """POST one upload-pack request; the answer's bytes (HTTP errors raise like a failed git fetch)."""
        import requests

        headers = {"User-Agent": "git/shipyard", "Content-Type": "application/x-git-upload-pack-request",
                   "Accept": "application/x-git-upload-pack-result", **self._auth_headers()}
        if v2:
            headers["Git-Protocol"] = "version=2"
        self.requests += 1
        try:
            resp = self._session().post(f"{self.url.rstrip('/')}/git-upload-pack", data=body, headers=headers,
                                        timeout=self.time_left(), allow_redirects=False)
        except requests.RequestException as exc:
            raise TransientError(f"fetch from {redact_url(self.url)} failed: {type(exc).__name__}")
        if resp.status_code != 200:
            self._http_failure(resp)
        return bytes(resp.content)

    def _add_shallow(self, boundary: Iterable[str]) -> None:
        new = [oid for oid in boundary if len(oid) == 40]
        if not new:
            return
        current = self._shallow()
        merged = sorted(current | set(new))
        if merged != sorted(current):
            (self.git_dir / "shallow").write_text("".join(f"{oid}\n" for oid in merged))

    def fast_fetch(self, branch: str, refs: Mapping[str, str] | None = None) -> str:
        """Incremental fetch in-process: one GET of the ref advertisement and, when the branch moved, one
        POST to upload-pack wanting the new tip with our tip as the only "have"; the objects are written as
        loose objects. Falls back to ``git fetch`` when the server answers anything unexpected."""
        ref = self.tracking_ref(branch)
        ours = self.read_ref(ref)
        if ours is None:
            return self.fetch(branch) or ""
        if refs is None:
            refs = self.advertise()
        caps = self.last_caps
        tip = refs.get(f"refs/heads/{branch}")
        if tip is None:
            return self.fetch(branch) or ""  # let git produce the proper error
        if tip == ours:
            self.new_commits = 0
            return tip
        filter_spec = "blob:limit=524288" if self.partial and "filter" in caps else None
        body = upload_pack_request(tip, [ours], _FETCH_CAPS, filter_spec)
        data = self._upload_pack(body)
        try:
            _, pack = parse_upload_pack_v0(data, shallow=False)
            got = unpack(pack, self.objects)
        except _PACK_ERRORS:
            return self.fetch(branch) or ""
        if tip not in got:
            return self.fetch(branch) or ""
        self.new_commits = sum(1 for oid in got if oid in self.objects.commits)
        self._write_ref(ref, tip)
        return tip

    def fetch_commits(self, oids: Sequence[str], have: str) -> None:
        """Bring the commit objects ``oids`` (advertised refs, e.g. queue tickets) without their trees or
        blobs: one upload-pack request with ``filter tree:0``."""
        wanted = [oid for oid in oids if oid not in self.objects.memory]
        if not wanted:
            return
        body = upload_pack_request(wanted, [have], _FETCH_CAPS, "tree:0")
        try:
            _, pack = parse_upload_pack_v0(self._upload_pack(body), shallow=False)
            unpack(pack, self.objects)
        except _PACK_ERRORS as exc:
            raise TransientError(f"could not read the queued updates: {exc}")

    def _auth_headers(self) -> dict[str, str]:
        header = self.auth.header() if self.auth else None
        if header and (not self.auth or not self.auth.scope_url or self.url.startswith(self.auth.scope_url)):
            key, _, value = header.partition(": ")
            return {key: value}
        return {}

    def _http_failure(self, resp: Any) -> None:
        result = GitResult(1, "", f"The requested URL returned error: {resp.status_code}", ["fetch"])
        failure = self._failure(["fetch"], result)
        if isinstance(failure, TransientError):
            failure.retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        raise failure

    def read_ref(self, ref: str) -> str | None:
        path = self.git_dir / ref
        if path.is_file():
            value = path.read_text().strip()
            if len(value) == 40:
                return value
        result = self.git("rev-parse", "--verify", "--quiet", ref, check=False)
        return result.stdout.strip() or None

    def _write_ref(self, ref: str, oid: str) -> None:
        path = self.git_dir / ref
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".shipyard-tmp")
        tmp.write_text(oid + "\n")
        os.replace(tmp, path)

    def deepen(self, branch: str, by: int) -> bool:
        """Fetch ``by`` more commits of history (for the out-of-order guard). False when nothing came."""
        if not (self.git_dir / "shallow").exists():
            return False
        before = (self.git_dir / "shallow").read_text()
        args = ["fetch", "--no-tags", "--no-write-fetch-head", "--quiet", f"--deepen={by}"]
        if self.partial:
            args.append("--filter=blob:none")
        args += [END_OF_OPTIONS, "origin", f"+refs/heads/{branch}:{self.tracking_ref(branch)}"]
        self.git(*args)
        shallow = self.git_dir / "shallow"
        return not shallow.exists() or shallow.read_text() != before

    def is_shallow_commit(self, oid: str) -> bool:
        shallow = self.git_dir / "shallow"
        return shallow.exists() and oid in shallow.read_text().split()

    def push(self, commit: str, branch: str, *, old: str,
             also: Sequence[tuple[str, str, str]] = ()) -> None:
        """Move ``branch`` from ``old`` to ``commit`` with one smart-HTTP receive-pack request carrying the
        objects this attempt wrote. Never forced: the server applies it only if the branch is still at ``old``
        (and, with ``receive.denyNonFastForwards``, only as a fast-forward). ``also``: more (old, new, ref)
        commands applied atomically with it (the queue ticket's deletion)."""
        ref = f"refs/heads/{branch}"
        commands = [(old, commit, ref), *also]
        refs = self.send_commands(commands, list(self.objects.written.values()), atomic=bool(also))
        status = refs.get(ref, "")
        unpack_status = refs.get("", "ok")
        if unpack_status == "ok" and status == "ok":
            return
        reason = status[3:] if status.startswith("ng ") else (
            f"unpack {unpack_status}" if unpack_status != "ok" else "no report")
        low = reason.lower()
        if any(m in low for m in RETRYABLE_PUSH) or "denying non-fast-forward" in low:
            raise PushRejected(f"{branch}: {reason}")
        if "protected branch" in low or "hook declined" in low:
            raise UserError(
                f"The config repository refused the push to '{branch}': {reason}",
                "use `mode: pull-request` for protected branches, or allow the bot to push.",
                input_name="mode",
            )
        raise UserError(f"The config repository refused the push to '{branch}': {reason}",
                        "see the server's reason above; check the token may push to the branch, then rerun.")

    def send_commands(self, commands: Sequence[tuple[str, str, str]], objects: Sequence[tuple[str, bytes]],
                      *, atomic: bool = False) -> dict[str, str]:
        """POST one receive-pack request; returns {ref: "ok" | "ng <reason>"} and "" -> unpack status."""
        import requests

        body = receive_pack_request(commands, objects, atomic=atomic)
        headers = {"Content-Type": "application/x-git-receive-pack-request",
                   "Accept": "application/x-git-receive-pack-result", "User-Agent": "git/shipyard"}
        headers.update(self._auth_headers())
        self.requests += 1
        try:
            resp = self._session().post(self.url.rstrip("/") + "/git-receive-pack", data=body, headers=headers,
                                        timeout=self.time_left(), allow_redirects=False)
        except requests.RequestException as exc:
            raise TransientError(f"push to {redact_url(self.url)} failed: {type(exc).__name__}")
        if resp.status_code != 200:
            self._http_failure(resp)
        unpack_status, refs = parse_report(resp.content)
        refs[""] = unpack_status
        return refs

    def advertise(self) -> dict[str, str]:
        """The server's refs (one GET of the upload-pack advertisement)."""
        import requests

        self.requests += 1
        try:
            adv = self._session().get(f"{self.url.rstrip('/')}/info/refs?service=git-upload-pack",
                                      headers={"User-Agent": "git/shipyard", **self._auth_headers()},
                                      timeout=self.time_left(), allow_redirects=False)
        except requests.RequestException as exc:
            raise TransientError(f"fetch from {redact_url(self.url)} failed: {type(exc).__name__}")
        if adv.status_code != 200:
            self._http_failure(adv)
        refs, caps = parse_advertisement(adv.content)
        self.last_refs, self.last_caps = refs, caps
        return refs

    def _session(self) -> Any:
        if self._http is None:
            import requests

            self._http = requests.Session()
            self._http.trust_env = True  # honour HTTPS_PROXY/NO_PROXY and REQUESTS_CA_BUNDLE like git would
        return self._http

    def rev_parse(self, rev: str) -> str:
        return self.git("rev-parse", "--verify", "--quiet", rev).stdout.strip()

    def list_files(self, tip: str, patterns: Iterable[str]) -> list[TreeEntry]:
        """Files matching the patterns in ``tip``, read from the local trees (no process per call)."""
        root_tree = self.objects.commit_tree(tip)
        if root_tree is None:
            raise UserError(f"internal: the tree of {tip} is not available locally")
        found: dict[str, TreeEntry] = {}
        for pattern in patterns:
            prefix = literal_prefix(pattern)
            tree: str | None = root_tree
            for part in [p for p in prefix.split("/") if p]:
                entry = next((e for e in self.objects.tree_entries(tree) if e.name == part), None) if tree else None
                tree = entry.oid if entry is not None and entry.is_tree else None
            if tree is None:
                continue
            if not any(c in pattern for c in "*?["):
                name = pattern[len(prefix):]
                entry = next((e for e in self.objects.tree_entries(tree) if e.name == name), None)
                if entry is not None and not entry.is_tree and entry.mode != "160000":
                    found[pattern] = TreeEntry(entry.mode, entry.oid, pattern)
                continue
            stack = [(tree, prefix)]
            while stack:
                oid, base = stack.pop()
                for e in self.objects.tree_entries(oid):
                    path = base + e.name
                    if e.is_tree:
                        stack.append((e.oid, path + "/"))
                    elif e.mode != "160000" and glob_match(path, pattern):
                        found[path] = TreeEntry(e.mode, e.oid, path)
        return sorted(found.values(), key=lambda e: e.path)

    def read_blobs(self, oids: Sequence[str]) -> dict[str, bytes]:
        """Blob contents by oid, fetching the missing ones from the promisor remote in one batch."""
        if not oids:
            return {}
        wanted = [oid for oid in oids if oid not in self._have and oid not in self.objects.memory]
        if self.partial and wanted and self.in_process:
            # Blob-less first fetch: get exactly the blobs we edit, in one v2 request (any object id is a
            # valid want in protocol v2). Later fetches bring small blobs inline.
            try:
                unpack(parse_fetch_v2(self._upload_pack(fetch_v2_request(wanted), v2=True)), self.objects)
                wanted = []
            except _PACK_ERRORS:
                pass  # the git CLI below, or git's own lazy fetch
        if self.partial and wanted and not self._incremental:
            # Get exactly the blobs we edit, in one request. Anything still missing is fetched lazily by git.
            self.requests += 1
            self.git("-c", "protocol.version=2", "-c", "fetch.negotiationAlgorithm=noop", "fetch", "--no-tags",
                     "--no-write-fetch-head", "--quiet", "--filter=blob:none", END_OF_OPTIONS, "origin", *wanted)
        blobs: dict[str, bytes] = {}
        for oid in oids:
            got = self.objects.read(oid)
            if got is None or got[1] != "blob":
                raise UserError(f"git could not read object {oid} from the config repository")
            blobs[oid] = got[2]
            self._have.add(oid)
        return blobs

    def tree_for(self, base: str, files: Mapping[str, tuple[str, bytes]]) -> str:
        """The tree of ``base`` with each ``path -> (mode, content)`` replaced (objects written)."""
        self.objects.written.clear()
        root = self.objects.commit_tree(base)
        if root is None:
            raise UserError(f"internal: the tree of {base} is not available locally")
        return self.objects.replace_files(root, files)

    def commit_files(self, parents: Sequence[str], files: Mapping[str, tuple[str, bytes]], message: str,
                     identity: Mapping[str, str]) -> str:
        """A commit whose tree is the last parent's tree with each ``path -> (mode, content)`` replaced."""
        tree = self.tree_for(parents[-1], files)
        return self.objects.commit(tree, parents, message, *_signatures(identity))

    def ticket_commit(self, blobs: Sequence[bytes], message: str, identity: Mapping[str, str]) -> str:
        """A parentless commit whose flat tree holds ``blobs`` (named by their ids); its objects are the ones
        :attr:`ObjectStore.written` then holds."""
        self.objects.written.clear()
        entries = [Entry("100644", oid, oid) for oid in sorted({self.objects.write("blob", b) for b in blobs})]
        tree = self.objects.write("tree", serialize_tree(entries))
        return self.objects.commit(tree, [], message, *_signatures(identity))

    def contains(self, descendant: str, ancestor: str) -> bool:
        """True when ``ancestor`` is reachable from ``descendant`` in the history we have."""
        if descendant == ancestor:
            return True
        return self.git("merge-base", "--is-ancestor", END_OF_OPTIONS, ancestor, descendant,
                        check=False).returncode == 0

    def parent(self, rev: str) -> str | None:
        """The first parent of ``rev`` (None at a shallow boundary or a root commit)."""
        parents = self.git("log", "-1", "--format=%P", END_OF_OPTIONS, rev).stdout.split()
        return parents[0] if parents and not self.is_shallow_commit(rev) else None

    def tree_of(self, rev: str) -> str:
        return self.objects.commit_tree(rev) or self.rev_parse(f"{rev}^{{tree}}")

    def log_messages(self, tip: str, stop: str | None, limit: int) -> list[tuple[str, int, str]]:
        """(oid, committer time, message) from ``tip`` back to (not including) ``stop``, newest first,
        walking the commits we have (never past a shallow boundary)."""
        shallow = self._shallow()
        seen: set[str] = {stop} if stop else set()
        queue = [tip]
        entries: list[tuple[str, int, str]] = []
        while queue and len(entries) < limit:
            oid = queue.pop(0)
            if oid in seen:
                continue
            seen.add(oid)
            got = self.objects.read(oid)
            if got is None or got[1] != "commit":
                continue
            header, _, message = got[2].decode("utf-8", "replace").partition("\n\n")
            stamp = 0
            for line in header.splitlines():
                if line.startswith("parent ") and oid not in shallow:
                    queue.append(line[7:].strip())
                elif line.startswith("committer "):
                    parts = line.rsplit(" ", 2)
                    stamp = int(parts[-2]) if len(parts) == 3 and parts[-2].isdigit() else 0
            entries.append((oid, stamp, message))
        entries.sort(key=lambda e: -e[1])
        return entries

    def _shallow(self) -> set[str]:
        path = self.git_dir / "shallow"
        return set(path.read_text().split()) if path.exists() else set()

    def checkout_to(self, rev: str, dest: Path) -> None:
        """Write the tree of ``rev`` to ``dest`` (for kustomize build); fetches missing blobs in one batch."""
        dest.mkdir(parents=True, exist_ok=True)
        env = {"GIT_INDEX_FILE": str(self.root / "checkout.index"), "GIT_WORK_TREE": str(dest)}
        self.git("read-tree", "--reset", "-u", END_OF_OPTIONS, rev, env=env)


def _signatures(identity: Mapping[str, str]) -> tuple[str, str]:
    """The author and committer lines of a commit made now by ``identity`` (GIT_AUTHOR_* / GIT_COMMITTER_*)."""
    stamp = f"{int(time.time())} +0000"
    return (f"{identity['GIT_AUTHOR_NAME']} <{identity['GIT_AUTHOR_EMAIL']}> {stamp}",
            f"{identity['GIT_COMMITTER_NAME']} <{identity['GIT_COMMITTER_EMAIL']}> {stamp}")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith("hint:")]
    return " / ".join(useful[-3:]) if useful else "(no message)"


def committer_env(name: str, email: str, when: str | None = None) -> dict[str, str]:
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
           "GIT_COMMITTER_EMAIL": email}
    if when:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when
    return env


def kustomize_command() -> list[str] | None:
    """``kustomize build`` or ``kubectl kustomize`` when either is on PATH."""
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


def kustomize_build(directory: Path, timeout: float = 120.0) -> tuple[bool, str]:
    cmd = kustomize_command()
    if cmd is None:
        return True, ""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        proc = subprocess.run([*cmd, str(directory)], capture_output=True, text=True, timeout=timeout,
                              env=env, check=False)
    except subprocess.TimeoutExpired:
        return False, f"{' '.join(cmd)} timed out after {timeout:.0f}s"
    return proc.returncode == 0, (proc.stderr.strip() or proc.stdout.strip())
