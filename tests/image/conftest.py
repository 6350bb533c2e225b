"""The suite image, built once per session by image/build.sh (mmdebstrap + buildah), in the stack's isolated
buildah storage."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
TAG = "localhost/shipyard:under-test"


@dataclass
class BuiltImage:
    tag: str
    env: dict[str, str]
    sbom: dict
    seconds_to_build: float
    revision: str  # HEAD when the build started

    def inspect(self) -> dict:
        out = subprocess.run(
            ["buildah", "inspect", "--type", "image", self.tag],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        return json.loads(out)

    container: str  # one working container of the image, shared by the tests (vfs copies the rootfs per container)

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the image's entry point with ARGS (a stage), like `uses: docker://IMAGE` with `args:`."""
        return self.sh("/opt/shipyard/scripts/shipyard", *args, env=env, timeout=timeout)

    def sh(
        self, *argv: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        flags = [f"--env={k}={v}" for k, v in (env or {}).items()]
        return subprocess.run(
            ["buildah", "run", *flags, "--", self.container, *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture(scope="session")
def suite_image(buildah_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltImage]:
    import time

    out = tmp_path_factory.mktemp("image")
    sbom = out / "sbom.spdx.json"
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    start = time.monotonic()
    proc = subprocess.run(
        ["bash", str(ROOT / "image" / "build.sh"), "--tag", TAG, "--sbom", str(sbom)],
        env=buildah_env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seconds = time.monotonic() - start
    ctr = subprocess.run(
        ["buildah", "from", "--pull-never", TAG],
        env=buildah_env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout.strip()
    yield BuiltImage(TAG, buildah_env, json.loads(sbom.read_text()), seconds, revision, ctr)
    subprocess.run(["buildah", "rm", ctr], env=buildah_env, capture_output=True, timeout=120, check=False)
    subprocess.run(["buildah", "rmi", "-f", TAG], env=buildah_env, capture_output=True, timeout=120, check=False)
