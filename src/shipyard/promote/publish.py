"""Commit the edits on top of the base branch's tip in the bare clone (a private index, no work tree) and push the
bot branch, always as a fast-forward: when the branch exists, the new commit's parents are its head and the base
tip (a merge recording exactly base + edits), so no force push is needed and branch protection against force
pushes does not get in the way. If GitHub refuses the pull request, a branch this run created is deleted again:
nothing is left half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from shipyard.git import GitAuth, GitResult, GitTimeout, run_git
from shipyard.runtime import TransientError, UserError, redact_url


def _timed(args: list[str], auth: GitAuth | None, env: Mapping[str, str], timeout: float) -> GitResult:
    """One git call with a network peer, bounded by ``timeout``: a server that accepts and never answers is a
    transient failure (retried by the caller within the stage's time), not a hang."""
    try:
        return run_git(args, auth=auth, env=env, check=False, timeout=max(1.0, timeout))
    except GitTimeout as exc:
        raise TransientError(exc.message) from None


@dataclass
class Pushed:
    branch: str
    commit: str
    created: bool  # the branch did not exist before this run
    changed: bool  # a push happened


def remote_head(url: str, auth: GitAuth | None, branch: str, env: Mapping[str, str], *,
                timeout: float = 60) -> str | None:
    result = _timed(["ls-remote", "--end-of-options", url, f"refs/heads/{branch}"], auth, env, timeout)
    if not result.ok:
        raise TransientError(f"git ls-remote {redact_url(url)} failed: {result.stderr.strip()}")
    for line in result.stdout.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def make_commit(git_dir: str, base: str, files: Mapping[str, str], message: str, *, name: str, email: str,
                when: float, parents: tuple[str, ...] = ()) -> tuple[str, str]:
    """(commit, tree) of ``base`` with ``files`` replaced; parents ``parents`` (default: ``base``)."""
    with tempfile.TemporaryDirectory(prefix="shipyard-index-") as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        run_git(["--git-dir", git_dir, "read-tree", base], env=env)
        for path, text in sorted(files.items()):
            oid = run_git(["--git-dir", git_dir, "hash-object", "-w", "--stdin", "--path", path], env=env,
                          input_text=text).stdout.strip()
            listed = run_git(["--git-dir", git_dir, "ls-tree", base, "--", path], env=env).stdout
            mode = listed.split(" ")[0] or "100644"
            run_git(["--git-dir", git_dir, "update-index", "--cacheinfo", f"{mode},{oid},{path}"], env=env)
        tree = run_git(["--git-dir", git_dir, "write-tree"], env=env).stdout.strip()
        stamp = f"@{int(when)} +0000"
        cenv = {**env, "GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
                "GIT_COMMITTER_EMAIL": email, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        args = ["--git-dir", git_dir, "commit-tree", tree]
        for parent in parents or (base,):
            args += ["-p", parent]
        commit = run_git([*args, "-F", "-"], env=cenv, input_text=message).stdout.strip()
    return commit, tree


def fetch_branch(git_dir: str, url: str, auth: GitAuth | None, branch: str, env: Mapping[str, str], *,
                 timeout: float = 120) -> None:
    result = _timed(["--git-dir", git_dir, "fetch", "--quiet", "--no-tags", "--end-of-options", url,
                     f"+refs/heads/{branch}:refs/shipyard/{branch}"], auth, env, timeout)
    if not result.ok:
        raise TransientError(f"git fetch of {branch} failed: {result.stderr.strip()}")


def same_change(git_dir: str, head: str, base: str, tree: str) -> bool:
    """Does the existing bot branch (fetched) already hold exactly this change on this base?"""
    info = run_git(["--git-dir", git_dir, "show", "-s", "--format=%T", head], check=False).stdout.split()
    if info != [tree]:
        return False
    return run_git(["--git-dir", git_dir, "merge-base", "--is-ancestor", base, head], check=False).ok


def push(git_dir: str, url: str, auth: GitAuth | None, branch: str, commit: str, old: str | None,
         env: Mapping[str, str], *, timeout: float = 180) -> None:
    del old  # a plain push: the server refuses anything but a fast-forward from the head we built on
    result = _timed(["--git-dir", git_dir, "push", "--porcelain", "--end-of-options", url,
                     f"{commit}:refs/heads/{branch}"], auth, env, timeout)
    if result.ok:
        return
    err = (result.stderr or result.stdout).strip()
    low = err.lower()
    if any(w in low for w in ("stale info", "fetch first", "non-fast-forward", "rejected")) and "403" not in low:
        raise UserError(f"The bot branch {branch} moved while this run prepared it ({err}).",
                        "rerun: the branch is rewritten from the current base on every run.")
    if "403" in low or "401" in low or "permission" in low or "denied" in low:
        raise UserError(f"The config repository refused the push of {branch}: {err}",
                        "give the token `contents: write` on the config repository.", input_name="token")
    raise TransientError(f"git push of {branch} failed: {err}")


def delete_branch(git_dir: str, url: str, auth: GitAuth | None, branch: str, commit: str,
                  env: Mapping[str, str]) -> bool:
    result = run_git(["--git-dir", git_dir, "push", "--porcelain", f"--force-with-lease=refs/heads/{branch}:{commit}",
                      "--end-of-options", url, f":refs/heads/{branch}"], auth=auth, env=env, check=False, timeout=120)
    return result.ok
