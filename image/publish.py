#!/usr/bin/env python3
"""Publish the suite image under the actions' version tags: exact ``X.Y.Z``, and the moving ``X.Y`` and ``X``.

    python3 image/publish.py SOURCE REPOSITORY VERSION [--dry-run]

* ``SOURCE``: what ``image/build.sh`` made, e.g. ``containers-storage:localhost/shipyard:1.2.3`` (a manifest
  list keeps every platform: ``skopeo copy --all``).
* ``REPOSITORY``: the destination without a tag, ``<registry>/<owner>/shipyard``.
* ``VERSION``: ``1.2.3`` or ``v1.2.3``; a pre-release (``1.3.0-rc.1``) gets its exact tag only.

Only when the version does not exist yet: an existing ``X.Y.Z`` is never overwritten (re-running a release is a
no-op). ``X.Y`` and ``X`` move only when this is the highest release of that line, so a patch of an old line
never drags ``1`` backwards. Credentials come from skopeo's auth file (``REGISTRY_AUTH_FILE`` after
``skopeo login --password-stdin``): never argv. Standard library and skopeo only.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable, Sequence

SEMVER = re.compile(r"v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)(?P<pre>-[0-9A-Za-z.-]+)?")
REPOSITORY = re.compile(r"[a-z0-9][a-z0-9.-]*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+")
SOURCE = re.compile(r"(containers-storage|oci-archive|oci|docker-archive|docker|dir):[^\s]+")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


class PublishError(Exception):
    pass


def _skopeo(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=900, check=False)


def parse_version(text: str) -> tuple[int, int, int, str]:
    match = SEMVER.fullmatch(text)
    if not match:
        raise PublishError(f"VERSION '{text}' is not a release version. Fix: give X.Y.Z (or vX.Y.Z), e.g. 1.4.2.")
    return int(match["major"]), int(match["minor"]), int(match["patch"]), match["pre"] or ""


def existing_tags(repository: str, run: Runner, tls: Sequence[str] = ()) -> list[str]:
    proc = run(["list-tags", "--retry-times", "3", *tls, "--", f"docker://{repository}"])
    if proc.returncode != 0:
        if "name unknown" in proc.stderr or "repository name not known" in proc.stderr or "404" in proc.stderr:
            return []  # a new repository
        raise PublishError(
            f"cannot list the tags of {repository}: {proc.stderr.strip()[-400:]}. "
            "Fix: check the registry is reachable and `skopeo login` was run for it."
        )
    tags = json.loads(proc.stdout or "{}").get("Tags") or []
    return [t for t in tags if isinstance(t, str)]


def plan(version: str, tags: Sequence[str]) -> list[str]:
    """The tags to write for ``version`` given the ``tags`` the repository has: [] when it exists already."""
    major, minor, patch, pre = parse_version(version)
    exact = f"{major}.{minor}.{patch}{pre}"
    if exact in tags:
        return []
    if pre:
        return [exact]
    releases = []
    for tag in tags:
        match = SEMVER.fullmatch(tag)
        if match and not match["pre"] and not tag.startswith("v"):
            releases.append((int(match["major"]), int(match["minor"]), int(match["patch"])))
    out = [exact]
    if all(r <= (major, minor, patch) for r in releases if r[:2] == (major, minor)):
        out.append(f"{major}.{minor}")
    if all(r <= (major, minor, patch) for r in releases if r[0] == major):
        out.append(f"{major}")
    return out


def publish(
    source: str, repository: str, version: str, *, dry_run: bool = False, insecure: bool = False, run: Runner = _skopeo
) -> list[str]:
    """Push ``source`` as ``repository:<tags>``; return the tags written ([] when the version exists).
    Every argument is checked before the first request."""
    parse_version(version)
    if not SOURCE.fullmatch(source):
        raise PublishError(
            f"SOURCE '{source}' is not a skopeo image reference. Fix: e.g. containers-storage:localhost/shipyard:1.2.3"
        )
    if not REPOSITORY.fullmatch(repository):
        raise PublishError(
            f"REPOSITORY '{repository}' is not a registry repository without a tag. "
            "Fix: e.g. registry.example:5000/acme/shipyard"
        )
    tls = ["--tls-verify=false"] if insecure else []
    tags = plan(version, existing_tags(repository, run, tls))
    if not tags or dry_run:
        return tags
    first = f"docker://{repository}:{tags[0]}"
    dest_tls = ["--dest-tls-verify=false"] if insecure else []
    proc = run(["copy", "--all", "--retry-times", "3", *dest_tls, "--", source, first])
    if proc.returncode != 0:
        raise PublishError(f"pushing {first} failed: {proc.stderr.strip()[-400:]}")
    for tag in tags[1:]:  # the moving tags point at exactly what was pushed (the registry mounts every blob)
        src_tls = ["--src-tls-verify=false"] if insecure else []
        proc = run(
            ["copy", "--all", "--retry-times", "3", *src_tls, *dest_tls, "--", first, f"docker://{repository}:{tag}"]
        )
        if proc.returncode != 0:
            raise PublishError(f"tagging {repository}:{tag} failed: {proc.stderr.strip()[-400:]}")
    return tags


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("source")
    parser.add_argument("repository")
    parser.add_argument("version")
    parser.add_argument("--dry-run", action="store_true", help="say which tags would be written; push nothing")
    parser.add_argument("--insecure-registry", action="store_true", help="plain HTTP (a loopback test registry only)")
    args = parser.parse_args(argv)
    try:
        tags = publish(
            args.source, args.repository, args.version, dry_run=args.dry_run, insecure=args.insecure_registry
        )
    except PublishError as exc:
        print(f"::error title=shipyard image publish::{exc}")
        return 1
    if not tags:
        print(f"{args.repository}:{args.version.lstrip('v')} exists already: nothing pushed")
    else:
        verb = "would push" if args.dry_run else "pushed"
        print(f"{verb} {args.repository}: {', '.join(tags)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
