"""Byte-preserving edits: golden files, kustomize edit set image semantics, key paths, input parsing."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest
import yaml

from shipyard.gitops import message as msg
from shipyard.gitops.gitrepo import glob_match, literal_prefix
from shipyard.gitops.imageref import ImageUpdate, build_update, split_reference
from shipyard.gitops.targets import KeyPaths, edit_file, parse_path
from shipyard.gitops.yamledit import YamlEditError, plain_ok, render_scalar
from shipyard.runtime import UserError

GOLDEN = Path(__file__).parent / "golden"
D = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64

CASES = [
    ("kustomize-comments.yaml", "kustomization.yaml", ImageUpdate("orders", "1.5.0", None), 1),
    ("kustomize-crlf-no-eol.yaml", "kustomization.yaml", ImageUpdate("orders", "v1.1.0", D), 2),
    ("kustomize-flow.yaml", "kustomization.yaml", ImageUpdate("orders", "1.1", None), 1),
    ("kustomize-add.yaml", "kustomization.yaml", ImageUpdate("orders", "1.5.0", D), 4),
    ("values-tricky.yaml", "values.yaml", ImageUpdate("orders", "1.5.0", None), 1),
]


def _read(name: str) -> str:
    return (GOLDEN / name).read_bytes().decode("utf-8")


def _changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    removed, added = [], []
    for line in difflib.ndiff(old.splitlines(keepends=True), new.splitlines(keepends=True)):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


@pytest.mark.parametrize(("name", "path", "update", "lines"), CASES, ids=[c[0] for c in CASES])
def test_golden_files_change_only_the_scalar(name: str, path: str, update: ImageUpdate, lines: int) -> None:
    old = _read(name)
    expected = _read(name.replace(".yaml", ".expected.yaml"))
    result = edit_file(path, old, update, fmt="auto", keys=KeyPaths(), add_if_missing=True)
    assert result.new_text == expected
    removed, added = _changed_lines(old, result.new_text)
    assert len(added) == lines
    if removed:  # an in-place rewrite: the same lines, only the value differs
        assert len(removed) == len(added)
        for before, after in zip(removed, added, strict=True):
            assert before.split(":")[0] == after.split(":")[0]
            assert before.endswith("\r\n") == after.endswith("\r\n")
    # running the same update again is a no-op
    again = edit_file(path, result.new_text, update, fmt="auto", keys=KeyPaths(), add_if_missing=True)
    assert not again.changed


def test_golden_crlf_and_missing_final_newline_survive() -> None:
    result = edit_file("k/kustomization.yaml", _read("kustomize-crlf-no-eol.yaml"),
                       ImageUpdate("orders", "v2", D), fmt="auto", keys=KeyPaths(), add_if_missing=True)
    assert result.new_text.count("\r\n") == _read("kustomize-crlf-no-eol.yaml").count("\r\n")
    assert result.new_text.endswith(D)
    assert result.previous_tag == "v1.0.0" and result.previous_digest == "sha256:" + "9" * 64


def test_comments_anchors_block_scalars_and_second_document_kept() -> None:
    old = _read("values-tricky.yaml")
    result = edit_file("values.yaml", old, ImageUpdate("orders", "2.0.0", D), fmt="helm", keys=KeyPaths(),
                       add_if_missing=True)
    data = list(yaml.safe_load_all(result.new_text))
    assert data[0]["image"] == {"pullPolicy": "IfNotPresent", "repository": data[0]["image"]["repository"],
                                "tag": "2.0.0", "digest": D}
    assert data[0]["config"] == "line one\n  indented: true\n"
    assert data[1] == {"extra": true_value()}
    assert "---\n# second document untouched\n" in result.new_text
    assert result.previous_tag == "1.4.2"


def true_value() -> bool:
    return True


def test_tag_only_update_drops_a_stale_digest_like_kustomize() -> None:
    text = "images:\n- name: app\n  newTag: v1\n  digest: " + D2 + "   # pinned\n- name: other\n  newTag: x\n"
    result = edit_file("kustomization.yaml", text, ImageUpdate("app", "v2", None), fmt="auto",
                       keys=KeyPaths(), add_if_missing=True)
    assert result.new_text == "images:\n- name: app\n  newTag: v2\n- name: other\n  newTag: x\n"


def test_digest_key_added_inside_the_entry_and_new_name() -> None:
    text = "images:\n  - name: app # c\n    newTag: v1\n\n  - name: b\n"
    result = edit_file("kustomization.yaml", text, ImageUpdate("app", "v2", D, new_name="reg/app"),
                       fmt="kustomize", keys=KeyPaths(), add_if_missing=True)
    assert result.new_text == (
        "images:\n  - name: app # c\n    newTag: v2\n    newName: reg/app\n    digest: " + D + "\n\n  - name: b\n"
    )


def test_entry_added_to_existing_list_with_the_same_indentation() -> None:
    text = "images:\n  - name: other\n    newTag: v1\n# trailing\n"
    result = edit_file("kustomization.yaml", text, ImageUpdate("app", "1.0", None), fmt="auto",
                       keys=KeyPaths(), add_if_missing=True)
    assert result.new_text == "images:\n  - name: other\n    newTag: v1\n  - name: app\n    newTag: \"1.0\"\n# trailing\n"
    assert result.added


def test_missing_image_with_add_if_missing_false_is_an_error() -> None:
    with pytest.raises(UserError, match="no `images:` entry named 'app'") as info:
        edit_file("kustomization.yaml", "images:\n- name: other\n", ImageUpdate("app", "v1", None), fmt="auto",
                  keys=KeyPaths(), add_if_missing=False)
    assert "add-if-missing" in str(info.value.fix)


def test_unparseable_yaml_is_an_error_naming_the_file() -> None:
    with pytest.raises(YamlEditError, match=r"apps/x/kustomization\.yaml is not valid YAML"):
        edit_file("apps/x/kustomization.yaml", "images:\n- name: [oops\n", ImageUpdate("a", "v", None),
                  fmt="auto", keys=KeyPaths(), add_if_missing=True)


def test_anchor_referenced_elsewhere_is_refused_not_silently_spread() -> None:
    text = "image:\n  tag: &t v1\nsidecar:\n  tag: *t\n"
    with pytest.raises(YamlEditError, match="change more than the intended value"):
        edit_file("values.yaml", text, ImageUpdate("a", "v2", None), fmt="helm", keys=KeyPaths(),
                  add_if_missing=True)


def test_numeric_looking_tags_are_quoted_when_needed() -> None:
    assert render_scalar("1.10") == '"1.10"'
    assert render_scalar("v1.10") == "v1.10"
    assert render_scalar("it's", "'") == "'it''s'"
    assert not plain_ok("yes") and not plain_ok("0x10") and plain_ok("1.2.3")
    text = "image:\n  tag: 1.9\n"
    result = edit_file("values.yaml", text, ImageUpdate("a", "1.10", None), fmt="helm", keys=KeyPaths(),
                       add_if_missing=True)
    assert result.new_text == 'image:\n  tag: "1.10"\n'
    assert yaml.safe_load(result.new_text)["image"]["tag"] == "1.10"


def test_kustomize_numeric_tag_already_set_is_idempotent() -> None:
    text = "images:\n- name: app\n  newTag: 1.10\n"
    result = edit_file("kustomization.yaml", text, ImageUpdate("app", "1.10", None), fmt="auto",
                       keys=KeyPaths(), add_if_missing=True)
    assert not result.changed


def test_key_paths_with_selectors_and_added_nested_keys() -> None:
    assert parse_path("a.b[0].c[name=api].tag") == ["a", "b", 0, "c", ("name", "api"), "tag"]
    text = "containers:\n  - name: web\n    tag: v1\n  - name: api\n    tag: v1 # api\nother: 1\n"
    result = edit_file("values.yaml", text, ImageUpdate("x", "v2", None), fmt="yaml",
                       keys=KeyPaths(tag="containers[name=api].tag", digest=None), add_if_missing=True)
    assert result.new_text == text.replace("tag: v1 # api", "tag: v2 # api")
    text = "a:\n  b: 1\nz: 2\n"
    result = edit_file("values.yaml", text, ImageUpdate("x", "v2", None), fmt="yaml",
                       keys=KeyPaths(tag="a.c.d", digest=None), add_if_missing=True)
    assert result.new_text == "a:\n  b: 1\n  c:\n    d: v2\nz: 2\n"
    with pytest.raises(UserError, match=r"no value at `a\.q`"):
        edit_file("values.yaml", text, ImageUpdate("x", "v2", None), fmt="yaml",
                  keys=KeyPaths(tag="a.q", digest=None), add_if_missing=False)


def test_image_inputs_follow_kustomize_set_image_semantics() -> None:
    u = build_update(image="orders", tag="1.2@" + D, digest=None, image_uri=None, new_name=None, set_new_name=False)
    assert (u.tag, u.digest) == ("1.2", D)
    uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders:1.2@" + D
    u = build_update(image=None, tag=None, digest=None, image_uri=uri, new_name=None, set_new_name=True)
    assert u.name == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/orders"
    assert (u.tag, u.digest, u.new_name) == ("1.2", D, u.name)
    u = build_update(image="orders", tag=None, digest=None, image_uri="reg:5000/orders@" + D, new_name=None,
                     set_new_name=False)
    assert (u.name, u.tag, u.digest) == ("orders", None, D)
    assert split_reference("reg:5000/orders") == split_reference("reg:5000/orders")
    assert split_reference("reg:5000/orders").tag is None
    with pytest.raises(UserError, match="invalid digest"):
        build_update(image="o", tag=None, digest="sha256:zz", image_uri=None, new_name=None, set_new_name=False)
    with pytest.raises(UserError, match="Nothing to set"):
        build_update(image="o", tag=None, digest=None, image_uri=None, new_name=None, set_new_name=False)
    with pytest.raises(UserError, match="differs from the tag"):
        build_update(image="o", tag="2", digest=None, image_uri="r/o:1", new_name=None, set_new_name=False)
    with pytest.raises(UserError, match="invalid image tag"):
        build_update(image="o", tag="-bad", digest=None, image_uri=None, new_name=None, set_new_name=False)


def test_globs_and_prefixes() -> None:
    assert glob_match("apps/orders/overlays/dev/kustomization.yaml", "apps/*/overlays/dev/kustomization.yaml")
    assert not glob_match("apps/a/b/overlays/dev/kustomization.yaml", "apps/*/overlays/dev/kustomization.yaml")
    assert glob_match("apps/a/b/overlays/dev/kustomization.yaml", "apps/**/kustomization.yaml")
    assert glob_match("kustomization.yaml", "**/kustomization.yaml")
    assert literal_prefix("apps/orders/overlays/*/kustomization.yaml") == "apps/orders/overlays/"
    assert literal_prefix("*.yaml") == ""


def test_commit_message_template_and_trailers() -> None:
    with pytest.raises(UserError, match=r"unknown placeholder \{nope\}"):
        msg.check_template("deploy {nope}")
    assert msg.render("{service}: {{literal}}", {"service": "s"}) == "s: {literal}"
    text = "x\n\nShipyard-Service: orders\nShipyard-Built-At: 2026-01-02T03:04:05.000000Z\n"
    t = msg.parse_trailers(text)
    assert t["Shipyard-Service"] == "orders"
    assert msg.parse_time(t["Shipyard-Built-At"]) == msg.parse_time("2026-01-02T03:04:05Z")
    assert msg.parse_time("1700000000") == 1700000000.0
    assert msg.parse_time("not a time") is None
