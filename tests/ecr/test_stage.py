"""The stage against moto (ECR/STS API) and the authenticated local registry (data plane)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from shipyard.oci import load_credentials
from tests.doubles.oidc import OidcDouble
from tests.ecr.conftest import ACCOUNT, ECR_HOST, ROLE, Stage, findings_result
from tests.ecr.faultproxy import AwsFaultProxy


def _digest_of(ecr: object, repo: str, tag: str) -> str:
    details = ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])["imageDetails"]  # type: ignore[attr-defined]
    return str(details[0]["imageDigest"])


# ------------------------------------------------------------------------------------------ push
def test_push_creates_standard_repo_and_writes_both_planes(image_stage: Stage) -> None:
    st = image_stage
    r = st.run(tags=f"{ECR_HOST}/team/svc:v1\nsha-abc\nbuildcache-main", source_image=st.images.first,
               repository_tags="team=payments", protected_tag_prefixes="prod-", keep_images="30",
               fail_on_severity="none")
    assert r.code == 0, r.output
    ecr = st.moto.client("ecr")
    repo = ecr.describe_repositories(repositoryNames=["team/svc"])["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repo["imageTagMutabilityExclusionFilters"] == [{"filterType": "WILDCARD", "filter": f}
                                                          for f in ("buildcache*", "branch-*", "pr-*")]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"
    policy = json.loads(ecr.get_lifecycle_policy(repositoryName="team/svc")["lifecyclePolicyText"])
    assert [r_["selection"].get("tagPrefixList") for r_ in policy["rules"]][:2] == [["buildcache"], ["prod-"]]
    assert policy["rules"][-1]["selection"]["countNumber"] == 30
    tags = ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"]
    assert {"Key": "team", "Value": "payments"} in tags

    digest = r.outputs["digest"]
    assert r.outputs["image-uri"] == f"{ECR_HOST}/team/svc@{digest}"
    assert r.outputs["registry"] == ECR_HOST and r.outputs["repository-uri"] == f"{ECR_HOST}/team/svc"
    # data plane: every tag points at the digest; control plane: the same
    assert st.registry.tags("team/svc") == ["buildcache-main", "sha-abc", "v1"]
    manifest, _ = st.registry.manifest("team/svc", "v1")
    assert all(layer["mediaType"].endswith("+gzip") for layer in manifest["layers"])  # compressed for the wire
    for tag in ("v1", "sha-abc", "buildcache-main"):
        assert st.registry.manifest("team/svc", tag)[1] == digest
        assert _digest_of(ecr, "team/svc", tag) == digest
    assert "created with the standard settings" in r.summary
    # the ECR password and the secret key never reach the log or the summary
    assert f"{ACCOUNT}-auth-token" not in r.output + r.summary
    assert "testing-secret-key-value" not in r.output + r.summary
    auth = Path(st.tmp / "auth.json")
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600


def test_rerun_with_same_digest_is_idempotent(image_stage: Stage) -> None:
    st = image_stage
    first = st.run(tags="v1\nsha-1", source_image=st.images.first, fail_on_severity="none")
    assert first.code == 0, first.output
    again = st.run(tags="v1\nsha-1", source_image=st.images.first, fail_on_severity="none")
    assert again.code == 0, again.output
    assert again.outputs["digest"] == first.outputs["digest"]
    assert "already present (same digest)" in again.summary
    # the API side was confirmed (ImageAlreadyExistsException handled), not pushed twice
    assert "registered via PutImage" not in again.summary


def test_different_digest_on_immutable_tag_fails_naming_both(image_stage: Stage) -> None:
    st = image_stage
    first = st.run(tags="v1\nbuildcache-main", source_image=st.images.first, fail_on_severity="none")
    assert first.code == 0, first.output
    old = first.outputs["digest"]
    clash = st.run(tags="v1", source_image=st.images.second, fail_on_severity="none")
    assert clash.code == 1
    errors = [line for line in clash.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, clash.output
    assert "Tag 'v1'" in errors[0] and old in errors[0] and "this image is sha256:" in errors[0]
    assert st.registry.manifest("team/svc", "v1")[1] == old  # nothing was overwritten
    # a cache tag (mutability exclusion) may move to the new image
    moved = st.run(tags="buildcache-main", source_image=st.images.second, fail_on_severity="none")
    assert moved.code == 0, moved.output
    assert moved.outputs["digest"] != old
    assert _digest_of(st.moto.client("ecr"), "team/svc", "buildcache-main") == moved.outputs["digest"]


def test_second_build_of_a_branch_moves_its_branch_tag(image_stage: Stage) -> None:
    """The bug this guards: "Tag 'main' of orders already exists" on the second build of main. Now the branch tag
    is `branch-main`, excluded from immutability by the standard settings, and moves; sha-/ch- tags never do."""
    st = image_stage
    first = st.run(tags="ch-1111\nsha-1111111\nbranch-main", source_image=st.images.first, fail_on_severity="none")
    assert first.code == 0, first.output
    old = first.outputs["digest"]
    second = st.run(tags="ch-2222\nsha-2222222\nbranch-main", source_image=st.images.second,
                    fail_on_severity="none")
    assert second.code == 0, second.output
    new = second.outputs["digest"]
    assert new != old
    assert f"notice: tag 'branch-main' of team/svc (us-east-1) moved from {old} to {new}" in second.output
    assert f"| us-east-1 | branch-main | moved (server-side) from {old}" in second.summary
    ecr = st.moto.client("ecr")
    # both planes: branch-main on the new image, the old image keeps its immutable tags
    assert st.registry.manifest("team/svc", "branch-main")[1] == new
    assert _digest_of(ecr, "team/svc", "branch-main") == new
    assert _digest_of(ecr, "team/svc", "sha-1111111") == old and _digest_of(ecr, "team/svc", "ch-1111") == old
    # moto 5.2.1 honours IMMUTABLE_WITH_EXCLUSION on PutImage (it matches the filters as regular expressions, which
    # agrees with ECR's wildcards for `prefix*`): the tag left the old image instead of the call being refused
    old_image = ecr.describe_images(repositoryName="team/svc", imageIds=[{"imageDigest": old}])["imageDetails"][0]
    assert sorted(old_image["imageTags"]) == ["ch-1111", "sha-1111111"]
    assert st.registry.manifest("team/svc", "sha-1111111")[1] == old

    # a rebuild that reuses an immutable tag on a new digest still fails, naming both digests, writing nothing
    clash = st.run(tags="ch-1111\nsha-1111111\nbranch-main", source_image=st.images.second,
                   fail_on_severity="none")
    assert clash.code == 1
    errors = [line for line in clash.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, clash.output
    assert "Tag 'ch-1111'" in errors[0] and "Tag 'sha-1111111'" in errors[0]
    assert old in errors[0] and new in errors[0] and "branch-main" not in errors[0]
    assert st.registry.manifest("team/svc", "sha-1111111")[1] == old
    assert _digest_of(ecr, "team/svc", "ch-1111") == old


def test_branch_tag_on_a_repository_without_the_exclusion_names_the_drift(image_stage: Stage) -> None:
    """A repository created before mutable-tag-prefixes: ECR keeps branch-main immutable until the drift is fixed."""
    st = image_stage
    ecr = st.moto.client("ecr")
    ecr.create_repository(repositoryName="team/svc", imageTagMutability="IMMUTABLE_WITH_EXCLUSION",
                          imageTagMutabilityExclusionFilters=[{"filterType": "WILDCARD", "filter": "buildcache*"}])
    first = st.run(tags="sha-1111111\nbranch-main", source_image=st.images.first, fail_on_severity="none")
    assert first.code == 0, first.output
    assert "| mutability exclusions | branch-*, buildcache*, pr-* | buildcache* | drifted |" in first.summary
    old = first.outputs["digest"]
    blocked = st.run(tags="sha-2222222\nbranch-main", source_image=st.images.second, fail_on_severity="none")
    assert blocked.code == 1
    assert "does not exclude 'branch-*'" in blocked.output and old in blocked.output
    assert "enforce-settings: true" in blocked.output
    assert st.registry.tags("team/svc") == ["branch-main", "sha-1111111"]  # nothing written
    fixed = st.run(tags="sha-2222222\nbranch-main", source_image=st.images.second, fail_on_severity="none",
                   enforce_settings="true")
    assert fixed.code == 0, fixed.output
    assert "| mutability exclusions | branch-*, buildcache*, pr-* | buildcache* | fixed |" in fixed.summary
    assert _digest_of(ecr, "team/svc", "branch-main") == fixed.outputs["digest"] != old


def test_api_side_conflict_is_caught_even_when_data_plane_is_clean(image_stage: Stage) -> None:
    """Real ECR raises ImageTagAlreadyExistsException, moto ImageAlreadyExistsException: both end the same way."""
    st = image_stage
    ecr = st.moto.client("ecr")
    ecr.create_repository(repositoryName="team/svc", imageTagMutability="IMMUTABLE")
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": "sha256:" + "c" * 64, "size": 2}, "layers": []})
    ecr.put_image(repositoryName="team/svc", imageManifest=manifest, imageTag="v9", imageDigest="sha256:" + "d" * 64)
    r = st.run(tags="v9", source_image=st.images.first, fail_on_severity="none")
    assert r.code == 1
    assert "sha256:" + "d" * 64 in r.output and "already points at" in r.output


def test_verify_mode_completes_tags_server_side(image_stage: Stage) -> None:
    st = image_stage
    first = st.run(tags="chash-1", source_image=st.images.first, fail_on_severity="none")
    assert first.code == 0, first.output
    # the build stage skipped (content hash found) and hands over new tags, no source image
    r = st.run(tags="chash-1\nsha-new", digest=first.outputs["digest"], fail_on_severity="none")
    assert r.code == 0, r.output
    assert st.registry.manifest("team/svc", "sha-new")[1] == first.outputs["digest"]
    assert _digest_of(st.moto.client("ecr"), "team/svc", "sha-new") == first.outputs["digest"]
    missing = st.run(tags="nothing-here", fail_on_severity="none")
    assert missing.code == 1 and "None of the tags (nothing-here) exist" in missing.output


def test_replicate_regions_pushes_the_same_digest(image_stage: Stage) -> None:
    st = image_stage
    r = st.run(tags="v1", source_image=st.images.first, replicate_regions="us-west-2", fail_on_severity="none")
    assert r.code == 0, r.output
    west = st.moto.client("ecr", region="us-west-2")
    assert _digest_of(west, "team/svc", "v1") == r.outputs["digest"]
    assert "| us-west-2 | v1 |" in r.summary


# ------------------------------------------------------------------------------------------ repository drift
def test_drift_reported_then_fixed(stage: Stage) -> None:
    ecr = stage.moto.client("ecr")
    ecr.create_repository(repositoryName="team/svc", imageTagMutability="MUTABLE",
                          imageScanningConfiguration={"scanOnPush": False})
    report = stage.run(login_only="true", repository_tags="team=payments")
    assert report.code == 0, report.output
    assert "| setting | expected | actual | status |" in report.summary
    assert "| tag mutability | IMMUTABLE_WITH_EXCLUSION | MUTABLE | drifted |" in report.summary
    assert "| scan on push | true | false | drifted |" in report.summary
    assert "| lifecycle policy |" in report.summary and "enforce-settings: true" in report.summary
    assert ecr.describe_repositories()["repositories"][0]["imageTagMutability"] == "MUTABLE"

    fixed = stage.run(login_only="true", repository_tags="team=payments", enforce_settings="true")
    assert fixed.code == 0, fixed.output
    assert "| tag mutability | IMMUTABLE_WITH_EXCLUSION | MUTABLE | fixed |" in fixed.summary
    repo = ecr.describe_repositories()["repositories"][0]
    assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert ecr.get_lifecycle_policy(repositoryName="team/svc")["lifecyclePolicyText"]
    assert {"Key": "team", "Value": "payments"} in ecr.list_tags_for_resource(
        resourceArn=repo["repositoryArn"])["tags"]
    clean = stage.run(login_only="true", repository_tags="team=payments")
    assert "| setting |" not in clean.summary and "matches the standard settings" in clean.output


def test_missing_repository_without_create_fails(stage: Stage) -> None:
    r = stage.run(login_only="true", create_repository="false")
    assert r.code == 1 and "does not exist" in r.output and "create-repository" in r.output


# ------------------------------------------------------------------------------------------ login-only
def test_login_only_writes_auth_file_and_exports_it(stage: Stage) -> None:
    github_env = stage.tmp / "github_env"
    github_env.write_text("")
    env = {"REGISTRY_AUTH_FILE": "", "GITHUB_ENV": str(github_env)}
    full = stage.base_env()
    del full["REGISTRY_AUTH_FILE"]
    r = stage.run(env=env, login_only="true", repository="team/api")
    assert r.code == 0, r.output
    path = stage.tmp / "shipyard-registry-auth.json"
    assert f"REGISTRY_AUTH_FILE={path}" in github_env.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for host in (ECR_HOST, stage.registry.host):
        creds = load_credentials(host, {"REGISTRY_AUTH_FILE": str(path), "HOME": str(stage.tmp)})
        assert creds is not None and creds.username == "AWS" and creds.password == f"{ACCOUNT}-auth-token"
    assert r.outputs["registry"] == ECR_HOST and r.outputs["repository-uri"] == f"{ECR_HOST}/team/api"
    assert "image-uri" not in r.outputs


# ------------------------------------------------------------------------------------------ scan gate
def test_scan_gate_fails_on_critical_and_allowlist_lets_it_pass(image_stage: Stage) -> None:
    st = image_stage
    ok = st.run(tags="v1", source_image=st.images.first, fail_on_severity="none")
    assert ok.code == 0, ok.output
    digest = ok.outputs["digest"]
    findings = [("CVE-2024-0001", "CRITICAL"), ("CVE-2024-0002", "HIGH"), ("CVE-2024-0003", "LOW")]
    st.moto.post_scan_findings([findings_result("team/svc", digest, findings)])
    failed = st.run(tags="v1", source_image=st.images.first, fail_on_severity="HIGH")
    assert failed.code == 1
    assert "2 finding(s) at or above HIGH" in failed.output and "CVE-2024-0001" in failed.output
    assert "image-uri" not in failed.outputs  # a failed gate hands nothing to the GitOps stage
    assert "| CRITICAL | 1 |" in failed.summary and "| CVE-2024-0001 | CRITICAL | openssl 3.0.1 | blocks |" in \
        failed.summary
    st.moto.post_scan_findings([findings_result("team/svc", digest, findings)])
    allowed = st.run(tags="v1", source_image=st.images.first, fail_on_severity="HIGH",
                     allow_cves="CVE-2024-0001\nCVE-2024-0002 until 2999-01-01")
    assert allowed.code == 0, allowed.output
    assert "Allowed by allow-cves: CVE-2024-0001, CVE-2024-0002" in allowed.summary
    st.moto.post_scan_findings([findings_result("team/svc", digest, findings)])
    threshold = st.run(tags="v1", source_image=st.images.first, fail_on_severity="CRITICAL",
                       allow_cves="CVE-2024-0001")
    assert threshold.code == 0, threshold.output


def test_scan_gate_times_out_bounded(image_stage: Stage) -> None:
    st = image_stage
    ok = st.run(tags="v1", source_image=st.images.first, scan="false")
    assert ok.code == 0
    pending = findings_result("team/svc", ok.outputs["digest"], [])
    pending["imageScanStatus"] = {"status": "IN_PROGRESS"}
    st.moto.post_scan_findings([pending])
    r = st.run(tags="v1", source_image=st.images.first, scan_timeout="0.3", scan_poll_seconds="0.1")
    assert r.code == 1 and "did not finish within" in r.output and "scan-timeout" in r.output
    assert 1 <= len(st.sleeps) <= 5


# ------------------------------------------------------------------------------------------ credentials
def test_missing_id_token_permission_is_explained(stage: Stage) -> None:
    r = stage.run(role_to_assume=ROLE, aws_access_key_id="", aws_secret_access_key="", login_only="true")
    assert r.code == 1
    assert "`id-token: write`" in r.output
    assert "permissions:%0A  id-token: write" in r.output or "permissions:\n  id-token: write" in r.output


def test_oidc_web_identity_assumes_role(stage: Stage, oidc: OidcDouble) -> None:
    r = stage.run(env=oidc.env(), role_to_assume=ROLE, aws_access_key_id="", aws_secret_access_key="",
                  login_only="true")
    assert r.code == 0, r.output
    assert "assumed-role/github-deploy/GitHubActions-service-4242" in r.output
    [call] = oidc.calls("GET")
    assert call.query["audience"] == "sts.amazonaws.com" and call.query["api-version"] == "2.0"
    assert call.headers["authorization"] == f"Bearer {oidc.request_token}"
    assert oidc.issued and oidc.issued[0] not in r.output and oidc.request_token not in r.output


def test_oidc_wrong_request_token_is_refused(stage: Stage, oidc: OidcDouble) -> None:
    env = {**oidc.env(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "stale"}
    r = stage.run(env=env, role_to_assume=ROLE, aws_access_key_id="", aws_secret_access_key="", login_only="true")
    assert r.code == 1 and "refused the request token (HTTP 401)" in r.output


def test_allowed_account_ids_guard(stage: Stage) -> None:
    refused = stage.run(login_only="true", allowed_account_ids="'000000000001', 000000000002")
    assert refused.code == 1
    assert f"belong to AWS account {ACCOUNT}, which is not in allowed-account-ids" in refused.output
    assert not (stage.tmp / "auth.json").exists()  # nothing half-written
    assert stage.moto.client("ecr").describe_repositories()["repositories"] == []
    allowed = stage.run(login_only="true", allowed_account_ids=f"000000000001,{ACCOUNT}")
    assert allowed.code == 0, allowed.output
    lost_zero = stage.run(login_only="true", registry_id="12345678901")
    assert lost_zero.code == 1 and "lost its leading zero" in lost_zero.output


def test_bad_inputs_fail_before_any_call(stage: Stage) -> None:
    for inputs, needle in (
        ({"tags": "v1", "fail_on_severity": "SEVERE"}, "Input 'fail-on-severity' has unknown value"),
        ({"tags": "v1", "repository": "Team/Svc"}, "Input 'repository'"),
        ({"tags": "", "repository": "team/svc"}, "Input 'tags' is required"),
        ({"tags": "v1", "allow_cves": "CVE-1 when-ever"}, "Input 'allow-cves'"),
        ({"tags": "v1", "aws_region": "mars"}, "Input 'aws-region'"),
        ({"tags": "v1", "role_to_assume": "github-deploy"}, "Input 'role-to-assume'"),
        ({"tags": "v1", "cache_tag_prefixes": "buildcache, cache-", "mutable_tag_prefixes": "branch-, pr-, env-, tmp-"},
         "make 6 tag-mutability exclusion filters; ECR allows at most 5"),
        ({"tags": "v1", "mutable_tag_prefixes": "feature/*"}, "Input 'mutable-tag-prefixes' has 'feature/'"),
    ):
        r = stage.run(**inputs)
        assert r.code == 1 and needle in r.output, (inputs, r.output)
        assert r.output.count("error:") == 1
    assert stage.moto.client("ecr").describe_repositories()["repositories"] == []  # nothing was created


# ------------------------------------------------------------------------------------------ throttling
def test_throttling_and_5xx_are_retried(stage: Stage) -> None:
    proxy = AwsFaultProxy(stage.moto.endpoint_url)
    proxy.start()
    try:
        proxy.fail("DescribeRepositories", 400, "ThrottlingException", times=2)
        proxy.fail("GetAuthorizationToken", 503, "ServiceUnavailableException", times=1)
        proxy.fail("CreateRepository", 400, "ThrottlingException", times=1)
        r = stage.run(login_only="true", endpoint_url=proxy.url)
        assert r.code == 0, r.output
        assert proxy.injected == [("DescribeRepositories", 400), ("DescribeRepositories", 400),
                                  ("CreateRepository", 400), ("GetAuthorizationToken", 503)]
        # each fault was followed by a retry that reached moto
        assert proxy.count("DescribeRepositories") == 3  # 2 throttled + RepositoryNotFound from moto
        assert proxy.count("GetAuthorizationToken", 200) == 1 and proxy.count("CreateRepository", 200) == 1
        # a throttle that outlasts every attempt ends as one clear error, not a traceback
        proxy.fail("DescribeRepositories", 400, "ThrottlingException", times=100)
        r2 = stage.run(env={"AWS_RETRY_MODE": "standard"}, login_only="true", endpoint_url=proxy.url,
                       max_attempts="1")
        assert r2.code == 1 and "internal error" not in r2.output, r2.output
        assert "AWS kept failing ecr:DescribeRepositories after every retry (ThrottlingException" in r2.output
        assert len(stage.sleeps) == 3  # our retry on top of botocore's: 4 attempts, 3 backoffs
    finally:
        proxy.stop()


def test_cli_help_lists_inputs() -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "shipyard", "ecr-push", "--help"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": "src"}, check=True).stdout
    assert "--role-to-assume" in out and "--fail-on-severity" in out


def test_dry_run_reads_only(image_stage: Stage) -> None:
    st = image_stage
    r = st.run(tags="v1", source_image=st.images.first, dry_run="true")
    assert r.code == 0, r.output
    assert st.moto.client("ecr").describe_repositories()["repositories"] == []
    assert st.registry.tags("team/svc") == []
    assert not (st.tmp / "auth.json").exists()
    assert "would be created" in r.summary and "dry-run: would be pushed" in r.summary


def test_build_stage_pushed_then_verify_with_its_outputs(image_stage: Stage) -> None:
    """The usual flow: login-only, the build pushes with that login, then this stage verifies its outputs."""
    import subprocess

    st = image_stage
    login = st.run(login_only="true")
    assert login.code == 0, login.output
    env = {**st.base_env()}
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", st.images.first,
                    f"docker://{login.outputs['push-repository']}:chash-9"], env=env, check=True)
    _, digest = st.registry.manifest("team/svc", "chash-9")
    r = st.run(repository=f"{ECR_HOST}/team/svc", tags=f"{ECR_HOST}/team/svc:chash-9\n{ECR_HOST}/team/svc:sha-9",
               digest=digest, fail_on_severity="none")
    assert r.code == 0, r.output
    assert r.outputs["image-uri"] == f"{ECR_HOST}/team/svc@{digest}"
    ecr = st.moto.client("ecr")
    assert _digest_of(ecr, "team/svc", "chash-9") == digest == _digest_of(ecr, "team/svc", "sha-9")
    assert st.registry.manifest("team/svc", "sha-9")[1] == digest


def test_cross_account_registry_keeps_leading_zeros(stage: Stage) -> None:
    github_env = stage.tmp / "github_env"
    github_env.write_text("")
    r = stage.run(env={"GITHUB_ENV": str(github_env)}, login_only="true", registry_id="'000123456789'",
                  export_credentials="true")
    assert r.code == 0, r.output
    assert r.outputs["registry"] == "000123456789.dkr.ecr.us-east-1.amazonaws.com"
    repos = stage.moto.client("ecr").describe_repositories(registryId="000123456789")["repositories"]
    assert [x["repositoryUri"] for x in repos] == ["000123456789.dkr.ecr.us-east-1.amazonaws.com/team/svc"]
    exported = github_env.read_text()
    assert "AWS_ACCESS_KEY_ID=AKIATESTINGKEY01" in exported and "AWS_REGION=us-east-1" in exported


def test_ambient_environment_credentials_and_endpoint_variables(stage: Stage) -> None:
    """No credential inputs: the AWS_* variables of the step (as set by an earlier step or the runner), and the
    SDK's service-specific endpoint variables instead of the endpoint inputs."""
    env = {"AWS_ACCESS_KEY_ID": "AKIAAMBIENT000001", "AWS_SECRET_ACCESS_KEY": "ambient-secret-value",
           "AWS_ENDPOINT_URL_ECR": stage.moto.endpoint_url, "AWS_ENDPOINT_URL_STS": stage.moto.endpoint_url}
    r = stage.run(env=env, login_only="true", aws_access_key_id="", aws_secret_access_key="", endpoint_url="",
                  sts_endpoint_url="")
    assert r.code == 0, r.output
    assert "environment (AWS_*)" in r.output and "ambient-secret-value" not in r.output
    assert stage.moto.client("ecr").describe_repositories()["repositories"][0]["repositoryName"] == "team/svc"


def test_role_chaining_from_runner_credentials(stage: Stage) -> None:
    """Self-hosted runner with its own credentials (IRSA-like) assumes a cross-account role: no OIDC needed."""
    env = {"AWS_ACCESS_KEY_ID": "AKIARUNNER0000001", "AWS_SECRET_ACCESS_KEY": "runner-secret-value"}
    r = stage.run(env=env, login_only="true", aws_access_key_id="", aws_secret_access_key="",
                  role_to_assume=ROLE, role_chaining="true", role_session_name="ci-runner")
    assert r.code == 0, r.output
    assert "assumed-role/github-deploy/ci-runner" in r.output and "environment (AWS_*) → " + ROLE in r.output


def test_unreachable_data_plane_is_one_clear_error(image_stage: Stage) -> None:
    from tests.stack.ports import free_port

    st = image_stage
    r = st.run(tags="v1", source_image=st.images.first, registry_endpoint=f"http://127.0.0.1:{free_port()}")
    assert r.code == 1 and "internal error" not in r.output, r.output
    assert "The registry data plane is unreachable" in r.output and "registry-endpoint" in r.output


def test_oidc_endpoint_503_is_retried(stage: Stage, oidc: OidcDouble) -> None:
    oidc.inject("status", 503, count=1)
    r = stage.run(env=oidc.env(), role_to_assume=ROLE, aws_access_key_id="", aws_secret_access_key="",
                  login_only="true")
    assert r.code == 0, r.output
    assert [c.status for c in oidc.calls("GET")] == [503, 200]


def test_cli_runs_the_same_stage(stage: Stage) -> None:
    import subprocess
    import sys

    env = {**stage.base_env(), "PYTHONPATH": "src", "AWS_ACCESS_KEY_ID": "AKIACLI0000000001",
           "AWS_SECRET_ACCESS_KEY": "cli-secret-value", "PATH": os.environ["PATH"]}
    proc = subprocess.run(
        [sys.executable, "-m", "shipyard", "ecr-push", "--login-only", "--aws-region", "us-east-1",
         "--repository", "team/cli", "--endpoint-url", stage.moto.endpoint_url, "--sts-endpoint-url",
         stage.moto.endpoint_url, "--docker-login", "false"],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"output repository-uri={ECR_HOST}/team/cli" in proc.stdout
    assert "cli-secret-value" not in proc.stdout + proc.stderr


def test_extra_repositories_are_ensured_too(stage: Stage) -> None:
    r = stage.run(login_only="true", extra_repositories=f"{ECR_HOST}/team/svc/buildcache")
    assert r.code == 0, r.output
    names = sorted(x["repositoryName"] for x in stage.moto.client("ecr").describe_repositories()["repositories"])
    assert names == ["team/svc", "team/svc/buildcache"]
    assert r.summary.count("created with the standard settings") == 2


def test_missing_skopeo_is_named_with_the_fix(image_stage: Stage) -> None:
    st = image_stage
    r = st.run(env={"PATH": "/nonexistent"}, tags="v1", source_image=st.images.first)
    assert r.code == 1 and "skopeo is not installed" in r.output and "apt-get install -y skopeo" in r.output
    assert st.registry.tags("team/svc") == []
    assert st.moto.client("ecr").describe_repositories()["repositories"] == []  # failed before any AWS call
    missing = st.run(tags="v1", source_image="containers-storage:localhost/no-such-image:1")
    assert missing.code == 1 and "source image was not found" in missing.output, missing.output
    assert st.moto.client("ecr").describe_repositories()["repositories"] == []


# ------------------------------------------------------------------------------ moving tags wait for the scan gate
def test_refused_image_does_not_get_the_moving_tags(image_stage: Stage) -> None:
    """`branch-main` moves only once the new image passed the scan gate; its immutable tags go up before (the scan
    needs the image in ECR). A refused image keeps ch-/sha- tags and nothing else."""
    st = image_stage
    ecr = st.moto.client("ecr")
    first = st.run(tags="ch-1111\nsha-1111111\nbranch-main", source_image=st.images.first, fail_on_severity="none")
    assert first.code == 0, first.output
    old = first.outputs["digest"]
    # the build (defer-moving-tags) pushed only the immutable tags of the second image
    pushed = st.run(tags="ch-2222\nsha-2222222", source_image=st.images.second, fail_on_severity="none")
    new = pushed.outputs["digest"]
    st.moto.post_scan_findings([findings_result("team/svc", new, [("CVE-2024-0001", "CRITICAL")])])
    refused = st.run(repository=f"{ECR_HOST}/team/svc", digest=new,
                     tags=f"{ECR_HOST}/team/svc:ch-2222\n{ECR_HOST}/team/svc:sha-2222222\n"
                          f"{ECR_HOST}/team/svc:branch-main", fail_on_severity="CRITICAL")
    assert refused.code == 1, refused.output
    assert "CVE-2024-0001" in refused.output
    assert st.registry.manifest("team/svc", "branch-main")[1] == old
    assert _digest_of(ecr, "team/svc", "branch-main") == old
    assert "Held back because the image did not pass the scan gate: `branch-main`." in refused.summary
    assert "| us-east-1 | branch-main | held back until the scan gate passes |" in refused.summary
    assert "moved from" not in refused.output
    # the same image once the finding is accepted: now branch-main moves, after the gate
    st.moto.post_scan_findings([findings_result("team/svc", new, [("CVE-2024-0001", "CRITICAL")])])
    accepted = st.run(repository=f"{ECR_HOST}/team/svc", digest=new,
                      tags="ch-2222\nsha-2222222\nbranch-main", fail_on_severity="CRITICAL",
                      allow_cves="CVE-2024-0001")
    assert accepted.code == 0, accepted.output
    out = accepted.output
    assert out.index("scan gate passed") < out.index(f"tag 'branch-main' of team/svc (us-east-1) moved from {old}")
    assert st.registry.manifest("team/svc", "branch-main")[1] == new
    assert _digest_of(ecr, "team/svc", "branch-main") == new
    assert f"| us-east-1 | branch-main | moved (server-side) from {old}; registered via PutImage |" in \
        accepted.summary or f"| us-east-1 | branch-main | moved (server-side) from {old} |" in accepted.summary


def test_verify_mode_adds_a_new_moving_tag_after_the_gate_without_a_digest(image_stage: Stage) -> None:
    """Verify mode with tags that do not exist yet (the moving ones the build deferred): no 'none of the tags
    exist' error; the digest comes from the immutable tags even when branch-main still points at the old image."""
    st = image_stage
    first = st.run(tags="ch-1111\nbranch-feature-x", source_image=st.images.first, fail_on_severity="none")
    old = first.outputs["digest"]
    second = st.run(tags="ch-2222", source_image=st.images.second, fail_on_severity="none")
    new = second.outputs["digest"]
    r = st.run(repository="team/svc", tags="ch-2222\nbranch-feature-x\npr-7", fail_on_severity="none")
    assert r.code == 0, r.output
    assert r.outputs["digest"] == new != old
    for tag in ("branch-feature-x", "pr-7"):
        assert st.registry.manifest("team/svc", tag)[1] == new
        assert _digest_of(st.moto.client("ecr"), "team/svc", tag) == new
