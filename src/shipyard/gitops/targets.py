"""What to change in one file: a Kustomize ``images:`` entry, or values at key paths (Helm values, plain YAML).

Each function returns a :class:`FileResult` with the new text (byte-identical outside the changed scalars),
the previous tag/digest and whether anything changed. Every result is verified by re-parsing.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shipyard.gitops.imageref import ImageUpdate
from shipyard.gitops.yamledit import (
    Document,
    Edit,
    YamlEditError,
    add_key,
    add_top_level_list,
    append_item,
    apply_edits,
    is_null,
    mapping_get,
    remove_key,
    replace_null_with_list,
    scalar_value,
    set_scalar,
    verify,
)

KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class FileResult:
    path: str
    old_text: str
    new_text: str
    previous_tag: str | None = None
    previous_digest: str | None = None
    previous_name: str | None = None
    added: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.new_text != self.old_text


@dataclass(frozen=True)
class KeyPaths:
    """Dot paths for Helm values / plain YAML (``image.tag``, ``containers[name=app].image``)."""

    tag: str | None = "image.tag"
    digest: str | None = "image.digest"
    name: str | None = "image.repository"


def detect_format(path: str, wanted: str) -> str:
    if wanted != "auto":
        return wanted
    return "kustomize" if posixpath.basename(path) in KUSTOMIZATION_NAMES else "helm"


# ----------------------------------------------------------------------------- kustomize
def _kustomize_root(doc: Document) -> MappingNode:
    for root in doc.roots:
        if isinstance(root, MappingNode):
            return root
    raise YamlEditError(
        f"{doc.path} is not a Kustomization (no top-level mapping).",
        f"point `paths` at kustomization.yaml files, or set `format: yaml` with key paths for {doc.path}.",
    )


def _root_index(doc: Document, root: Node) -> int:
    return doc.roots.index(root)


def edit_kustomization(doc: Document, update: ImageUpdate, *, add_if_missing: bool = True) -> FileResult:
    root = _kustomize_root(doc)
    doc_index = _root_index(doc, root)
    result = FileResult(doc.path, doc.text, doc.text)
    edits: list[Edit] = []
    found = mapping_get(root, "images")
    entries: list[MappingNode] = []
    seq: SequenceNode | None = None
    if found is not None:
        vnode = found[1]
        if isinstance(vnode, SequenceNode):
            seq = vnode
            entries = [
                item
                for item in vnode.value
                if isinstance(item, MappingNode) and scalar_value(_get(item, "name")) == update.name
            ]
        elif not is_null(vnode):
            raise YamlEditError(f"{doc.path}: `images:` is not a list.", f"fix `images:` in {doc.path}.")
    new_entry: dict[str, str] = {"name": update.name}
    if update.new_name:
        new_entry["newName"] = update.new_name
    if update.tag:
        new_entry["newTag"] = update.tag
    if update.digest:
        new_entry["digest"] = update.digest
    if not entries:
        if not add_if_missing:
            raise YamlEditError(
                f"{doc.path} has no `images:` entry named '{update.name}'.",
                f"add `- name: {update.name}` under `images:` in {doc.path}, fix the `image` input, or set "
                "`add-if-missing: true`.",
            )
        result.added = True
        if found is None:
            edits.append(add_top_level_list(doc, root, "images", new_entry))
        elif seq is None:
            assert isinstance(found[0], ScalarNode) and isinstance(found[1], ScalarNode)
            edits.append(replace_null_with_list(doc, found[0], found[1], new_entry))
        else:
            edits.append(append_item(doc, seq, new_entry))
    else:
        first = entries[0]
        result.previous_tag = scalar_value(_get(first, "newTag"))
        result.previous_digest = scalar_value(_get(first, "digest"))
        result.previous_name = scalar_value(_get(first, "newName"))
        for entry in entries:
            order = 0
            wanted: list[tuple[str, str | None]] = [("newTag", update.tag), ("digest", update.digest)]
            if update.new_name:
                wanted.insert(0, ("newName", update.new_name))
            for key, value in wanted:
                current = mapping_get(entry, key)
                if value is None:
                    if current is not None and key in ("newTag", "digest"):
                        # kustomize edit set image: a tag-only update drops a stale digest (and vice versa)
                        edit = remove_key(doc, entry, key)
                        if edit:
                            edits.append(edit)
                    continue
                if current is None:
                    order += 1
                    edits.append(add_key(doc, entry, key, value, order=order))
                elif isinstance(current[1], ScalarNode):
                    edit = set_scalar(doc, current[1], value, lenient=True)
                    if edit:
                        edits.append(edit)
                else:
                    raise YamlEditError(f"{doc.path}: `{key}` of image '{update.name}' is not a scalar.")
    if not edits:
        return result
    new_text = apply_edits(doc.text, edits)

    def mutate(data: list[Any]) -> None:
        d = data[doc_index]
        images = d.get("images") or []
        d["images"] = images
        hits = [i for i in images if isinstance(i, dict) and i.get("name") == update.name]
        if not hits:
            images.append(dict(new_entry))
            return
        for img in hits:
            if update.new_name:
                img["newName"] = update.new_name
            for key, value in (("newTag", update.tag), ("digest", update.digest)):
                if value is None:
                    img.pop(key, None)
                elif str(img.get(key)) != value or key not in img:
                    img[key] = value
                else:
                    img[key] = img[key]  # lenient equality: left as written

    _verify_lenient(doc, new_text, mutate)
    result.new_text = new_text
    return result


def _verify_lenient(doc: Document, new_text: str, mutate: Any) -> None:
    """Like :func:`verify`, but compares Kustomize image fields as strings (``1.10`` == ``"1.10"``)."""

    def normalise(data: list[Any]) -> None:
        for d in data:
            if isinstance(d, dict) and isinstance(d.get("images"), list):
                for img in d["images"]:
                    if isinstance(img, dict):
                        for k in ("newTag", "digest", "newName", "name"):
                            if k in img and img[k] is not None:
                                img[k] = str(img[k])

    def mutate_and_normalise(data: list[Any]) -> None:
        mutate(data)
        normalise(data)

    import yaml

    try:
        parsed = list(yaml.safe_load_all(new_text))
    except yaml.YAMLError as exc:
        raise YamlEditError(f"internal: the edited {doc.path} does not parse ({exc}); nothing written.")
    normalise(parsed)
    normalised_new = yaml.safe_dump_all(parsed, sort_keys=True)
    verify(doc.path, doc.text, normalised_new, mutate_and_normalise)


def _get(node: MappingNode, key: str) -> Node | None:
    found = mapping_get(node, key)
    return found[1] if found else None


# ----------------------------------------------------------------------------- key paths
_SEG = re.compile(r"^(?P<key>[^.\[\]]+)?(?P<sel>(?:\[[^\]]*\])*)$")


def parse_path(path: str) -> list[str | int | tuple[str, str]]:
    """``a.b[0].c[name=x]`` -> ['a', 'b', 0, 'c', ('name', 'x')]."""
    out: list[str | int | tuple[str, str]] = []
    for raw in path.split("."):
        m = _SEG.match(raw)
        if not raw or m is None:
            raise YamlEditError(
                f"Bad key path '{path}'.", "write key paths like image.tag or containers[name=app].image."
            )
        if m.group("key"):
            out.append(m.group("key"))
        for sel in re.findall(r"\[([^\]]*)\]", m.group("sel") or ""):
            if sel.isdigit():
                out.append(int(sel))
            elif "=" in sel:
                k, _, v = sel.partition("=")
                out.append((k.strip(), v.strip().strip("'\"")))
            else:
                raise YamlEditError(f"Bad selector [{sel}] in key path '{path}'.", "use [N] or [field=value].")
    return out


def _step(node: Node | None, seg: str | int | tuple[str, str]) -> Node | None:
    if isinstance(seg, str):
        found = mapping_get(node, seg)
        return found[1] if found else None
    if not isinstance(node, SequenceNode):
        return None
    if isinstance(seg, int):
        return node.value[seg] if seg < len(node.value) else None
    for item in node.value:
        if isinstance(item, MappingNode) and scalar_value(_get(item, seg[0])) == seg[1]:
            return item
    return None


def _data_step(data: Any, seg: str | int | tuple[str, str]) -> Any:
    if isinstance(seg, str):
        return data.get(seg) if isinstance(data, dict) else None
    if not isinstance(data, list):
        return None
    if isinstance(seg, int):
        return data[seg] if seg < len(data) else None
    for item in data:
        if isinstance(item, dict) and str(item.get(seg[0])) == seg[1]:
            return item
    return None


def edit_key_paths(
    doc: Document, values: list[tuple[str, str]], *, add_if_missing: bool = True
) -> tuple[str, dict[str, str | None]]:
    """Set each (path, value); returns the new text and the previous value per path."""
    previous: dict[str, str | None] = {}
    edits: list[Edit] = []
    plans: list[tuple[int, list[str | int | tuple[str, str]], str]] = []
    for path, value in values:
        segs = parse_path(path)
        hit = False
        for index, root in enumerate(doc.roots):
            node: Node | None = root
            for seg in segs:
                node = _step(node, seg)
                if node is None:
                    break
            if node is None:
                continue
            if not isinstance(node, ScalarNode):
                raise YamlEditError(
                    f"{doc.path}: `{path}` is not a scalar value.", "point the key path at a value, not a section."
                )
            hit = True
            previous.setdefault(path, scalar_value(node))
            edit = set_scalar(doc, node, value)
            if edit:
                edits.append(edit)
                plans.append((index, segs, value))
        if hit:
            continue
        previous.setdefault(path, None)
        if not add_if_missing:
            raise YamlEditError(
                f"{doc.path} has no value at `{path}`.",
                f"add `{path}` to {doc.path}, fix the key path input, or set `add-if-missing: true`.",
            )
        index, edit = _add_path(doc, segs, value, path, order=len(edits))
        edits.append(edit)
        plans.append((index, segs, value))
    if not edits:
        return doc.text, previous
    new_text = apply_edits(doc.text, edits)

    def mutate(data: list[Any]) -> None:
        for index, segs, value in plans:
            cur = data[index]
            for seg in segs[:-1]:
                nxt = _data_step(cur, seg)
                if nxt is None:
                    assert isinstance(seg, str) and isinstance(cur, dict)
                    nxt = cur[seg] = {}
                cur = nxt
            last = segs[-1]
            if isinstance(last, (str, int)):
                cur[last] = value

    verify(doc.path, doc.text, new_text, mutate)
    return new_text, previous


def _add_path(
    doc: Document, segs: list[str | int | tuple[str, str]], value: str, path: str, order: int
) -> tuple[int, Edit]:
    """Add the missing tail of ``segs`` under the deepest existing mapping of the first mapping document."""
    for index, root in enumerate(doc.roots):
        if not isinstance(root, MappingNode):
            continue
        node: Node = root
        depth = 0
        for seg in segs[:-1]:
            nxt = _step(node, seg)
            if nxt is None or not isinstance(nxt, MappingNode):
                break
            node = nxt
            depth += 1
        tail = segs[depth:]
        if not all(isinstance(s, str) for s in tail) or not isinstance(node, MappingNode):
            raise YamlEditError(
                f"{doc.path}: cannot add `{path}`: a list element on the way does not exist.",
                f"add the list entry to {doc.path} by hand first.",
            )
        if depth < len(segs) - 1 and _step(node, tail[0]) is not None:
            raise YamlEditError(
                f"{doc.path}: cannot add `{path}`: `{tail[0]}` exists but is not a mapping.",
                f"fix `{path}` in {doc.path}.",
            )
        nested: str | dict[str, Any] = value
        for seg in reversed(tail[1:]):
            nested = {str(seg): nested}
        if not node.value and not node.flow_style:
            break
        return index, add_key(doc, node, str(tail[0]), nested, order=order)
    raise YamlEditError(f"{doc.path}: cannot add `{path}`: the file has no top-level mapping.")


def edit_values(doc: Document, update: ImageUpdate, keys: KeyPaths, *, add_if_missing: bool = True) -> FileResult:
    values: list[tuple[str, str]] = []
    if update.new_name and keys.name:
        values.append((keys.name, update.new_name))
    if update.tag and keys.tag:
        values.append((keys.tag, update.tag))
    if update.digest and keys.digest:
        values.append((keys.digest, update.digest))
    if not values:
        raise YamlEditError(
            f"{doc.path}: nothing to set (no key path for the values given).",
            "set `tag-key` and/or `digest-key`.",
        )
    new_text, previous = edit_key_paths(doc, values, add_if_missing=add_if_missing)
    result = FileResult(doc.path, doc.text, new_text)
    result.previous_tag = previous.get(keys.tag or "") if keys.tag else None
    result.previous_digest = previous.get(keys.digest or "") if keys.digest else None
    if keys.tag and update.tag is None:
        result.previous_tag = None
    return result


def edit_file(
    path: str, text: str, update: ImageUpdate, *, fmt: str, keys: KeyPaths, add_if_missing: bool
) -> FileResult:
    doc = Document.parse(path, text)
    kind = detect_format(path, fmt)
    if kind == "kustomize":
        return edit_kustomization(doc, update, add_if_missing=add_if_missing)
    return edit_values(doc, update, keys, add_if_missing=add_if_missing)
