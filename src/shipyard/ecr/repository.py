"""The organisation's standard ECR repository settings, drift detection and repair.

Standard settings:

* tag immutability ``IMMUTABLE_WITH_EXCLUSION`` with a wildcard exclusion per cache tag prefix (``buildcache*``)
  and per moving tag prefix (``branch-*``, ``pr-*``: the build stage's branch and pull-request tags), so release,
  ``sha-`` and content-hash tags can never be overwritten while the registry cache and branch tags keep moving
  (ECR allows at most :data:`MAX_EXCLUSION_FILTERS` filters);
* scan on push;
* a lifecycle policy: cache tags and currently deployed tags are matched first by rules (one per prefix: a
  ``tagPrefixList`` with several prefixes selects only images carrying all of them) that keep up to
  :data:`PROTECT_COUNT` images each (ECR never lets a lower-priority rule expire an image a higher-priority rule
  matched, so this protects them), untagged images expire after N days, and everything else beyond the last N
  images expires;
* encryption (AES256, or KMS with a key) -- fixed at creation, drift can only be reported;
* resource tags.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shipyard.ecr.aws import call, error_code
from shipyard.runtime import Action, UserError

PROTECT_COUNT = 9999
MAX_EXCLUSION_FILTERS = 5
DEFAULT_MUTABLE_PREFIXES = ("branch-", "pr-")
FILTER_RE = re.compile(r"^[0-9a-zA-Z._*-]{1,128}$")
PREFIX_RE = re.compile(r"^[0-9a-zA-Z._-]{1,127}$")
REPOSITORY_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")


@dataclass
class Settings:
    immutable: bool = True
    cache_prefixes: list[str] = field(default_factory=lambda: ["buildcache"])
    mutable_prefixes: list[str] = field(default_factory=lambda: list(DEFAULT_MUTABLE_PREFIXES))
    protected_prefixes: list[str] = field(default_factory=list)
    keep_images: int = 100
    untagged_days: int = 14
    scan_on_push: bool = True
    encryption: str = "AES256"
    kms_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def mutability(self) -> str:
        if not self.immutable:
            return "MUTABLE"
        return "IMMUTABLE_WITH_EXCLUSION" if self.excluded_prefixes else "IMMUTABLE"

    @property
    def excluded_prefixes(self) -> list[str]:
        """Cache prefixes, then moving-tag prefixes, without duplicates."""
        out: list[str] = []
        for prefix in [*self.cache_prefixes, *self.mutable_prefixes]:
            if prefix not in out:
                out.append(prefix)
        return out

    @property
    def exclusion_filters(self) -> list[dict[str, str]]:
        if not self.immutable:
            return []
        return [{"filterType": "WILDCARD", "filter": f"{p}*"} for p in self.excluded_prefixes]

    def lifecycle_policy(self) -> dict[str, Any]:
        rules: list[dict[str, Any]] = []

        def add(description: str, selection: dict[str, Any]) -> None:
            rules.append({"rulePriority": len(rules) + 1, "description": description, "selection": selection,
                          "action": {"type": "expire"}})

        # One rule per prefix: several prefixes in one tagPrefixList select only images carrying ALL of them.
        for prefix in self.cache_prefixes:
            add(f"shipyard: keep cache tags {prefix}* (matched first, so no later rule expires them)",
                {"tagStatus": "tagged", "tagPrefixList": [prefix],
                 "countType": "imageCountMoreThan", "countNumber": PROTECT_COUNT})
        for prefix in self.protected_prefixes:
            add(f"shipyard: keep deployed tags {prefix}* (matched first, so no later rule expires them)",
                {"tagStatus": "tagged", "tagPrefixList": [prefix],
                 "countType": "imageCountMoreThan", "countNumber": PROTECT_COUNT})
        if self.untagged_days > 0:
            add(f"shipyard: expire untagged images after {self.untagged_days} days",
                {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                 "countNumber": self.untagged_days})
        add(f"shipyard: keep the last {self.keep_images} images",
            {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": self.keep_images})
        return {"rules": rules}

    def lifecycle_text(self) -> str:
        return json.dumps(self.lifecycle_policy(), separators=(",", ":"))

    def lifecycle_summary(self) -> str:
        parts = [f"keep last {self.keep_images}"]
        if self.cache_prefixes:
            parts.append("never expire " + ", ".join(f"{p}*" for p in self.cache_prefixes))
        if self.protected_prefixes:
            parts.append("never expire " + ", ".join(f"{p}*" for p in self.protected_prefixes))
        if self.untagged_days:
            parts.append(f"untagged after {self.untagged_days}d")
        return "; ".join(parts)


def _prefixes(action: Action, name: str, default: Sequence[str]) -> list[str]:
    """A prefix list input: unset -> the default, ``none`` -> no prefixes, a trailing ``*`` is implied."""
    items = action.items(name) if action.input(name) is not None else list(default)
    if [p.lower() for p in items] == ["none"]:
        return []
    out: list[str] = []
    for prefix in (p.rstrip("*") for p in items):
        if not PREFIX_RE.match(prefix):
            raise UserError(f"Input '{name}' has '{prefix}', which is not a tag prefix.",
                            "use letters, digits, '.', '_' and '-' (a trailing * is implied).", input_name=name)
        if prefix not in out:
            out.append(prefix)
    return out


def settings_from_inputs(action: Action) -> Settings:
    cache = _prefixes(action, "cache-tag-prefixes", ["buildcache"])
    mutable = _prefixes(action, "mutable-tag-prefixes", DEFAULT_MUTABLE_PREFIXES)
    protected = _prefixes(action, "protected-tag-prefixes", [])
    excluded = list(dict.fromkeys([*cache, *mutable]))
    if len(excluded) > MAX_EXCLUSION_FILTERS and action.boolean("immutable-tags", True):
        raise UserError(
            f"Inputs 'cache-tag-prefixes' ({', '.join(cache) or 'none'}) and 'mutable-tag-prefixes' "
            f"({', '.join(mutable) or 'none'}) make {len(excluded)} tag-mutability exclusion filters; ECR allows "
            f"at most {MAX_EXCLUSION_FILTERS}.",
            "merge prefixes (one wildcard covers every tag starting with it) or drop some, so that both inputs "
            f"together have at most {MAX_EXCLUSION_FILTERS}.", input_name="mutable-tag-prefixes")
    encryption = action.choice("encryption", ["AES256", "KMS"], "AES256")
    kms_key = action.input("kms-key")
    if kms_key and encryption != "KMS":
        encryption = "KMS"
    tags = action.mapping("repository-tags")
    for key, value in tags.items():
        if len(key) > 128 or len(value) > 256:
            raise UserError(f"Input 'repository-tags' has an over-long tag '{key}' (keys ≤128, values ≤256 chars).",
                            input_name="repository-tags")
    return Settings(
        immutable=action.boolean("immutable-tags", True),
        cache_prefixes=cache,
        mutable_prefixes=mutable,
        protected_prefixes=protected,
        keep_images=_whole(action, "keep-images", 100, 1, 9999),
        untagged_days=_whole(action, "untagged-expire-days", 14, 0, 3650),
        scan_on_push=action.boolean("scan-on-push", True),
        encryption=encryption,
        kms_key=kms_key,
        tags=tags,
    )


@dataclass
class Drift:
    setting: str
    expected: str
    actual: str
    fixable: bool = True
    fixed: bool = False


def _canonical_rules(text: str | None) -> Any:
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return text
    rules = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        return data
    return sorted(
        (json.dumps({k: v for k, v in r.items() if k != "description"}, sort_keys=True) for r in rules
         if isinstance(r, dict)),
    )


def compute_drift(settings: Settings, repo: dict[str, Any], lifecycle_text: str | None,
                  tags: dict[str, str]) -> list[Drift]:
    drift: list[Drift] = []
    mutability = str(repo.get("imageTagMutability") or "MUTABLE")
    if mutability != settings.mutability:
        drift.append(Drift("tag mutability", settings.mutability, mutability))
    want_filters = sorted(f["filter"] for f in settings.exclusion_filters)
    have_filters = sorted(str(f.get("filter")) for f in repo.get("imageTagMutabilityExclusionFilters") or [])
    if want_filters != have_filters:
        drift.append(Drift("mutability exclusions", ", ".join(want_filters) or "(none)",
                           ", ".join(have_filters) or "(none)"))
    scan = bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush"))
    if scan != settings.scan_on_push:
        drift.append(Drift("scan on push", str(settings.scan_on_push).lower(), str(scan).lower()))
    enc = repo.get("encryptionConfiguration") or {"encryptionType": "AES256"}
    if enc.get("encryptionType") != settings.encryption or (
        settings.kms_key and settings.kms_key not in str(enc.get("kmsKey") or "")
    ):
        expected = settings.encryption + (f" ({settings.kms_key})" if settings.kms_key else "")
        actual = str(enc.get("encryptionType")) + (f" ({enc.get('kmsKey')})" if enc.get("kmsKey") else "")
        drift.append(Drift("encryption", expected, actual, fixable=False))
    if _canonical_rules(lifecycle_text) != _canonical_rules(settings.lifecycle_text()):
        drift.append(Drift("lifecycle policy", settings.lifecycle_summary(),
                           "missing" if not lifecycle_text else "different rules"))
    for key, value in sorted(settings.tags.items()):
        if tags.get(key) != value:
            drift.append(Drift(f"tag {key}", value, tags.get(key, "(missing)")))
    return drift


@dataclass
class RepoState:
    name: str
    uri: str
    arn: str
    registry_id: str
    created: bool = False
    drift: list[Drift] = field(default_factory=list)
    scan_on_push: bool = False


def _describe(action: Action, ecr: Any, name: str, registry_id: str | None) -> dict[str, Any] | None:
    params: dict[str, Any] = {"repositoryNames": [name]}
    if registry_id:
        params["registryId"] = registry_id
    try:
        repos = call(action, ecr, "describe_repositories", **params).get("repositories") or []
    except Exception as exc:
        if error_code(exc) == "RepositoryNotFoundException":
            return None
        raise
    return repos[0] if repos else None


def _with_registry(params: dict[str, Any], registry_id: str | None) -> dict[str, Any]:
    if registry_id:
        params["registryId"] = registry_id
    return params


def ensure_repository(action: Action, ecr: Any, name: str, registry_id: str | None, settings: Settings, *,
                      create: bool, enforce: bool, dry_run: bool, region: str, account: str) -> RepoState:
    """Create the repository with the standard settings, or compare an existing one and fix drift if asked."""
    repo = _describe(action, ecr, name, registry_id)
    if repo is None:
        reg = registry_id or account
        uri = f"{reg}.dkr.ecr.{region}.amazonaws.com/{name}"
        if not create:
            raise UserError(
                f"ECR repository '{name}' does not exist in registry {reg} ({region}).",
                "create it (or set `create-repository: true` to let this stage create it with the standard settings).",
            )
        if dry_run:
            action.info(f"dry-run: would create repository {name} in {reg} ({region})")
            return RepoState(name, uri, "", reg, created=True, scan_on_push=settings.scan_on_push)
        params: dict[str, Any] = _with_registry({
            "repositoryName": name,
            "imageTagMutability": settings.mutability,
            "imageScanningConfiguration": {"scanOnPush": settings.scan_on_push},
            "encryptionConfiguration": {"encryptionType": settings.encryption,
                                        **({"kmsKey": settings.kms_key} if settings.kms_key else {})},
        }, registry_id)
        if settings.exclusion_filters:
            params["imageTagMutabilityExclusionFilters"] = settings.exclusion_filters
        if settings.tags:
            params["tags"] = [{"Key": k, "Value": v} for k, v in settings.tags.items()]
        try:
            repo = call(action, ecr, "create_repository", **params)["repository"]
            created = True
        except Exception as exc:
            if error_code(exc) != "RepositoryAlreadyExistsException":  # a parallel job won the race
                if error_code(exc) == "InvalidParameterException":
                    raise UserError(f"ECR refused to create '{name}': {exc}",
                                    "check the repository name and settings inputs.")
                raise
            repo = _describe(action, ecr, name, registry_id)
            if repo is None:
                raise
            created = False
        if created:
            call(action, ecr, "put_lifecycle_policy",
                 **_with_registry({"repositoryName": name, "lifecyclePolicyText": settings.lifecycle_text()},
                                  registry_id))
            action.info(f"created repository {repo['repositoryUri']} ({settings.mutability}, scan on push "
                        f"{str(settings.scan_on_push).lower()}, {settings.encryption})")
            return RepoState(name, repo["repositoryUri"], repo["repositoryArn"], repo["registryId"], created=True,
                             scan_on_push=settings.scan_on_push)
    state = RepoState(name, repo["repositoryUri"], repo["repositoryArn"], repo["registryId"],
                      scan_on_push=bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush")))
    try:
        lifecycle = call(action, ecr, "get_lifecycle_policy",
                         **_with_registry({"repositoryName": name}, registry_id)).get("lifecyclePolicyText")
    except Exception as exc:
        if error_code(exc) != "LifecyclePolicyNotFoundException":
            raise
        lifecycle = None
    tag_list = call(action, ecr, "list_tags_for_resource", resourceArn=state.arn).get("tags") or []
    tags = {str(t["Key"]): str(t["Value"]) for t in tag_list}
    state.drift = compute_drift(settings, repo, lifecycle, tags)
    if state.drift and enforce and not dry_run:
        fix_drift(action, ecr, state, settings, registry_id)
        if any(d.setting == "scan on push" for d in state.drift):
            state.scan_on_push = settings.scan_on_push
    return state


def fix_drift(action: Action, ecr: Any, state: RepoState, settings: Settings, registry_id: str | None) -> None:
    names = {d.setting for d in state.drift}
    base = _with_registry({"repositoryName": state.name}, registry_id)
    if names & {"tag mutability", "mutability exclusions"}:
        params = dict(base, imageTagMutability=settings.mutability)
        if settings.exclusion_filters:
            params["imageTagMutabilityExclusionFilters"] = settings.exclusion_filters
        call(action, ecr, "put_image_tag_mutability", **params)
    if "scan on push" in names:
        call(action, ecr, "put_image_scanning_configuration",
             **dict(base, imageScanningConfiguration={"scanOnPush": settings.scan_on_push}))
    if "lifecycle policy" in names:
        call(action, ecr, "put_lifecycle_policy", **dict(base, lifecyclePolicyText=settings.lifecycle_text()))
    tag_fixes = [d for d in state.drift if d.setting.startswith("tag ")]
    if tag_fixes:
        call(action, ecr, "tag_resource", resourceArn=state.arn,
             tags=[{"Key": d.setting[4:], "Value": d.expected} for d in tag_fixes])
    for d in state.drift:
        if d.fixable:
            d.fixed = True
        else:
            action.warning(f"repository {state.name}: {d.setting} is {d.actual}, expected {d.expected}; ECR cannot "
                           "change it on an existing repository (recreate the repository to fix it).")


def drift_rows(drift: Sequence[Drift]) -> list[tuple[str, str, str, str]]:
    return [(d.setting, d.expected, d.actual, "fixed" if d.fixed else ("cannot fix" if not d.fixable else "drifted"))
            for d in drift]


def _whole(action: Action, name: str, default: int, low: int, high: int) -> int:
    """A whole-number input within [low, high]; the error names the fix (the runtime's reader does not)."""
    try:
        return action.integer(name, default, minimum=low, maximum=high)
    except UserError as exc:
        raise UserError(exc.message, f"set `{name}:` to a whole number from {low} to {high} (default {default}).",
                        input_name=name) from None
