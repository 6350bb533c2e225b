"""The suite image (the Docker flavour): built from Debian packages, labelled, with an SBOM; every stage runs
from it with no bootstrap, reaches the local stack, and reads inputs the way `uses: docker://` passes them;
published under exact/minor/major tags only when the version is new."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.doubles.argocd import ArgoCDDouble, frame
from tests.image.conftest import ROOT, BuiltImage
from tests.stack.registry import Registry

pytestmark = pytest.mark.slow


def _runtime_names() -> set[str]:
    names = set()
    for line in (ROOT / "requirements" / "runtime.txt").read_text().splitlines():
        if line and not line[0].isspace() and "==" in line and not line.startswith("#"):
            names.add(line.split("==")[0].strip().lower().replace("_", "-"))
    return names


def test_labels_say_what_and_which_commit(suite_image: BuiltImage) -> None:
    labels = suite_image.inspect()["OCIv1"]["config"]["Labels"]
    assert labels["org.opencontainers.image.title"] == "shipyard"
    assert labels["org.opencontainers.image.revision"] == suite_image.revision
    assert labels["org.opencontainers.image.version"]
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["dev.shipyard.sbom"] == "/usr/share/doc/shipyard/sbom.spdx.json"
    config = suite_image.inspect()["OCIv1"]["config"]
    assert config["Entrypoint"] == ["/opt/shipyard/scripts/shipyard"]
    assert "SHIPYARD_VENV=/opt/shipyard/venv" in config["Env"]


def test_sbom_lists_every_locked_python_package_and_the_tools(suite_image: BuiltImage) -> None:
    sbom = suite_image.sbom
    assert sbom["spdxVersion"] == "SPDX-2.3"
    purls = {ref["referenceLocator"] for p in sbom["packages"] for ref in p["externalRefs"]}
    pypi = {p.split("@")[0].removeprefix("pkg:pypi/") for p in purls if p.startswith("pkg:pypi/")}
    missing = _runtime_names() - pypi
    assert not missing, missing
    debs = {p.split("@")[0].removeprefix("pkg:deb/debian/") for p in purls if p.startswith("pkg:deb/")}
    assert {"python3", "git", "git-lfs", "skopeo", "buildah"} <= debs


def test_a_stage_runs_from_the_image_with_no_bootstrap(suite_image: BuiltImage) -> None:
    result = suite_image.run("selftest", env={"INPUT_MESSAGE": "from the image", "INPUT_MODE": "loud"})
    assert result.returncode == 0, result.stderr
    assert "output message=FROM THE IMAGE" in result.stdout
    assert "bootstrap" not in result.stderr  # the venv is ready in the image


def test_the_tools_in_the_image_work(suite_image: BuiltImage) -> None:
    out = suite_image.sh("sh", "-c", "git --version && git lfs version && skopeo --version && buildah --version")
    assert out.returncode == 0, out.stderr
    for tool in ("git version", "git-lfs/", "skopeo version", "buildah version"):
        assert tool in out.stdout


def test_docker_style_inputs_reach_a_stage_against_the_local_stack(suite_image: BuiltImage) -> None:
    """`uses: docker://…` passes `with:` as INPUT_<NAME> with the hyphens kept: the runtime reads both."""
    with ArgoCDDouble(refresh_delay=0.01, refresh_deadline=0.3) as argocd:
        argocd.add_app("orders-dev", [frame("a" * 40)])
        token = argocd.issue_token("ci")
        result = suite_image.run(
            "argocd-wait",
            env={
                "INPUT_ARGOCD-SERVER": argocd.url,
                "INPUT_ARGOCD-TOKEN": token,
                "INPUT_APPLICATIONS": "orders-dev",
                "INPUT_DRY-RUN": "true",
                "INPUT_TIMEOUT": "20",
            },
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "orders-dev" in result.stdout
    assert token not in result.stdout + result.stderr
    assert any(r.path.startswith("/api/v1/applications") for r in argocd.transcript)


def _login(registry: Registry, env: dict[str, str]) -> None:
    subprocess.run(
        ["skopeo", "login", "--tls-verify=false", "--username", registry.username, "--password-stdin", registry.host],
        input=registry.password,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _publish(image: BuiltImage, repository: str, version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "python3",
            str(ROOT / "image" / "publish.py"),
            f"containers-storage:{image.tag}",
            repository,
            version,
            "--insecure-registry",
        ],
        env=image.env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_publish_writes_exact_minor_major_once(suite_image: BuiltImage, registry: Registry) -> None:
    _login(registry, suite_image.env)
    repo = f"{registry.host}/acme/shipyard"
    first = _publish(suite_image, repo, "v1.4.2")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pushed" in first.stdout and "1.4.2, 1.4, 1" in first.stdout
    tags = set(registry.get("acme/shipyard/tags/list").json()["tags"])
    assert {"1.4.2", "1.4", "1"} <= tags
    digests = {tag: registry.manifest("acme/shipyard", tag)[1] for tag in ("1.4.2", "1.4", "1")}
    assert len(set(digests.values())) == 1
    again = _publish(suite_image, repo, "1.4.2")
    assert again.returncode == 0 and "exists already: nothing pushed" in again.stdout
    # A patch of an older line gets its own tags but never drags `1` backwards.
    older = _publish(suite_image, repo, "1.3.9")
    assert older.returncode == 0 and "1.3.9, 1.3" in older.stdout and ", 1\n" not in older.stdout
    assert registry.manifest("acme/shipyard", "1")[1] == digests["1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["containers-storage:x", "127.0.0.1:9/acme/shipyard", "1.2"], "not a release version"),
        (["containers-storage:x", "--dest-creds=a:b", "1.2.3"], "REPOSITORY '--dest-creds=a:b'"),
        (["containers-storage:x", "127.0.0.1:9/acme/shipyard\n", "1.2.3"], "not a registry repository"),
        (["--src-creds=u:p", "127.0.0.1:9/acme/shipyard", "1.2.3"], "not a skopeo image reference"),
    ],
)
def test_publish_refuses_bad_arguments_before_touching_anything(args: list[str], message: str, tmp_path: Path) -> None:
    # A skopeo that records any call: none may happen.
    shim = tmp_path / "skopeo"
    shim.write_text(f"#!/bin/sh\necho called >> {tmp_path / 'calls'}\nexit 1\n")
    shim.chmod(0o755)
    result = subprocess.run(
        ["python3", str(ROOT / "image" / "publish.py"), "--", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
    )
    assert not (tmp_path / "calls").exists()
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("::error") and message in result.stdout and "Fix:" in result.stdout
