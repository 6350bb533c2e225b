"""The local stack is real: buildah builds and pushes to an authenticated registry, git speaks
smart HTTP with auth, moto answers the ECR API over the network."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.stack import buildah as bh
from tests.stack.gitserver import GitServer, auth_env
from tests.stack.moto_ecr import MotoServer
from tests.stack.registry import OCI_MANIFEST, Registry

# -- registry + buildah -----------------------------------------------------------------------------


def test_registry_requires_auth(registry: Registry) -> None:
    anon = requests.get(f"{registry.url}/v2/", timeout=5)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"].startswith("Basic ")
    wrong = requests.get(f"{registry.url}/v2/", auth=(registry.username, "nope"), timeout=5)
    assert wrong.status_code == 401
    assert requests.get(f"{registry.url}/v2/", auth=registry.auth, timeout=5).status_code == 200


def test_base_image_is_pushed(registry: Registry, base_image: str) -> None:
    repo_digest = base_image.removeprefix(f"{registry.host}/")
    repo, _, digest = repo_digest.partition("@")
    assert repo == "base/busybox" and digest.startswith("sha256:")
    manifest, tag_digest = registry.manifest(repo, "1")
    assert tag_digest == digest
    assert manifest["mediaType"] == OCI_MANIFEST
    assert len(manifest["layers"]) == 1
    config = registry.image_config(repo, digest)
    assert config["config"]["Cmd"] == ["sh"]
    assert any(e.startswith("PATH=") for e in config["config"]["Env"])
    # unauthenticated reads are refused too
    resp = requests.get(f"{registry.url}/v2/{repo}/manifests/1", timeout=5)
    assert resp.status_code == 401


def _layer_files(blob: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        return {
            m.name.lstrip("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_buildah_build_push_read_back(
    registry: Registry, buildah_env: dict[str, str], base_image: str, tmp_path: Path
) -> None:
    (tmp_path / "app.txt").write_text("shipyard\n")
    (tmp_path / "Dockerfile").write_text(
        f"FROM {registry.host}/base/busybox:1\n"
        "RUN echo hi > /hi && id -u nobody > /nobody-uid\n"
        "COPY app.txt /srv/app.txt\n"
        'CMD ["cat", "/hi"]\n'
    )
    tag = registry.ref("app/demo", "1")
    image_id = bh.build(tmp_path, tag, buildah_env)
    assert image_id
    digest = bh.push(tag, tag, buildah_env)

    manifest, read_digest = registry.manifest("app/demo", "1")
    assert read_digest == digest
    assert registry.tags("app/demo") == ["1"]
    base_manifest, _ = registry.manifest("base/busybox", base_image.rpartition("@")[2])
    layers = [layer["digest"] for layer in manifest["layers"]]
    assert layers[0] == base_manifest["layers"][0]["digest"]  # FROM reused the base layer
    assert len(layers) == 2  # --layers=false: RUN + COPY squashed into one new layer

    files = _layer_files(registry.blob("app/demo", layers[-1]))
    assert files["hi"] == b"hi\n"  # RUN really ran (chroot isolation)
    assert files["nobody-uid"] == b"65532\n"
    assert files["srv/app.txt"] == b"shipyard\n"

    config = registry.image_config("app/demo", digest)
    assert config["config"]["Cmd"] == ["cat", "/hi"]
    assert manifest["config"]["digest"] == f"sha256:{image_id}"


def test_buildah_env_is_isolated(buildah_env: dict[str, str]) -> None:
    stack = Path(buildah_env["CONTAINERS_STORAGE_CONF"]).parent
    for key in ("CONTAINERS_REGISTRIES_CONF", "REGISTRY_AUTH_FILE", "TMPDIR", "DOCKER_CONFIG"):
        assert Path(buildah_env[key]).is_relative_to(stack)
    info = json.loads(bh.run_buildah(["info"], buildah_env))
    assert info["store"]["GraphDriverName"] == "vfs"
    assert Path(info["store"]["GraphRoot"]).is_relative_to(stack)
    auth = json.loads(Path(buildah_env["REGISTRY_AUTH_FILE"]).read_text())
    assert len(auth["auths"]) == 1


# -- git smart HTTP ----------------------------------------------------------------------------------


def _git(*args: str, env: dict[str, str], cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{result.stderr}")
    return result


def _client_env(home: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        }
    )
    env.pop("GIT_ASKPASS", None)
    env.pop("SSH_ASKPASS", None)
    return env


def _commit(work: Path, env: dict[str, str], name: str, content: str | bytes) -> str:
    path = work / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    _git("add", name, env=env, cwd=work)
    _git("commit", "-q", "-m", f"add {name}", env=env, cwd=work)
    return _git("rev-parse", "HEAD", env=env, cwd=work).stdout.strip()


@pytest.fixture
def git_repo(git_server: GitServer, tmp_path: Path) -> tuple[str, Path]:
    name = f"{tmp_path.name}.git"
    git_server.create_repo(name)
    work = tmp_path / "work"
    env = _client_env(tmp_path)
    _git("init", "-q", "-b", "main", str(work), env=env)
    return name, work


def test_git_push_and_clone_with_basic_auth(git_server: GitServer, git_repo: tuple[str, Path], tmp_path: Path) -> None:
    name, work = git_repo
    password = git_server.add_user("writer", perm="write")
    git_server.clear_transcript()
    env = auth_env("writer", password, base=_client_env(tmp_path))
    sha = _commit(work, env, "README", "hello\n")
    push = _git("push", "-q", git_server.url(name), "main", env=env, cwd=work)
    assert git_server.refs(name) == {"refs/heads/main": sha}
    assert password not in push.stderr

    clone = tmp_path / "clone"
    _git("clone", "-q", git_server.url(name), str(clone), env=env)
    assert (clone / "README").read_text() == "hello\n"
    users = {r.user for r in git_server.transcript}
    assert users == {"writer"}
    assert all(r.status == 200 for r in git_server.transcript)
    assert any(r.method == "POST" and r.path.endswith("/git-receive-pack") for r in git_server.transcript)


def test_git_askpass_flow_gets_401_then_succeeds(
    git_server: GitServer, git_repo: tuple[str, Path], tmp_path: Path
) -> None:
    name, work = git_repo
    password = git_server.add_user("askpass-user", perm="write")
    askpass = tmp_path / "askpass.sh"
    askpass.write_text('#!/bin/sh\ncase "$1" in Username*) echo "$T_USER";; *) echo "$T_PASS";; esac\n')
    askpass.chmod(0o700)
    env = _client_env(tmp_path)
    env.update({"GIT_ASKPASS": str(askpass), "T_USER": "askpass-user", "T_PASS": password})
    git_server.clear_transcript()
    sha = _commit(work, env, "a.txt", "a")
    _git("push", "-q", git_server.url(name), "main", env=env, cwd=work)
    assert git_server.refs(name)["refs/heads/main"] == sha
    statuses = [(r.user, r.status) for r in git_server.transcript]
    assert statuses[0] == (None, 401)
    assert ("askpass-user", 200) in statuses


def test_git_bearer_token_push_with_chunked_body(
    git_server: GitServer, git_repo: tuple[str, Path], tmp_path: Path
) -> None:
    name, work = git_repo
    token = git_server.add_token(perm="write", label="ci")
    env = auth_env(token=token, base=_client_env(tmp_path))
    # A pack bigger than http.postBuffer makes git send Transfer-Encoding: chunked.
    env = {**env, "GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_1": "http.postBuffer", "GIT_CONFIG_VALUE_1": "4096"}
    sha = _commit(work, env, "blob.bin", os.urandom(256 * 1024))
    _git("push", "-q", git_server.url(name), "main", env=env, cwd=work)
    assert git_server.refs(name)["refs/heads/main"] == sha
    assert any(r.user == "token:ci" for r in git_server.transcript)


def test_git_refusals(git_server: GitServer, git_repo: tuple[str, Path], tmp_path: Path) -> None:
    name, work = git_repo
    git_server.add_user("alice", "right-password", perm="write")
    reader_pw = git_server.add_user("reader", perm="read")
    base = _client_env(tmp_path)
    _commit(work, base, "x", "x")

    # anonymous: 401 with a Basic challenge
    resp = requests.get(f"{git_server.url(name)}/info/refs?service=git-upload-pack", timeout=5)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="git"'

    # wrong password: 401
    git_server.clear_transcript()
    bad = _git("push", git_server.url(name), "main", env=auth_env("alice", "wrong", base=base), cwd=work, check=False)
    assert bad.returncode != 0
    assert git_server.transcript and {(r.user, r.status) for r in git_server.transcript} == {(None, 401)}

    # read-only user: can read (ls-remote), push is refused with 403
    reader = auth_env("reader", reader_pw, base=base)
    _git("ls-remote", git_server.url(name), env=reader)
    git_server.clear_transcript()
    refused = _git("push", git_server.url(name), "main", env=reader, cwd=work, check=False)
    assert refused.returncode != 0
    assert "403" in refused.stderr
    assert git_server.transcript and {(r.user, r.status) for r in git_server.transcript} == {("reader", 403)}
    assert git_server.refs(name) == {}

    # read-only token with bearer: also 403
    ro_token = git_server.add_token(perm="read")
    refused = _git("push", git_server.url(name), "main", env=auth_env(token=ro_token, base=base), cwd=work, check=False)
    assert refused.returncode != 0 and "403" in refused.stderr


def test_git_server_side_config_denies_force_push(
    git_server: GitServer, git_repo: tuple[str, Path], tmp_path: Path
) -> None:
    name, work = git_repo
    pw = git_server.add_user("forcer", perm="write")
    env = auth_env("forcer", pw, base=_client_env(tmp_path))
    _commit(work, env, "1", "1")
    _commit(work, env, "2", "2")
    _git("push", "-q", git_server.url(name), "main", env=env, cwd=work)
    git_server.git_config(name, "receive.denyNonFastForwards", "true")
    _git("reset", "-q", "--hard", "HEAD~1", env=env, cwd=work)
    _commit(work, env, "3", "3")
    forced = _git("push", "--force", git_server.url(name), "main", env=env, cwd=work, check=False)
    assert forced.returncode != 0
    assert "non-fast-forward" in forced.stderr or "denying" in forced.stderr


def test_git_server_concurrent_clients(git_server: GitServer, git_repo: tuple[str, Path], tmp_path: Path) -> None:
    name, work = git_repo
    pw = git_server.add_user("many", perm="write")
    env = auth_env("many", pw, base=_client_env(tmp_path))
    _commit(work, env, "f", "f")
    _git("push", "-q", git_server.url(name), "main", env=env, cwd=work)
    errors: list[str] = []

    def ls_remote() -> None:
        result = _git("ls-remote", git_server.url(name), env=env, check=False)
        if result.returncode != 0 or "refs/heads/main" not in result.stdout:
            errors.append(result.stderr)

    threads = [threading.Thread(target=ls_remote) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# -- moto ECR ----------------------------------------------------------------------------------------


def test_moto_ecr_round_trip(moto_server: MotoServer, ecr_client: Any) -> None:
    ecr = ecr_client
    repo = ecr.create_repository(repositoryName="svc/api")["repository"]
    assert repo["repositoryUri"].endswith("/svc/api")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 7, "digest": "sha256:" + "a" * 64},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 9, "digest": "sha256:" + "b" * 64}],
        }
    )
    digest = "sha256:" + "c" * 64
    put = ecr.put_image(repositoryName="svc/api", imageManifest=manifest, imageTag="v1", imageDigest=digest)
    assert put["image"]["imageId"] == {"imageTag": "v1", "imageDigest": digest}

    details = ecr.describe_images(repositoryName="svc/api")["imageDetails"]
    assert [d["imageTags"] for d in details] == [["v1"]]
    assert details[0]["imageDigest"] == digest

    got = ecr.batch_get_image(repositoryName="svc/api", imageIds=[{"imageTag": "v1"}])
    assert got["failures"] == []
    assert json.loads(got["images"][0]["imageManifest"]) == json.loads(manifest)

    token = ecr.get_authorization_token()["authorizationData"][0]
    user, _, _ = base64.b64decode(token["authorizationToken"]).decode().partition(":")
    assert user == "AWS"

    # custom scan findings through the moto API
    ecr.start_image_scan(repositoryName="svc/api", imageId={"imageTag": "v1"})
    custom = {
        "registryId": repo["registryId"],
        "repositoryName": "svc/api",
        "imageId": {"imageTag": "v1"},
        "imageScanStatus": {"status": "COMPLETE", "description": "done"},
        "imageScanFindings": {
            "findings": [{"name": "CVE-2024-0001", "severity": "CRITICAL", "uri": "https://example.invalid", "attributes": []}],
            "findingSeverityCounts": {"CRITICAL": 1},
        },
    }
    moto_server.post_scan_findings([custom])
    findings = ecr.describe_image_scan_findings(repositoryName="svc/api", imageId={"imageTag": "v1"})
    assert findings["imageScanFindings"]["findingSeverityCounts"] == {"CRITICAL": 1}


def test_moto_reachable_from_subprocess(moto_server: MotoServer, ecr_client: Any) -> None:
    ecr_client.create_repository(repositoryName="from-parent")
    code = "import boto3; print([r['repositoryName'] for r in boto3.client('ecr').describe_repositories()['repositories']])"
    env = {**os.environ, **moto_server.env()}
    out = subprocess.run(["python", "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "['from-parent']"
