"""Builder command lines (buildx cannot run here: no daemon) and failure parsing of both builders' output."""

from __future__ import annotations

from pathlib import Path

from shipyard.build.builders import (
    BuildSpec,
    buildah_command,
    buildah_push_command,
    buildx_command,
    docker_available,
    parse_failure,
)

REPO = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders"


def spec(**kw: object) -> BuildSpec:
    base: dict[str, object] = dict(context=Path("/src"), dockerfile=Path("/tmp/Dockerfile"),
                                   tags=[f"{REPO}:ch-1", f"{REPO}:sha-abc"], labels={"l": "v"})
    base.update(kw)
    return BuildSpec(**base)  # type: ignore[arg-type]


def value_after(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, word in enumerate(cmd) if word == flag]


def test_buildx_registry_cache_single_arch_push() -> None:
    cmd = buildx_command(spec(push=True, cache="registry", cache_ref=f"{REPO}:buildcache",
                              metadata_file=Path("/tmp/m.json"), build_args={"A": "1"}, target="prod"))
    assert cmd[:3] == ["docker", "buildx", "build"] and cmd[-1] == "/src"
    assert value_after(cmd, "--tag") == [f"{REPO}:ch-1", f"{REPO}:sha-abc"]
    assert value_after(cmd, "--cache-from") == [f"type=registry,ref={REPO}:buildcache"]
    assert value_after(cmd, "--cache-to") == [
        f"type=registry,ref={REPO}:buildcache,mode=max,image-manifest=true,oci-mediatypes=true"]
    assert value_after(cmd, "--provenance") == ["false"]
    assert "--push" in cmd and "--load" not in cmd
    assert value_after(cmd, "--metadata-file") == ["/tmp/m.json"]
    assert value_after(cmd, "--build-arg") == ["A=1"] and value_after(cmd, "--target") == ["prod"]
    assert value_after(cmd, "--progress") == ["plain"]


def test_buildx_gha_cache_scope_multiplatform_provenance() -> None:
    cmd = buildx_command(spec(push=True, cache="gha", cache_scope="orders", provenance=True,
                              platforms=["linux/amd64", "linux/arm64"]))
    assert value_after(cmd, "--cache-from") == ["type=gha,scope=orders"]
    assert value_after(cmd, "--cache-to") == ["type=gha,scope=orders,mode=max"]
    assert value_after(cmd, "--platform") == ["linux/amd64,linux/arm64"]
    assert value_after(cmd, "--provenance") == ["true"]


def test_buildx_no_push_loads_single_arch_and_never_writes_cache() -> None:
    cmd = buildx_command(spec(push=False, cache="registry", cache_ref=f"{REPO}:buildcache"))
    assert "--load" in cmd and "--push" not in cmd and "--cache-to" not in cmd
    multi = buildx_command(spec(push=False, platforms=["linux/amd64", "linux/arm64"]))
    assert "--load" not in multi


def test_buildah_command_single_and_multi() -> None:
    cmd = buildah_command(spec(push=True, cache="registry", cache_ref=f"{REPO}/buildcache", insecure=True,
                               ignorefile=Path("/tmp/ig")))
    assert cmd[:3] == ["buildah", "build", "--layers"]
    assert value_after(cmd, "--tag") == [f"{REPO}:ch-1"]
    assert value_after(cmd, "--cache-from") == value_after(cmd, "--cache-to") == [f"{REPO}/buildcache"]
    assert "--tls-verify=false" in cmd and value_after(cmd, "--ignorefile") == ["/tmp/ig"]
    assert value_after(cmd, "--label") == ["l=v"]
    multi = buildah_command(spec(platforms=["linux/amd64", "linux/arm64"], manifest_name="m"))
    assert value_after(multi, "--platform") == ["linux/amd64,linux/arm64"]
    assert value_after(multi, "--manifest") == ["m"] and "--tag" not in multi
    push = buildah_push_command(spec(platforms=["linux/amd64", "linux/arm64"], manifest_name="m"),
                                f"{REPO}:ch-1", Path("/tmp/d"))
    assert push[:4] == ["buildah", "manifest", "push", "--all"] and push[-2:] == ["m", f"docker://{REPO}:ch-1"]


def test_docker_available_checks_daemon_and_buildx() -> None:
    import shutil

    calls: list[list[str]] = []

    def runner(code: int):  # type: ignore[no-untyped-def]
        def run(cmd: object) -> int:
            calls.append(list(cmd))  # type: ignore[call-overload]
            return code
        return run

    assert docker_available(runner(1)) is False
    assert docker_available(runner(0)) is (shutil.which("docker") is not None)
    if calls:
        assert calls[0][:2] == ["docker", "info"] and ["docker", "buildx", "version"] in calls


BUILDAH_OUTPUT = """\
STEP 1/4: FROM 127.0.0.1:5000/base/busybox@sha256:abc
STEP 2/4: WORKDIR /app
--> Using cache 1234
STEP 3/4: RUN echo compiling && ls /nope
compiling
ls: /nope: No such file or directory
error building at STEP "RUN echo compiling && ls /nope": error while running runtime: exit status 1
"""

BUILDX_OUTPUT = """\
#0 building with "default" instance using docker driver
#5 [build 1/3] FROM docker.io/library/golang:1.24@sha256:10c1
#5 DONE 0.1s
#6 [build 2/3] COPY . .
#6 CACHED
#7 [build 3/3] RUN go build -o /out/app .
#7 0.512 # example.com/x
#7 0.513 ./main.go:3:1: syntax error: non-declaration statement outside function body
#7 ERROR: process "/bin/sh -c go build -o /out/app ." did not complete successfully: exit code: 1
------
 > [build 3/3] RUN go build -o /out/app .:
------
ERROR: failed to solve: process "/bin/sh -c go build -o /out/app ." did not complete successfully: exit code: 1
"""


def test_parse_buildah_failure() -> None:
    failure = parse_failure(BUILDAH_OUTPUT.splitlines(), "buildah")
    assert failure is not None
    assert failure.step == "STEP 3/4: RUN echo compiling && ls /nope"
    assert "ls: /nope: No such file or directory" in failure.tail


def test_parse_buildx_failure() -> None:
    failure = parse_failure(BUILDX_OUTPUT.splitlines(), "buildx")
    assert failure is not None
    assert failure.step == "[build 3/3] RUN go build -o /out/app ."
    assert "./main.go:3:1: syntax error: non-declaration statement outside function body" in failure.tail


def test_parse_nothing() -> None:
    assert parse_failure(["all good"], "buildah") is None
    assert parse_failure(["all good"], "buildx") is None
