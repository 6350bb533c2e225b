"""Open the bot branch's pull request or update the open one (never a duplicate), with PyGithub (imported lazily).

Kept separate from the GitOps stage's helper, which is being reworked: the error mapping here is the promote
stage's own (401/403 name the token's missing permission; 429/5xx are retried)."""

from __future__ import annotations

from typing import Any

from shipyard.runtime import Action, TransientError, UserError

PERMISSION_FIX = ("use a token (or GitHub App installation token) with `contents: write` and `pull-requests: write` "
                  "on the config repository; a fine-grained token needs the repository selected.")


def client(token: str, api_url: str) -> Any:
    from github import Auth, Github

    return Github(auth=Auth.Token(token), base_url=api_url.rstrip("/"), retry=None, timeout=30)


def _error(exc: Exception, what: str) -> Exception:
    from github import GithubException

    if not isinstance(exc, GithubException):
        import requests

        if isinstance(exc, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
            return TransientError(f"GitHub did not answer while trying to {what} ({type(exc).__name__})")
        return exc
    data = exc.data if isinstance(exc.data, dict) else {}
    detail = str(data.get("message") or exc)
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        detail += " (" + "; ".join(str(e.get("message") or e) if isinstance(e, dict) else str(e) for e in errors) + ")"
    status = exc.status
    if status == 401:
        return UserError(f"GitHub refused the token while trying to {what}: {detail}.",
                         "check `token`: it may be expired or revoked.", input_name="token")
    if status == 403 and "rate limit" not in detail.lower():
        return UserError(f"The token cannot {what}: GitHub answered 403 {detail}.", PERMISSION_FIX, input_name="token")
    if status == 404:
        return UserError(f"GitHub answered 404 while trying to {what}: {detail}.",
                         "check `github-repository` (owner/name) and that the token can see it.",
                         input_name="github-repository")
    if status in (403, 429) or status >= 500:
        retry_after = None
        for key, value in (getattr(exc, "headers", None) or {}).items():
            if key.lower() == "retry-after":
                try:
                    retry_after = float(value)
                except ValueError:
                    retry_after = None
        return TransientError(f"GitHub {status} while trying to {what}: {detail}", retry_after)
    return UserError(f"GitHub rejected the request to {what} ({status}: {detail}).")


def _call(action: Action, what: str, fn: Any) -> Any:
    def attempt() -> Any:
        try:
            return fn()
        except Exception as exc:
            raise _error(exc, what) from exc

    return action.retry(what, attempt, attempts=4)


def check_token(action: Action, gh: Any, slug: str) -> None:
    """Fail before any push when GitHub says the token cannot write to the repository."""
    repo = _call(action, f"read {slug}", lambda: gh.get_repo(slug))
    perms = getattr(repo, "permissions", None)
    if perms is not None and getattr(perms, "push", True) is False:
        raise UserError(f"The token can read {slug} but not write to it, so it cannot push the promotion branch or "
                        "open the pull request.", PERMISSION_FIX, input_name="token")


def open_or_update(action: Action, gh: Any, slug: str, head: str, base: str, title: str, body: str,
                   labels: list[str]) -> tuple[str, bool]:
    owner = slug.split("/")[0]
    repo = _call(action, f"read {slug}", lambda: gh.get_repo(slug))
    existing = _call(action, "list open pull requests",
                     lambda: list(repo.get_pulls(state="open", head=f"{owner}:{head}", base=base)))
    if existing:
        pr = existing[0]
        _call(action, f"update pull request #{pr.number}", lambda: pr.edit(title=title, body=body))
        created = False
    else:
        pr = _call(action, "open the pull request", _creator(repo, owner, head, base, title, body))
        created = True
    if labels:
        _call(action, "add labels", lambda: pr.add_to_labels(*labels))
    return str(pr.html_url), created


def _creator(repo: Any, owner: str, head: str, base: str, title: str, body: str) -> Any:
    """Open the pull request once: a create whose answer was lost (a 5xx after it was applied, a reset, a timeout)
    is looked up before it is sent again, and GitHub's 422 "already exists" means an earlier attempt landed."""
    from github import GithubException

    tried = [False]

    def find() -> Any:
        found = list(repo.get_pulls(state="open", head=f"{owner}:{head}", base=base))
        return found[0] if found else None

    def create() -> Any:
        if tried[0]:
            found = find()
            if found is not None:
                return found
        tried[0] = True
        try:
            return repo.create_pull(title=title, body=body, head=head, base=base)
        except GithubException as exc:
            if exc.status == 422 and "already exists" in str(exc.data).lower():
                found = find()
                if found is not None:
                    return found
            raise

    return create
