"""git for the mirror: ls-remote, completing the local view, push with porcelain parsing, LFS.

Every call goes through :class:`Git`, which puts credentials in git's environment-only configuration as
``http.<url>.extraHeader`` entries scoped to the source's and the target's URLs (never argv, never a URL),
and remotes for git-lfs as ``remote.shipyard-*.url`` entries there too, so the checkout's ``.git/config`` is
never edited.

Every URL and ref given to git comes after ``--end-of-options`` (``git grep`` lacks it: its tips are our own
``refs/...`` names and are checked). Every call is bounded: ``http.lowSpeedLimit``/``http.lowSpeedTime`` abort a
transfer that stalls (a server that accepts the connection and never answers), and the subprocess timeout is
what is left of the stage's :class:`Deadline`.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from shipyard.git import END_OF_OPTIONS, GitAuth, GitResult, git_env, network_config
from shipyard.mirror.refs import parse_ls_remote
from shipyard.runtime import TransientError, UserError

SOURCE_NS = "refs/shipyard-mirror/source/"
TARGET_NS = "refs/shipyard-mirror/target/"
SOURCE_REMOTE = "shipyard-source"
TARGET_REMOTE = "shipyard-target"

TRANSIENT = re.compile(
    r"(The requested URL returned error: (429|500|502|503|504))|Could not resolve host|Connection timed out|"
    r"Connection reset|early EOF|the remote end hung up unexpectedly|RPC failed|Operation timed out|"
    r"Failed to connect|Operation too slow|Empty reply from server|Recv failure|transfer closed|"
    r"Connection refused|unexpected disconnect|HTTP/2 stream",
    re.I,
)


@dataclass
class Deadline:
    """The stage's time budget on the action's clock: every git call and REST request is bounded by it."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def remaining(self) -> float:
        return self.seconds - (self.clock() - self.started)

    @property
    def io_timeout(self) -> float:
        """One network exchange may take at most this long: a fifth of the budget, 1..30 s, so a silent
        server leaves room for retries within the stage's timeout."""
        return max(1.0, min(30.0, self.seconds / 5))

    def expired(self, doing: str, last: str = "") -> Exception:
        from shipyard.runtime import UserError

        return UserError(
            f"bitbucket-mirror ran out of its {self.seconds:.0f}s timeout while {doing}"
            + (f" (last error: {last})" if last else "") + "; nothing more was sent.",
            "check that Bitbucket and the source answer (status pages, network, proxies), then re-run; raise "
            "`timeout:` for very large repositories.",
            input_name="timeout",
        )


@dataclass
class Endpoint:
    """One side of the mirror: its URL, credential and (optional) LFS endpoint."""

    name: str  # "source" | "target"
    url: str
    auth: GitAuth | None = None
    lfs_url: str = ""
    reset_headers: bool = False  # drop extraHeaders the checkout persisted for this URL (no duplicate Authorization)


@dataclass
class Git:
    repo: str
    source: Endpoint
    target: Endpoint
    extra_env: dict[str, str] = field(default_factory=dict)
    base_env: Mapping[str, str] | None = None
    timeout: float = 1800
    secrets: list[str] = field(default_factory=list)
    deadline: Deadline | None = None
    last_error: str = ""

    @property
    def rate_limit_wait(self) -> float:
        return self.deadline.io_timeout if self.deadline else 30.0

    def __post_init__(self) -> None:
        for ep in (self.source, self.target):
            if ep.auth:
                self.secrets.extend(ep.auth.mask_values())

    def _config(self) -> list[tuple[str, str]]:
        config: list[tuple[str, str]] = [
            ("gc.auto", "0"),
            ("maintenance.auto", "false"),
            ("fetch.recurseSubmodules", "false"),
            ("advice.detachedHead", "false"),
            ("credential.helper", ""),
            ("protocol.allow", "never"),  # only the transports below; never ext::, fd::, file://
            ("protocol.https.allow", "always"),
            ("protocol.http.allow", "always"),
            ("protocol.ssh.allow", "always"),
            *network_config(self.deadline.io_timeout if self.deadline else 60.0),
            (f"remote.{SOURCE_REMOTE}.url", self.source.url),
            (f"remote.{TARGET_REMOTE}.url", self.target.url),
        ]
        for remote, ep in ((SOURCE_REMOTE, self.source), (TARGET_REMOTE, self.target)):
            if ep.lfs_url:
                config.append((f"remote.{remote}.lfsurl", ep.lfs_url))
            lfs = ep.lfs_url or (ep.url.rstrip("/") + ("/info/lfs" if ep.url.endswith(".git") else ".git/info/lfs"))
            config.append((f"lfs.{lfs}.locksverify", "false"))
            # git-lfs talks to <url>.git/info/lfs when the remote URL has no .git suffix (GitHub's checkout URL)
            scopes = [ep.url] + ([ep.url.rstrip("/") + ".git"] if not ep.url.endswith(".git") else [])
            scopes += [ep.lfs_url] if ep.lfs_url else []
            for scope in scopes:
                if not scope.startswith(("http://", "https://")):
                    continue
                if ep.reset_headers or ep.auth:
                    config.append((f"http.{scope}.extraHeader", ""))
                header = ep.auth.header() if ep.auth else None
                if header:
                    config.append((f"http.{scope}.extraHeader", header))
        return config

    def env(self) -> dict[str, str]:
        # git never needs the step's inputs (they may hold tokens or bytes no environment can carry)
        base = {k: v for k, v in (os.environ if self.base_env is None else self.base_env).items()
                if not k.startswith("INPUT_") and "\x00" not in v}
        env = git_env(None, base, extra_config=self._config())
        env.update(self.extra_env)
        env.setdefault("GIT_LFS_SKIP_SMUDGE", "1")
        return env

    def scrub(self, text: str) -> str:
        for value in sorted(set(self.secrets), key=len, reverse=True):
            if value:
                text = text.replace(value, "***")
        return text

    def run(self, args: Sequence[str], *, check: bool = True, timeout: float | None = None,
            cwd: str | None = None, operands: Sequence[str] = ()) -> GitResult:
        """``git ARGS --end-of-options OPERANDS``, bounded by ``timeout`` and the stage's deadline."""
        limit = timeout or self.timeout
        if self.deadline is not None:
            left = self.deadline.remaining()
            if left <= 0.05:
                raise self.deadline.expired(f"running git {args[0]}", self.last_error)
            limit = min(limit, left)
        cmd = ["git", *args, *((END_OF_OPTIONS, *operands) if operands else ())]
        try:
            proc = subprocess.run(
                cmd, cwd=cwd or self.repo, env=self.env(), capture_output=True, text=True,
                timeout=limit, check=False, stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise UserError("git is not installed on this runner.", "install git (apt-get install git).")
        except subprocess.TimeoutExpired:
            self.last_error = f"git {args[0]} got no answer within {limit:.0f}s"
            raise TransientError(self.last_error) from None
        result = GitResult(proc.returncode, self.scrub(proc.stdout), self.scrub(proc.stderr), cmd[1:])
        if not result.ok:
            self.last_error = (result.stderr.strip() or result.stdout.strip())[-300:]
        if check and not result.ok:
            raise GitFailure(result)
        return result

    # ---------------------------------------------------------------- queries
    def ls_remote(self, ep: Endpoint, patterns: Sequence[str] = ()) -> dict[str, str]:
        res = self.run(["ls-remote", "--refs"], operands=[ep.url, *patterns], check=False, timeout=300)
        if not res.ok:
            raise classify(res, ep, self.rate_limit_wait)
        return parse_ls_remote(res.stdout)

    def local_refs(self, prefix: str) -> dict[str, str]:
        out = self.run(["for-each-ref", "--format=%(objectname) %(refname)", prefix]).stdout
        refs = {}
        for line in out.splitlines():
            sha, _, ref = line.partition(" ")
            refs[ref] = sha
        return refs

    def has_commit(self, sha: str) -> bool:
        return self.run(["cat-file", "-e"], operands=[f"{sha}^{{commit}}"], check=False).ok

    def has_object(self, sha: str) -> bool:
        return self.run(["cat-file", "-e"], operands=[sha], check=False).ok

    def is_ancestor(self, old: str, new: str) -> bool:
        if not self.has_commit(old):
            return False  # not in the source's complete history: the target had commits the source lost
        return self.run(["merge-base", "--is-ancestor"], operands=[old, new], check=False).returncode == 0

    def is_shallow(self) -> bool:
        return self.run(["rev-parse", "--is-shallow-repository"]).stdout.strip() == "true"

    # ---------------------------------------------------------------- actions
    def fetch_source(self) -> dict[str, str]:
        """Fetch every branch and tag of the source into a private namespace, with full history.

        Returns ``{refs/heads/x: sha}`` as fetched. ``--prune`` makes the namespace exactly the source's
        current set; ``--unshallow`` completes a shallow checkout.
        """
        args = ["fetch", "--no-tags", "--prune", "--no-write-fetch-head", "--quiet"]
        if self.is_shallow():
            args.append("--unshallow")
        res = self.run(args, operands=[self.source.url, f"+refs/heads/*:{SOURCE_NS}heads/*",
                                       f"+refs/tags/*:{SOURCE_NS}tags/*"], check=False)
        if not res.ok:
            raise classify(res, self.source, self.rate_limit_wait)
        if self.is_shallow():
            raise UserError(
                "The checkout is still shallow after fetching the full history; refusing to mirror from it.",
                "use `fetch-depth: 0` in actions/checkout, or check the source token can read the whole repository.",
            )
        return {"refs/" + ref[len(SOURCE_NS):]: sha for ref, sha in self.local_refs(SOURCE_NS).items()}

    def fetch_target_refs(self, refs: Sequence[str]) -> None:
        """Bring target tips that must be kept under refs/backup into the local repository."""
        if not refs:
            return
        specs = [f"+{r}:{TARGET_NS}{r[len('refs/'):]}" for r in refs]
        res = self.run(["fetch", "--no-tags", "--no-write-fetch-head", "--quiet"], operands=[self.target.url, *specs],
                       check=False)
        if not res.ok:
            raise classify(res, self.target, self.rate_limit_wait)

    def push(self, refspecs: Sequence[str], *, atomic: bool, dry_run: bool = False,
             leases: Mapping[str, str] | None = None) -> GitResult:
        """``leases`` ({ref: sha the plan saw}) guard deletions: a ref that moved on the target since the
        ``ls-remote`` is not deleted (``[rejected] (stale info)``)."""
        args = ["push", "--porcelain", "--no-verify"]
        args += [f"--force-with-lease={ref}:{sha}" for ref, sha in (leases or {}).items()]
        if atomic:
            args.append("--atomic")
        if dry_run:
            args.append("--dry-run")
        return self.run(args, operands=[self.target.url, *refspecs], check=False)

    # -------------------------------------------------------------------- LFS
    def uses_lfs(self, tips: Sequence[str]) -> bool:
        if not tips:
            return False
        unique = sorted(set(tips))
        if any(not t.startswith("refs/") for t in unique):  # git grep has no --end-of-options
            raise ValueError(f"not a ref: {[t for t in unique if not t.startswith('refs/')][:3]}")
        for i in range(0, len(unique), 200):
            res = self.run(
                ["grep", "-l", "-I", "-e", "filter=lfs", *unique[i:i + 200], "--", ".gitattributes",
                 ":(glob)**/.gitattributes"],
                check=False,
            )
            if res.returncode == 0:
                return True
        return False

    def lfs_available(self) -> bool:
        return self.run(["lfs", "version"], check=False).ok

    def lfs_fetch_all(self, refs: Sequence[str]) -> GitResult:
        return self.run(["lfs", "fetch", "--all", SOURCE_REMOTE, *refs], check=False)

    def lfs_push_all(self, refs: Sequence[str]) -> GitResult:
        return self.run(["lfs", "push", "--all", TARGET_REMOTE, *refs], check=False)


class GitFailure(Exception):
    def __init__(self, result: GitResult) -> None:
        super().__init__(result.stderr.strip() or result.stdout.strip())
        self.result = result


def classify(res: GitResult, ep: Endpoint, rate_limit_wait: float = 30.0) -> Exception:
    """Turn a failed git call against one endpoint into the error a user can act on. git does not show the
    server's Retry-After, so a 429 waits ``rate_limit_wait`` seconds before the retry."""
    text = (res.stderr or res.stdout).strip()
    low = text.lower()
    side = "the source repository" if ep.name == "source" else "the Bitbucket repository"
    input_hint = "source-token" if ep.name == "source" else "token"
    if "host key verification failed" in low or "no matching host key" in low:
        return UserError(
            f"SSH host key verification failed for {side}: {text}",
            "add the server's host key line to `ssh-known-hosts:` (host-key checking stays on).",
            input_name="ssh-known-hosts",
        )
    if "permission denied (publickey" in low:
        return UserError(
            f"The SSH key was refused by {side}: {text}",
            "add the public key as an access key with write permission (repository settings -> Access keys) "
            "or to a user with write access.",
            input_name="ssh-private-key",
        )
    if "returned error: 410" in low:
        return UserError(
            f"{side} answered 410 Gone for the credential: app passwords were removed by Bitbucket Cloud on "
            "2026-07-28.",
            "replace the app password with an API token (`auth: api-token`, `username:` your email) or an access "
            "token.",
            input_name=input_hint,
        )
    if "returned error: 403" in low or "403 forbidden" in low or "access denied" in low:
        return UserError(
            f"The credential can read but not write {side} (403): {text}",
            "give the credential write access (API token scope write:repository:bitbucket, access token scope "
            "repository:write, or an SSH access key with write permission).",
            input_name=input_hint,
        )
    if ("returned error: 401" in low or "authentication failed" in low or "could not read username" in low
            or "terminal prompts disabled" in low):
        return UserError(
            f"{side} rejected the credential (401): {text}",
            f"check `{input_hint}:`" + (" (and `username:`/`auth:`)." if ep.name == "target" else "."),
            input_name=input_hint,
        )
    if "returned error: 404" in low or "repository not found" in low or ("not found" in low and "repository" in low):
        return UserError(
            f"{side} was not found at {ep.url}: {text}",
            "check the repository name/URL inputs" + (" and that `create:` is true." if ep.name == "target" else "."),
        )
    if TRANSIENT.search(text):
        wait = rate_limit_wait if "returned error: 429" in low else None
        return TransientError(f"git {res.args[0] if res.args else ''} against {side}: {text[-300:]}", wait)
    return UserError(f"git {' '.join(res.args[:1])} against {side} failed: {text[-800:]}",
                     "see git's message; check the URL inputs, the credential and the repository settings, then "
                     "re-run.")


@dataclass
class PushLine:
    flag: str
    src: str
    dst: str
    summary: str


def parse_porcelain(stdout: str) -> list[PushLine]:
    lines = []
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or len(parts[0]) != 1:
            continue
        src, _, dst = parts[1].partition(":")
        lines.append(PushLine(parts[0], src, dst, parts[2]))
    return lines


def remote_messages(stderr: str) -> str:
    msgs = [ln[len("remote:"):].strip() for ln in stderr.splitlines() if ln.startswith("remote:")]
    return " ".join(m for m in msgs if m)
