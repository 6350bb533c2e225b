"""The whole pipeline with the job in the suite image: a private Node service commits the org template with
`container-image`, pipeline-node.yml runs its job in the image (`container:`), and the root action ships with every
stage on against the local stack, with no bootstrap (the image's venv) and buildah inside the job container.

act runs job containers through a Docker API; podman's API service stands in for the daemon (runc, the suite
image already in its storage, never pulled)."""

from __future__ import annotations

import resource
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.image.conftest import BuiltImage
from tests.pipeline import demo as demo_mod
from tests.stack.act import ActRunner

pytestmark = [pytest.mark.slow, pytest.mark.act]

@pytest.fixture(scope="module")
def docker_api(suite_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """podman's Docker-compatible API on a private socket, over the storage the suite image was built in."""
    work = tmp_path_factory.mktemp("podman")
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    conf = work / "containers.conf"
    # this machine's limits cannot be raised inside a container, and crun refuses hybrid cgroups: runc, and
    # limits at or below the current ones
    conf.write_text(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc=4096:4096"]\n'
                    '[engine]\nruntime = "runc"\n', encoding="utf-8")
    sock = work / "podman.sock"
    log = (work / "service.log").open("w")
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{sock}"],
                               env={**suite_image.env, "CONTAINERS_CONF": str(conf)}, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while not sock.exists():
        assert service.poll() is None and time.monotonic() < deadline, (work / "service.log").read_text()
        time.sleep(0.2)
    try:
        yield f"unix://{sock}"
    finally:
        service.terminate()
        try:
            service.wait(timeout=30)
        except subprocess.TimeoutExpired:
            service.kill()
        log.close()


@pytest.fixture(scope="module")
def shipped(suite_image: BuiltImage, docker_api: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any, Any]]:
    act = ActRunner(tmp_path_factory.mktemp("act-image"), venv=None)  # no host venv: the image's own
    with demo_mod.Demo(tmp_path_factory.mktemp("job-in-image"), act=act, log=lambda _msg: None) as demo:
        run = demo.run_adoption("job in the image", timeout=900,
                                container=demo_mod.JobContainer(docker_api, suite_image.tag))
        (run.act.workdir / "act.log").write_text(run.act.output, encoding="utf-8")  # kept with the test's files
        yield demo, run, demo.facts(run)


def test_the_pipeline_job_runs_in_the_image_and_ships(shipped: tuple[Any, Any, Any], suite_image: BuiltImage) -> None:
    demo, run, facts = shipped
    log = run.act.output
    assert run.ok, run.log_tail(8000)
    assert f"docker create image={suite_image.tag}" in log  # the job ran in the suite image
    assert "shipyard bootstrap" not in log, "the image's venv is used: no venv made at job start"
    demo_mod.assert_shipped_everywhere(demo, run, facts)


def test_nothing_is_left_running(shipped: tuple[Any, Any, Any], docker_api: str, suite_image: BuiltImage) -> None:
    del shipped
    out = subprocess.run(["podman", "--url", docker_api, "ps", "--all", "--format", "{{.Image}}"],
                         env=suite_image.env, capture_output=True, text=True, timeout=60, check=True).stdout
    assert suite_image.tag not in out.split(), out
