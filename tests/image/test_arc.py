"""The ARC recipe: image/arc/build-runner.sh layers a runner onto the suite image, and image/arc/values.yaml is a
gha-runner-scale-set configuration for it. Built here with a stand-in runner tarball (the real one is a GitHub
download, which these machines cannot reach): the layering, the runner user, and a Shipyard stage run as that user
with no bootstrap. A cluster is not available here; what the values promise is checked statically."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.image.conftest import ROOT, BuiltImage

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "image" / "arc" / "build-runner.sh"
RUN_SH = """#!/bin/bash
# stand-in for the runner's run.sh: what a job on this runner would see
echo "uid=$(id -u) home=$HOME user=$(id -un)"
echo "venv=$SHIPYARD_VENV storage=$STORAGE_DRIVER isolation=$BUILDAH_ISOLATION"
command -v shipyard
INPUT_MESSAGE=on-the-runner INPUT_MODE=loud GITHUB_OUTPUT=/home/runner/out shipyard selftest
cat /home/runner/out
"""


def _tarball(path: Path, members: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


def _build(image: BuiltImage, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], env=image.env, capture_output=True, text=True, timeout=900,
                          check=False)


def _exists(image: BuiltImage, tag: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", tag], env=image.env, capture_output=True,
                          timeout=120, check=False).returncode == 0


def test_the_runner_image_runs_a_stage_as_the_runner_user(suite_image: BuiltImage, tmp_path: Path) -> None:
    tarball = _tarball(tmp_path / "actions-runner-linux-x64-2.999.0.tar.gz",
                       {"./run.sh": RUN_SH, "./bin/Runner.Listener": "#!/bin/sh\n"})
    tag = "localhost/shipyard-runner:under-test"
    proc = _build(suite_image, "--from", suite_image.tag, "--runner-tarball", str(tarball), "--tag", tag,
                  "--runner-deps", "none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    try:
        ctr = subprocess.run(["buildah", "from", "--pull-never", "--quiet", tag], env=suite_image.env, check=True,
                             capture_output=True, text=True, timeout=300).stdout.strip()
        try:
            inspected = subprocess.run(["buildah", "inspect", "--type", "image", tag], env=suite_image.env,
                                       check=True, capture_output=True, text=True, timeout=120).stdout
            cfg = json.loads(inspected)["OCIv1"]["config"]
            assert cfg["User"] == "runner" and cfg["Cmd"] == ["/home/runner/run.sh"] and not cfg.get("Entrypoint")
            assert cfg["Labels"]["dev.shipyard.base"] == suite_image.tag
            run = subprocess.run(["buildah", "run", "--user", "runner", "--env", "HOME=/home/runner", "--", ctr,
                                  "/home/runner/run.sh"], env=suite_image.env, capture_output=True, text=True,
                                 timeout=300, check=False)
            out = run.stdout + run.stderr
            assert run.returncode == 0, out[-3000:]
            assert "uid=1001 home=/home/runner user=runner" in out
            assert "venv=/opt/shipyard/venv storage=vfs isolation=chroot" in out
            assert "/opt/shipyard/scripts/shipyard" in out
            assert "message=ON-THE-RUNNER" in out, out  # the stage ran, no bootstrap needed
            assert "bootstrap" not in out
        finally:
            subprocess.run(["buildah", "rm", ctr], env=suite_image.env, capture_output=True, timeout=120, check=False)
    finally:
        subprocess.run(["buildah", "rmi", "-f", tag], env=suite_image.env, capture_output=True, timeout=120,
                       check=False)


@pytest.mark.parametrize(("case", "fix"), [
    ("no from", "--from is missing"),
    ("no tarball", "--runner-tarball is missing"),
    ("tarball not a file", "is not a file"),
    ("not a runner tarball", "has no run.sh at its top"),
    ("bad deps", "--runner-deps must be apt or none"),
    ("unknown option", "unknown option '--pwned'"),
])
def test_refusals_name_the_fix_and_build_nothing(suite_image: BuiltImage, tmp_path: Path, case: str,
                                                 fix: str) -> None:
    good = _tarball(tmp_path / "runner.tar.gz", {"./run.sh": RUN_SH})
    bad = _tarball(tmp_path / "other.tar.gz", {"./README": "x"})
    tag = "localhost/shipyard-runner:refused"
    args = {
        "no from": ["--runner-tarball", str(good)],
        "no tarball": ["--from", suite_image.tag],
        "tarball not a file": ["--from", suite_image.tag, "--runner-tarball", str(tmp_path / "missing.tgz")],
        "not a runner tarball": ["--from", suite_image.tag, "--runner-tarball", str(bad)],
        "bad deps": ["--from", suite_image.tag, "--runner-tarball", str(good), "--runner-deps", "yes\nplease"],
        "unknown option": ["--pwned", "x"],
    }[case]
    proc = _build(suite_image, *args, "--tag", tag) if case != "unknown option" else _build(suite_image, *args)
    assert proc.returncode == 1
    [error] = [line for line in proc.stderr.splitlines() if line.startswith("::error")]
    assert fix in error and "Fix:" in error
    assert not _exists(suite_image, tag)


def test_the_scale_set_values_match_the_runner_image() -> None:
    values = yaml.safe_load((ROOT / "image" / "arc" / "values.yaml").read_text(encoding="utf-8"))
    assert values["runnerScaleSetName"] == "shipyard" and values["minRunners"] == 0
    assert "containerMode" not in values, "no dind, no kubernetes mode: the composite flavour runs on the runner"
    spec = values["template"]["spec"]
    [runner] = spec["containers"]
    assert runner["name"] == "runner"  # the chart finds the runner container by this name
    assert runner["command"] == ["/home/runner/run.sh"]
    env = {e["name"]: e["value"] for e in runner["env"]}
    assert env == {"STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot", "SHIPYARD_VENV": "/opt/shipyard/venv"}
    assert runner["securityContext"]["runAsUser"] == 1001 and not runner["securityContext"].get("privileged")
    mounts = {m["name"]: m["mountPath"] for m in runner["volumeMounts"]}
    volumes = {v["name"] for v in spec["volumes"]}
    assert set(mounts) <= volumes
    script = SCRIPT.read_text(encoding="utf-8")
    assert "runner:x:1001:1001" in script and '--cmd \'["/home/runner/run.sh"]\'' in script
