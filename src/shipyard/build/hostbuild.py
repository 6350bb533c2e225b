"""Build mode ``host``: run the language toolchain on the runner and stage the artefacts for a runtime-only image.

The staging directory becomes the build context; its layout matches :func:`shipyard.build.dockerfiles.generate`
in host mode:

* go: ``app`` (a static binary, ``CGO_ENABLED=0``)
* node: ``app/`` (the context's files plus production ``node_modules``)
* spa: ``site/`` (the built static files) and ``default.conf`` (nginx with the SPA fallback)
* java/kotlin: ``app.jar``
* python: ``app/`` (the sources) and ``deps/`` (``pip install --target``)

Only files that would reach the image are copied (git-tracked files minus ``.dockerignore``).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shipyard.build.builders import stream
from shipyard.build.content import ContextFiles
from shipyard.build.detect import Detection
from shipyard.build.dockerfiles import SPA_NGINX_CONF, _node_install
from shipyard.runtime import UserError

HOST_LANGUAGES = ("go", "node", "spa", "java", "kotlin", "python")


def toolchain_version(detection: Detection, env: Mapping[str, str]) -> str:
    """The version of the host toolchain (part of the content hash: other compiler, other artefact)."""
    cmd = {
        "go": ["go", "version"], "node": ["node", "--version"], "spa": ["node", "--version"],
        "java": ["javac", "-version"], "kotlin": ["javac", "-version"], "python": [sys.executable, "--version"],
    }.get(detection.language)
    if not cmd:
        return ""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=dict(env), check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return (proc.stdout + proc.stderr).strip().splitlines()[0] if (proc.stdout + proc.stderr).strip() else ""


def _go_env(name: str, env: Mapping[str, str]) -> str:
    try:
        return subprocess.run(["go", "env", name], capture_output=True, text=True, timeout=60, env=dict(env),
                              check=False).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def copy_context(context: Path, files: ContextFiles, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for path, mode, _blob in files.entries:
        if mode == "160000":
            continue
        src = context / path
        if not src.exists():
            continue
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            target.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, target)


TOOLCHAINS = {  # program -> (toolchain, how to get it on a GitHub runner)
    "go": ("Go", "actions/setup-go"), "node": ("Node.js", "actions/setup-node"),
    "npm": ("Node.js (npm)", "actions/setup-node"), "yarn": ("Yarn", "corepack enable"),
    "pnpm": ("pnpm", "pnpm/action-setup or corepack enable"), "mvn": ("Maven and a JDK", "actions/setup-java"),
    "gradle": ("Gradle and a JDK", "gradle/actions/setup-gradle"), "javac": ("a JDK", "actions/setup-java"),
    "sh": ("a POSIX shell", "a Linux runner"),
}


def missing_toolchain(program: str, what: str) -> tuple[str, str, str]:
    """(message, fix, input) when ``program`` is not on the runner in host mode: name the toolchain, not the builder."""
    toolchain, setup = TOOLCHAINS.get(program, (f"'{program}'", "a setup step"))
    return (f"build-mode 'host' runs {what} on the runner, but '{program}' is not installed there "
            f"({toolchain} is needed).",
            f"install {toolchain} on the runner before this step ({setup}), or set `build-mode: container` to "
            "build inside the toolchain image instead.", "build-mode")


def _run(cmd: Sequence[str], cwd: Path, env: Mapping[str, str], emit: Callable[[str], None], what: str) -> None:
    emit(f"$ {' '.join(cmd)}")
    result = stream(cmd, env=env, emit=emit, cwd=cwd, timeout=3600, missing=missing_toolchain(cmd[0], what))
    if result.returncode == 127 and cmd[0] == "sh" and len(cmd) > 2:  # the shell did not find the program
        words = cmd[2].split()
        program = words[0] if words else "sh"
        if shutil.which(program, path=env.get("PATH")) is None:
            message, fix, name = missing_toolchain(program, what)
            raise UserError(message, fix, input_name=name)
    if result.returncode != 0:
        tail = "\n".join(result.lines[-20:])
        raise UserError(f"{what} failed on the runner (exit {result.returncode}):\n{tail}",
                        "fix the build error above, or use `build-mode: container` to build inside the image.")


def stage(
    detection: Detection,
    context: Path,
    files: ContextFiles,
    dest: Path,
    *,
    env: Mapping[str, str],
    emit: Callable[[str], None],
    platforms: Sequence[str] = (),
    install_command: str | None = None,
    build_command: str | None = None,
) -> None:
    """Build on the host into ``dest`` (a fresh directory).

    ``install_command`` replaces the dependency install (node, spa, python; ``none`` skips it, e.g. when the
    dependencies are vendored); ``build_command`` replaces the build (spa, java, kotlin).
    """
    lang, tool = detection.language, detection.tool
    if lang not in HOST_LANGUAGES:
        raise UserError(f"build-mode 'host' is not available for {lang}.",
                        "use `build-mode: container` or commit a Dockerfile.", input_name="build-mode")
    work = dest / ".work"
    copy_context(context, files, work)
    run_env = dict(env)
    if lang == "go":
        # one static binary per target platform (app-<os>-<arch>); the Dockerfile picks $TARGETOS-$TARGETARCH
        targets = list(platforms) or [f"linux/{_go_env('GOARCH', run_env) or 'amd64'}"]
        for target in targets:
            os_name, arch = ([*target.split("/"), "", ""])[:2]
            run_env.update({"CGO_ENABLED": "0", "GOOS": os_name or "linux", "GOARCH": arch or "amd64"})
            run_env.setdefault("GOFLAGS", "-mod=mod")
            _run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(dest / f"app-{os_name}-{arch}"),
                  str(detection.details.get("main") or ".")], work, run_env, emit, f"go build ({target})")
    elif lang in ("node", "spa"):
        has_lock = bool(detection.details.get("lockfile"))
        production = lang == "node"
        install = install_command or _node_install(tool, production, has_lock)
        if install != "none" and (detection.details.get("has_dependencies") or install_command):
            _run(["sh", "-c", install], work, run_env, emit, f"{tool} install")
        if lang == "spa":
            _run(["sh", "-c", build_command or f"{tool} run build"], work, run_env, emit, "the SPA build")
            out_dir = work / str(detection.details.get("out_dir") or "dist")
            if not out_dir.is_dir():
                raise UserError(f"the SPA build did not produce '{out_dir.name}/'.",
                                "make `npm run build` write to dist/ (vite) or build/ (react-scripts).")
            shutil.copytree(out_dir, dest / "site")
            (dest / "default.conf").write_text(SPA_NGINX_CONF.replace("\\n", "\n"))
        else:
            shutil.copytree(work, dest / "app", symlinks=True)
    elif lang in ("java", "kotlin"):
        if tool == "gradle":
            gradle = "./gradlew" if (work / "gradlew").exists() else "gradle"
            cmd = ["sh", "-c", build_command] if build_command else [gradle, "--no-daemon", "--console=plain",
                                                                       "build", "-x", "test"]
            _run(cmd, work, run_env, emit, "gradle build")
            pattern = "build/libs/*.jar"
        else:
            maven = "./mvnw" if (work / "mvnw").exists() else "mvn"
            cmd = ["sh", "-c", build_command] if build_command else [maven, "-B", "-q", "-DskipTests", "package"]
            _run(cmd, work, run_env, emit, "mvn package")
            pattern = "target/*.jar"
        jars = [j for j in sorted(glob.glob(str(work / pattern)))
                if not j.endswith(("-sources.jar", "-javadoc.jar", "-plain.jar"))
                and not Path(j).name.startswith("original-")]
        if not jars:
            raise UserError(f"the {tool} build produced no jar ({pattern}).",
                            "make the build produce a runnable jar (Spring Boot, shadowJar, jar manifest mainClass).")
        shutil.copy2(jars[0], dest / "app.jar")
    elif lang == "python":
        deps = dest / "deps"
        deps.mkdir()
        if tool != "pip":
            raise UserError(f"build-mode 'host' supports pip projects, not {tool}.",
                            "use `build-mode: container` for Poetry and uv projects.", input_name="build-mode")
        if install_command and install_command != "none":
            run_env["SHIPYARD_DEPS_DIR"] = str(deps)
            _run(["sh", "-c", install_command], work, run_env, emit, "the dependency install")
        elif install_command != "none" and (work / "requirements.txt").exists():
            _run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile",
                  "--target", str(deps), "-r", "requirements.txt"], work, run_env, emit, "pip install")
        shutil.copytree(work, dest / "app", symlinks=True)
    shutil.rmtree(work, ignore_errors=True)
