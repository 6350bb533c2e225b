#!/usr/bin/env python3
"""Cut a Shipyard release whose pins pin (docs/pinning.md).

    python3 scripts/release.py pin --version 1.2.3 [--commit HEAD] [--push] [--remote origin]
    python3 scripts/release.py verify --tag v1.2.3

On main the reusable workflows run the root action as ``shipyard/shipyard@v1``: a main commit is development,
not a release. ``pin`` makes the release commit R, a child of the code commit C (default HEAD), in which every
``uses: shipyard/shipyard[/path]@<ref>`` of the files GitHub runs from this repository (the workflows under
``.github/workflows/``, the root ``action.yml``, every ``actions/**/action.yml``) reads
``shipyard/shipyard[/path]@<sha of C> # vX.Y.Z``, and the zizmor policy for ``shipyard/*`` reads ``hash-pin``.
Nothing else changes, so R carries C's code byte for byte: a caller that pins
``shipyard/shipyard/.github/workflows/pipeline-<lang>.yml@<sha of R>`` (or ``@vX.Y.Z``) runs C's actions,
wherever ``v1`` moves later. ``pin`` then tags R ``vX.Y.Z``, moves ``vX`` to it and (``--push``) pushes both
tags atomically. ``verify`` re-checks a release tag (the release workflow runs it on every pushed tag).

Refused, with nothing written (no commit referenced, no tag, no worktree left): a version that is not X.Y.Z, a
CHANGELOG.md without a ``## [X.Y.Z]`` section, an existing tag, a call of one of our own reusable workflows by
``owner/repo`` (it cannot be pinned to the commit that contains it), and a tree with nothing to pin.
Standard library only: the release workflow runs it with the runner's python3.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

OWN = "shipyard/shipyard"
VERSION = re.compile(r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)")
TAG = re.compile(r"v((?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*))")
SHA = re.compile(r"[0-9a-f]{40}")
# a `uses:` line naming this repository: `- uses: shipyard/shipyard/actions/build@v1 # comment`
USES = re.compile(
    r"(?P<lead>[ \t]*(?:-[ \t]+)?uses:[ \t]*)(?P<q>['\"]?)shipyard/shipyard(?P<path>/[^@\s'\"#]*)?"
    r"@(?P<ref>[^\s'\"#]+)(?P=q)(?P<rest>.*)"
)
# the zizmor policy line for our own actions (.github/zizmor.yml)
POLICY = re.compile(
    r"(?P<lead>[ \t]*(?P<q>['\"]?)shipyard/\*(?P=q)[ \t]*:[ \t]*)(?P<policy>[a-z-]+)(?P<rest>[ \t]*(?:#.*)?)"
)
ZIZMOR = ".github/zizmor.yml"


class ReleaseError(Exception):
    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


# ------------------------------------------------------------------------------------------------ scope
def pinned_scope(path: str) -> bool:
    """Files GitHub runs from this repository when a caller names it: workflows, the root action, stage actions.
    (workflow-templates/ are copied into the organisation's .github repository, which chooses its own pin.)"""
    if re.fullmatch(r"\.github/workflows/[^/]+\.ya?ml", path):
        return True
    if path in ("action.yml", "action.yaml"):
        return True
    return re.fullmatch(r"actions/(?:[^/]+/)+action\.ya?ml", path) is not None


def own_references(text: str) -> list[tuple[int, re.Match[str]]]:
    return [(n, m) for n, line in enumerate(text.splitlines(), 1) if (m := USES.fullmatch(line))]


def pinned_line(match: re.Match[str], code: str, version: str) -> str:
    return f"{match['lead']}{OWN}{match['path'] or ''}@{code} # v{version}"


def rewrite(path: str, text: str, code: str, version: str) -> str:
    """``text`` with every reference to this repository pinned to ``code``. A reusable-workflow call is refused:
    its file would have to name the release commit that contains it."""
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        body = line.rstrip("\r\n")
        match = USES.fullmatch(body)
        if match:
            if (match["path"] or "").startswith("/.github/workflows/"):
                raise ReleaseError(
                    f"{path}:{number} calls {OWN}{match['path']}@{match['ref']}: a workflow of this repository "
                    "cannot be pinned to the release commit that contains it",
                    "call it as ./.github/workflows/<file> (same commit as the caller), or fold it into the "
                    "calling workflow as pipeline-<lang>.yml does")
            line = pinned_line(match, code, version) + line[len(body):]
        out.append(line)
    return "".join(out)


def hash_pin_policy(text: str) -> str:
    """.github/zizmor.yml with ``shipyard/*: hash-pin`` (the release commit's files satisfy it)."""
    out, found = [], False
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        match = POLICY.fullmatch(body)
        if match:
            found = True
            line = f"{match['lead']}hash-pin{match['rest']}" + line[len(body):]
        out.append(line)
    if not found:
        raise ReleaseError(f'{ZIZMOR} has no "shipyard/*" policy under unpinned-uses',
                           'add `"shipyard/*": ref-pin` to its unpinned-uses policies (main) and release again')
    return "".join(out)


# ------------------------------------------------------------------------------------------------ git
@dataclass
class Git:
    repo: Path

    def __call__(self, *args: str, cwd: Path | None = None, check: bool = True) -> str:
        proc = subprocess.run(["git", *args], cwd=cwd or self.repo, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise ReleaseError(f"git {args[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}",
                               "see the git message above")
        return proc.stdout

    def commit_of(self, ref: str) -> str:
        proc = subprocess.run(["git", "rev-parse", "-q", "--verify", "--end-of-options", f"{ref}^{{commit}}"],
                              cwd=self.repo, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ReleaseError(f"{ref!r} is not a commit of {self.repo}", "name a branch, tag or commit SHA")
        return proc.stdout.strip()

    def has_ref(self, ref: str) -> bool:
        return subprocess.run(["git", "rev-parse", "-q", "--verify", ref], cwd=self.repo,
                              capture_output=True, check=False).returncode == 0

    def show(self, commit: str, path: str) -> str | None:
        proc = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=self.repo, capture_output=True,
                              check=False)
        return proc.stdout.decode("utf-8") if proc.returncode == 0 else None

    def files(self, commit: str) -> list[str]:
        return [p for p in self("ls-tree", "-r", "-z", "--name-only", commit).split("\0") if p]


# ------------------------------------------------------------------------------------------------ pin
@dataclass
class Release:
    version: str
    code: str  # C: the commit whose code the release runs
    commit: str  # R: C plus the pins
    pinned: dict[str, int]  # file -> references pinned


def check_version(version: str) -> None:
    if not VERSION.fullmatch(version):
        raise ReleaseError(f"version must be X.Y.Z (digits, no leading zeros, no 'v'), got {version!r}",
                           "pass --version 1.2.3")


def pin(repo: Path, version: str, commit: str = "HEAD") -> Release:
    """Make the release commit for ``version`` on top of ``commit`` and return it (tags are set by ``tag``)."""
    check_version(version)
    git = Git(repo)
    code = git.commit_of(commit)
    changelog = git.show(code, "CHANGELOG.md") or ""
    if not re.search(rf"^## \[{re.escape(version)}\]", changelog, re.MULTILINE):
        raise ReleaseError(f"CHANGELOG.md at {code[:12]} has no '## [{version}]' section",
                           f"rename '## [Unreleased]' to '## [{version}] - <date>', commit, and release that commit")
    if git.has_ref(f"refs/tags/v{version}"):
        raise ReleaseError(f"tag v{version} exists", "releases are immutable: choose the next version")
    changed: dict[str, str] = {}
    counts: dict[str, int] = {}
    for path in git.files(code):
        if not pinned_scope(path):
            continue
        text = git.show(code, path)
        if text is None:
            continue
        counts[path] = len(own_references(text))
        new = rewrite(path, text, code, version)
        if new != text:
            changed[path] = new
    if not changed:
        raise ReleaseError(f"no `uses: {OWN}@...` in the workflows or actions at {code[:12]}: nothing to pin",
                           "check that the pipeline workflows still run the root action by owner/repo")
    policy = git.show(code, ZIZMOR)
    if policy is not None:
        changed[ZIZMOR] = hash_pin_policy(policy)
    with tempfile.TemporaryDirectory(prefix="shipyard-release-") as tmp:
        tree = Path(tmp) / "tree"
        git("worktree", "add", "-q", "--detach", str(tree), code)
        try:
            for path, text in changed.items():
                (tree / path).write_text(text, encoding="utf-8")
            git("add", "--", *changed, cwd=tree)
            message = (f"release v{version}: pin {OWN} to {code}\n\n"
                       f"The workflows and actions of this commit run the actions of {code}\n"
                       f"(the code of v{version}; this commit changes nothing else). See docs/pinning.md.\n")
            proc = subprocess.run(["git", "commit", "-q", "--no-verify", "-m", message], cwd=tree,
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise ReleaseError(f"git commit failed: {proc.stderr.strip() or proc.stdout.strip()}",
                                   "set a committer (GIT_AUTHOR_NAME/EMAIL, GIT_COMMITTER_NAME/EMAIL or git config "
                                   "user.name/user.email) and run again")
            release = git("rev-parse", "HEAD", cwd=tree).strip()
        finally:
            git("worktree", "remove", "--force", str(tree), check=False)
            git("worktree", "prune", check=False)
    verify(repo, release, version)
    return Release(version, code, release, {p: n for p, n in counts.items() if n})


def tag(repo: Path, release: Release, push: bool = False, remote: str = "origin") -> None:
    """Tag the release commit vX.Y.Z, move vX to it; with ``push`` send both in one atomic push."""
    git = Git(repo)
    exact, major = f"v{release.version}", f"v{release.version.split('.')[0]}"
    git("tag", "-a", "-m", f"Shipyard {exact} (runs the actions of {release.code})", exact, release.commit)
    try:
        git("tag", "-f", "-a", "-m", f"Shipyard {major} -> {exact}", major, release.commit)
    except ReleaseError:
        git("tag", "-d", exact, check=False)
        raise
    if push:
        proc = subprocess.run(["git", "push", "--atomic", remote, f"refs/tags/{exact}:refs/tags/{exact}",
                               f"+refs/tags/{major}:refs/tags/{major}"], cwd=repo, capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            raise ReleaseError(f"pushing {exact} and {major} failed (neither was pushed): {proc.stderr.strip()}",
                               f"fix the remote, then `git push --atomic {remote} refs/tags/{exact} "
                               f"+refs/tags/{major}` (or drop the local tags: git tag -d {exact})")


# ------------------------------------------------------------------------------------------------ verify
def verify(repo: Path, release: str, version: str) -> str:
    """Check that ``release`` is a release commit for ``version``; return its code commit C. It must have one
    parent C; differ from C only in ``uses:`` lines of files in scope (each now ``@C # vX.Y.Z``) and in the
    zizmor policy line; and name no other ref of this repository in any file in scope."""
    git = Git(repo)
    parents = git("rev-list", "--parents", "-n", "1", release).split()[1:]
    if len(parents) != 1:
        raise ReleaseError(f"{release[:12]} has {len(parents)} parents; a release commit has one (the code commit)",
                           "cut the release with scripts/release.py pin")
    code = parents[0]
    problems = []
    for path in git("diff", "--name-only", "-z", code, release).split("\0"):
        if not path:
            continue
        if not (pinned_scope(path) or path == ZIZMOR):
            problems.append(f"{path} differs from the code commit")
            continue
        old, new = (git.show(code, path) or "").splitlines(), (git.show(release, path) or "").splitlines()
        if len(old) != len(new):
            problems.append(f"{path}: lines added or removed")
            continue
        for number, (a, b) in enumerate(zip(old, new, strict=True), 1):
            if a == b:
                continue
            was, now = USES.fullmatch(a), USES.fullmatch(b)
            pol_a, pol_b = POLICY.fullmatch(a), POLICY.fullmatch(b)
            if was and now and b == pinned_line(was, code, version):
                continue
            if path == ZIZMOR and pol_a and pol_b and pol_b["policy"] == "hash-pin":
                continue
            problems.append(f"{path}:{number}: {a.strip()!r} -> {b.strip()!r} is not a pin")
    pinned = 0
    for path in git.files(release):
        if not pinned_scope(path):
            continue
        for number, match in own_references(git.show(release, path) or ""):
            pinned += 1
            if match["ref"] != code or match["rest"].strip() != f"# v{version}":
                problems.append(f"{path}:{number}: {OWN}{match['path'] or ''}@{match['ref']} is not pinned to "
                                f"{code} # v{version}")
    policy = git.show(release, ZIZMOR)
    if policy is not None:
        lines = [m for line in policy.splitlines() if (m := POLICY.fullmatch(line))]
        if not lines or any(m["policy"] != "hash-pin" for m in lines):
            problems.append(f'{ZIZMOR}: the "shipyard/*" policy is not hash-pin')
    if not pinned:
        problems.append(f"no `uses: {OWN}@...` in the workflows or actions: nothing is pinned")
    if problems:
        raise ReleaseError(f"{release[:12]} is not a release commit of v{version}: " + "; ".join(problems[:10]),
                           "cut releases with `python3 scripts/release.py pin --version X.Y.Z` (docs/pinning.md)")
    return code


def verify_tag(repo: Path, name: str) -> tuple[str, str]:
    match = TAG.fullmatch(name)
    if not match:
        raise ReleaseError(f"tag must be vX.Y.Z, got {name!r}", "pass --tag v1.2.3")
    git = Git(repo)
    release = git.commit_of(f"refs/tags/{name}")
    return release, verify(repo, release, match[1])


# ------------------------------------------------------------------------------------------------ CLI
def report(release: Release) -> str:
    lines = [f"v{release.version}: release commit {release.commit}, runs the actions of {release.code}",
             *(f"  {path}: {count} reference(s) pinned" for path, count in sorted(release.pinned.items())),
             "Pin a service to it with:",
             f"  uses: {OWN}/.github/workflows/pipeline-<language>.yml@{release.commit} # v{release.version}"]
    return "\n".join(lines)


def _write_github_files(release: Release) -> None:
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as fh:
            fh.write(f"release-commit={release.commit}\ncode-commit={release.code}\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        rows = "\n".join(f"| `{p}` | {n} |" for p, n in sorted(release.pinned.items()))
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(f"## Shipyard v{release.version}\n\n"
                     f"```mermaid\ngitGraph\n  commit id: \"{release.code[:7]} code\"\n"
                     f"  branch release\n  commit id: \"{release.commit[:7]} pins\" tag: \"v{release.version}\"\n"
                     f"```\n\n| file | references pinned to `{release.code[:12]}` |\n|---|---|\n{rows}\n\n"
                     f"Pin: `uses: {OWN}/.github/workflows/pipeline-<language>.yml@{release.commit} "
                     f"# v{release.version}`\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent,
                        help="the Shipyard repository (default: this checkout)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_pin = sub.add_parser("pin", help="make, tag (and push) the release commit")
    p_pin.add_argument("--version", required=True, help="X.Y.Z")
    p_pin.add_argument("--commit", default="HEAD", help="the code commit to release (default HEAD)")
    p_pin.add_argument("--push", action="store_true", help="push vX.Y.Z and vX (atomically)")
    p_pin.add_argument("--remote", default="origin")
    p_verify = sub.add_parser("verify", help="check that a tag is a release commit")
    p_verify.add_argument("--tag", required=True, help="vX.Y.Z")
    args = parser.parse_args(argv)
    try:
        if args.command == "pin":
            release = pin(args.repo, args.version, args.commit)
            tag(args.repo, release, push=args.push, remote=args.remote)
            print(report(release))
            _write_github_files(release)
        else:
            release_commit, code = verify_tag(args.repo, args.tag)
            print(f"{args.tag}: release commit {release_commit} runs the actions of {code}")
    except ReleaseError as exc:
        prefix = "::error::" if os.environ.get("GITHUB_ACTIONS") == "true" else "error: "
        print(f"{prefix}{' '.join(str(exc).split())}", file=sys.stderr)
        print(f"Fix: {exc.fix}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
