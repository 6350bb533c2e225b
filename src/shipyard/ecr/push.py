"""Idempotent pushes: stage the local image once, push blobs + manifest through the registry data plane, then
register/confirm every tag through the ECR API (``PutImage``).

* The local image (``containers-storage:``, ``docker-daemon:``, ``oci:``, ``oci-archive:``, ``docker-archive:``...)
  is copied once with skopeo to a ``dir:`` layout: that fixes the manifest bytes, hence the digest, *before*
  anything is pushed, so tag conflicts are found before a byte leaves the runner.
* Tags already pointing at that digest are left alone (re-runs are idempotent). An immutable tag pointing at a
  different digest is a clear error naming both digests. Mutable tags (cache and moving ``branch-``/``pr-`` tags
  under the repository's exclusion filters, or any tag of a mutable repository) are moved, with a notice naming
  the old and the new digest. What counts is the repository's *actual* filters (what ECR enforces): a moving tag
  the repository does not exclude yet fails with the drift named and the fix (``enforce-settings: true``).
* Blobs and the manifest go up once (``skopeo copy --preserve-digests``); further tags are manifest PUTs (a
  server-side retag, no layer moves).
* ``PutImage`` for each tag confirms it on the ECR API. Real ECR answers ``ImageAlreadyExistsException`` for a tag
  the data plane already has and ``ImageTagAlreadyExistsException`` for an immutable tag on another digest; moto
  answers ``ImageAlreadyExistsException`` for both. Either way the tag's digest is looked up and compared. For a
  tag under an exclusion filter ECR's ``PutImage`` moves it (no exception); moto 5.2.1 does the same for
  ``IMMUTABLE_WITH_EXCLUSION`` (it matches the filters as regular expressions, close enough for ``prefix*``).
  The stage never deletes a tag to force a move: if ECR refuses, the settings changed under the run, and it says so.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.ecr.aws import call, error_code
from shipyard.ecr.login import Login
from shipyard.oci import OCI_MANIFEST, Credentials, ImageRef, Manifest, RegistryClient, valid_tag
from shipyard.runtime import Action, UserError

TRANSPORTS = ("containers-storage:", "docker-daemon:", "docker://", "oci:", "oci-archive:", "docker-archive:", "dir:")
ALREADY_EXISTS = frozenset({"ImageAlreadyExistsException", "ImageTagAlreadyExistsException"})


class TagConflict(UserError):
    pass


@dataclass
class Mutability:
    mode: str = "IMMUTABLE_WITH_EXCLUSION"
    filters: list[str] = field(default_factory=list)

    def immutable(self, tag: str) -> bool:
        if self.mode.startswith("MUTABLE"):
            return self.mode == "MUTABLE_WITH_EXCLUSION" and any(fnmatch.fnmatchcase(tag, f) for f in self.filters)
        if self.mode == "IMMUTABLE_WITH_EXCLUSION":
            return not any(fnmatch.fnmatchcase(tag, f) for f in self.filters)
        return True


def parse_tags(items: Sequence[str], repository: str | None) -> tuple[list[str], str | None]:
    """Tags from full references (``host/repo:tag``, what the build stage outputs) or bare tags.

    Returns (tags, repository) -- the repository comes from the references when the input did not give it.
    """
    tags: list[str] = []
    for item in items:
        if ":" in item or "/" in item:
            try:
                ref = ImageRef.parse(item)
            except ValueError as exc:
                raise UserError(f"Input 'tags' has '{item}': {exc}.", "give bare tags or full image references.",
                                input_name="tags")
            if not ref.tag:
                raise UserError(f"Input 'tags' has '{item}' without a tag.", "write host/repository:tag.",
                                input_name="tags")
            if repository and ref.repository != repository:
                raise UserError(
                    f"Input 'tags' has '{item}', which names repository '{ref.repository}', not '{repository}'.",
                    "push one repository per step; give its tags only.", input_name="tags")
            repository = repository or ref.repository
            tag = ref.tag
        else:
            tag = item
        if not valid_tag(tag):
            raise UserError(f"Input 'tags' has '{tag}', which is not a valid image tag.",
                            "use letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-').",
                            input_name="tags")
        if tag not in tags:
            tags.append(tag)
    return tags, repository


def source_reference(source: str) -> str:
    """A skopeo source; a bare reference means local containers-storage (what buildah builds into)."""
    if source.startswith(TRANSPORTS):
        return source
    return f"containers-storage:{source}"


def _skopeo(action: Action, args: list[str], what: str, timeout: float = 1800) -> None:
    binary = shutil.which("skopeo", path=action.env.get("PATH"))
    if binary is None:
        raise UserError("skopeo is not installed on this runner; it is needed to push the local image.",
                        "install it (`sudo apt-get install -y skopeo`; GitHub's Ubuntu runners have it), or let the "
                        "build stage push and omit source-image.")
    action.debug(f"skopeo {' '.join(args)}")
    try:
        proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                              env=dict(action.env), stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not finish within {timeout / 60:.0f} minutes.",
                        "check the network path to the registry (VPC endpoint, proxy) and re-run.")
    if proc.returncode != 0:
        detail = action.scrub(proc.stderr.strip()[-1500:])
        low = detail.lower()
        if "denied" in low or "unauthorized" in low or "authentication required" in low:
            raise UserError(f"{what} was refused by the registry: {detail}",
                            "the role needs ecr:BatchCheckLayerAvailability, ecr:InitiateLayerUpload, "
                            "ecr:UploadLayerPart, ecr:CompleteLayerUpload and ecr:PutImage on the repository.")
        if any(s in low for s in ("does not exist", "no such image", "image not known", "does not resolve to an image",
                                  "identifier is not an image", "manifest unknown", "no such file")):
            raise UserError(f"{what} failed: the source image was not found ({detail}).",
                            "pass the build stage's image reference as source-image, e.g. "
                            "`containers-storage:<ref>` (buildah) or `docker-daemon:<ref>` (docker).")
        raise UserError(f"{what} failed (skopeo exit {proc.returncode}): {detail}",
                        "check source-image (a local image reference such as `containers-storage:<ref>`) and the "
                        "registry's reachability, then re-run.")


def stage_image(action: Action, source: str, workdir: Path, manifest_format: str | None) -> Manifest:
    """Copy the local image to a ``dir:`` layout; return its manifest (bytes fixed, digest known)."""
    # --dest-compress: containers-storage keeps layers uncompressed and dir: would keep them so; compress once here
    # (already-compressed layers are left as they are) so the push carries gzip layers with stable digests.
    args = ["copy", "--quiet", "--all", "--dest-compress"]
    if manifest_format:
        args += ["--format", manifest_format]
    args += [source_reference(source), f"dir:{workdir}"]
    with action.group(f"Stage {source}"):
        _skopeo(action, args, f"reading {source}")
    body = (workdir / "manifest.json").read_bytes()
    data = json.loads(body)
    media_type = str(data.get("mediaType") or OCI_MANIFEST)
    return Manifest("sha256:" + hashlib.sha256(body).hexdigest(), media_type, body)


def upload(action: Action, source: str, login: Login, repository: str, tag: str, digest: str,
           src_insecure: bool = False) -> None:
    """Push blobs + manifest from ``source`` (a dir: layout or docker:// reference) under ``tag``."""
    path = action.env.get("REGISTRY_AUTH_FILE", "")
    with tempfile.TemporaryDirectory(prefix="shipyard-digest-") as tmp:
        digest_file = Path(tmp) / "digest"
        args = ["copy", "--quiet", "--all", "--preserve-digests", "--retry-times", "3",
                "--digestfile", str(digest_file)]
        if path:
            args += ["--authfile", path]
        if login.insecure:
            args.append("--dest-tls-verify=false")
        if src_insecure:
            args.append("--src-tls-verify=false")
        destination = f"docker://{login.data_host}/{repository}:{tag}"
        with action.group(f"Push {login.registry}/{repository}:{tag}"):
            from shipyard.ecr.aws import remaining

            _skopeo(action, [*args, source, destination], f"pushing {repository}:{tag}",
                    timeout=max(10.0, min(1800.0, remaining(action))))
        pushed = digest_file.read_text().strip() if digest_file.exists() else digest
    if pushed != digest:
        raise UserError(f"the registry stored {repository}:{tag} as {pushed}, expected {digest}.",
                        "report this: the image changed while it was pushed.")


def registry_client(action: Action, login: Login) -> RegistryClient:
    from shipyard.ecr.aws import io_timeout, remaining

    return RegistryClient(action, login.data_host, credentials=Credentials(login.username, login.password,
                                                                            source="ecr login"),
                          insecure=login.insecure, timeout=io_timeout(action, 30.0),
                          max_elapsed=max(1.0, min(120.0, remaining(action))))


def _matching_prefix(tag: str, prefixes: Sequence[str]) -> str | None:
    return next((p for p in prefixes if tag.startswith(p)), None)


def conflict_error(repository: str, tag: str, existing: str, new: str,
                   mutable_prefixes: Sequence[str] = ()) -> TagConflict:
    prefix = _matching_prefix(tag, mutable_prefixes)
    if prefix is not None:
        return TagConflict(
            f"Tag '{tag}' of {repository} already points at {existing}, but this image is {new}; '{prefix}*' tags "
            f"should move, but the repository does not exclude '{prefix}*' from tag immutability (settings drift), "
            "so ECR refuses to move it.",
            "set `enforce-settings: true` on this step once to add the standard exclusion filters to the "
            f"repository (or add the wildcard filter '{prefix}*' to its tag mutability exclusions).",
        )
    if re.fullmatch(r"(0|[1-9]\d*)(\.(0|[1-9]\d*))?", tag):
        return TagConflict(
            f"Tag '{tag}' of {repository} already points at {existing}, but this image is {new}; '{tag}' looks like "
            "a semver alias (the build's `semver-aliases`), which moves with every release, and the repository's "
            "tags are immutable.",
            "turn `semver-aliases` off and deploy by digest or the full version tag, or make the repository's tags "
            "mutable (`immutable-tags: false` with `enforce-settings: true`): no prefix filter can exclude the "
            "aliases without also excluding the release tags.",
        )
    return TagConflict(
        f"Tag '{tag}' of {repository} already points at {existing}, but this image is {new}; the tag is immutable, "
        "so it cannot be moved.",
        "push under a new tag (a new version or commit), or, if this is a re-run of the same commit, let the build "
        "stage skip by content hash / build reproducibly so the digest matches. Only tags matching the "
        "repository's mutability exclusions (cache-tag-prefixes, mutable-tag-prefixes) may move.",
    )


@dataclass
class TagResult:
    tag: str
    status: str  # pushed | retagged | present | moved
    digest: str
    previous: str | None = None  # moved: the digest the tag pointed at before


def data_plane_tags(client: RegistryClient, repository: str, tags: Sequence[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for tag in tags:
        info = client.head_manifest(repository, tag)
        out[tag] = info.digest if info else None
    return out


def plan(repository: str, tags: Sequence[str], digest: str, existing: dict[str, str | None],
         mutability: Mutability, mutable_prefixes: Sequence[str] = ()) -> list[TagResult]:
    """What happens to each tag; every conflict (an immutable tag on another digest) in one error, before any
    write. ``mutable_prefixes`` (the configured moving-tag prefixes) only sharpen the error when the repository
    does not exclude them yet."""
    results: list[TagResult] = []
    conflicts: list[TagConflict] = []
    for tag in tags:
        have = existing.get(tag)
        if have == digest:
            results.append(TagResult(tag, "present", digest))
        elif have is None:
            results.append(TagResult(tag, "pushed", digest))
        elif mutability.immutable(tag):
            conflicts.append(conflict_error(repository, tag, have, digest, mutable_prefixes))
        else:
            results.append(TagResult(tag, "moved", digest, have))
    if conflicts:
        if len(conflicts) == 1:
            raise conflicts[0]
        raise TagConflict(" ".join(c.message for c in conflicts), conflicts[0].fix)
    return results


def ecr_digest_of(action: Action, ecr: Any, repository: str, registry_id: str, tag: str) -> str | None:
    try:
        details = call(action, ecr, "describe_images", repositoryName=repository, registryId=registry_id,
                       imageIds=[{"imageTag": tag}]).get("imageDetails") or []
    except Exception as exc:
        if error_code(exc) == "ImageNotFoundException":
            return None
        raise
    return str(details[0]["imageDigest"]) if details else None


def confirm_tags(action: Action, ecr: Any, repository: str, registry_id: str, manifest: Manifest,
                 tags: Sequence[str], mutability: Mutability, mutable_prefixes: Sequence[str] = ()) -> dict[str, str]:
    """``PutImage`` per tag: registers it where the data plane did not (server-side retag) and confirms it
    where it did. Returns tag -> what happened on the API side (registered | confirmed)."""
    outcome: dict[str, str] = {}
    body = manifest.body.decode("utf-8")

    def put(tag: str) -> None:
        call(action, ecr, "put_image", repositoryName=repository, registryId=registry_id, imageManifest=body,
             imageManifestMediaType=manifest.media_type, imageDigest=manifest.digest, imageTag=tag)

    for tag in tags:
        try:
            put(tag)
            outcome[tag] = "registered"
            continue
        except Exception as exc:
            code = error_code(exc)
            if code not in ALREADY_EXISTS:
                if code == "RepositoryNotFoundException":
                    raise UserError(f"ECR repository {repository} disappeared while pushing.", "re-run the job.")
                raise
        have = ecr_digest_of(action, ecr, repository, registry_id, tag)
        if have == manifest.digest:
            outcome[tag] = "confirmed"
            continue
        if have and mutability.immutable(tag):
            raise conflict_error(repository, tag, have, manifest.digest, mutable_prefixes)
        if have:  # real ECR moves a mutable tag on PutImage; refusing it means the repository changed under us
            raise UserError(f"ECR refused to move tag '{tag}' of {repository} from {have} to {manifest.digest} "
                            f"({code}), although the repository's settings read at the start exclude it from "
                            "immutability.", "the repository's tag mutability was changed during the run, or "
                            "another job is moving the tag: check its settings and re-run.")
        raise UserError(f"ECR refused tag '{tag}' for {manifest.digest} ({code}) and the tag points at nothing.",
                        "check the repository's tag mutability settings.")
    return outcome

