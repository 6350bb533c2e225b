"""Set one overlay's image to the source's exact build with the GitOps stage's byte-preserving YAML edits
(:mod:`shipyard.gitops.yamledit`): only the ``newTag``/``digest``/``newName`` scalars change; comments, quoting,
order and line endings stay as they were. Every result is re-parsed and compared with the intended change."""

from __future__ import annotations

from typing import Any

from shipyard.fleetview.overlays import Image
from shipyard.runtime import UserError


def set_image(path: str, text: str, current: Image, wanted: Image) -> str:
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    from shipyard.gitops import yamledit as ye

    doc = ye.Document.parse(path, text)
    edits: list[ye.Edit] = []
    doc_index = -1
    for index, root in enumerate(doc.roots):
        found = ye.mapping_get(root, "images") if isinstance(root, MappingNode) else None
        if found is None or not isinstance(found[1], SequenceNode):
            continue
        for item in found[1].value:
            if not isinstance(item, MappingNode) or ye.scalar_value(_get(item, "name")) != current.name:
                continue
            doc_index = index
            order = 0
            fields: list[tuple[str, str | None]] = [("newTag", wanted.tag), ("digest", wanted.digest)]
            if wanted.repository != current.repository or _get(item, "newName") is not None:
                fields.insert(0, ("newName", wanted.repository if wanted.repository != current.name else None))
            for key, value in fields:
                node = ye.mapping_get(item, key)
                if value is None:
                    if node is not None:
                        edit = ye.remove_key(doc, item, key)
                        if edit:
                            edits.append(edit)
                    continue
                if node is None:
                    order += 1
                    edits.append(ye.add_key(doc, item, key, value, order=order))
                elif isinstance(node[1], ScalarNode):
                    edit = ye.set_scalar(doc, node[1], value, lenient=True)
                    if edit:
                        edits.append(edit)
                else:
                    raise UserError(f"{path}: `{key}` of image {current.name} is not a scalar.",
                                    f"fix {path} in the config repository.")
    if doc_index < 0:
        raise UserError(f"{path}: no `images:` entry named {current.name} to promote.",
                        f"add `- name: {current.name}` under `images:` in {path}.")
    if not edits:
        return text
    new_text = ye.apply_edits(text, edits)

    def mutate(data: list[Any]) -> None:
        for img in data[doc_index].get("images") or []:
            if isinstance(img, dict) and str(img.get("name")) == current.name:
                for key, value in (("newTag", wanted.tag), ("digest", wanted.digest)):
                    if value is None:
                        img.pop(key, None)
                    else:
                        img[key] = value
                if wanted.repository != current.repository or "newName" in img:
                    if wanted.repository != current.name:
                        img["newName"] = wanted.repository
                    else:
                        img.pop("newName", None)

    def normalise(data: list[Any]) -> list[Any]:
        for d in data:
            for img in (d.get("images") or []) if isinstance(d, dict) else []:
                if isinstance(img, dict):
                    for k in ("newTag", "digest", "newName", "name"):
                        if img.get(k) is not None:
                            img[k] = str(img[k])
        return data

    expected = normalise(ye.load_all(path, text))
    mutate(expected)
    actual = normalise(ye.load_all(path, new_text))
    if actual != expected:
        raise UserError(f"{path}: the in-place edit would change more than the image; nothing written.",
                        f"edit {path} by hand once so newTag/digest are plain scalars, then rerun.")
    return new_text


def _get(node: Any, key: str) -> Any:
    from shipyard.gitops import yamledit as ye

    found = ye.mapping_get(node, key)
    return found[1] if found else None
