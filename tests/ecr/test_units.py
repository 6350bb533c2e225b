"""Unit tests of the ECR stage's logic: no AWS, no registry."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json

import pytest

from shipyard.ecr import aws, login, push, repository, scan
from shipyard.runtime import Action, UserError


def action(env: dict[str, str] | None = None) -> Action:
    return Action(env=env or {}, out=io.StringIO(), sleep=lambda s: None)


# ----------------------------------------------------------------------------------------- account IDs
def test_account_ids_keep_leading_zeros_and_explain_lost_ones() -> None:
    assert aws.normalise_account_id("012345678901", "registry-id") == "012345678901"
    assert aws.normalise_account_id("'012345678901'", "registry-id") == "012345678901"
    with pytest.raises(UserError) as err:
        aws.normalise_account_id("12345678901", "registry-id")
    assert "lost its leading zero" in err.value.message and "'012345678901'" in str(err.value.fix)
    with pytest.raises(UserError, match="not a 12-digit AWS account ID"):
        aws.normalise_account_id("acme", "allowed-account-ids")


def test_session_name_defaults_to_repo_and_run_and_is_sanitised() -> None:
    a = action({"GITHUB_REPOSITORY": "acme/my service!", "GITHUB_RUN_ID": "77"})
    assert aws.session_name(a, None) == "GitHubActions-my-service--77"
    assert len(aws.session_name(a, "x" * 100)) == 64
    assert aws.session_name(a, "a") == "GitHubActions"


def test_jwt_claims_are_read_for_diagnostics() -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"sub": "repo:Acme/svc:ref:refs/heads/main"}).encode()).rstrip(b"=")
    assert aws.jwt_claims(f"h.{payload.decode()}.s")["sub"] == "repo:Acme/svc:ref:refs/heads/main"
    assert aws.jwt_claims("garbage") == {}


def test_transient_classification() -> None:
    class Boom(Exception):
        def __init__(self, code: str, status: int) -> None:
            self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}

    assert aws.is_transient(Boom("ThrottlingException", 400))
    assert aws.is_transient(Boom("Whatever", 503))
    assert not aws.is_transient(Boom("RepositoryNotFoundException", 400))


# ----------------------------------------------------------------------------------------- settings
def test_lifecycle_policy_protects_cache_and_deployed_tags_before_count_rule() -> None:
    s = repository.Settings(cache_prefixes=["buildcache"], protected_prefixes=["prod-", "staging-"], keep_images=30,
                            untagged_days=7)
    rules = s.lifecycle_policy()["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2, 3, 4, 5]
    # one rule per prefix: a tagPrefixList of several prefixes selects only images carrying ALL of them
    assert [r["selection"].get("tagPrefixList") for r in rules[:3]] == [["buildcache"], ["prod-"], ["staging-"]]
    assert all(r["selection"]["countNumber"] == 9999 for r in rules[:3])
    assert rules[3]["selection"] == {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                                     "countNumber": 7}
    last = rules[-1]["selection"]
    assert last["tagStatus"] == "any" and last["countNumber"] == 30  # "any" must be the lowest priority
    assert s.mutability == "IMMUTABLE_WITH_EXCLUSION"
    assert s.exclusion_filters == [{"filterType": "WILDCARD", "filter": f} for f in ("buildcache*", "branch-*", "pr-*")]
    assert repository.Settings(cache_prefixes=[], mutable_prefixes=[]).mutability == "IMMUTABLE"
    assert repository.Settings(cache_prefixes=[]).mutability == "IMMUTABLE_WITH_EXCLUSION"
    assert repository.Settings(immutable=False).exclusion_filters == []
    # moving tags are excluded from immutability but NOT protected from expiry: no lifecycle rule names them
    assert not any(p in json.dumps(r["selection"]) for r in rules for p in ("branch-", "pr-"))


def test_mutable_prefixes_join_the_exclusions_and_are_counted_against_the_limit_of_5() -> None:
    s = repository.settings_from_inputs(action({}))
    assert (s.cache_prefixes, s.mutable_prefixes) == (["buildcache"], ["branch-", "pr-"])
    assert [f["filter"] for f in s.exclusion_filters] == ["buildcache*", "branch-*", "pr-*"]
    custom = repository.settings_from_inputs(action({"INPUT_MUTABLE_TAG_PREFIXES": "branch-*\npr-\nenv-\nbuildcache"}))
    assert [f["filter"] for f in custom.exclusion_filters] == ["buildcache*", "branch-*", "pr-*", "env-*"]
    off = repository.settings_from_inputs(action({"INPUT_MUTABLE_TAG_PREFIXES": "none"}))
    assert off.mutable_prefixes == [] and [f["filter"] for f in off.exclusion_filters] == ["buildcache*"]
    nothing = repository.settings_from_inputs(action({"INPUT_MUTABLE_TAG_PREFIXES": "none",
                                                     "INPUT_CACHE_TAG_PREFIXES": "none"}))
    assert nothing.mutability == "IMMUTABLE" and nothing.exclusion_filters == []
    with pytest.raises(UserError) as err:
        repository.settings_from_inputs(action({"INPUT_CACHE_TAG_PREFIXES": "c1, c2, c3",
                                                "INPUT_MUTABLE_TAG_PREFIXES": "branch-, pr-, env-"}))
    assert "make 6 tag-mutability exclusion filters; ECR allows at most 5" in err.value.message
    assert "c1, c2, c3" in err.value.message and "branch-, pr-, env-" in err.value.message
    assert err.value.input_name == "mutable-tag-prefixes"
    # a mutable repository has no filters, so the limit does not apply
    assert repository.settings_from_inputs(action({"INPUT_CACHE_TAG_PREFIXES": "c1, c2, c3",
                                                   "INPUT_MUTABLE_TAG_PREFIXES": "branch-, pr-, env-",
                                                   "INPUT_IMMUTABLE_TAGS": "false"})).mutability == "MUTABLE"
    with pytest.raises(UserError, match="mutable-tag-prefixes"):
        repository.settings_from_inputs(action({"INPUT_MUTABLE_TAG_PREFIXES": "feature/"}))


def test_settings_inputs_validate() -> None:
    env = {"INPUT_CACHE_TAG_PREFIXES": "cache, buildcache*", "INPUT_REPOSITORY_TAGS": "team=payments\ncost=42"}
    s = repository.settings_from_inputs(action(env))
    assert s.cache_prefixes == ["cache", "buildcache"] and s.tags == {"team": "payments", "cost": "42"}
    assert repository.settings_from_inputs(action({"INPUT_CACHE_TAG_PREFIXES": "none"})).cache_prefixes == []
    with pytest.raises(UserError, match="cache-tag-prefixes"):
        repository.settings_from_inputs(action({"INPUT_CACHE_TAG_PREFIXES": "bad prefix!"}))
    with pytest.raises(UserError, match="encryption"):
        repository.settings_from_inputs(action({"INPUT_ENCRYPTION": "DES"}))


def test_drift_compares_every_setting_ignoring_rule_descriptions() -> None:
    s = repository.Settings(tags={"team": "payments"})
    same_policy = json.loads(s.lifecycle_text())
    for rule in same_policy["rules"]:
        rule["description"] = "edited by hand"
    good = {"imageTagMutability": "IMMUTABLE_WITH_EXCLUSION",
            "imageTagMutabilityExclusionFilters": [{"filter": f, "filterType": "WILDCARD"}
                                                   for f in ("pr-*", "buildcache*", "branch-*")],
            "imageScanningConfiguration": {"scanOnPush": True}, "encryptionConfiguration": {"encryptionType": "AES256"}}
    assert repository.compute_drift(s, good, json.dumps(same_policy), {"team": "payments"}) == []
    # a repository from before the moving-tag prefixes: only the cache filter -> drift naming what is missing
    old = dict(good, imageTagMutabilityExclusionFilters=[{"filter": "buildcache*", "filterType": "WILDCARD"}])
    [exclusions] = repository.compute_drift(s, old, json.dumps(same_policy), {"team": "payments"})
    assert (exclusions.setting, exclusions.expected, exclusions.actual) == (
        "mutability exclusions", "branch-*, buildcache*, pr-*", "buildcache*")
    bad = {"imageTagMutability": "MUTABLE", "imageScanningConfiguration": {"scanOnPush": False},
           "encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "arn:k"}}
    drift = {d.setting: d for d in repository.compute_drift(s, bad, None, {})}
    assert set(drift) == {"tag mutability", "mutability exclusions", "scan on push", "encryption",
                          "lifecycle policy", "tag team"}
    assert drift["encryption"].fixable is False
    assert drift["lifecycle policy"].actual == "missing"
    assert drift["tag team"].actual == "(missing)"


# ----------------------------------------------------------------------------------------- tags and refs
def test_parse_tags_accepts_full_refs_and_bare_tags() -> None:
    tags, repo = push.parse_tags(["123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/svc:abc", "v1", "v1"], None)
    assert tags == ["abc", "v1"] and repo == "team/svc"
    with pytest.raises(UserError, match="names repository 'other'"):
        push.parse_tags(["host.example/other:1"], "team/svc")
    with pytest.raises(UserError, match="not a valid image tag"):
        push.parse_tags([".bad"], "team/svc")


def test_mutability_rules() -> None:
    m = push.Mutability("IMMUTABLE_WITH_EXCLUSION", ["buildcache*"])
    assert m.immutable("v1") and not m.immutable("buildcache-main")
    assert not push.Mutability("MUTABLE").immutable("v1")
    assert push.Mutability("IMMUTABLE").immutable("buildcache")
    assert push.Mutability("MUTABLE_WITH_EXCLUSION", ["release-*"]).immutable("release-1")


def test_plan_names_both_digests_on_conflict() -> None:
    old, new = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    m = push.Mutability("IMMUTABLE_WITH_EXCLUSION", ["buildcache*"])
    result = push.plan("team/svc", ["v1", "v2", "buildcache"], new, {"v1": new, "v2": None, "buildcache": old}, m)
    assert [(r.tag, r.status) for r in result] == [("v1", "present"), ("v2", "pushed"), ("buildcache", "moved")]
    with pytest.raises(push.TagConflict) as err:
        push.plan("team/svc", ["v1"], new, {"v1": old}, m)
    assert old in err.value.message and new in err.value.message


def test_plan_moves_branch_tags_but_never_sha_or_content_hash_tags() -> None:
    old, new = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    m = push.Mutability("IMMUTABLE_WITH_EXCLUSION", ["buildcache*", "branch-*", "pr-*"])
    result = push.plan("team/svc", ["ch-1", "sha-2", "branch-main", "pr-7"], new,
                       {"ch-1": None, "sha-2": None, "branch-main": old, "pr-7": old}, m, ["branch-", "pr-"])
    assert [(r.tag, r.status, r.previous) for r in result] == [
        ("ch-1", "pushed", None), ("sha-2", "pushed", None), ("branch-main", "moved", old), ("pr-7", "moved", old)]
    with pytest.raises(push.TagConflict) as err:
        push.plan("team/svc", ["sha-2", "ch-1", "branch-main"], new, {"sha-2": old, "ch-1": old, "branch-main": old},
                  m, ["branch-", "pr-"])
    assert "Tag 'sha-2'" in err.value.message and "Tag 'ch-1'" in err.value.message
    assert "branch-main" not in err.value.message and err.value.message.count(old) == 2


def test_plan_names_the_drift_when_the_repository_does_not_exclude_a_moving_prefix_yet() -> None:
    old, new = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    before = push.Mutability("IMMUTABLE_WITH_EXCLUSION", ["buildcache*"])  # created before mutable-tag-prefixes
    with pytest.raises(push.TagConflict) as err:
        push.plan("orders", ["branch-main"], new, {"branch-main": old}, before, ["branch-", "pr-"])
    assert old in err.value.message and new in err.value.message
    assert "does not exclude 'branch-*'" in err.value.message and "enforce-settings: true" in str(err.value.fix)


def test_source_reference_defaults_to_containers_storage() -> None:
    assert push.source_reference("localhost/svc:1") == "containers-storage:localhost/svc:1"
    assert push.source_reference("docker-daemon:svc:1") == "docker-daemon:svc:1"


def test_registry_endpoint_forms() -> None:
    assert login.endpoint_for("http://127.0.0.1:5000", "us-east-1") == ("127.0.0.1:5000", True)
    assert login.endpoint_for("https://vpce.example", "us-east-1") == ("vpce.example", False)
    spec = "us-east-1=https://a.example\neu-west-1=https://b.example"
    assert login.endpoint_for(spec, "eu-west-1") == ("b.example", False)
    assert login.endpoint_for(spec, "ap-south-1") == ("", False)
    with pytest.raises(UserError, match="registry-endpoint"):
        login.endpoint_for("ftp://x", "us-east-1")


# ----------------------------------------------------------------------------------------- scan gate
def test_allowlist_with_expiry() -> None:
    today = dt.date(2026, 6, 1)
    active, expired = scan.parse_allowlist(["CVE-2024-1", "cve-2024-2 until 2026-12-31", "CVE-2023-9 2026-01-01"],
                                           today)
    assert set(active) == {"CVE-2024-1", "CVE-2024-2"}
    assert [e.id for e in expired] == ["CVE-2023-9"]
    with pytest.raises(UserError, match="allow-cves"):
        scan.parse_allowlist(["CVE-1 until tomorrow"], today)


def test_evaluate_threshold_and_allowlist() -> None:
    findings = [scan.Finding("CVE-1", "CRITICAL"), scan.Finding("CVE-2", "HIGH"), scan.Finding("CVE-3", "LOW")]
    allow = {"CVE-1": scan.Allow("CVE-1"), "CVE-404": scan.Allow("CVE-404")}
    result = scan.evaluate(findings, "HIGH", allow, [])
    assert [f.id for f in result.blocking] == ["CVE-2"]
    assert [f.id for f in result.allowed] == ["CVE-1"]
    assert [a.id for a in result.unused_allows] == ["CVE-404"]
    assert scan.evaluate(findings, None, {}, []).blocking == []
    assert scan.summary_rows(result) == [("CRITICAL", 1), ("HIGH", 1), ("LOW", 1)]


def test_enhanced_findings_are_read() -> None:
    response = {"imageScanFindings": {"enhancedFindings": [{
        "severity": "CRITICAL", "packageVulnerabilityDetails": {
            "vulnerabilityId": "CVE-2025-1", "vulnerablePackages": [{"name": "glibc", "version": "2.31"}]}}]}}
    [finding] = scan.findings_from(response)
    assert (finding.id, finding.severity, finding.package) == ("CVE-2025-1", "CRITICAL", "glibc 2.31")


def test_missing_oidc_env_explains_the_permission() -> None:
    with pytest.raises(UserError) as err:
        aws.fetch_github_id_token(action(), "sts.amazonaws.com")
    assert "`id-token: write`" in err.value.message
    assert "permissions:\n  id-token: write" in str(err.value.fix)


class _ClientError(Exception):
    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}


class FakeScanEcr:
    """Scan not found -> start refused with LimitExceeded (scanned today) -> in progress -> complete."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.describes = 0

    def describe_image_scan_findings(self, **params: object) -> dict[str, object]:
        self.calls.append("describe")
        self.describes += 1
        if self.describes == 1:
            raise _ClientError("ScanNotFoundException", "no scan")
        if self.describes == 2:
            return {"imageScanStatus": {"status": "IN_PROGRESS"}}
        return {"imageScanStatus": {"status": "COMPLETE"}, "imageScanFindings": {"findings": [
            {"name": "CVE-2025-7", "severity": "HIGH"}]}}

    def start_image_scan(self, **params: object) -> dict[str, object]:
        self.calls.append("start")
        raise _ClientError("LimitExceededException", "one scan per day")


def test_scan_gate_handles_limit_exceeded_and_polls() -> None:
    ecr = FakeScanEcr()
    sleeps: list[float] = []
    a = Action(env={}, out=io.StringIO(), sleep=sleeps.append, clock=lambda: sum(sleeps))
    result = scan.gate(a, ecr, "team/svc", "123456789012", "sha256:" + "a" * 64, threshold="HIGH", allow_items=[],
                       timeout=60, interval=2)
    assert ecr.calls == ["describe", "start", "describe", "describe"]
    assert sleeps == [2]
    assert [f.id for f in result.blocking] == ["CVE-2025-7"]
    assert "one manual scan per image per day" in a.out.getvalue()  # type: ignore[attr-defined]


def test_sts_refusal_names_the_token_sub() -> None:
    token = "h." + base64.urlsafe_b64encode(json.dumps(
        {"sub": "repo:Acme/API:ref:refs/heads/main", "aud": "sts.amazonaws.com"}).encode()).decode().rstrip("=") + ".s"
    err = aws._assume_role_error(_ClientError("AccessDenied", "Not authorized to perform "
                                              "sts:AssumeRoleWithWebIdentity"), "arn:aws:iam::1:role/r", token)
    assert "repo:Acme/API:ref:refs/heads/main" in err.message and "case-sensitive" in str(err.fix)


def test_call_turns_access_denied_into_the_iam_action() -> None:
    class Denied:
        def create_repository(self, **params: object) -> None:
            raise _ClientError("AccessDeniedException", "not authorized")

    with pytest.raises(UserError) as err:
        aws.call(action(), Denied(), "create_repository", repositoryName="x")
    assert "ecr:CreateRepository" in err.value.message


class FakePutImageEcr:
    """Real ECR's answers: ImageTagAlreadyExistsException for an immutable tag on another digest."""

    def __init__(self, existing: dict[str, str], code: str, mutable: push.Mutability | None = None) -> None:
        self.existing = existing
        self.code = code
        self.mutable = mutable or push.Mutability("IMMUTABLE")
        self.put: list[str] = []

    def put_image(self, **params: str) -> dict[str, object]:
        tag = params["imageTag"]
        if tag in self.existing and self.mutable.immutable(tag):
            raise _ClientError(self.code, f"tag {tag} exists")
        self.existing[tag] = params["imageDigest"]
        self.put.append(tag)
        return {"image": {}}

    def describe_images(self, **params: object) -> dict[str, object]:
        tag = params["imageIds"][0]["imageTag"]  # type: ignore[index]
        return {"imageDetails": [{"imageDigest": self.existing[tag]}]}


@pytest.mark.parametrize("code", ["ImageTagAlreadyExistsException", "ImageAlreadyExistsException"])
def test_confirm_tags_handles_both_already_exists_exceptions(code: str) -> None:
    from shipyard.oci import Manifest

    new, old = "sha256:" + "b" * 64, "sha256:" + "a" * 64
    manifest = Manifest(new, "application/vnd.oci.image.manifest.v1+json", b"{}")
    immutable = push.Mutability("IMMUTABLE_WITH_EXCLUSION", ["buildcache*"])
    same = FakePutImageEcr({"v1": new}, code)
    assert push.confirm_tags(action(), same, "team/svc", "123456789012", manifest, ["v1", "v2"], immutable) == \
        {"v1": "confirmed", "v2": "registered"}
    other = FakePutImageEcr({"v1": old}, code)
    with pytest.raises(push.TagConflict) as err:
        push.confirm_tags(action(), other, "team/svc", "123456789012", manifest, ["v1"], immutable)
    assert old in err.value.message and new in err.value.message


def test_confirm_tags_moves_an_excluded_tag_and_explains_a_refusal() -> None:
    from shipyard.oci import Manifest

    new, old = "sha256:" + "b" * 64, "sha256:" + "a" * 64
    manifest = Manifest(new, "application/vnd.oci.image.manifest.v1+json", b"{}")
    m = push.Mutability("IMMUTABLE_WITH_EXCLUSION", ["buildcache*", "branch-*"])
    ecr = FakePutImageEcr({"sha-1": old}, "ImageTagAlreadyExistsException", mutable=m)
    # real ECR: PutImage onto an excluded tag moves it (no exception)
    assert push.confirm_tags(action(), ecr, "orders", "123456789012", manifest, ["branch-main"], m) == \
        {"branch-main": "registered"}
    assert ecr.existing["branch-main"] == new
    refusing = FakePutImageEcr({"branch-main": old}, "ImageTagAlreadyExistsException")  # filter removed meanwhile
    with pytest.raises(UserError) as err:
        push.confirm_tags(action(), refusing, "orders", "123456789012", manifest, ["branch-main"], m)
    assert f"from {old} to {new}" in err.value.message and "changed during the run" in str(err.value.fix)


def test_scan_on_push_gets_a_grace_period_before_a_manual_scan() -> None:
    ecr = FakeScanEcr()
    sleeps: list[float] = []
    a = Action(env={}, out=io.StringIO(), sleep=sleeps.append, clock=lambda: sum(sleeps))
    result = scan.gate(a, ecr, "team/svc", "123456789012", "sha256:" + "a" * 64, threshold="CRITICAL",
                       allow_items=[], timeout=60, interval=2, scan_on_push=True)
    assert ecr.calls == ["describe", "describe", "describe"]  # no manual scan spent
    assert result.status == "COMPLETE" and result.blocking == []


def test_semver_alias_conflict_names_the_alias_and_the_real_fix() -> None:
    from shipyard.ecr.push import Mutability, TagConflict, plan

    existing = {"1.2.4": None, "1.2": "sha256:" + "a" * 64}
    mutability = Mutability("IMMUTABLE_WITH_EXCLUSION", ["buildcache*", "branch-*", "pr-*"])
    with pytest.raises(TagConflict) as info:
        plan("team/svc", ["1.2.4", "1.2"], "sha256:" + "b" * 64, existing, mutability, ["branch-", "pr-"])
    assert "semver alias" in info.value.message and "immutable-tags: false" in (info.value.fix or "")
    # a mutable repository moves the alias
    moved = plan("team/svc", ["1.2.4", "1.2"], "sha256:" + "b" * 64, existing, Mutability("MUTABLE"))
    assert [(r.tag, r.status) for r in moved] == [("1.2.4", "pushed"), ("1.2", "moved")]
