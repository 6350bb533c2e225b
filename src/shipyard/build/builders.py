"""Builder command lines (buildah, docker buildx), streamed execution and failure parsing."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.runtime import UserError

TAIL_LINES = 25


@dataclass
class BuildSpec:
    """Everything a builder needs; ``tags`` are full references (``registry/repo:tag``)."""

    context: Path
    dockerfile: Path
    tags: list[str]
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    platforms: list[str] = field(default_factory=list)
    push: bool = False
    cache: str = "none"  # registry | gha | none
    cache_ref: str = ""  # registry cache reference (buildx: repo:buildcache; buildah: a repository)
    cache_scope: str = ""  # gha scope
    provenance: bool = False
    insecure: bool = False  # --tls-verify=false for the whole build (pulls too): only when asked
    push_insecure: bool = False  # the push target is plain HTTP (asked, or a loopback registry)
    ignorefile: Path | None = None
    metadata_file: Path | None = None
    manifest_name: str = ""  # buildah multi-platform: local manifest list name
    secrets: dict[str, str] = field(default_factory=dict)  # id -> env var name (never the value)


def docker_available(runner: Callable[[Sequence[str]], int] | None = None) -> bool:
    """True when a docker daemon answers ``docker info`` (and the buildx plugin is there)."""
    if shutil.which("docker") is None:
        return False

    def default(cmd: Sequence[str]) -> int:
        try:
            return subprocess.run(list(cmd), capture_output=True, timeout=20, check=False).returncode
        except (OSError, subprocess.TimeoutExpired):
            return 1

    run = runner or default
    return run(["docker", "info", "--format", "{{.ServerVersion}}"]) == 0 and run(["docker", "buildx", "version"]) == 0


def buildah_command(spec: BuildSpec) -> list[str]:
    """``buildah build`` (bud): layers on, OCI format, labels, cache in a registry repository, platforms."""
    cmd = ["buildah", "build", "--layers", "--format", "oci", "--file", str(spec.dockerfile)]
    if len(spec.platforms) > 1:
        cmd += ["--platform", ",".join(spec.platforms), "--manifest", spec.manifest_name or spec.tags[0]]
    else:
        if spec.platforms:
            cmd += ["--platform", spec.platforms[0]]
        cmd += ["--tag", spec.tags[0]]
    for key, value in sorted(spec.build_args.items()):
        cmd += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(spec.labels.items()):
        cmd += ["--label", f"{key}={value}"]
    if spec.target:
        cmd += ["--target", spec.target]
    if spec.cache == "registry" and spec.cache_ref:
        cmd += ["--cache-from", spec.cache_ref]
        if spec.push:
            cmd += ["--cache-to", spec.cache_ref]
    if spec.ignorefile:
        cmd += ["--ignorefile", str(spec.ignorefile)]
    if spec.insecure:
        cmd += ["--tls-verify=false"]
    for sid, var in sorted(spec.secrets.items()):
        cmd += ["--secret", f"id={sid},env={var}"]
    cmd.append(str(spec.context))
    return cmd


def buildah_push_command(spec: BuildSpec, destination: str, digest_file: Path) -> list[str]:
    if len(spec.platforms) > 1:
        cmd = ["buildah", "manifest", "push", "--all", "--format", "oci", "--digestfile", str(digest_file)]
        source = spec.manifest_name or spec.tags[0]
    else:
        cmd = ["buildah", "push", "--format", "oci", "--digestfile", str(digest_file)]
        source = spec.tags[0]
    if spec.insecure or spec.push_insecure:
        # `buildah manifest push` ignores `insecure = true` in registries.conf (1.28: it even exits 0 after
        # failing the first image), so a plain-HTTP target needs the flag explicitly
        cmd.append("--tls-verify=false")
    return [*cmd, source, f"docker://{destination}"]


def buildx_command(spec: BuildSpec) -> list[str]:
    """``docker buildx build`` with registry/GHA cache, provenance off unless asked, multi-platform."""
    cmd = ["docker", "buildx", "build", "--progress", "plain", "--file", str(spec.dockerfile)]
    for tag in spec.tags:
        cmd += ["--tag", tag]
    for key, value in sorted(spec.build_args.items()):
        cmd += ["--build-arg", f"{key}={value}"]
    for key, value in sorted(spec.labels.items()):
        cmd += ["--label", f"{key}={value}"]
    if spec.target:
        cmd += ["--target", spec.target]
    if spec.platforms:
        cmd += ["--platform", ",".join(spec.platforms)]
    if spec.cache == "registry" and spec.cache_ref:
        cmd += ["--cache-from", f"type=registry,ref={spec.cache_ref}"]
        if spec.push:
            cmd += ["--cache-to", f"type=registry,ref={spec.cache_ref},mode=max,image-manifest=true,"
                                  "oci-mediatypes=true"]
    elif spec.cache == "gha":
        scope = spec.cache_scope or "default"
        cmd += ["--cache-from", f"type=gha,scope={scope}", "--cache-to", f"type=gha,scope={scope},mode=max"]
    cmd += ["--provenance", "true" if spec.provenance else "false"]
    if spec.push:
        cmd.append("--push")
    elif len(spec.platforms) <= 1:
        cmd.append("--load")
    if spec.metadata_file:
        cmd += ["--metadata-file", str(spec.metadata_file)]
    for sid, var in sorted(spec.secrets.items()):
        cmd += ["--secret", f"id={sid},env={var}"]
    cmd.append(str(spec.context))
    return cmd


# --------------------------------------------------------------------------------------- running + parsing
@dataclass
class RunResult:
    returncode: int
    lines: list[str]
    seconds: float


MISSING_BUILDER_FIX = ("install buildah (apt-get install buildah) or use a runner with docker buildx, "
                       "or set `builder:` to the one the runner has.")


def stream(cmd: Sequence[str], *, env: Mapping[str, str], emit: Callable[[str], None], cwd: Path | None = None,
           keep: int = 4000, timeout: float = 3600, missing: tuple[str, str, str] | None = None) -> RunResult:
    """Run ``cmd`` with stdout+stderr merged, emitting each line as it comes; keep the last ``keep`` lines.

    ``missing`` is (message, fix, input name) of the error when the program is not installed (default: the
    builder's)."""
    start = time.monotonic()
    lines: collections.deque[str] = collections.deque(maxlen=keep)
    try:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(env),
                                cwd=cwd, text=True, errors="replace", bufsize=1)
    except FileNotFoundError:
        message, fix, name = missing or (f"'{cmd[0]}' is not installed on this runner.", MISSING_BUILDER_FIX,
                                         "builder")
        raise UserError(message, fix, input_name=name) from None
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip("\n")
        lines.append(line)
        emit(line)
        if time.monotonic() - start > timeout:
            proc.kill()
            lines.append(f"(killed after {timeout:.0f}s)")
            break
    code = proc.wait()
    return RunResult(code, list(lines), time.monotonic() - start)


@dataclass(frozen=True)
class Failure:
    step: str  # "STEP 3/7: RUN make" or "[build 3/7] RUN make"
    tail: list[str]


_BUILDAH_STEP = re.compile(r"^(?:\[\d+/\d+\] )?STEP (\d+/\d+): (.*)$")
_BUILDX_STEP = re.compile(r"^#(\d+) (\[[^\]]+\] .*)$")
_BUILDX_LINE = re.compile(r"^#(\d+) (?:\d+\.\d+ )?(.*)$")


def parse_failure(lines: Sequence[str], builder: str, tail: int = TAIL_LINES) -> Failure | None:
    """The failing instruction and the last lines of its output, from buildah or buildx plain output."""
    if builder == "buildx":
        return _parse_buildx(lines, tail)
    return _parse_buildah(lines, tail)


def _parse_buildah(lines: Sequence[str], tail: int) -> Failure | None:
    step_index = -1
    step = ""
    for i, line in enumerate(lines):
        match = _BUILDAH_STEP.match(line.strip())
        if match:
            step_index, step = i, f"STEP {match.group(1)}: {match.group(2)}"
    error = next((line for line in reversed(lines) if "building at STEP" in line), "")
    if error:
        found = re.search(r'building at STEP "([^"]*)"', error)
        if found and not step:
            step = found.group(1)
    if step_index < 0 and not error:
        return None
    body = [line for line in lines[step_index + 1:] if line.strip()] if step_index >= 0 else list(lines)
    return Failure(step or "(before the first step)", body[-tail:])


def _parse_buildx(lines: Sequence[str], tail: int) -> Failure | None:
    headers: dict[str, str] = {}
    failed: str | None = None
    for line in lines:
        match = _BUILDX_STEP.match(line)
        if match:
            headers.setdefault(match.group(1), match.group(2))
        match2 = re.match(r"^#(\d+) ERROR: ", line)
        if match2:
            failed = match2.group(1)
    if failed is None:
        final = next((line for line in reversed(lines) if line.startswith("ERROR: ")), "")
        return Failure("(buildx)", [final]) if final else None
    body = []
    for line in lines:
        match = _BUILDX_LINE.match(line)
        if match and match.group(1) == failed and not _BUILDX_STEP.match(line):
            body.append(match.group(2))
    return Failure(headers.get(failed, f"#{failed}"), body[-tail:])
