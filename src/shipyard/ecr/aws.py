"""AWS credentials without third-party actions: GitHub OIDC, static keys, or the ambient chain.

* **OIDC** (``role-to-assume`` on a GitHub-hosted runner): the runner's ID token is requested from
  ``$ACTIONS_ID_TOKEN_REQUEST_URL&audience=sts.amazonaws.com`` with ``$ACTIONS_ID_TOKEN_REQUEST_TOKEN`` as bearer,
  then exchanged with STS ``AssumeRoleWithWebIdentity`` (an unsigned call: no prior credentials needed).
* **Static keys** (``aws-access-key-id``/``aws-secret-access-key``), optionally followed by ``AssumeRole``.
* **Ambient chain** (env vars, IRSA/Pod Identity web identity files, instance profiles), optionally followed by
  ``AssumeRole`` with ``role-chaining: true`` (cross-account from a self-hosted EKS runner).

Every credential is masked the moment it exists. boto3 is imported lazily, inside the functions.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import weakref
from dataclasses import dataclass, field
from typing import Any

from shipyard.runtime import Action, TransientError, UserError

DEFAULT_AUDIENCE = "sts.amazonaws.com"
ACCOUNT_RE = re.compile(r"^\d{12}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")

PERMISSIONS_BLOCK = """permissions:
  id-token: write   # lets the job request a GitHub OIDC token for AWS STS
  contents: read"""

# Error codes AWS answers when it is busy; botocore's adaptive mode retries them too, these are what is left
# when its attempts run out or for calls we wrap ourselves.
THROTTLING_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
    "TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "RequestLimitExceeded", "SlowDown", "RequestThrottled", "PriorRequestNotComplete",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalError", "InternalFailure",
    "InternalServerError", "ServerException", "IDPCommunicationError",
})


@dataclass
class AwsCredentials:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    source: str = ""

    def secrets(self) -> list[str]:
        return [v for v in (self.access_key_id, self.secret_access_key, self.session_token) if v]


_DEADLINES: weakref.WeakKeyDictionary[Action, tuple[float, float]] = weakref.WeakKeyDictionary()


def start_budget(action: Action, seconds: float) -> None:
    """The stage's time budget for its AWS and registry calls (retries included; the scan wait has its own)."""
    _DEADLINES[action] = (action.clock() + seconds, seconds)


def remaining(action: Action) -> float:
    deadline = _DEADLINES.get(action)
    return float("inf") if deadline is None else deadline[0] - action.clock()


def io_timeout(action: Action, longest: float = 60.0) -> float:
    """One request's connect/read timeout: a quarter of the budget, at most ``longest``, at least 1 s."""
    deadline = _DEADLINES.get(action)
    return longest if deadline is None else max(1.0, min(longest, deadline[1] / 4))


def out_of_time(action: Action, what: str, detail: str = "") -> UserError:
    seconds = _DEADLINES.get(action, (0.0, 0.0))[1]
    return UserError(f"{what} did not succeed within the stage's timeout ({seconds:.0f}s)"
                     + (f": {detail}" if detail else "") + ".",
                     "check the network path to AWS (endpoint URLs, VPC endpoints, proxy) and re-run; raise "
                     "`timeout` if the network is slow but working.")


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


def error_message(exc: BaseException) -> str:
    """The error's message as one line (a remote's text may hold newlines: it goes into one ::error::)."""
    response = getattr(exc, "response", None)
    text = str((response.get("Error") or {}).get("Message") or exc) if isinstance(response, dict) else str(exc)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    return 0


def is_transient(exc: BaseException) -> bool:
    """Throttling, 5xx and connection trouble: worth another try after botocore's own retries."""
    from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.parsers import ResponseParserError

    # ResponseParserError: a proxy or load balancer answered something that is not AWS's (an HTML 502 page)
    if isinstance(exc, (BotoConnectionError, ReadTimeoutError, ConnectionClosedError, ResponseParserError,
                        TransientError)):
        return True
    return error_code(exc) in THROTTLING_CODES or http_status(exc) >= 500


def normalise_account_id(value: str, input_name: str) -> str:
    """A 12-digit account ID, kept as text. An 11-digit number is a YAML-eaten leading zero: say so."""
    text = value.strip().strip("'\"")
    if ACCOUNT_RE.match(text):
        return text
    if text.isdigit() and len(text) < 12:
        raise UserError(
            f"Input '{input_name}' has '{text}', which is not a 12-digit AWS account ID; it looks like an account "
            f"ID that lost its leading zero{'s' if len(text) < 11 else ''} ({text.zfill(12)}?).",
            f"quote the value in the workflow: `{input_name}: '{text.zfill(12)}'` (YAML reads unquoted numbers "
            "as numbers and drops leading zeros).",
            input_name=input_name,
        )
    raise UserError(
        f"Input '{input_name}' has '{text}', which is not a 12-digit AWS account ID.",
        f"give the 12-digit account ID, quoted: `{input_name}: '123456789012'`.",
        input_name=input_name,
    )


def session_name(action: Action, explicit: str | None) -> str:
    """``role-session-name`` or ``GitHubActions-<repo>-<run id>``, cut to STS's 2..64 [\\w+=,.@-] characters."""
    if explicit:
        name = explicit
    else:
        repo = action.github("repository").split("/")[-1]
        run = action.github("run_id")
        name = "-".join(p for p in ("GitHubActions", repo, run) if p)
    name = re.sub(r"[^\w+=,.@-]", "-", name)[:64]
    return name if len(name) >= 2 else "GitHubActions"


def jwt_claims(token: str) -> dict[str, Any]:
    """The (unverified) claims of a JWT, for diagnostics only: sub/aud are what trust policies match."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        data = json.loads(base64.urlsafe_b64decode(payload))
        return data if isinstance(data, dict) else {}
    except (IndexError, ValueError):
        return {}


def fetch_github_id_token(action: Action, audience: str) -> str:
    """The job's OIDC ID token for ``audience`` (masked). Fails with the permissions block when not allowed."""
    url = action.env.get("ACTIONS_ID_TOKEN_REQUEST_URL", "")
    request_token = action.env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "")
    if not url or not request_token:
        raise UserError(
            "role-to-assume is set but this job cannot request a GitHub OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL "
            "and ACTIONS_ID_TOKEN_REQUEST_TOKEN are missing, which means the workflow or job lacks the "
            "`id-token: write` permission (pull requests from forks never get it).",
            "add this to the job (or the workflow):\n" + PERMISSIONS_BLOCK + "\n"
            "On self-hosted runners with IRSA/Pod Identity set `role-chaining: true` instead to assume the role "
            "from the runner's own credentials.",
        )
    action.mask(request_token)
    from shipyard.http import Client

    separator = "&" if "?" in url else "?"
    full = f"{url}{separator}{urllib.parse.urlencode({'audience': audience})}"
    client = Client(action, full, headers={"Authorization": f"Bearer {request_token}", "Accept": "application/json"},
                    name="GitHub OIDC", attempts=6, max_elapsed=60)
    try:
        response = client.get(full)
    except TransientError as exc:
        raise UserError(f"The GitHub OIDC token endpoint could not be reached ({exc}).",
                        "re-run the job; GitHub's token service was unavailable.")
    if response.status_code in (401, 403):
        raise UserError(
            f"The GitHub OIDC token endpoint refused the request token (HTTP {response.status_code}).",
            "make sure the job has `id-token: write` and that nothing overwrote ACTIONS_ID_TOKEN_REQUEST_TOKEN.",
        )
    if response.status_code >= 400:
        raise UserError(f"The GitHub OIDC token endpoint answered HTTP {response.status_code}.",
                        "re-run the job; if it persists check githubstatus for Actions incidents.")
    try:
        token = str(response.json().get("value") or "")
    except ValueError:
        token = ""
    if not token:
        raise UserError("The GitHub OIDC token endpoint answered without a token ('value').",
                        "re-run the job; if it persists report it to GitHub support.")
    action.mask(token)
    return token


def retry_mode(env: dict[str, str]) -> str:
    """Adaptive retry mode (client-side rate limiting after throttles) unless AWS_RETRY_MODE says otherwise."""
    mode = env.get("AWS_RETRY_MODE", "adaptive")
    return mode if mode in ("standard", "adaptive", "legacy") else "adaptive"


def _boto_config(max_attempts: int, mode: str = "adaptive", connect_timeout: float = 10,
                 read_timeout: float = 60) -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": mode, "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        user_agent_extra="shipyard-ecr-push",
    )


_SESSION: list[Any] = []
_CLIENTS: dict[str, Any] = {}


def _client(service: str, kwargs: dict[str, Any]) -> Any:
    """One botocore session per process (it caches the service models: a fresh session per client costs
    ~0.1 s of JSON parsing each) and one client per distinct configuration."""
    import boto3

    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    config = kwargs["config"]
    key = repr((service, sorted((k, v) for k, v in kwargs.items() if k != "config"), config.retries,
                config.signature_version, config.connect_timeout, config.read_timeout))
    client = _CLIENTS.get(key)
    if client is None:
        client = _SESSION[0].client(service, **kwargs)
        _CLIENTS[key] = client
    return client


def sts_client(region: str, endpoint_url: str | None, max_attempts: int, creds: AwsCredentials | None,
               unsigned: bool = False, mode: str = "adaptive", timeout: float = 60.0) -> Any:
    from botocore import UNSIGNED
    from botocore.config import Config

    config = _boto_config(max_attempts, mode, min(10.0, timeout), timeout)
    if unsigned:
        config = config.merge(Config(signature_version=UNSIGNED))
    kwargs: dict[str, Any] = {"region_name": region, "config": config}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if creds:
        kwargs.update(aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
                      aws_session_token=creds.session_token)
    return _client("sts", kwargs)


def _assume_role_error(exc: BaseException, role_arn: str, token: str | None) -> UserError:
    code, message = error_code(exc), error_message(exc)
    if token is not None:
        claims = jwt_claims(token)
        sub, aud = claims.get("sub", "?"), claims.get("aud", "?")
        return UserError(
            f"STS refused AssumeRoleWithWebIdentity for {role_arn} ({code}: {message}). The GitHub token's "
            f"sub is '{sub}' and aud is '{aud}'.",
            "check the role's trust policy: Federated principal token.actions.githubusercontent.com, "
            "`token.actions.githubusercontent.com:aud` = sts.amazonaws.com and a "
            "`token.actions.githubusercontent.com:sub` condition that matches the sub above exactly (StringLike, "
            "case-sensitive: the org and repository are spelled as GitHub spells them).",
        )
    return UserError(
        f"STS refused AssumeRole for {role_arn} ({code}: {message}).",
        "allow the current principal in the role's trust policy and give it sts:AssumeRole (and sts:TagSession "
        "if session tags are used).",
    )


def environment_credentials(action: Action) -> AwsCredentials | None:
    """AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN] from the step's environment (masked); None
    leaves the rest of the chain (IRSA/Pod Identity web identity files, container and instance roles) to botocore."""
    key_id, secret = action.env.get("AWS_ACCESS_KEY_ID"), action.env.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        return None
    creds = AwsCredentials(key_id, secret, action.env.get("AWS_SESSION_TOKEN") or None, "environment (AWS_*)")
    for value in creds.secrets():
        action.mask(value)
    return creds


def endpoint_from_env(action: Action, service: str) -> str | None:
    """AWS_ENDPOINT_URL_<SERVICE> then AWS_ENDPOINT_URL, read from the step's environment like the SDKs do."""
    return action.env.get(f"AWS_ENDPOINT_URL_{service.upper()}") or action.env.get("AWS_ENDPOINT_URL") or None


def resolve_credentials(
    action: Action, region: str, max_attempts: int, sts_endpoint: str | None
) -> AwsCredentials | None:
    """Credentials from the inputs (None = let boto3's ambient chain decide, e.g. IRSA or an instance role)."""
    role_arn = action.input("role-to-assume")
    if role_arn and ROLE_ARN_RE.match(role_arn) is None:
        raise UserError(
            f"Input 'role-to-assume' has '{role_arn}', which is not an IAM role ARN.",
            "write the full ARN, quoted: `role-to-assume: 'arn:aws:iam::123456789012:role/<name>'` (keep the "
            "account's leading zeros).",
            input_name="role-to-assume",
        )
    key_id = action.secret("aws-access-key-id")
    secret = action.secret("aws-secret-access-key")
    token = action.secret("aws-session-token")
    if bool(key_id) != bool(secret):
        missing = "aws-secret-access-key" if key_id else "aws-access-key-id"
        raise UserError(f"Input '{missing}' is required when the other static key input is set.",
                        "pass both aws-access-key-id and aws-secret-access-key (from secrets), or neither.",
                        input_name=missing)
    static = AwsCredentials(key_id, secret, token, "static keys") if key_id and secret else None
    if not role_arn:
        return static or environment_credentials(action)
    try:
        duration = action.integer("role-duration-seconds", 3600, minimum=900, maximum=43200)
    except UserError as exc:
        raise UserError(exc.message, "set `role-duration-seconds:` to a whole number from 900 to 43200 (the role's "
                        "maximum session duration caps it; default 3600).",
                        input_name="role-duration-seconds") from None
    name = session_name(action, action.input("role-session-name"))
    chaining = action.boolean("role-chaining", False)

    def _result(response: dict[str, Any], source: str) -> AwsCredentials:
        c = response["Credentials"]
        creds = AwsCredentials(c["AccessKeyId"], c["SecretAccessKey"], c.get("SessionToken"), source)
        for value in creds.secrets():
            action.mask(value)
        return creds

    if static is None and not chaining:
        id_token = fetch_github_id_token(action, action.input("audience") or DEFAULT_AUDIENCE)
        sts = sts_client(region, sts_endpoint, max_attempts, None, unsigned=True, mode=retry_mode(action.env),
                         timeout=io_timeout(action))

        def web_identity() -> dict[str, Any]:
            response: dict[str, Any] = sts.assume_role_with_web_identity(
                RoleArn=role_arn, RoleSessionName=name, WebIdentityToken=id_token, DurationSeconds=duration)
            return response

        try:
            response = action.retry("sts:AssumeRoleWithWebIdentity", web_identity, attempts=6,
                                    max_elapsed=_left(action, "sts:AssumeRoleWithWebIdentity", 90),
                                    retry_on=is_transient)
        except Exception as exc:
            if is_transient(exc):
                raise _unreachable(action, "sts:AssumeRoleWithWebIdentity", exc) from None
            if error_code(exc):
                raise _assume_role_error(exc, role_arn, id_token)
            raise
        return _result(response, f"OIDC → {role_arn}")

    base = static or environment_credentials(action)
    sts = sts_client(region, sts_endpoint, max_attempts, base, mode=retry_mode(action.env), timeout=io_timeout(action))

    def assume() -> dict[str, Any]:
        response: dict[str, Any] = sts.assume_role(RoleArn=role_arn, RoleSessionName=name, DurationSeconds=duration)
        return response

    try:
        response = action.retry("sts:AssumeRole", assume, attempts=6, max_elapsed=_left(action, "sts:AssumeRole", 90),
                                retry_on=is_transient)
    except Exception as exc:
        if is_transient(exc):
            raise _unreachable(action, "sts:AssumeRole", exc) from None
        if error_code(exc):
            raise _assume_role_error(exc, role_arn, None)
        from botocore.exceptions import NoCredentialsError

        if isinstance(exc, NoCredentialsError):
            raise UserError("role-chaining is on but the runner has no ambient AWS credentials to assume the role "
                            "with.", "give the runner credentials (IRSA, Pod Identity, instance profile) or use OIDC "
                            "(`id-token: write`, role-chaining off).")
        raise
    return _result(response, f"{base.source if base else 'ambient credentials'} → {role_arn}")


def caller_account(action: Action, region: str, max_attempts: int, sts_endpoint: str | None,
                   creds: AwsCredentials | None) -> tuple[str, str]:
    """(account, arn) of whoever the credentials belong to."""
    from botocore.exceptions import NoCredentialsError

    sts = sts_client(region, sts_endpoint, max_attempts, creds, mode=retry_mode(action.env), timeout=io_timeout(action))
    try:
        identity = action.retry("sts:GetCallerIdentity", sts.get_caller_identity, attempts=5,
                                max_elapsed=_left(action, "sts:GetCallerIdentity", 120), retry_on=is_transient)
    except NoCredentialsError:
        raise UserError(
            "No AWS credentials: no role-to-assume, no static keys, and nothing in the runner's credential chain.",
            "use OIDC (`role-to-assume` plus `permissions: id-token: write`), or pass aws-access-key-id and "
            "aws-secret-access-key from secrets, or run on a runner with IRSA/Pod Identity/instance profile.",
        )
    except Exception as exc:
        if is_transient(exc):
            raise _unreachable(action, "sts:GetCallerIdentity", exc) from None
        if error_code(exc):
            raise UserError(f"AWS refused the credentials ({error_code(exc)}: {error_message(exc)}).",
                            "check the keys or the role; they may be expired or revoked.")
        raise
    return str(identity["Account"]), str(identity.get("Arn") or "")


def ecr_client(region: str, endpoint_url: str | None, max_attempts: int, creds: AwsCredentials | None,
               mode: str = "adaptive", timeout: float = 60.0) -> Any:
    """An ECR client with adaptive retries; ``endpoint_url`` None lets botocore honour AWS_ENDPOINT_URL_ECR."""
    kwargs: dict[str, Any] = {"region_name": region,
                              "config": _boto_config(max_attempts, mode, min(10.0, timeout), timeout)}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if creds:
        kwargs.update(aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
                      aws_session_token=creds.session_token)
    return _client("ecr", kwargs)


def _left(action: Action, what: str, longest: float) -> float:
    """How long a call's retries may take: what is left of the budget (at most ``longest``)."""
    left = remaining(action)
    if left <= 0:
        raise out_of_time(action, what)
    return min(longest, left)


def _unreachable(action: Action, what: str, exc: BaseException) -> UserError:
    detail = f"{error_code(exc) or type(exc).__name__}: {error_message(exc)}"
    if remaining(action) <= 0:
        return out_of_time(action, what, detail)
    return UserError(f"AWS STS kept failing {what} after every retry ({detail}).",
                     "check sts-endpoint-url and the runner's network path to STS (proxy, VPC endpoint), then re-run.")


ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation",
                           "UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"})


def call(action: Action, client: Any, operation: str, **params: Any) -> dict[str, Any]:
    """``client.<operation>(**params)`` with our retry on top of botocore's (throttling, 5xx, connection errors);
    a refused permission becomes a UserError naming the IAM action to grant."""
    fn = getattr(client, operation)
    iam_action = "ecr:" + "".join(part.capitalize() for part in operation.split("_"))

    def once() -> dict[str, Any]:
        result: dict[str, Any] = fn(**params)
        return result

    try:
        return action.retry(f"ECR {operation}", once, attempts=4, max_elapsed=_left(action, iam_action, 120),
                            retry_on=is_transient)
    except UserError:
        raise
    except Exception as exc:
        code = error_code(exc)
        if is_transient(exc) and remaining(action) <= 0:
            raise out_of_time(action, iam_action, f"{code or type(exc).__name__}: {error_message(exc)}") from None
        if is_transient(exc):
            raise UserError(
                f"AWS kept failing {iam_action} after every retry ({code or type(exc).__name__}: "
                f"{error_message(exc)}).",
                "re-run the job later; if this account throttles ECR often, raise max-attempts or spread the "
                "pipelines out (concurrency groups).",
            )
        if code in ACCESS_DENIED:
            if code in ("ExpiredTokenException", "UnrecognizedClientException", "InvalidSignatureException"):
                raise UserError(f"AWS rejected the credentials calling {iam_action} ({code}: {error_message(exc)}).",
                                "check the keys/role; session credentials may have expired (raise "
                                "role-duration-seconds for long jobs).")
            raise UserError(
                f"The AWS identity may not call {iam_action} ({code}: {error_message(exc)}).",
                f"grant {iam_action} on the repository to the role (see the minimal policy in the ecr-push README).",
            )
        raise
