"""Reading the config repository with the git CLI: one bare clone, one tree listing, one log, one blob batch.

Credentials travel through :mod:`shipyard.git` (an ``http.extraHeader`` in git's environment, never argv or a
URL); the URL follows ``--end-of-options``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field

from shipyard.git import GitAuth, git_env, run_git
from shipyard.runtime import TransientError, UserError, redact_url

TRANSIENT_WORDS = ("returned error: 5", "returned error: 429", "timed out", "connection reset", "early eof",
                   "could not resolve host", "failed to connect", "connection refused", "rpc failed")


@dataclass
class Commit:
    sha: str
    time: float
    author: str
    message: str


@dataclass
class FileChange:
    commit: Commit
    blob: str  # the file's blob after the commit ("0"*40 when deleted)


@dataclass
class RepoSnapshot:
    """The tip of a branch plus the history of the files asked for (newest first per file)."""

    git_dir: str
    branch: str
    tip: str
    files: dict[str, str] = field(default_factory=dict)  # path -> blob id at the tip
    history: dict[str, list[FileChange]] = field(default_factory=dict)


def clone(url: str, auth: GitAuth | None, branch: str, dest: str, *, env: dict[str, str] | None = None,
          timeout: float = 300) -> None:
    """A bare, single-branch clone (config repositories are small; the history dates each image change)."""
    result = run_git(["clone", "--quiet", "--bare", "--single-branch", "--no-tags", "--branch", branch,
                      "--end-of-options", url, dest], auth=auth, env=env, check=False, timeout=timeout)
    if result.ok:
        return
    err = (result.stderr or result.stdout).strip()
    low = err.lower()
    if any(w in low for w in TRANSIENT_WORDS):
        raise TransientError(f"git clone of {redact_url(url)} failed: {err}")
    if "not found in upstream" in low or "remote branch" in low:
        raise UserError(f"The config repository {redact_url(url)} has no branch '{branch}'.",
                        "set `branch` to the branch Argo CD tracks (e.g. main).", input_name="branch")
    if "401" in low or "403" in low or "authentication" in low or "could not read username" in low:
        raise UserError(f"The config repository {redact_url(url)} refused the credentials: {err}",
                        "pass a token that can read the config repository in `token`.", input_name="token")
    raise UserError(f"git clone of {redact_url(url)} failed: {err}",
                    "check `repository` (an HTTPS clone URL or owner/name) and `branch`.", input_name="repository")


def resolve(git_dir: str, ref: str) -> str:
    return run_git(["--git-dir", git_dir, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}"]
                   ).stdout.strip()


def list_files(git_dir: str, ref: str, prefix: str = "") -> dict[str, str]:
    """path -> blob id for every file under ``prefix`` at ``ref``."""
    args = ["--git-dir", git_dir, "ls-tree", "-r", "-z", "--full-tree", ref]
    if prefix:
        args += ["--", prefix]
    out = run_git(args).stdout
    files: dict[str, str] = {}
    for entry in out.split("\0"):
        if not entry:
            continue
        meta, _, path = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            files[path] = parts[2]
    return files


def history(git_dir: str, ref: str, paths: Iterable[str], *, max_commits: int = 2000) -> dict[str, list[FileChange]]:
    """For each path, the commits that changed it (newest first) with the blob each left behind."""
    wanted = sorted(set(paths))
    out: dict[str, list[FileChange]] = {p: [] for p in wanted}
    if not wanted:
        return out
    fmt = "%x1e%H%x1f%ct%x1f%an%x1f%B%x1f"
    args = ["--git-dir", git_dir, "log", f"--max-count={max_commits}", f"--format={fmt}", "--raw", "--no-abbrev",
            "--no-renames", "-z", ref, "--", *wanted]
    text = run_git(args, timeout=300).stdout
    for record in text.split("\x1e"):
        if not record.strip("\0\n"):
            continue
        fields = record.split("\x1f")
        if len(fields) < 5:
            continue
        sha, ctime, author, message, raw = fields[0], fields[1], fields[2], fields[3], "\x1f".join(fields[4:])
        commit = Commit(sha.strip(), float(ctime or 0), author, message.strip())
        tokens = [t for t in raw.strip("\n").split("\0")]
        i = 0
        while i < len(tokens):
            tok = tokens[i].strip("\n")
            if tok.startswith(":") and i + 1 < len(tokens):
                parts = tok.split()
                path = tokens[i + 1]
                if path in out and len(parts) >= 4:
                    out[path].append(FileChange(commit, parts[3]))
                i += 2
            else:
                i += 1
    return out


def read_blobs(git_dir: str, blobs: Iterable[str], timeout: float = 120) -> dict[str, str]:
    """Blob id -> text, in one ``git cat-file --batch``."""
    ids = sorted({b for b in blobs if b and b.strip("0")})
    if not ids:
        return {}
    proc = subprocess.run(["git", "--git-dir", git_dir, "cat-file", "--batch"], input=("\n".join(ids) + "\n").encode(),
                          capture_output=True, env=git_env(None), timeout=timeout, check=False)
    if proc.returncode != 0:
        raise UserError(f"git cat-file failed: {proc.stderr.decode(errors='replace').strip()}")
    data = proc.stdout
    texts: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        eol = data.index(b"\n", pos)
        header = data[pos:eol].decode().split()
        pos = eol + 1
        if len(header) < 3 or header[1] != "blob":
            continue
        size = int(header[2])
        texts[header[0]] = data[pos : pos + size].decode("utf-8", errors="replace")
        pos += size + 1
    return texts
