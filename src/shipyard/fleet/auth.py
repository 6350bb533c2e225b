"""Credentials: a GitHub App installation token (minted here from the App's id and private key) or a token
with the ``workflow`` scope. A missing permission is one clear error naming it, before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.runtime import Action, UserError

#: App permission -> (level, why) the stage needs, by what it will do
NEEDED_APP = {
    "contents": ("write", "create the fleet branch and its commits"),
    "pull_requests": ("write", "open and update the pull requests"),
    "workflows": ("write", "change files under .github/workflows"),
}
CHECKS_APP = {
    "enterprise": {"organization_administration": ("write", "create the organisation ruleset")},
    "team": {"administration": ("write", "create the repository rulesets")},
    "free": {"administration": ("write", "create the repository rulesets (public repositories)")},
}


def app_jwt(app_id: str, private_key: str, now: Callable[[], float]) -> str:
    import jwt

    issued = int(now()) - 60
    try:
        return str(jwt.encode({"iat": issued, "exp": issued + 600, "iss": app_id}, private_key, algorithm="RS256"))
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise UserError(f"The GitHub App private key could not be used ({type(exc).__name__}).",
                        "pass the App's PEM private key (-----BEGIN RSA PRIVATE KEY-----) in `app-private-key`.",
                        input_name="app-private-key") from None


def installation_token(action: Action, api_url: str, org: str, app_id: str, private_key: str,
                       installation_id: str | None, now: Callable[[], float]) -> tuple[str, dict[str, str]]:
    """(token, permissions) of the App's installation on ``org``."""
    from shipyard.http import Client

    bearer = app_jwt(app_id, private_key, now)
    http = Client(action, api_url, headers={"Authorization": f"Bearer {bearer}",
                                            "Accept": "application/vnd.github+json"}, name="GitHub App")
    if not installation_id:
        resp = http.get(f"/orgs/{org}/installation")
        if resp.status_code == 404:
            raise UserError(f"The GitHub App {app_id} is not installed on the organisation '{org}'.",
                            "install the App on the organisation (all repositories), or check `organization`.",
                            input_name="organization")
        if resp.status_code >= 300:
            raise UserError(f"GitHub refused the App's credentials (HTTP {resp.status_code}: {_msg(resp)}).",
                            "check `app-id` and `app-private-key` (the key must belong to that App).",
                            input_name="app-id")
        installation_id = str(resp.json().get("id"))
    resp = http.post(f"/app/installations/{installation_id}/access_tokens", retry=True)
    if resp.status_code >= 300:
        raise UserError(f"GitHub refused an installation token (HTTP {resp.status_code}: {_msg(resp)}).",
                        "check `app-id`, `app-private-key` and `installation-id`.", input_name="app-id")
    data = resp.json()
    token = str(data.get("token") or "")
    action.mask(token)
    return token, {str(k): str(v) for k, v in (data.get("permissions") or {}).items()}


def check_app_permissions(permissions: dict[str, str], *, writes: bool, checks: str) -> None:
    needed: dict[str, tuple[str, str]] = dict(NEEDED_APP) if writes else {}
    if writes:
        needed.update(CHECKS_APP.get(checks, {}))
    missing = [(name, level, why) for name, (level, why) in needed.items()
               if not (permissions.get(name) == level or (level == "read" and permissions.get(name) == "write"))]
    if missing:
        names = ", ".join(f"`{n.replace('_', ' ').capitalize()}: {lvl}` (to {why})" for n, lvl, why in missing)
        raise UserError(f"The GitHub App's installation lacks {names}.",
                        "add the permission in the App's settings (Permissions & events) and accept it on the "
                        "organisation's installation, or run with `dry-run: true`.", input_name="app-id",
                        title="missing permission")


def check_token_scopes(scopes: set[str] | None, *, writes: bool) -> None:
    """Classic tokens list their scopes (X-OAuth-Scopes); fine-grained ones do not, and are checked on write."""
    if scopes is None or not writes:
        return
    if "workflow" not in scopes:
        raise UserError("The token lacks the `workflow` scope: GitHub refuses to create or update workflow files "
                        f"without it (scopes: {', '.join(sorted(scopes)) or 'none'}).",
                        "create a token with the `repo` and `workflow` scopes (or use a GitHub App with "
                        "`Workflows: write`); the Actions GITHUB_TOKEN can never write workflow files.",
                        input_name="token", title="missing permission")


def _msg(resp: Any) -> str:
    try:
        return str(resp.json().get("message") or resp.reason)
    except ValueError:
        return str(resp.reason)
