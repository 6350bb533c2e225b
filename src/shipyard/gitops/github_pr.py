"""Pull-request mode (PyGithub): open or update one PR per service and environment; App installation tokens.

PyGithub is imported lazily: nothing else in Shipyard pays for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shipyard.runtime import TransientError, UserError

GITHUB_URL = re.compile(r"^(?:https?://[^/]+/|git@[^:]+:)(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/?$")


def repo_slug(url: str) -> str | None:
    m = GITHUB_URL.match(url.strip())
    return f"{m.group('owner')}/{m.group('name')}" if m else None


@dataclass
class PullRequestSpec:
    repository: str  # owner/name
    head: str  # branch
    base: str
    title: str
    body: str
    labels: list[str]
    reviewers: list[str]
    team_reviewers: list[str]
    auto_merge: bool
    merge_method: str  # MERGE | SQUASH | REBASE
    draft: bool = False


@dataclass
class PullRequestResult:
    url: str
    number: int
    created: bool
    auto_merge: str | None = None  # enabled | failed: ... | None


def _github_error(exc: Exception, what: str) -> Exception:
    from github import GithubException

    if not isinstance(exc, GithubException):
        return exc
    status = exc.status
    data = exc.data if isinstance(exc.data, dict) else {}
    detail = str(data.get("message") or exc)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        detail += " (" + "; ".join(str(e.get("message") or e) if isinstance(e, dict) else str(e) for e in errors) + ")"
    if status == 401:
        return UserError(f"GitHub refused the token while trying to {what}: {detail}.",
                         "check the `token` input (or the GitHub App credentials); it may be expired.",
                         input_name="token")
    if status == 403 and "rate limit" not in detail.lower():
        return UserError(f"GitHub denied access while trying to {what}: {detail}.",
                         "give the token `pull-requests: write` and `contents: write` on the config repository.",
                         input_name="token")
    if status == 404:
        return UserError(f"GitHub answered 404 while trying to {what}: {detail}.",
                         "check `github-repository` (owner/name) and that the token can see it.",
                         input_name="github-repository")
    if status == 422:
        return UserError(f"GitHub rejected the request to {what}: {detail}.",
                         "check the labels/reviewers inputs and that the PR branch exists.")
    if status in (403, 429) or status >= 500:
        retry_after = None
        headers = getattr(exc, "headers", None) or {}
        for key, value in headers.items():
            if key.lower() == "retry-after":
                try:
                    retry_after = float(value)
                except ValueError:
                    retry_after = None
        return TransientError(f"GitHub {status} while trying to {what}: {detail}", retry_after)
    return UserError(f"GitHub error {status} while trying to {what}: {detail}.")


# PyGithub's spacing between requests / between writes (GitHub's advice against secondary rate limits).
THROTTLE = (0.25, 1.0)


def client(token: str, api_url: str, timeout: float = 30.0) -> Any:
    from github import Auth, Github

    return Github(auth=Auth.Token(token), base_url=api_url.rstrip("/"), retry=None, timeout=max(1, round(timeout)),
                  seconds_between_requests=THROTTLE[0], seconds_between_writes=THROTTLE[1])


def set_timeout(gh: Any, seconds: float) -> None:
    """Bound every later request of ``gh`` (and of the objects it made) by ``seconds``: the stage's time left.
    PyGithub keeps the timeout on its requester and on the connection it reuses."""
    requester = getattr(gh, "_Github__requester", None)
    if requester is None:
        return
    if hasattr(requester, "_Requester__timeout"):
        requester._Requester__timeout = seconds
    connection = getattr(requester, "_Requester__connection", None)
    if connection is not None and hasattr(connection, "timeout"):
        connection.timeout = seconds


def _network_error(exc: Exception, what: str) -> TransientError | None:
    """A connection refused, reset or timed out (``requests`` under PyGithub) as a retryable error."""
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return TransientError(f"GitHub unreachable while trying to {what} ({type(exc).__name__})")
    return None


def installation_token(app_id: str, private_key: str, repository: str, api_url: str,
                       installation_id: str | None = None, *, timeout: float = 15.0) -> str:
    """Mint a GitHub App installation token for ``repository`` (owner/name)."""
    from github import Auth, GithubException, GithubIntegration

    owner, _, name = repository.partition("/")
    what = f"mint a GitHub App installation token for {repository}"
    try:
        integration = GithubIntegration(auth=Auth.AppAuth(app_id, private_key), base_url=api_url.rstrip("/"),
                                        timeout=max(1, int(timeout)), retry=None)
        inst_id = int(installation_id) if installation_id else integration.get_repo_installation(owner, name).id
        return str(integration.get_access_token(inst_id).token)
    except GithubException as exc:
        raise _github_error(exc, what)
    except OSError as exc:
        network = _network_error(exc, what)
        if network is None:
            raise
        raise network
    except ValueError as exc:
        raise UserError(f"The GitHub App private key could not be used: {exc}.",
                        "pass the App's PEM private key in `app-private-key`.", input_name="app-private-key")


def _caller(retry: Any) -> Any:
    """``call(what, fn)``: ``fn`` with GitHub's errors turned into UserError/TransientError, retried."""
    from github import GithubException

    def call(what: str, fn: Any) -> Any:
        def attempt() -> Any:
            try:
                return fn()
            except GithubException as exc:
                raise _github_error(exc, what)
            except OSError as exc:  # requests' ConnectionError/Timeout are OSErrors
                network = _network_error(exc, what)
                if network is None:
                    raise
                raise network

        return retry(what, attempt)

    return call


def find_pull(gh: Any, spec: PullRequestSpec, retry: Any) -> Any:
    """The open PR from ``spec.head`` into ``spec.base``, or None (also checks the token and repository)."""
    call = _caller(retry)
    owner = spec.repository.split("/")[0]
    repo = call(f"read {spec.repository}", lambda: gh.get_repo(spec.repository))
    existing = call(
        "list open pull requests",
        lambda: list(repo.get_pulls(state="open", head=f"{owner}:{spec.head}", base=spec.base)),
    )
    return existing[0] if existing else None


def open_or_update(gh: Any, spec: PullRequestSpec, retry: Any) -> PullRequestResult:
    """Reuse the open PR from ``spec.head`` into ``spec.base`` if there is one, else open one.

    A create that GitHub applied but answered with a 5xx (or a dropped connection) fails with 422 "already
    exists" when sent again: the PR is looked up instead, so there is never a second one."""
    call = _caller(retry)
    owner = spec.repository.split("/")[0]
    repo = call(f"read {spec.repository}", lambda: gh.get_repo(spec.repository))

    def lookup() -> Any:
        found = call("list open pull requests",
                     lambda: list(repo.get_pulls(state="open", head=f"{owner}:{spec.head}", base=spec.base)))
        return found[0] if found else None

    existing = lookup()
    created = False
    if existing is not None:
        pr = existing
        call(f"update pull request #{pr.number}", lambda: pr.edit(title=spec.title, body=spec.body))
    else:
        sent = [0]

        def create() -> Any:
            if sent[0]:
                # the last create may have been applied (its answer lost): look before sending it again
                again = lookup()
                if again is not None:
                    return again
            sent[0] += 1
            return repo.create_pull(title=spec.title, body=spec.body, head=spec.head, base=spec.base,
                                    draft=spec.draft)

        try:
            pr = call("open the pull request", create)
        except UserError:
            pr = lookup()  # 422 "A pull request already exists": the earlier create was applied
            if pr is None:
                raise
        created = True
    if spec.labels:
        call("add labels", lambda: pr.add_to_labels(*spec.labels))
    if spec.reviewers or spec.team_reviewers:
        call("request reviewers",
             lambda: pr.create_review_request(reviewers=spec.reviewers, team_reviewers=spec.team_reviewers))
    result = PullRequestResult(url=pr.html_url, number=pr.number, created=created)
    from github import GithubException

    if spec.auto_merge:
        try:
            pr.enable_automerge(merge_method=spec.merge_method)
            result.auto_merge = "enabled"
        except GithubException as exc:
            result.auto_merge = f"failed: {_github_error(exc, 'enable auto-merge')}"
    return result
