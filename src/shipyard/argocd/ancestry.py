"""Does ArgoCD's revision contain our commit? (equal to it, or a descendant of it)

On a shared config branch other services push right after us, so ArgoCD may never report our exact commit:
it jumps to a later one that includes ours. Three ways to tell, best first:

* :class:`GitAncestry`: a local clone of the config repo, ``git merge-base --is-ancestor``; a revision the
  clone does not have yet is fetched (credentials as an ``http.extraHeader`` in git's environment);
* :class:`ClonedAncestry`: the same in a throw-away blob-less clone of the config repo's URL (any git host);
* :class:`CompareAncestry`: the GitHub compare API (``ahead``/``identical`` means it contains ours);
* :class:`ExactAncestry`: nothing to ask, so only the exact commit counts (and the stage says so).

Answers are cached per revision; ``None`` means "cannot tell (yet)".
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote

from shipyard.git import GitAuth, run_git
from shipyard.gitops.inputs import shown
from shipyard.http import Client
from shipyard.runtime import Action, TransientError, UserError

EOO = "--end-of-options"  # what follows (a URL, a revision) is never read as an option

SHA = re.compile(r"[0-9a-f]{7,64}")


def same_commit(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return a == b or (min(len(a), len(b)) >= 7 and (a.startswith(b) or b.startswith(a)))


class Ancestry:
    """Base: caching and the exact-match shortcut. Subclasses implement :meth:`_check`."""

    method = "exact"

    def __init__(self, want: str) -> None:
        self.want = want.lower()
        self._cache: dict[str, bool] = {}
        self._lock = threading.Lock()
        self.notes: list[str] = []

    def __call__(self, rev: str) -> bool | None:
        rev = rev.lower()
        if same_commit(rev, self.want):
            return True
        with self._lock:
            if rev in self._cache:
                return self._cache[rev]
            verdict = self._check(rev)
            if verdict is not None:
                self._cache[rev] = verdict
            return verdict

    def _check(self, rev: str) -> bool | None:
        return False


class ExactAncestry(Ancestry):
    method = "exact"


class GitAncestry(Ancestry):
    """``git merge-base --is-ancestor WANT REV`` in a local clone, fetching what it lacks."""

    method = "git"

    def __init__(self, want: str, path: str, *, token: str | None = None, remote: str = "origin") -> None:
        super().__init__(want)
        self.path = Path(path)
        self.remote = remote
        self.auth: GitAuth | None = None
        self._fetched: set[str] = set()
        self._unshallowed = False
        if not (self.path / ".git").exists() and not (self.path / "HEAD").exists():
            raise UserError(f"Input 'config-repo-path': '{shown(path)}' is not a git repository.",
                            "point it at the config repo clone (gitops-update's checkout), or leave it empty.",
                            input_name="config-repo-path")
        if token:
            url = run_git(["remote", "get-url", remote], cwd=self.path, check=False).stdout.strip()
            if url.startswith(("http://", "https://")):
                scheme, rest = url.split("://", 1)
                host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
                self.auth = GitAuth("basic", "x-access-token", token, f"{scheme}://{host}/")
        if not self._has(self.want):
            self._fetch(self.want)
        if not self._has(self.want):
            detail = f" ({self.notes[-1]})" if self.notes else ""
            raise UserError(
                f"Commit {self.want[:12]} is not in the config repo at '{shown(path)}' (nor on its remote '{remote}')"
                f"{detail}.",
                "pass the config-repo commit gitops-update made (its `commit` output) as `revision`, and the same "
                "repository's clone as `config-repo-path`.",
                input_name="revision",
            )

    def _has(self, rev: str) -> bool:
        # in a partial (promisor) clone a missing object is fetched lazily by any local command, so every git
        # call here carries the credential: without it each lazy fetch is an anonymous request the server refuses
        return run_git(["cat-file", "-e", EOO, f"{rev}^{{commit}}"], cwd=self.path, auth=self.auth, check=False,
                       timeout=60).ok

    def _fetch(self, rev: str) -> None:
        if rev in self._fetched:
            return
        self._fetched.add(rev)
        # by id first (protocol v2 servers allow it), then every branch
        result = run_git(["fetch", "--quiet", "--no-tags", EOO, self.remote, rev], cwd=self.path, auth=self.auth,
                         check=False, timeout=120)
        if not result.ok or not self._has(rev):
            result = run_git(["fetch", "--quiet", "--no-tags", EOO, self.remote], cwd=self.path, auth=self.auth,
                             check=False, timeout=120)
            if not result.ok:
                self.notes.append(f"git fetch {self.remote} failed: {result.stderr.strip()[:300]}")

    def _shallow(self) -> bool:
        result = run_git(["rev-parse", "--is-shallow-repository"], cwd=self.path, auth=self.auth, check=False,
                         timeout=60)
        return result.stdout.strip() == "true"

    def _check(self, rev: str) -> bool | None:
        if not SHA.fullmatch(rev):
            return None
        for attempt in range(3):
            result = run_git(["merge-base", "--is-ancestor", EOO, self.want, rev], cwd=self.path, auth=self.auth,
                             check=False, timeout=60)
            if result.returncode == 0:
                return True
            if result.returncode == 1:
                # in a shallow clone the history linking rev to ours may be cut off: deepen once, then trust it
                if self._unshallowed or not self._shallow():
                    return False
                self._unshallowed = True
                fetched = run_git(["fetch", "--quiet", "--no-tags", "--unshallow", EOO, self.remote], cwd=self.path,
                                  auth=self.auth, check=False, timeout=300)
                if not fetched.ok:
                    self.notes.append(f"shallow clone and git fetch --unshallow failed: {fetched.stderr.strip()[:300]}")
                    return None
                continue
            if attempt == 0:
                self._fetch(rev)
        self.notes.append(f"revision {rev[:12]} is not in the config repo clone even after a fetch")
        return None


class ClonedAncestry(GitAncestry):
    """A throw-away bare, blob-less clone of the config repo's URL (any git host), then as :class:`GitAncestry`."""

    def __init__(self, want: str, url: str, *, token: str | None = None) -> None:
        if any(ord(c) < 32 or ord(c) == 127 for c in url) or url.startswith("-") or " " in url:
            raise UserError("Input 'config-repo' must be an https URL or owner/name on one line.",
                            "give the config repository's HTTPS clone URL (or owner/name).", input_name="config-repo")
        if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
            raise UserError("Input 'config-repo' carries credentials in the URL.",
                            "remove them and pass `config-repo-token` instead.", input_name="config-repo")
        self.tmp = tempfile.mkdtemp(prefix="shipyard-argocd-")
        try:
            run_git(["init", "--quiet", "--bare", EOO, self.tmp], timeout=60)
            for args in (["remote", "add", EOO, "origin", url], ["config", "remote.origin.promisor", "true"],
                         ["config", "remote.origin.partialclonefilter", "blob:none"]):
                run_git(args, cwd=self.tmp, timeout=60)
            super().__init__(want, self.tmp, token=token)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class CompareAncestry(Ancestry):
    """GitHub's compare API: ``GET /repos/{repo}/compare/{want}...{rev}``; ``ahead``/``identical`` contain ours."""

    method = "github-compare"

    def __init__(self, action: Action, want: str, repo: str, token: str, api_url: str) -> None:
        super().__init__(want)
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo):
            raise UserError(f"Input 'config-repo' must be owner/name, got '{shown(repo)}'.",
                            "give `config-repo: owner/name` or the HTTPS clone URL.", input_name="config-repo")
        self.repo = repo
        action.mask(token)
        self.http = Client(action, api_url, name="GitHub", max_elapsed=30.0, headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        })

    def _check(self, rev: str) -> bool | None:
        path = f"/repos/{self.repo}/compare/{quote(self.want)}...{quote(rev)}"
        try:
            response = self.http.get(path, params={"per_page": "1"})
        except TransientError as exc:
            self.notes.append(f"GitHub compare failed: {exc}")
            return None
        if response.status_code in (401, 403) and "rate limit" not in response.text.lower():
            raise UserError(
                f"GitHub refused the compare API for {self.repo} ({response.status_code}).",
                "give `config-repo-token` read access (contents: read) to the config repository.",
                input_name="config-repo-token",
            )
        if response.status_code == 404:
            self.notes.append(f"GitHub does not know {rev[:12]} or {self.want[:12]} in {self.repo} (404)")
            return None
        if response.status_code >= 400:
            self.notes.append(f"GitHub compare answered {response.status_code}")
            return None
        status = str(response.json().get("status", ""))
        if status in ("ahead", "identical"):
            return True
        if status in ("behind", "diverged"):
            return False
        return None
