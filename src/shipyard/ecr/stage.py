"""``ecr-push``: credentials, the repository kept to standard, login, idempotent push, scan gate.

Two modes:

* ``login-only: true`` (before the build): credentials, repositories ensured, registry login written to the
  containers auth file (``$REGISTRY_AUTH_FILE``, exported when we chose it) and docker's config, so the build
  stage can look up its content-hash tag and push. Outputs ``registry``, ``repository-uri``.
* full (after the build): push every tag of ``source-image`` (or, when the build pushed or skipped, verify and
  complete the tags already there), confirm them on the ECR API, replicate to other regions, gate on the scan.
  Outputs also ``image-uri`` (``<repository-uri>@sha256:...``) and ``digest``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.ecr import aws, login, push, scan
from shipyard.ecr import repository as repo_mod
from shipyard.oci import Manifest, RegistryError, RegistryUnreachable, sha256_digest
from shipyard.runtime import Action, UserError

SEVERITY_CHOICES = [*scan.SEVERITIES[:5], "none"]
REGION_RE = r"^[a-z]{2}(-[a-z]+)+-\d$"


@dataclass
class Config:
    region: str
    regions: list[str]
    registry_id: str | None
    repository: str | None
    tags: list[str]
    source: str | None
    digest: str | None
    login_only: bool
    dry_run: bool
    endpoint_url: str | None
    sts_endpoint: str | None
    registry_endpoint: str | None
    max_attempts: int
    settings: repo_mod.Settings
    create: bool
    enforce: bool
    threshold: str | None
    allow: list[str]
    scan: bool
    scan_timeout: float
    scan_interval: float
    allowed_accounts: list[str]
    manifest_format: str | None
    docker_login: str
    export_credentials: bool
    extra_repositories: list[str] = field(default_factory=list)
    timeout: float = 600.0


@dataclass
class RegionResult:
    region: str
    state: repo_mod.RepoState
    login: login.Login | None = None
    tags: dict[str, str] = field(default_factory=dict)
    extra: list[repo_mod.RepoState] = field(default_factory=list)


def _region(action: Action) -> str:
    import re

    region = action.input("aws-region") or action.env.get("AWS_REGION") or action.env.get("AWS_DEFAULT_REGION")
    if not region:
        raise UserError("No AWS region: the input 'aws-region' is empty and AWS_REGION is not set.",
                        "add `aws-region: eu-west-1` (your region) under `with:`.", input_name="aws-region")
    if not re.match(REGION_RE, region):
        raise UserError(f"Input 'aws-region' has '{region}', which is not an AWS region name.",
                        "write a region such as `eu-west-1` or `us-east-1`.", input_name="aws-region")
    return region


def _repository_name(value: str | None) -> str | None:
    """``team/svc`` or the build stage's ``image`` output (``<registry>/team/svc``): the repository part."""
    if not value:
        return None
    first, slash, rest = value.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return rest
    return value


# inputs that hold one item per line; every other input is one line
LIST_INPUTS = frozenset({"tags", "allow-cves", "extra-repositories", "replicate-regions", "allowed-account-ids",
                         "repository-tags", "registry-endpoint", "cache-tag-prefixes", "mutable-tag-prefixes",
                         "protected-tag-prefixes"})
SECRET_INPUTS = frozenset({"aws-access-key-id", "aws-secret-access-key", "aws-session-token"})
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"
_USERINFO = r"(?:^|[/@\s])[^\s/@:]*:[^\s/@]*@"


def check_text_inputs(action: Action) -> None:
    """Before anything else: no control characters (newlines only in list inputs), no ``user:token@`` in any
    input but the secrets, so that no message, output or command ever carries such a value."""
    import re

    prefix = "INPUT_"
    for key in sorted(action.env):
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):].lower().replace("_", "-")
        if name in SECRET_INPUTS:
            continue
        value = action.env[key].strip()
        lines = value.splitlines() if name in LIST_INPUTS else [value]
        if any(re.search(_CONTROL, line) for line in lines) or (name not in LIST_INPUTS and "\n" in value) \
                or "\r" in value:
            raise UserError(f"Input '{name}' holds a control character or a line break where one line is expected.",
                            f"give `{name}:` a plain value" + (" (one item per line)." if name in LIST_INPUTS
                                                             else " on one line."), input_name=name)
        if re.search(_USERINFO, value):
            raise UserError(f"Input '{name}' carries credentials (user:token@...); they would be logged.",
                            "remove them: credentials go only into aws-access-key-id/aws-secret-access-key (from "
                            "secrets) or come from OIDC (`role-to-assume`).", input_name=name)


def read_config(action: Action) -> Config:
    import re

    check_text_inputs(action)
    region = _region(action)
    replicas = []
    for r in action.items("replicate-regions"):
        if not re.match(REGION_RE, r):
            raise UserError(f"Input 'replicate-regions' has '{r}', which is not an AWS region name.",
                            "list region names such as `eu-central-1`, one per line.", input_name="replicate-regions")
        if r != region and r not in replicas:
            replicas.append(r)
    registry_id = action.input("registry-id")
    if registry_id:
        registry_id = aws.normalise_account_id(registry_id, "registry-id")
    allowed = [aws.normalise_account_id(a, "allowed-account-ids") for a in action.items("allowed-account-ids")]
    login_only = action.boolean("login-only", False)
    tags, repo = push.parse_tags(action.items("tags"), _repository_name(action.input("repository")))
    if repo and not repo_mod.REPOSITORY_RE.match(repo):
        raise UserError(f"Input 'repository' has '{repo}', which is not a valid ECR repository name.",
                        "use lower-case letters, digits, '.', '_', '-' and '/' (e.g. `team/service`).",
                        input_name="repository")
    source = action.input("source-image")
    if source and (source.startswith("-") or any(c.isspace() for c in source)):
        raise UserError(f"Input 'source-image' has '{source[:80]}', which is not an image reference.",
                        "pass the build stage's local image, e.g. `containers-storage:<registry>/<repo>:<tag>`.",
                        input_name="source-image")
    for name in ("endpoint-url", "sts-endpoint-url"):
        _endpoint_url(action, name)
    digest = action.input("digest")
    if digest and not re.match(r"^sha256:[a-f0-9]{64}$", digest):
        raise UserError(f"Input 'digest' has '{digest}', which is not a sha256 digest.",
                        "pass the build stage's `digest` output (sha256:<64 hex>).", input_name="digest")
    if not login_only:
        if not repo:
            raise UserError("Input 'repository' is required (or give full image references in 'tags').",
                            "pass the build stage's `image` output: `repository: ${{ steps.build.outputs.image }}`.",
                            input_name="repository")
        if not tags and not digest:
            raise UserError("Input 'tags' is required in push mode: the tags to push or verify.",
                            "pass the build stage's `tags` output, or set `login-only: true` to only log in.",
                            input_name="tags")
    extra = []
    for name in action.items("extra-repositories"):
        extra_name = _repository_name(name) or ""
        if not repo_mod.REPOSITORY_RE.match(extra_name):
            raise UserError(f"Input 'extra-repositories' has '{name}', which is not a valid ECR repository name.",
                            "use lower-case letters, digits, '.', '_', '-' and '/'.", input_name="extra-repositories")
        if extra_name != repo and extra_name not in extra:
            extra.append(extra_name)
    threshold = action.choice("fail-on-severity", SEVERITY_CHOICES, "CRITICAL")
    fmt = action.choice("manifest-format", ["keep", "oci", "v2s2"], "keep")
    return Config(
        region=region,
        regions=[region, *replicas],
        registry_id=registry_id,
        repository=repo,
        tags=tags,
        source=source,
        digest=digest,
        login_only=login_only,
        dry_run=action.dry_run,
        endpoint_url=action.input("endpoint-url") or aws.endpoint_from_env(action, "ecr"),
        sts_endpoint=action.input("sts-endpoint-url") or aws.endpoint_from_env(action, "sts"),
        registry_endpoint=action.input("registry-endpoint"),
        max_attempts=int(_bounded(action, "max-attempts", 10, 1, 20, whole=True)),
        settings=repo_mod.settings_from_inputs(action),
        create=action.boolean("create-repository", True),
        enforce=action.boolean("enforce-settings", False),
        threshold=None if threshold == "none" else threshold,
        allow=action.items("allow-cves"),
        scan=action.boolean("scan", True),
        scan_timeout=_bounded(action, "scan-timeout", 600.0, 0.0, 6 * 3600.0),
        scan_interval=max(0.05, _bounded(action, "scan-poll-seconds", 10.0, 0.0, 600.0)),
        allowed_accounts=allowed,
        manifest_format=None if fmt == "keep" else fmt,
        docker_login=action.choice("docker-login", ["auto", "true", "false"], "auto"),
        export_credentials=action.boolean("export-credentials", False),
        extra_repositories=extra,
        timeout=_bounded(action, "timeout", 600.0, 5.0, 6 * 3600.0),
    )


def _endpoint_url(action: Action, name: str) -> None:
    from urllib.parse import urlsplit

    value = action.input(name)
    if not value:
        return
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:
        ok = False
    if not ok:
        raise UserError(f"Input '{name}' has '{value[:80]}', which is not an http(s) URL.",
                        f"write the endpoint as a URL, e.g. `{name}: https://vpce-0123.api.ecr.eu-west-1"
                        ".vpce.amazonaws.com`, or leave it empty.", input_name=name)


def _bounded(action: Action, name: str, default: float, low: float, high: float, whole: bool = False) -> float:
    """A number input within [low, high], with an error that names the fix."""
    import math

    raw = action.input(name)
    if raw is None:
        return default
    try:
        value = float(raw) if not whole else float(int(raw))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        shown = raw.encode("unicode_escape").decode("ascii")[:40]
        raise UserError(f"Input '{name}' must be {kind} between {low:g} and {high:g}, got '{shown}'.",
                        f"set `{name}: {default:g}` (the default) or another value in that range.", input_name=name)
    return value


def run(action: Action) -> None:
    cfg = read_config(action)
    aws.start_budget(action, cfg.timeout)
    with tempfile.TemporaryDirectory(prefix="shipyard-ecr-", dir=action.env.get("RUNNER_TEMP") or None) as tmp:
        staged: tuple[Path, Manifest] | None = None
        if cfg.source and not cfg.login_only:  # local and first: a bad source-image fails before any AWS call
            path = Path(tmp) / "image"
            staged = (path, push.stage_image(action, cfg.source, path, cfg.manifest_format))
            if cfg.digest and cfg.digest != staged[1].digest:
                action.info(f"source image stages as {staged[1].digest} (the build reported {cfg.digest}; "
                            "the registry format/compression differs, the pushed digest is what counts)")
        _run(action, cfg, staged)


def _run(action: Action, cfg: Config, staged: tuple[Path, Manifest] | None) -> None:
    _check_before_side_effects(cfg)
    summary = action.summary.heading("ECR push" if not cfg.login_only else "ECR login")
    creds, account, arn = _authenticate(action, cfg)
    results = _prepare_regions(action, cfg, creds, account)
    registry_host = _log_in(action, cfg, results, account)
    identity = [("identity", arn or account), ("credentials", creds.source if creds else "ambient chain"),
                ("regions", ", ".join(cfg.regions))]
    if cfg.login_only:
        summary.key_values([("registry", registry_host), *identity])
        return
    _push_and_gate(action, cfg, results, staged, creds, cfg.registry_id or account, registry_host, summary,
                   identity)


def _check_before_side_effects(cfg: Config) -> None:
    """The allowlist and the registry endpoint are validated before anything is created or pushed."""
    if cfg.scan:
        import datetime as dt

        scan.parse_allowlist(cfg.allow, dt.date.today())
    if cfg.registry_endpoint:
        for name in cfg.regions:
            login.endpoint_for(cfg.registry_endpoint, name)


def _authenticate(action: Action, cfg: Config) -> tuple[aws.AwsCredentials | None, str, str]:
    """The AWS credentials (OIDC role, keys or the ambient chain), the account they belong to, checked against
    allowed-account-ids, and exported for later steps when asked."""
    with action.group("AWS credentials"):
        creds = aws.resolve_credentials(action, cfg.region, cfg.max_attempts, cfg.sts_endpoint)
        account, arn = aws.caller_account(action, cfg.region, cfg.max_attempts, cfg.sts_endpoint, creds)
        action.info(f"authenticated as {arn or account} ({creds.source if creds else 'ambient credential chain'})")
    if cfg.allowed_accounts and account not in cfg.allowed_accounts:
        raise UserError(
            f"The credentials belong to AWS account {account}, which is not in allowed-account-ids "
            f"({', '.join(cfg.allowed_accounts)}).",
            "use the role of an allowed account, or add the account to allowed-account-ids if it is intended.",
        )
    if creds and cfg.export_credentials:
        action.set_env("AWS_ACCESS_KEY_ID", creds.access_key_id)
        action.set_env("AWS_SECRET_ACCESS_KEY", creds.secret_access_key)
        if creds.session_token:
            action.set_env("AWS_SESSION_TOKEN", creds.session_token)
        action.set_env("AWS_REGION", cfg.region)
    return creds, account, arn


def _prepare_regions(action: Action, cfg: Config, creds: aws.AwsCredentials | None,
                     account: str) -> list[RegionResult]:
    """Per region: the repository (and the extra ones) created or checked, and a registry login."""
    registry_id = cfg.registry_id or account
    results: list[RegionResult] = []
    for region in cfg.regions:
        ecr = aws.ecr_client(region, cfg.endpoint_url, cfg.max_attempts, creds, aws.retry_mode(action.env),
                             aws.io_timeout(action))
        if cfg.repository:
            state = repo_mod.ensure_repository(
                action, ecr, cfg.repository, registry_id, cfg.settings, create=cfg.create, enforce=cfg.enforce,
                dry_run=cfg.dry_run, region=region, account=account)
        else:
            state = repo_mod.RepoState("", "", "", registry_id)
        result = RegionResult(region, state)
        for extra_name in cfg.extra_repositories:
            result.extra.append(repo_mod.ensure_repository(
                action, ecr, extra_name, registry_id, cfg.settings, create=cfg.create, enforce=cfg.enforce,
                dry_run=cfg.dry_run, region=region, account=account))
        result.login = login.get_login(action, ecr, registry_id, cfg.registry_endpoint, region)
        results.append(result)
    return results


def _log_in(action: Action, cfg: Config, results: list[RegionResult], account: str) -> str:
    """The logins written for the builders (not on a dry run) and the registry outputs; returns the primary
    registry host."""
    primary = results[0]
    assert primary.login is not None
    registry_host = primary.login.registry
    if not cfg.dry_run:
        auth_path = login.write_logins(action, [r.login for r in results if r.login], cfg.docker_login)
        action.info(f"logged in to {', '.join(r.login.registry for r in results if r.login)} "
                    f"(credentials in {auth_path})")
        action.set_output("auth-file", str(auth_path))
    action.set_output("registry", registry_host)
    action.set_output("account-id", account)
    if cfg.repository:
        action.set_output("repository-uri", f"{registry_host}/{cfg.repository}")
        action.set_output("push-repository", f"{primary.login.data_host}/{cfg.repository}")
    _summarise_repositories(action, cfg, results)
    return registry_host


def _push_and_gate(action: Action, cfg: Config, results: list[RegionResult], staged: tuple[Path, Manifest] | None,
                   creds: aws.AwsCredentials | None, registry_id: str, registry_host: str, summary: Any,
                   identity: list[tuple[str, str]]) -> None:
    """Push (or retag) into every region, run the scan gate, then move the held-back tags; the digest and
    image-uri outputs are set only once the gate passed."""
    assert cfg.repository is not None
    primary = results[0]
    try:
        publication = _publish_all(action, cfg, results, staged, creds)
        digest = publication.manifest.digest
    except RegistryUnreachable as exc:
        raise UserError(f"The registry data plane is unreachable ({exc}).",
                        "check registry-endpoint (VPC endpoint DNS/security groups) and the runner's network; "
                        "re-run if it was a blip.")
    except RegistryError as exc:
        raise UserError(f"The registry answered something unexpected: {exc}.",
                        "re-run; if it persists check the repository in the ECR console.")

    image_uri = f"{registry_host}/{cfg.repository}@{digest}"
    summary.key_values([("image", image_uri), *identity])
    if cfg.scan and not cfg.dry_run:
        try:
            _scan_gate(action, cfg, primary, registry_id, digest, creds)
        except UserError:
            held = publication.pending_tags
            if held:
                action.info(f"not applied (the image did not pass the scan gate): {', '.join(held)}")
                summary.text("Held back because the image did not pass the scan gate: "
                             + ", ".join(f"`{t}`" for t in held) + ".")
            _tag_table(summary, results)
            raise
        try:
            _apply_pending(action, cfg, publication)
        except RegistryError as exc:
            raise UserError(f"The registry answered something unexpected while moving the tags: {exc}.",
                            "re-run; the image itself is in place and passed the scan gate.")
    _tag_table(summary, results)
    # set only once the gate passed: a failed gate must not hand an image to the GitOps stage
    action.set_output("digest", digest)
    action.set_output("image-uri", image_uri)
    action.set_output("tags", "\n".join(f"{registry_host}/{cfg.repository}:{t}" for t in cfg.tags))


def _tag_table(summary: Any, results: list[RegionResult]) -> None:
    rows = [(r.region, tag, status) for r in results for tag, status in r.tags.items()]
    summary.heading("Tags", 4).table(["region", "tag", "result"], rows)


def _summarise_repositories(action: Action, cfg: Config, results: list[RegionResult]) -> None:
    for r, state in [(res, st) for res in results for st in [res.state, *res.extra]]:
        if not state.name:
            continue
        if state.created:
            action.summary.text(f"Repository `{state.name}` ({r.region}) "
                                f"{'would be created' if cfg.dry_run else 'created'} with the standard settings: "
                                f"{cfg.settings.mutability}, scan on push, {cfg.settings.encryption}, lifecycle "
                                f"({cfg.settings.lifecycle_summary()}).")
        elif state.drift:
            fixed = all(d.fixed or not d.fixable for d in state.drift)
            action.summary.text(f"Repository `{state.name}` ({r.region}) settings drifted from the standard"
                                + (" and were fixed:" if fixed and cfg.enforce else
                                   " (set `enforce-settings: true` to fix):"))
            action.summary.table(["setting", "expected", "actual", "status"], repo_mod.drift_rows(state.drift))
            for d in state.drift:
                if not d.fixed:
                    action.warning(f"ECR repository {state.name} ({r.region}): {d.setting} is {d.actual}, "
                                   f"expected {d.expected}")
        else:
            action.info(f"repository {state.name} ({r.region}) matches the standard settings")


def _mutability(cfg: Config, state: repo_mod.RepoState, ecr: Any, action: Action) -> push.Mutability:
    if state.created:
        return push.Mutability(cfg.settings.mutability, [f["filter"] for f in cfg.settings.exclusion_filters])
    repos = aws.call(action, ecr, "describe_repositories", repositoryNames=[state.name],
                     registryId=state.registry_id).get("repositories") or [{}]
    repo = repos[0]
    return push.Mutability(str(repo.get("imageTagMutability") or "MUTABLE"),
                           [str(f.get("filter")) for f in repo.get("imageTagMutabilityExclusionFilters") or []])


@dataclass
class _Target:
    region: RegionResult
    ecr: Any
    client: Any
    mutability: push.Mutability
    plan: list[push.TagResult]


def _deferred(cfg: Config, tag: str, status: str) -> bool:
    """A tag applied only after the scan gate: a moving tag (``mutable-tag-prefixes``) or any tag this push would move
    from another image. A refused image must not take over ``branch-main``; immutable tags (``ch-``, ``sha-``,
    versions) hold the image in ECR while it is scanned."""
    if status == "present":
        return False
    return status == "moved" or any(tag.startswith(p) for p in cfg.settings.mutable_prefixes)


@dataclass
class Publication:
    manifest: Manifest
    pending: list[tuple[_Target, list[push.TagResult]]] = field(default_factory=list)

    @property
    def pending_tags(self) -> list[str]:
        out: list[str] = []
        for _, plan in self.pending:
            out.extend(p.tag for p in plan if p.tag not in out)
        return out


def _publish_all(action: Action, cfg: Config, results: list[RegionResult], staged_image: tuple[Path, Manifest] | None,
                 creds: aws.AwsCredentials | None) -> Publication:
    """Plan every region first (so a tag conflict anywhere stops the run before anything is written), then push
    the primary region and the replicas, then confirm the tags on each region's ECR API. Moving tags are left
    pending (``Publication.pending``) for :func:`_apply_pending` once the scan gate passed."""
    assert cfg.repository is not None
    repo = cfg.repository
    staged, manifest = staged_image if staged_image else (None, None)
    standard = push.Mutability(cfg.settings.mutability, [f["filter"] for f in cfg.settings.exclusion_filters])
    upstream: tuple[str, bool] | None = None  # where replicas copy from when nothing was staged
    targets: list[_Target] = []
    for r in results:
        assert r.login is not None
        ecr = aws.ecr_client(r.region, cfg.endpoint_url, cfg.max_attempts, creds, aws.retry_mode(action.env),
                             aws.io_timeout(action))
        client = push.registry_client(action, r.login)
        not_there_yet = cfg.dry_run and r.state.created
        mutability = standard if not_there_yet else _mutability(cfg, r.state, ecr, action)
        existing = {} if not_there_yet else push.data_plane_tags(client, repo, cfg.tags)
        if manifest is None:
            manifest = _manifest_from_registry(action, cfg, client, existing)
            upstream = (f"docker://{r.login.data_host}/{repo}@{manifest.digest}", r.login.insecure)
        targets.append(_Target(r, ecr, client, mutability, push.plan(repo, cfg.tags, manifest.digest, existing,
                                                                     mutability, cfg.settings.mutable_prefixes)))
    assert manifest is not None
    publication = Publication(manifest)
    for index, t in enumerate(targets):
        r = t.region
        assert r.login is not None
        if cfg.dry_run:
            for p in t.plan:
                r.tags[p.tag] = f"dry-run: would be {p.status}" if p.status != "present" else "present"
                if p.status == "moved":
                    action.notice(f"dry-run: tag '{p.tag}' of {repo} ({r.region}) would move from {p.previous} to "
                                  f"{manifest.digest}" + (" once the scan gate passed" if cfg.scan else ""))
            continue
        later = [p for p in t.plan if _deferred(cfg, p.tag, p.status)] if cfg.scan else []
        now = [p for p in t.plan if p not in later]
        to_write = [p for p in now if p.status in ("pushed", "moved")]
        image_there = t.client.head_manifest(repo, manifest.digest) is not None
        if later and not image_there and not to_write:
            # only moving tags were given: one of them has to carry the image into ECR for the scan
            to_write, later = [later[0]], later[1:]
            now = [*now, to_write[0]]
            action.warning(f"only moving tags were given for {repo}: '{to_write[0].tag}' is pushed before the scan "
                           "gate to hold the image; add an immutable tag (the build's `ch-`/`sha-` tags) so that no "
                           "moving tag points at an image before it passed the gate.")
        if to_write and not image_there:
            if staged is not None:
                source, src_insecure = f"dir:{staged}", False
            elif upstream is not None and index > 0:
                source, src_insecure = upstream
            else:
                raise UserError(f"{repo}@{manifest.digest} is not in {r.login.registry} and there is no "
                                "source-image to push it from.", "pass source-image.")
            first = to_write.pop(0)
            push.upload(action, source, r.login, repo, first.tag, manifest.digest, src_insecure)
            r.tags[first.tag] = first.status
        _write_server_side(action, cfg, t, manifest, to_write, now)
        for p in later:
            r.tags[p.tag] = "held back until the scan gate passes"
        if later:
            publication.pending.append((t, later))
        action.info(f"{r.region}: {repo}@{manifest.digest} tags {', '.join(p.tag for p in now)} in place"
                    + (f"; {', '.join(p.tag for p in later)} after the scan gate" if later else ""))
    return publication


def _write_server_side(action: Action, cfg: Config, t: _Target, manifest: Manifest, to_write: list[push.TagResult],
                       tag_plan: list[push.TagResult]) -> None:
    """Manifest PUTs for ``to_write`` (a server-side retag), notices for moves, then PutImage confirms ``tag_plan``."""
    assert cfg.repository is not None
    repo, r = cfg.repository, t.region
    done: list[str] = []
    for p in to_write:
        try:
            t.client.put_manifest(repo, p.tag, manifest)
        except (RegistryError, UserError) as exc:
            written = [*r.tags, *done]  # r.tags: the tag skopeo pushed the image under, before these PUTs
            raise _partial_tags(repo, r.region, manifest, tag_plan, written, p.tag, exc) from None
        done.append(p.tag)
        r.tags[p.tag] = f"{'moved' if p.status == 'moved' else 'tagged'} (server-side)"
    for p in tag_plan:
        if p.status == "moved":
            r.tags[p.tag] += f" from {p.previous}"
            action.notice(f"tag '{p.tag}' of {repo} ({r.region}) moved from {p.previous} to {manifest.digest}")
    for p in tag_plan:
        r.tags.setdefault(p.tag, "already present (same digest)")
    outcome = push.confirm_tags(action, t.ecr, repo, r.state.registry_id, manifest, [p.tag for p in tag_plan],
                                t.mutability, cfg.settings.mutable_prefixes)
    for tag, what in outcome.items():
        if what == "registered":
            r.tags[tag] += "; registered via PutImage"


def _partial_tags(repo: str, region: str, manifest: Manifest, tag_plan: list[push.TagResult], done: list[str],
                  failed: str, exc: BaseException) -> UserError:
    """A tag write failed after retries: say exactly which tags of the set point at the image and which do not."""
    in_place = [p.tag for p in tag_plan if p.status == "present" or p.tag in done]
    missing = [p.tag for p in tag_plan if p.tag not in in_place]
    detail = exc.message if isinstance(exc, UserError) else str(exc)
    return UserError(
        f"Writing tag '{failed}' of {repo} ({region}) failed after retries ({detail}). The tag set is incomplete: "
        f"in place on {manifest.digest}: {', '.join(in_place) or 'none'}; not written: {', '.join(missing)}.",
        "re-run the job: the push is idempotent and writes only the missing tags (the image itself is in place).")


def _apply_pending(action: Action, cfg: Config, publication: Publication) -> None:
    """After the scan gate passed: the moving tags, server-side (the image is in every region by now)."""
    for t, later in publication.pending:
        with action.group(f"Moving tags ({t.region.region})"):
            for p in later:
                del t.region.tags[p.tag]
            _write_server_side(action, cfg, t, publication.manifest, later, later)
            action.info(f"{t.region.region}: {', '.join(p.tag for p in later)} now on {publication.manifest.digest}")


def _manifest_from_registry(action: Action, cfg: Config, client: Any, existing: dict[str, str | None]) -> Manifest:
    """Verify mode (the build pushed or skipped): the image must already be there under a tag or the digest."""
    assert cfg.repository is not None
    # moving tags may still point at the previous build: the other tags say which image this is
    fixed = {t: d for t, d in existing.items() if d and not t.startswith(tuple(cfg.settings.mutable_prefixes))}
    digests = set(fixed.values()) or {d for d in existing.values() if d}
    digest = cfg.digest
    if digest is None:
        if not digests:
            raise UserError(
                f"None of the tags ({', '.join(cfg.tags)}) exist in {cfg.repository} and no source-image was given.",
                "pass the locally built image as source-image (e.g. `containers-storage:<ref>`), or let the build "
                "stage push (login-only mode of this action before the build).",
            )
        if len(digests) > 1:
            listing = ", ".join(f"{t}={d}" for t, d in existing.items() if d)
            raise UserError(f"The tags of {cfg.repository} point at different images ({listing}).",
                            "pass the build stage's `digest` output as `digest:` to say which image is meant.")
        digest = next(iter(digests))
    found = client.get_manifest(cfg.repository, digest)
    if found is None:
        raise UserError(f"{cfg.repository}@{digest} does not exist in the registry.",
                        "pass source-image so the image can be pushed, or check the digest input.")
    if sha256_digest(found.body) != digest:
        raise UserError(f"the registry's manifest for {digest} does not hash to it.", "re-run the job.")
    return found


def _scan_gate(action: Action, cfg: Config, primary: RegionResult, registry_id: str, digest: str,
               creds: aws.AwsCredentials | None) -> None:
    assert cfg.repository is not None
    ecr = aws.ecr_client(primary.region, cfg.endpoint_url, cfg.max_attempts, creds, aws.retry_mode(action.env),
                         aws.io_timeout(action))
    with action.group("Scan gate"):
        result = scan.gate(action, ecr, cfg.repository, registry_id, digest, threshold=cfg.threshold,
                           allow_items=cfg.allow, timeout=cfg.scan_timeout, interval=cfg.scan_interval,
                           scan_on_push=primary.state.scan_on_push)
    summary = action.summary.heading("Scan", 4)
    action.set_output("scan-status", result.status)
    if result.status == "TIMEOUT":
        raise UserError(f"The scan of {cfg.repository}@{digest} did not finish within {cfg.scan_timeout:.0f}s.",
                        "raise scan-timeout, or set `scan: false` to skip the gate (not recommended).")
    if result.status not in ("COMPLETE", "ACTIVE"):
        summary.text(f"Scan status {result.status}: {result.description or 'no findings available'}.")
        if cfg.threshold:
            raise UserError(f"The scan of {cfg.repository}@{digest} ended {result.status}"
                            f"{': ' + result.description if result.description else ''}.",
                            "check the image's OS/packages are supported by ECR scanning, or set "
                            "`fail-on-severity: none` to only report.")
        return
    counts = scan.summary_rows(result)
    summary.table(["severity", "findings"], counts or [("none", 0)])
    top = scan.top_findings(result)
    if top:
        summary.table(["vulnerability", "severity", "package", "verdict"], top)
    if result.allowed:
        summary.text("Allowed by allow-cves: " + ", ".join(sorted({f.id for f in result.allowed})))
    for entry in result.unused_allows:
        action.notice(f"allow-cves: {entry.id} was not found in this image; the exception can be removed")
    action.set_output("findings", sum(n for _, n in counts))
    if result.blocking:
        ids = sorted({f.id for f in result.blocking}, key=lambda i: i)
        worst = min((f.severity for f in result.blocking), key=lambda s: scan.RANK.get(s, 99))
        raise UserError(
            f"The scan found {len(result.blocking)} finding(s) at or above {cfg.threshold} in "
            f"{cfg.repository}@{digest} (worst {worst}): {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}.",
            "update the affected packages/base image and rebuild, or add reviewed IDs to allow-cves "
            "(optionally with an expiry: `CVE-... until 2026-12-31`).",
        )
    gate_text = f"none blocking at {cfg.threshold}" if cfg.threshold else "report only"
    action.info(f"scan gate passed ({sum(n for _, n in counts)} findings, {gate_text})")
