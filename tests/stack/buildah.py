"""Isolated buildah: vfs storage, chroot isolation, private config -- nothing global is touched.

Everything lives under one ``stack_dir``::

    stack_dir/storage.conf        driver=vfs, graphroot=stack_dir/storage, runroot=stack_dir/run
    stack_dir/registries.conf     no unqualified search; loopback registries marked insecure
    stack_dir/containers.conf     empty: ignore /etc and /usr/share containers.conf
    stack_dir/auth.json           REGISTRY_AUTH_FILE (buildah login writes here)
    stack_dir/docker/             DOCKER_CONFIG, so ~/.docker/config.json is never read
    stack_dir/tmp/                TMPDIR for image copies (instead of /var/tmp)

:func:`buildah_env` returns the environment a subprocess needs (``buildah``, ``skopeo`` and anything
built on containers/image honour it), so the other stages can run buildah exactly as a workflow
would, without flags.  ``/etc/containers/policy.json`` is still read (no env var overrides it); on
this machine it is ``insecureAcceptAnything``.

Gotchas found while writing this:

* ``buildah login`` ignores ``insecure = true`` in registries.conf (it pings https:// first), so
  :func:`login` passes ``--tls-verify=false``; pull/push/build honour registries.conf.
* When ``REGISTRY_AUTH_FILE`` is set the file must exist, or every buildah command fails with
  ``checking authfile: stat ...: no such file``; :func:`buildah_env` creates ``{}``.
* ``buildah build`` with ``BUILDAH_ISOLATION=chroot`` runs ``RUN`` steps as root without user
  namespaces; works here because we are root in the container.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from .registry import Registry

#: Variables :func:`buildah_env` sets (the rest of the environment is inherited).
ENV_KEYS = (
    "CONTAINERS_STORAGE_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINERS_CONF",
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "STORAGE_DRIVER",
    "BUILDAH_ISOLATION",
    "BUILDAH_FORMAT",
    "TMPDIR",
)

BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NOBODY_UID = 65532


class BuildahError(RuntimeError):
    pass


def _insecure_file(stack_dir: Path) -> Path:
    return stack_dir / "insecure-registries.json"


def _write_registries_conf(stack_dir: Path, insecure: Iterable[str]) -> None:
    hosts = sorted(set(insecure))
    _insecure_file(stack_dir).write_text(json.dumps(hosts))
    lines = ['unqualified-search-registries = []', 'short-name-mode = "disabled"', ""]
    for host in hosts:
        lines += ["[[registry]]", f'location = "{host}"', "insecure = true", ""]
    (stack_dir / "registries.conf").write_text("\n".join(lines))


def add_insecure_registry(stack_dir: Path | str, host: str) -> None:
    """Mark ``host`` (``127.0.0.1:PORT``) as plain-HTTP in the stack's registries.conf."""
    stack_dir = Path(stack_dir)
    current = json.loads(_insecure_file(stack_dir).read_text()) if _insecure_file(stack_dir).exists() else []
    if host not in current:
        _write_registries_conf(stack_dir, [*current, host])


def buildah_env(
    stack_dir: Path | str,
    insecure_registries: Iterable[str] = (),
    *,
    base: Mapping[str, str] | None = None,
    overrides_only: bool = False,
) -> dict[str, str]:
    """Create the isolated config under ``stack_dir`` (idempotent) and return the env to use it.

    ``base`` defaults to ``os.environ``; with ``overrides_only=True`` only the :data:`ENV_KEYS`
    are returned (handy to pass into a job's ``env:``).
    """
    stack_dir = Path(stack_dir).resolve()
    for sub in ("storage", "run", "tmp", "docker"):
        (stack_dir / sub).mkdir(parents=True, exist_ok=True)
    (stack_dir / "storage.conf").write_text(
        "[storage]\n"
        'driver = "vfs"\n'
        f'graphroot = "{stack_dir / "storage"}"\n'
        f'runroot = "{stack_dir / "run"}"\n'
    )
    containers_conf = stack_dir / "containers.conf"
    if not containers_conf.exists():
        containers_conf.write_text("# isolated: the global containers.conf files are not read\n")
    existing = json.loads(_insecure_file(stack_dir).read_text()) if _insecure_file(stack_dir).exists() else []
    _write_registries_conf(stack_dir, [*existing, *insecure_registries])
    auth = stack_dir / "auth.json"
    if not auth.exists():
        auth.write_text("{}")
        auth.chmod(0o600)
    docker_config = stack_dir / "docker" / "config.json"
    if not docker_config.exists():
        docker_config.write_text("{}")
    overrides = {
        "CONTAINERS_STORAGE_CONF": str(stack_dir / "storage.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(stack_dir / "registries.conf"),
        "CONTAINERS_CONF": str(containers_conf),
        "REGISTRY_AUTH_FILE": str(auth),
        "DOCKER_CONFIG": str(stack_dir / "docker"),
        "STORAGE_DRIVER": "vfs",
        "BUILDAH_ISOLATION": "chroot",
        "BUILDAH_FORMAT": "oci",
        "TMPDIR": str(stack_dir / "tmp"),
    }
    if overrides_only:
        return overrides
    env = dict(os.environ if base is None else base)
    env.update(overrides)
    return env


def run_buildah(
    args: Sequence[str], env: Mapping[str, str], *, stdin: str | None = None, timeout: float = 300
) -> str:
    """Run ``buildah ARGS`` with ``env``; return stdout, raise :class:`BuildahError` with stderr."""
    result = subprocess.run(
        ["buildah", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise BuildahError(
            f"buildah {' '.join(args)} failed ({result.returncode}):\n{result.stderr}\n{result.stdout}"
        )
    return result.stdout


def _stack_dir(env: Mapping[str, str]) -> Path:
    return Path(env["CONTAINERS_STORAGE_CONF"]).parent


def login(registry: Registry, env: Mapping[str, str]) -> None:
    """``buildah login`` to ``registry``; the password goes over stdin, never argv."""
    add_insecure_registry(_stack_dir(env), registry.host)
    run_buildah(
        ["login", "--tls-verify=false", "--username", registry.username, "--password-stdin", registry.host],
        env,
        stdin=registry.password,
    )


def push(image: str, destination: str, env: Mapping[str, str], *, fmt: str | None = None) -> str:
    """Push local ``image`` to ``docker://destination``; return the pushed manifest digest."""
    fd, name = tempfile.mkstemp(prefix="digest-", dir=env.get("TMPDIR"))
    os.close(fd)
    digest_file = Path(name)
    args = ["push", "--tls-verify=false", "--quiet", "--digestfile", str(digest_file)]
    if fmt:
        args += ["--format", fmt]
    run_buildah([*args, image, f"docker://{destination}"], env)
    try:
        return digest_file.read_text().strip()
    finally:
        digest_file.unlink(missing_ok=True)


def build(
    context: Path | str,
    tag: str,
    env: Mapping[str, str],
    *,
    dockerfile: Path | str | None = None,
    extra_args: Sequence[str] = (),
) -> str:
    """``buildah build`` (chroot isolation via env); return the image id."""
    args = ["build", "--quiet", "--layers=false", "-t", tag]
    if dockerfile is not None:
        args += ["-f", str(dockerfile)]
    out = run_buildah([*args, *extra_args, str(context)], env)
    return out.strip().splitlines()[-1]


def _busybox_rootfs(root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    for sub in ("bin", "etc", "tmp", "root", "home/nobody", "usr/bin", "sbin", "usr/sbin"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    busybox = shutil.which("busybox", path="/bin:/usr/bin") or "/bin/busybox"
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = subprocess.run(
        [str(root / "bin" / "busybox"), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox" and "/" not in applet:
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        f"nobody:x:{NOBODY_UID}:{NOBODY_UID}:nobody:/home/nobody:/bin/false\n"
    )
    (root / "etc" / "group").write_text(f"root:x:0:\nnobody:x:{NOBODY_UID}:\n")
    os.chown(root / "home" / "nobody", NOBODY_UID, NOBODY_UID)


def make_base_image(registry: Registry, env: Mapping[str, str], ref: str = "base/busybox:1") -> str:
    """Build a tiny busybox image offline, push it to ``registry``; return ``host/repo@sha256:...``.

    The rootfs is Debian's static ``/bin/busybox`` plus a symlink per applet in ``/bin``,
    ``/etc/passwd`` with ``root`` and ``nobody`` (uid/gid 65532), and a world-writable ``/tmp``.
    Config: ``Cmd ["sh"]``, ``Env PATH=...``.  ``--timestamp 0`` makes the image reproducible,
    so the digest is stable across runs.  The tag ``ref`` is pushed too.
    """
    repo, _, tag = ref.partition(":")
    full = registry.ref(repo, tag or "latest")
    rootfs = _stack_dir(env) / "busybox-rootfs"
    _busybox_rootfs(rootfs)
    container = run_buildah(["from", "--quiet", "scratch"], env).strip()
    try:
        run_buildah(["add", "--quiet", container, str(rootfs), "/"], env)
        run_buildah(
            [
                "config",
                "--cmd",
                '["sh"]',
                "--env",
                f"PATH={BASE_PATH}",
                "--workingdir",
                "/",
                "--label",
                "org.opencontainers.image.title=shipyard-busybox-base",
                container,
            ],
            env,
        )
        run_buildah(["commit", "--quiet", "--timestamp", "0", container, full], env)
    finally:
        run_buildah(["rm", container], env)
        shutil.rmtree(rootfs, ignore_errors=True)
    digest = push(full, full, env)
    return registry.ref(repo, digest)


class Buildah:
    """Object form of the helpers above, bound to one isolated ``stack_dir``."""

    def __init__(self, stack_dir: Path | str) -> None:
        self.stack_dir = Path(stack_dir).resolve()
        self.env = buildah_env(self.stack_dir)

    def run(self, *args: str, stdin: str | None = None) -> str:
        return run_buildah(args, self.env, stdin=stdin)

    def login(self, registry: Registry) -> None:
        login(registry, self.env)

    def make_base_image(self, registry: Registry, ref: str = "base/busybox:1") -> str:
        return make_base_image(registry, self.env, ref)

    def build(
        self,
        context: Path | str,
        tag: str,
        *,
        dockerfile: Path | str | None = None,
        extra_args: Sequence[str] = (),
    ) -> str:
        return build(context, tag, self.env, dockerfile=dockerfile, extra_args=extra_args)

    def push(self, image: str, destination: str | None = None) -> str:
        return push(image, destination or image, self.env)

    def cleanup(self) -> None:
        """Remove containers and images, then the whole stack dir."""
        for args in (["rm", "--all"], ["rmi", "--all", "--force"]):
            try:
                run_buildah(args, self.env, timeout=60)
            except (BuildahError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.stack_dir, ignore_errors=True)
