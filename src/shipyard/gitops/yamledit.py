"""Byte-preserving YAML edits: rewrite one scalar, add one key or one list item, remove one key.

The file is parsed with PyYAML's pure-Python composer, whose nodes carry exact character offsets
(``start_mark.index``/``end_mark.index``). An edit replaces only the bytes of the scalar it changes (keeping
its quoting style, anchor and tag), or inserts the smallest block of new lines, indented like its siblings
and using the file's own line ending. Comments, blank lines, key order, flow style, ``---`` separators,
block scalars, anchors, CRLF and a missing final newline are left exactly as they were.

Callers verify every result by re-parsing it and comparing with the intended data change
(:func:`verify`): an edit that would change anything else is refused.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shipyard.runtime import UserError

_PROPS = re.compile(r"(?:(?:&[^\s]+|![^\s]*)[ \t]+)*")
_PLAIN_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/+@=]*(?::[A-Za-z0-9_.\-/+@=]+)*$")


class YamlEditError(UserError):
    """The file cannot be edited safely (it does not parse, or the change would touch more than intended)."""


@dataclass(frozen=True)
class Edit:
    """Replace ``text[start:end]`` with ``new`` (an insertion when start == end)."""

    start: int
    end: int
    new: str
    order: int = 0  # tie-breaker for insertions at the same offset (lower first)


@dataclass
class Document:
    """A YAML file as text plus its composed node trees (one per ``---`` document)."""

    path: str
    text: str
    roots: list[Node | None]

    @property
    def newline(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    @classmethod
    def parse(cls, path: str, text: str) -> Document:
        try:
            roots = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise YamlEditError(
                f"{path} is not valid YAML: {_one_line(exc)}",
                f"fix the YAML syntax in {path} in the config repository (or point `paths` elsewhere).",
            )
        return cls(path, text, list[Node | None](roots))


def load_all(path: str, text: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise YamlEditError(f"{path} is not valid YAML: {_one_line(exc)}", f"fix the YAML syntax in {path}.")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


# ----------------------------------------------------------------------------- node helpers
def mapping_items(node: Node | None) -> list[tuple[ScalarNode, Node]]:
    if not isinstance(node, MappingNode):
        return []
    return [(k, v) for k, v in node.value if isinstance(k, ScalarNode)]


def mapping_get(node: Node | None, key: str) -> tuple[ScalarNode, Node] | None:
    for k, v in mapping_items(node):
        if k.value == key:
            return k, v
    return None


def scalar_value(node: Node | None) -> str | None:
    """The scalar's value as a string as YAML resolves it (None for null or non-scalars)."""
    if not isinstance(node, ScalarNode):
        return None
    if node.tag == "tag:yaml.org,2002:null":
        return None
    return str(node.value)


def is_null(node: Node | None) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def content_end(node: Node) -> int:
    """Offset just after the last character of a node's own content (block collections' end marks run on
    over trailing comments and blank lines; this does not)."""
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    if isinstance(node, MappingNode) and node.value:
        return content_end(node.value[-1][1])
    if isinstance(node, SequenceNode) and node.value:
        return content_end(node.value[-1])
    return int(node.end_mark.index)


def scalar_span(text: str, node: ScalarNode) -> tuple[int, int]:
    """The span of the scalar itself, without its anchor (``&a``) or tag (``!!str``)."""
    start, end = int(node.start_mark.index), int(node.end_mark.index)
    m = _PROPS.match(text, start, end)
    if m and m.end() > start:
        start = m.end()
    if node.style in ("|", ">"):
        # Block scalar: the span runs over its trailing line breaks; keep those.
        body = text[start:end]
        end = start + len(body.rstrip("\r\n"))
    return start, end


# ----------------------------------------------------------------------------- rendering
def plain_ok(value: str) -> bool:
    """True when ``value`` written unquoted reads back as the same string."""
    if not value or not _PLAIN_SAFE.match(value):
        return False
    try:
        return yaml.safe_load(value) == value
    except yaml.YAMLError:
        return False


def render_scalar(value: str, style: str | None = None) -> str:
    """Render a string scalar in ``style`` (None = plain when safe), falling back to double quotes."""
    if style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    if style in (None, "") and plain_ok(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def render_flow(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render_scalar(str(k))}: {render_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render_flow(v) for v in value) + "]"
    return render_scalar(str(value))


def render_block(value: dict[str, Any], indent: str, nl: str, first_prefix: str | None = None,
                 step: int = 2) -> str:
    """Render a mapping of strings/mappings as block lines; the first line starts with ``first_prefix``
    (e.g. ``"  - "``) when given, later lines with ``indent``."""
    out: list[str] = []
    for i, (key, val) in enumerate(value.items()):
        prefix = first_prefix if (i == 0 and first_prefix is not None) else indent
        if isinstance(val, dict):
            out.append(f"{prefix}{render_scalar(str(key))}:{nl}")
            out.append(render_block(val, indent + " " * step, nl, step=step))
        else:
            out.append(f"{prefix}{render_scalar(str(key))}: {render_scalar(str(val))}{nl}")
    return "".join(out)


# ----------------------------------------------------------------------------- edit builders
def line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def after_line(text: str, pos: int, nl: str) -> tuple[int, str]:
    """Where to insert whole lines after the line holding ``pos``: (offset, prefix to add first)."""
    if pos > 0 and text[pos - 1] == "\n":
        return pos, ""
    eol = text.find("\n", pos)
    if eol == -1:
        return len(text), nl  # last line without a newline: start a new one
    return eol + 1, ""


def set_scalar(doc: Document, node: ScalarNode, value: str, *, lenient: bool = False) -> Edit | None:
    """Rewrite the scalar to ``value`` keeping its style; None when it already reads as ``value``.

    ``lenient``: a scalar whose text is ``value`` but that YAML resolves to another type (``1.10`` is a float)
    counts as equal (Kustomize reads such fields as strings); otherwise it is rewritten quoted.
    """
    if scalar_value(node) == value and (lenient or node.tag == "tag:yaml.org,2002:str"):
        return None
    start, end = scalar_span(doc.text, node)
    if node.tag == "tag:yaml.org,2002:null" and start == end:
        return Edit(start, end, (" " if start > 0 and doc.text[start - 1] == ":" else "") + render_scalar(value))
    style = node.style if node.style in ("'", '"') else None
    return Edit(start, end, render_scalar(value, style))


def flow_close(text: str, end: int, bracket: str) -> int:
    """Index of the closing ``}``/``]`` of a flow collection whose node ends at ``end``."""
    close = end - 1
    while close > 0 and text[close] != bracket:
        close -= 1
    return close


def add_key(doc: Document, mapping: MappingNode, key: str, value: str | dict[str, Any], order: int = 0) -> Edit:
    """Add ``key: value`` as the last entry of ``mapping`` (block or flow)."""
    nl = doc.newline
    text = doc.text
    if mapping.flow_style:
        close = flow_close(text, int(mapping.end_mark.index), "}")
        sep = ", " if mapping.value else ""
        return Edit(close, close, f"{sep}{render_scalar(key)}: {render_flow(value)}", order)
    if not mapping.value:
        raise YamlEditError(f"{doc.path}: cannot add '{key}' to an empty block mapping.")
    first_key = mapping.value[0][0]
    indent = " " * int(first_key.start_mark.column)
    pos, prefix = after_line(text, content_end(mapping), nl)
    if isinstance(value, dict):
        body = f"{indent}{render_scalar(key)}:{nl}" + render_block(value, indent + "  ", nl)
    else:
        body = f"{indent}{render_scalar(key)}: {render_scalar(value)}{nl}"
    if prefix and pos == len(text):
        body = body[: -len(nl)]  # keep "no trailing newline" as it was
    return Edit(pos, pos, prefix + body, order)


def remove_key(doc: Document, mapping: MappingNode, key: str) -> Edit | None:
    """Remove ``key`` (and its scalar value) from ``mapping``. None if absent."""
    found = mapping_get(mapping, key)
    if found is None:
        return None
    knode, vnode = found
    text = doc.text
    idx = [k for k, _ in mapping.value].index(knode)
    if mapping.flow_style:
        kstart = int(knode.start_mark.index)
        vend = int(vnode.end_mark.index)
        if idx + 1 < len(mapping.value):  # "key: v, " -> remove up to the next key
            nxt = int(mapping.value[idx + 1][0].start_mark.index)
            return Edit(kstart, nxt, "")
        if idx > 0:  # ", key: v" -> remove from the end of the previous value
            prev_end = int(mapping.value[idx - 1][1].end_mark.index)
            return Edit(prev_end, vend, "")
        return Edit(kstart, vend, "")
    if not isinstance(vnode, ScalarNode):
        raise YamlEditError(f"{doc.path}: cannot remove '{key}': its value is not a single scalar.")
    kstart = int(knode.start_mark.index)
    lstart = line_start(text, kstart)
    if text[lstart:kstart].strip():
        # The key shares its line with a "- " list marker: move the next key up instead.
        if idx + 1 < len(mapping.value):
            nxt = int(mapping.value[idx + 1][0].start_mark.index)
            return Edit(kstart, nxt, "")
        raise YamlEditError(f"{doc.path}: cannot remove '{key}', the only key of its entry.")
    vend = scalar_span(text, vnode)[1]
    eol = text.find("\n", vend)
    end = len(text) if eol == -1 else eol + 1
    if eol == -1 and lstart > 0:  # last line without newline: also drop the preceding line break
        lstart -= 2 if text[lstart - 2 : lstart] == "\r\n" else 1
    return Edit(lstart, end, "")


def append_item(doc: Document, seq: SequenceNode, item: dict[str, str], order: int = 0) -> Edit:
    """Append a mapping item to a block or flow sequence, shaped like the existing items."""
    nl = doc.newline
    text = doc.text
    if seq.flow_style:
        close = flow_close(text, int(seq.end_mark.index), "]")
        sep = ", " if seq.value else ""
        return Edit(close, close, f"{sep}{render_flow(item)}", order)
    if not seq.value:
        raise YamlEditError(f"{doc.path}: cannot append to an empty block sequence.")
    dash_col = int(seq.start_mark.column)
    first = seq.value[0]
    inner = 2
    if isinstance(first, MappingNode) and first.value and not first.flow_style:
        inner = max(2, int(first.value[0][0].start_mark.column) - dash_col)
    dash = " " * dash_col + "-" + " " * (inner - 1)
    pos, prefix = after_line(text, content_end(seq), nl)
    body = render_block(item, " " * (dash_col + inner), nl, first_prefix=dash)
    if prefix and pos == len(text):
        body = body[: -len(nl)]
    return Edit(pos, pos, prefix + body, order)


def add_top_level_list(doc: Document, root: MappingNode, key: str, item: dict[str, str], order: int = 0) -> Edit:
    """Add ``key:`` with a one-item block list at the end of the root mapping (``images:`` when missing)."""
    nl = doc.newline
    text = doc.text
    if root.flow_style:
        return add_key_flow_list(doc, root, key, item, order)
    col = int(root.value[0][0].start_mark.column) if root.value else 0
    indent = " " * col
    pos, prefix = after_line(text, content_end(root), nl)
    body = f"{indent}{render_scalar(key)}:{nl}" + render_block(item, indent + "  ", nl, first_prefix=indent + "- ")
    if prefix and pos == len(text):
        body = body[: -len(nl)]
    return Edit(pos, pos, prefix + body, order)


def add_key_flow_list(doc: Document, mapping: MappingNode, key: str, item: dict[str, str], order: int) -> Edit:
    close = int(mapping.end_mark.index) - 1
    while close > 0 and doc.text[close] != "}":
        close -= 1
    sep = ", " if mapping.value else ""
    return Edit(close, close, f"{sep}{render_scalar(key)}: [{render_flow(item)}]", order)


def replace_null_with_list(doc: Document, knode: ScalarNode, vnode: ScalarNode, item: dict[str, str]) -> Edit:
    """``images:`` with no value: put a one-item block list under it."""
    nl = doc.newline
    indent = " " * int(knode.start_mark.column)
    start, end = scalar_span(doc.text, vnode)
    if doc.text[start:end].strip() not in ("", "~", "null", "Null", "NULL"):
        raise YamlEditError(f"{doc.path}: '{knode.value}' is not empty.")
    pos, prefix = after_line(doc.text, int(knode.end_mark.index), nl)
    body = render_block(item, indent + "  ", nl, first_prefix=indent + "- ")
    if start != end:  # "images: ~" -> drop the ~
        return Edit(start, end, "[" + render_flow(item) + "]")
    if prefix and pos == len(doc.text):
        body = body[: -len(nl)]
    return Edit(pos, pos, prefix + body)


# ----------------------------------------------------------------------------- applying
def apply_edits(text: str, edits: list[Edit]) -> str:
    ordered = sorted(edits, key=lambda e: (e.start, e.end, e.order))
    for a, b in itertools.pairwise(ordered):
        if b.start < a.end:
            raise YamlEditError("internal: overlapping YAML edits")
    out: list[str] = []
    pos = 0
    for e in ordered:
        out.append(text[pos : e.start])
        out.append(e.new)
        pos = e.end
    out.append(text[pos:])
    return "".join(out)


def verify(path: str, old_text: str, new_text: str, mutate: Callable[[list[Any]], None]) -> None:
    """Re-parse both texts: the new data must equal the old data with exactly the intended change."""
    expected = load_all(path, old_text)
    mutate(expected)
    try:
        actual = list(yaml.safe_load_all(new_text))
    except yaml.YAMLError as exc:  # pragma: no cover - would be a bug in the edit builders
        raise YamlEditError(f"internal: the edited {path} does not parse ({_one_line(exc)}); nothing written.")
    if actual != expected:
        raise YamlEditError(
            f"{path}: the in-place edit would change more than the intended value (is it an anchor that is "
            "referenced elsewhere, or a value the editor cannot rewrite in place?); nothing written.",
            f"edit {path} by hand once so the value is a plain scalar, then rerun.",
        )


def walk_scalars(node: Node | None) -> Iterator[ScalarNode]:
    if isinstance(node, ScalarNode):
        yield node
    elif isinstance(node, MappingNode):
        for k, v in node.value:
            yield from walk_scalars(k)
            yield from walk_scalars(v)
    elif isinstance(node, SequenceNode):
        for v in node.value:
            yield from walk_scalars(v)
