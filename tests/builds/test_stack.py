"""The build stage against the real local stack: buildah (vfs, chroot) and the authenticated registry.

No internet here, so the examples are built in ``build-mode: host`` on the tiny busybox base image (the real
toolchain images cannot be pulled); what is checked is what the registry holds afterwards."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from shipyard.oci import ImageRef
from tests.builds.conftest import git, make_repo, run_build
from tests.stack import buildah as stack_buildah
from tests.stack.ports import free_port
from tests.stack.registry import Registry

SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


def gh_env(repo: Path, buildah_env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**buildah_env, "GITHUB_WORKSPACE": str(repo), "GITHUB_SHA": SHA, "GITHUB_REF": "refs/heads/main",
            "GITHUB_REPOSITORY": "acme/shop", "GITHUB_SERVER_URL": "https://github.example", **extra}


def _host_inputs(registry: Registry, name: str, base_image: str, **extra: str) -> dict[str, str]:
    return {"image": f"{registry.host}/examples/{name}", "builder": "buildah", "build-mode": "host",
            "base-images": f"runtime={base_image}", **extra}


HOST_TOOLCHAIN = {"python": "", "node": "npm", "spa": "npm", "go": "go", "java": "mvn"}


@pytest.mark.parametrize(("example", "extra", "user", "language"), [
    ("python-service", {"install-command": "none"}, "10001:10001", "python"),
    ("node-service", {}, "10001:10001", "node"),
    ("vue-app", {"install-command": "none"}, "101:101", "spa"),
    ("go-service", {}, "65532:65532", "go"),
    ("java-service", {"build-command": "mvn -o -B -q -DskipTests package"}, "10001:10001", "java"),
])
def test_examples_build_and_push(tmp_path: Path, registry: Registry, buildah_env: dict[str, str], base_image: str,
                                 example: str, extra: dict[str, str], user: str, language: str) -> None:
    needed = HOST_TOOLCHAIN[language]
    if needed and shutil.which(needed) is None:  # scripts/setup.sh installs it; only a bare machine lacks it
        pytest.skip(f"host build of {language} needs '{needed}' on this machine (scripts/setup.sh installs it)")
    repo = make_repo(tmp_path / example, example)
    result = run_build(_host_inputs(registry, example, base_image, **extra), gh_env(repo, buildah_env))
    assert result.code == 0, result.output
    assert result.outputs["skipped"] == "false" and result.outputs["language"] == language
    repo_name = f"examples/{example}"
    content_tag = "ch-" + result.outputs["content-hash"][:24]
    assert result.outputs["tags"].splitlines() == [f"{registry.host}/{repo_name}:{t}"
                                                   for t in (content_tag, "sha-a1b2c3d", "branch-main")]
    assert result.outputs["moving-tags"] == f"{registry.host}/{repo_name}:branch-main"
    manifest, digest = registry.manifest(repo_name, content_tag)
    assert digest == result.outputs["digest"]
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert {"branch-main", "sha-a1b2c3d", content_tag} <= set(registry.tags(repo_name))
    assert registry.manifest(repo_name, "branch-main")[1] == digest  # server-side retag: same manifest
    config = registry.image_config(repo_name, content_tag)
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.source"] == "https://github.example/acme/shop"
    assert labels["org.opencontainers.image.revision"] == SHA
    assert labels["org.opencontainers.image.created"].endswith("Z")
    # the service's own title and version, not the base image's (busybox has none; real bases do)
    assert labels["org.opencontainers.image.title"] == example
    assert labels["org.opencontainers.image.version"] == "sha-a1b2c3d"
    assert result.outputs["content-tag"] == content_tag and result.outputs["commit-tag"] == "sha-a1b2c3d"
    assert config["config"]["User"] == user
    assert "| **builder** | buildah |" in result.summary and "| **size** |" in result.summary
    if example == "go-service":  # the static binary really runs in the (busybox) runtime image
        assert run_in_image(buildah_env, result.outputs["tags"].splitlines()[0], "/app", "-version") == \
            "go-service 1.0.0"


def run_in_image(buildah_env: dict[str, str], ref: str, *cmd: str) -> str:
    ctr = subprocess.run(["buildah", "from", "--quiet", ref], env=buildah_env, capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        return subprocess.run(["buildah", "run", ctr, *cmd], env=buildah_env, capture_output=True, text=True,
                              check=True, timeout=60).stdout.strip()
    finally:
        subprocess.run(["buildah", "rm", ctr], env=buildah_env, capture_output=True, check=False)


def test_unchanged_rerun_skips_and_retags(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                                          base_image: str) -> None:
    repo = make_repo(tmp_path / "node", "node-service")
    inputs = _host_inputs(registry, "skip", base_image)
    first = run_build(inputs, gh_env(repo, buildah_env))
    assert first.code == 0, first.output
    # a new commit that does not touch the context's content (another service), a new branch, a release tag
    (repo / "node_modules").mkdir()
    (repo / "node_modules" / "junk.js").write_text("untracked")
    started = time.monotonic()
    second = run_build({**inputs, "semver-aliases": "true"},
                       gh_env(repo, buildah_env, GITHUB_SHA="f" * 40, GITHUB_REF="refs/tags/v1.4.2"))
    elapsed = time.monotonic() - started
    assert second.code == 0, second.output
    assert second.outputs["skipped"] == "true"
    assert second.outputs["digest"] == first.outputs["digest"]
    assert second.outputs["content-hash"] == first.outputs["content-hash"]
    assert second.outputs["moving-tags"].splitlines() == [f"{registry.host}/examples/skip:{t}" for t in ("1.4", "1")]
    tags = set(registry.tags("examples/skip"))
    assert {"sha-fffffff", "1.4.2", "1.4", "1"} <= tags
    for tag in ("1.4.2", "1", "sha-fffffff"):
        assert registry.manifest("examples/skip", tag)[1] == first.outputs["digest"]
    assert "skipped: unchanged content" in second.summary
    assert "buildah build" not in second.output
    assert elapsed < 5
    # a tracked change rebuilds
    (repo / "server.js").write_text((repo / "server.js").read_text() + "\n// change\n")
    git(repo, "commit", "-qam", "change")
    third = run_build(inputs, gh_env(repo, buildah_env))
    assert third.code == 0 and third.outputs["skipped"] == "false"
    assert third.outputs["content-hash"] != first.outputs["content-hash"]
    # the second build of main: its moving tag branch-main moves to the new image (with a notice); ch- stays put
    new, old = third.outputs["digest"], first.outputs["digest"]
    assert registry.manifest("examples/skip", "branch-main")[1] == new != old
    assert f"notice: moving tag {registry.host}/examples/skip:branch-main moved from {old} to {new}" in third.output
    assert registry.manifest("examples/skip", "ch-" + first.outputs["content-hash"][:24])[1] == old

    # defer-moving-tags (the root action): a new build pushes ch-/sha- only; branch-main stays where it was until
    # ecr-push moves it after its scan gate, but the outputs still list it
    (repo / "server.js").write_text((repo / "server.js").read_text() + "\n// another change\n")
    git(repo, "commit", "-qam", "another change")
    fourth = run_build({**inputs, "defer-moving-tags": "true"}, gh_env(repo, buildah_env, GITHUB_SHA="e" * 40))
    assert fourth.code == 0, fourth.output
    newest = fourth.outputs["digest"]
    assert newest != new
    assert registry.manifest("examples/skip", "branch-main")[1] == new
    assert registry.manifest("examples/skip", "sha-eeeeeee")[1] == newest
    assert registry.manifest("examples/skip", fourth.outputs["content-tag"])[1] == newest
    assert f"{registry.host}/examples/skip:branch-main" in fourth.outputs["tags"].splitlines()
    assert fourth.outputs["moving-tags"] == f"{registry.host}/examples/skip:branch-main"
    assert "moving tags branch-main left to ecr-push" in fourth.output and "moved from" not in fourth.output
    assert "branch-main (moving: left to ecr-push, after its scan gate)" in fourth.summary
    # and a skipped rebuild of that content with defer does not move it either
    fifth = run_build({**inputs, "defer-moving-tags": "true"}, gh_env(repo, buildah_env, GITHUB_SHA="d" * 40))
    assert fifth.outputs["skipped"] == "true", fifth.output
    assert registry.manifest("examples/skip", "branch-main")[1] == new
    assert registry.manifest("examples/skip", "sha-ddddddd")[1] == newest


def test_failing_dockerfile_names_the_step(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                                           base_image: str) -> None:
    dockerfile = (f"FROM {base_image}\nRUN echo preparing\nRUN echo compiling && echo 'boom: missing thing' "
                  "&& exit 3\nUSER 10001\n")
    repo = make_repo(tmp_path / "bad", files={"Dockerfile": dockerfile, "main.go": "package main\n"})
    result = run_build({"image": f"{registry.host}/examples/bad", "builder": "buildah"}, gh_env(repo, buildah_env))
    assert result.code == 1
    assert "The image build failed at STEP 3/" in result.output
    assert "RUN echo compiling && echo 'boom: missing thing' && exit 3 |" in result.summary
    assert "boom: missing thing" in result.summary
    assert result.outputs["error"].startswith("The image build failed at STEP 3/")
    assert registry.tags("examples/bad") == []


def test_own_dockerfile_wins_and_gets_labels(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                                             base_image: str) -> None:
    repo = make_repo(tmp_path / "own", "node-service", files={
        "Dockerfile": f"FROM {base_image}\nCOPY server.js /srv/\nUSER 4242\nCMD [\"sh\"]\n"})
    result = run_build({"image": f"{registry.host}/examples/own", "builder": "buildah"}, gh_env(repo, buildah_env))
    assert result.code == 0, result.output
    config = registry.image_config("examples/own", "branch-main")
    assert config["config"]["User"] == "4242"
    assert config["config"]["Labels"]["org.opencontainers.image.revision"] == SHA
    assert "| **Dockerfile** | Dockerfile |" in result.summary


def test_registry_unreachable_builds_anyway(tmp_path: Path, buildah_env: dict[str, str], base_image: str) -> None:
    repo = make_repo(tmp_path / "node", "node-service")
    inputs = {"image": f"127.0.0.1:{free_port()}/gone/svc", "builder": "buildah", "build-mode": "host",
              "base-images": f"runtime={base_image}", "push": "false"}
    result = run_build(inputs, gh_env(repo, buildah_env))
    assert result.code == 0, result.output
    assert "building anyway" in result.output
    assert result.outputs["skipped"] == "false" and "built (not pushed)" in result.summary


def test_dry_run_builds_and_pushes_nothing(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                                           base_image: str) -> None:
    repo = make_repo(tmp_path / "go", "go-service")
    result = run_build(_host_inputs(registry, "dry", base_image, **{"dry-run": "true"}), gh_env(repo, buildah_env))
    assert result.code == 0, result.output
    assert "dry run: would run buildah build --layers" in result.output
    assert registry.tags("examples/dry") == []


def test_no_language_error(tmp_path: Path, registry: Registry, buildah_env: dict[str, str]) -> None:
    repo = make_repo(tmp_path / "docs", files={"README.md": "nothing to build"})
    result = run_build({"image": f"{registry.host}/examples/none", "builder": "buildah"}, gh_env(repo, buildah_env))
    assert result.code == 1
    assert result.output.count("error:") == 1
    assert "No Dockerfile and no detectable language" in result.output and "go.mod" in result.output


def test_push_without_credentials_fails_clearly(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                                                base_image: str) -> None:
    empty = tmp_path / "auth.json"
    empty.write_text(json.dumps({"auths": {}}))
    repo = make_repo(tmp_path / "node", "node-service")
    env = gh_env(repo, buildah_env, REGISTRY_AUTH_FILE=str(empty), DOCKER_CONFIG=str(tmp_path), HOME=str(tmp_path))
    result = run_build(_host_inputs(registry, "nocreds", base_image), env)
    assert result.code == 1
    assert "no credentials were found" in result.output
    assert registry.password not in result.output


@pytest.mark.parametrize(("example", "program", "toolchain", "extra"), [
    ("go-service", "go", "Go", {}),
    ("java-service", "mvn", "Maven", {}),
    ("vue-app", "npm", "Node.js", {}),
    ("python-service", "pip-compile-nowhere", "'pip-compile-nowhere'", {"install-command": "pip-compile-nowhere -q"}),
])
def test_host_mode_without_the_toolchain_names_it(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                                                  base_image: str, example: str, program: str, toolchain: str,
                                                  extra: dict[str, str]) -> None:
    """A missing toolchain is not a missing builder: the error names the toolchain and `build-mode: container`."""
    repo = make_repo(tmp_path / example, example)
    bare = tmp_path / "bin"  # a PATH with the builder (buildah) and a shell, without the toolchain
    bare.mkdir()
    for tool in ("buildah", "sh", "git", "python3"):
        found = shutil.which(tool)
        if found:
            (bare / tool).symlink_to(found)
    env = gh_env(repo, buildah_env, PATH=str(bare))
    result = run_build(_host_inputs(registry, f"notool-{example}", base_image, **extra), env)
    assert result.code == 1, result.output
    assert result.output.count("error:") == 1
    error = next(line for line in result.output.splitlines() if line.startswith("error:"))
    assert f"'{program}' is not installed" in error and toolchain in error, error
    assert "build-mode: container" in error and "buildah" not in error, error
    assert result.outputs["error"].startswith("build-mode 'host' runs")
    assert registry.tags(f"examples/notool-{example}") == []


def test_bad_inputs(tmp_path: Path, registry: Registry, buildah_env: dict[str, str]) -> None:
    repo = make_repo(tmp_path / "go", "go-service")
    for inputs, needle in [
        ({"image": f"{registry.host}/x:tag"}, "Input 'image' must not carry a tag"),
        ({"image": "Bad Name"}, "Input 'image' is not a valid image name"),
        ({"image": f"{registry.host}/x", "context": "nope"}, "Input 'context'"),
        ({"image": f"{registry.host}/x", "dockerfile": "nope/Dockerfile"}, "Input 'dockerfile'"),
        ({"image": f"{registry.host}/x", "tags": "ok,-bad"}, "Input 'tags' has invalid tag"),
        ({"image": f"{registry.host}/x", "cache": "gha", "builder": "buildah"}, "`cache: gha` needs"),
        ({"image": f"{registry.host}/x", "base-images": "final=x"}, "Input 'base-images' has unknown key"),
        ({"image": f"{registry.host}/x", "platforms": "linux/amd64,arm64"}, "Input 'platforms' has malformed"),
        ({"image": f"{registry.host}/x", "builder": "kaniko"}, "Input 'builder' has unknown value"),
        ({"image": f"{registry.host}/x", "secret-envs": "tok"}, "Input 'secret-envs' is a malformed list"),
    ]:
        result = run_build(inputs, gh_env(repo, buildah_env))
        assert result.code == 1 and needle in result.output, (inputs, result.output)
        assert result.output.count("error:") == 1
    assert ImageRef.parse(f"{registry.host}/x").repository == "x"


def test_buildah_registry_cache_survives_an_empty_runner(tmp_path: Path, registry: Registry,
                                                         buildah_env: dict[str, str], base_image: str) -> None:
    """`cache: registry` with buildah: layers go to <image>/buildcache; a runner with empty storage reuses them."""
    dockerfile = f"FROM {base_image}\nRUN echo expensive > /dep\nCOPY a /a\nUSER 10001\n"
    repo = make_repo(tmp_path / "c", files={"Dockerfile": dockerfile, "a": "1"})
    inputs = {"image": f"{registry.host}/examples/cached", "builder": "buildah", "cache": "registry"}
    first = run_build(inputs, gh_env(repo, buildah_env))
    assert first.code == 0, first.output
    assert "examples/cached/buildcache" in registry.catalog()
    # a fresh scale-to-zero pod: its own empty storage, same registry login
    fresh = stack_buildah.buildah_env(tmp_path / "fresh-pod", [registry.host])
    shutil.copy(buildah_env["REGISTRY_AUTH_FILE"], fresh["REGISTRY_AUTH_FILE"])
    (repo / "a").write_text("2")
    git(repo, "commit", "-qam", "change a")
    try:
        second = run_build(inputs, gh_env(repo, fresh))
    finally:
        subprocess.run(["buildah", "rmi", "--all", "--force"], env=fresh, capture_output=True, check=False)
    assert second.code == 0, second.output
    assert second.outputs["skipped"] == "false"
    assert "--> Using cache" in second.output and "cache hits 1/" in second.summary


def test_multi_platform_index(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                              base_image: str) -> None:
    """Two platforms -> one OCI index (buildah --manifest, manifest push --all), every tag on the index."""
    repo = make_repo(tmp_path / "go", "go-service")
    inputs = _host_inputs(registry, "multi", base_image, platforms="linux/amd64,linux/arm64")
    result = run_build(inputs, gh_env(repo, buildah_env))
    assert result.code == 0, result.output
    index, digest = registry.manifest("examples/multi", "branch-main")
    assert digest == result.outputs["digest"]
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    archs = sorted(m["platform"]["architecture"] for m in index["manifests"])
    assert archs == ["amd64", "arm64"]
    again = run_build(inputs, gh_env(repo, buildah_env, GITHUB_REF="refs/heads/other"))
    assert again.outputs["skipped"] == "true" and registry.manifest("examples/multi", "branch-other")[1] == digest


def test_cli_runs_the_same_stage(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                                 base_image: str) -> None:
    import os
    import sys

    repo = make_repo(tmp_path / "go", "go-service")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.update(buildah_env)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    args = [sys.executable, "-m", "shipyard", "build", "--image", f"{registry.host}/examples/cli",
            "--context", str(repo), "--builder", "buildah", "--build-mode", "host",
            "--base-images", f"runtime={base_image}", "--dry-run", "true"]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dry run: would run buildah build --layers" in proc.stdout
    assert "output skipped=false" in proc.stdout and "output content-hash=" in proc.stdout


def test_build_secret_from_env_never_in_output(tmp_path: Path, registry: Registry, buildah_env: dict[str, str],
                                               base_image: str) -> None:
    dockerfile = (f"FROM {base_image}\nRUN --mount=type=secret,id=npmtok echo \"secret-len=$(wc -c < "
                  "/run/secrets/npmtok)\"\nUSER 10001\n")
    repo = make_repo(tmp_path / "s", files={"Dockerfile": dockerfile})
    result = run_build({"image": f"{registry.host}/examples/secret", "builder": "buildah",
                        "secret-envs": "npmtok=NPM_TOKEN"},
                       gh_env(repo, buildah_env, NPM_TOKEN="s3cr3t-npm-token"))
    assert result.code == 0, result.output
    assert "secret-len=16" in result.output and "s3cr3t-npm-token" not in result.output
    config = registry.image_config("examples/secret", "branch-main")
    assert "s3cr3t-npm-token" not in json.dumps(config)
    missing = run_build({"image": f"{registry.host}/examples/secret", "builder": "buildah",
                         "secret-envs": "npmtok=NOT_SET_VAR"}, gh_env(repo, buildah_env))
    assert missing.code == 1 and "NOT_SET_VAR" in missing.output


def test_unpinned_base_is_resolved_and_a_new_base_changes_the_hash(tmp_path: Path, registry: Registry,
                                                                   buildah_env: dict[str, str],
                                                                   base_image: str) -> None:
    mutable = f"{registry.host}/base/mutable:1"
    subprocess.run(["buildah", "pull", "--quiet", base_image], env=buildah_env, check=True, capture_output=True)
    subprocess.run(["buildah", "push", "--quiet", "--tls-verify=false", base_image, f"docker://{mutable}"],
                   env=buildah_env, check=True, capture_output=True)
    repo = make_repo(tmp_path / "u", files={"Dockerfile": f"FROM {mutable}\nUSER 10001\n"})
    inputs = {"image": f"{registry.host}/examples/unpinned", "builder": "buildah", "dry-run": "true"}
    first = run_build(inputs, gh_env(repo, buildah_env))
    assert first.code == 0, first.output
    assert "not pinned by digest and could not be resolved" not in first.output
    # upstream publishes a new image under the same tag
    ctr = subprocess.run(["buildah", "from", "--quiet", base_image], env=buildah_env, check=True,
                         capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["buildah", "config", "--label", "rebuilt=yes", ctr], env=buildah_env, check=True)
        subprocess.run(["buildah", "commit", "--quiet", ctr, "localhost/new-base"], env=buildah_env, check=True,
                       capture_output=True)
    finally:
        subprocess.run(["buildah", "rm", ctr], env=buildah_env, capture_output=True, check=False)
    subprocess.run(["buildah", "push", "--quiet", "--tls-verify=false", "localhost/new-base", f"docker://{mutable}"],
                   env=buildah_env, check=True, capture_output=True)
    second = run_build(inputs, gh_env(repo, buildah_env))
    assert second.code == 0
    assert second.outputs["content-hash"] != first.outputs["content-hash"]
    # a base that cannot be resolved: warned, hashed by name
    repo2 = make_repo(tmp_path / "u2", files={"Dockerfile": f"FROM 127.0.0.1:{free_port()}/gone/base:1\n"})
    third = run_build(inputs, gh_env(repo2, buildah_env))
    assert third.code == 0 and "is not pinned by digest and could not be resolved" in third.output
