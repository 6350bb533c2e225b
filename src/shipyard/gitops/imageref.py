"""The image to write: name, optional new name, tag and digest, from the stage's inputs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shipyard.gitops.inputs import shown
from shipyard.runtime import UserError

DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None
    digest: str | None


def split_reference(ref: str) -> ImageRef:
    """``registry:5000/team/app:1.2@sha256:...`` -> repository, tag, digest (any of the last two optional)."""
    ref = ref.strip()
    rest, _, digest = ref.partition("@")
    tag: str | None = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
    return ImageRef(rest, tag or None, digest or None)


@dataclass(frozen=True)
class ImageUpdate:
    """What to set: ``name`` selects the Kustomize ``images:`` entry; the rest are the new values."""

    name: str
    tag: str | None
    digest: str | None
    new_name: str | None = None

    def describe(self) -> str:
        out = self.new_name or self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def check_tag(tag: str, source: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise UserError(
            f"Input '{source}' has an invalid image tag '{shown(tag)}'.",
            "a tag is up to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'.",
            input_name=source,
        )
    return tag


def check_digest(digest: str, source: str) -> str:
    if not DIGEST_RE.fullmatch(digest):
        raise UserError(
            f"Input '{source}' has an invalid digest '{shown(digest)}'.",
            "give the digest as sha256:<64 hex digits> (the ECR stage's `digest` or `image-uri` output).",
            input_name=source,
        )
    return digest


def build_update(
    *,
    image: str | None,
    tag: str | None,
    digest: str | None,
    image_uri: str | None,
    new_name: str | None,
    set_new_name: bool,
) -> ImageUpdate:
    """Combine the inputs with ``kustomize edit set image`` semantics (``tag@sha256:...`` sets both)."""
    uri = split_reference(image_uri) if image_uri else None
    if tag and "@" in tag:
        tag, _, tag_digest = tag.partition("@")
        if digest and digest != tag_digest:
            raise UserError(
                f"Input 'tag' carries digest {shown(tag_digest)} but input 'digest' is {shown(digest)}.",
                "give the digest once, in `digest` or as tag@sha256:...",
                input_name="digest",
            )
        digest = tag_digest
    if uri is not None:
        if tag and uri.tag and tag != uri.tag:
            raise UserError(
                f"Input 'tag' ({shown(tag)}) differs from the tag in 'image-uri' ({shown(uri.tag)}).",
                "drop one of them.",
                input_name="tag",
            )
        if digest and uri.digest and digest != uri.digest:
            raise UserError(
                f"Input 'digest' ({shown(digest)}) differs from the digest in 'image-uri' ({shown(uri.digest)}).",
                "drop one of them.",
                input_name="digest",
            )
        tag = tag or uri.tag
        digest = digest or uri.digest
    name = image or (uri.repository if uri else None)
    if not name:
        raise UserError(
            "No image name: set `image` (the `name:` of the Kustomize images entry) or `image-uri`.",
            "add `image: <name>` under `with:`.",
            input_name="image",
        )
    if tag:
        check_tag(tag, "tag")
    if digest:
        check_digest(digest, "digest")
    if not tag and not digest:
        raise UserError(
            "Nothing to set: give `tag`, `digest` or an `image-uri` that carries one.",
            "pass the ECR stage's `image-uri` output (repo:tag@sha256:...) or `tag:`.",
            input_name="tag",
        )
    if set_new_name and not new_name:
        if uri is None:
            raise UserError(
                "`set-new-name: true` needs `image-uri` (or give `new-name`).",
                "pass `image-uri:` or `new-name:`.",
                input_name="set-new-name",
            )
        new_name = uri.repository
    return ImageUpdate(name=name, tag=tag or None, digest=digest or None, new_name=new_name or None)
