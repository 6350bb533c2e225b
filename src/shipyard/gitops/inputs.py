"""Checks for the gitops stage's string inputs, run before any side effect.

Every identifier is full-matched (``re.fullmatch``: a ``$`` would let a trailing newline through), control
characters are refused everywhere (a newline in ``environment`` would forge a commit trailer; one in
``bot-name`` a commit header), URLs carry no credentials and never start with ``-``, and templates name only
the placeholders they are given.
"""

from __future__ import annotations

import re
import string
import urllib.parse
from collections.abc import Iterable

from shipyard.runtime import UserError

END_OF_OPTIONS = "--end-of-options"  # before anything from an input or a remote on a git command line
# C0 and C1 controls, DEL and the Unicode line/paragraph separators (all of them end or hide a line).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# service / environment: what a Kubernetes label value or a directory name holds
IDENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?")
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# an image name as Kustomize's images[].name / an OCI repository, with an optional registry host[:port]
IMAGE = re.compile(rf"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{{1,5}})?/)?{_COMPONENT}(?:/{_COMPONENT})*")
SLUG = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
COMMIT = re.compile(r"[0-9a-fA-F]{7,64}")
DIGITS = re.compile(r"[0-9]{1,20}")
LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
TEAM = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,99}/)?[A-Za-z0-9_.-]{1,100}")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(?:/|$)")


def check_text(value: str, name: str, *, multiline: bool = False) -> str:
    """Refuse control characters (newlines too, unless ``multiline``); the value is never echoed raw."""
    probe = value.replace("\n", "").replace("\r", "") if multiline else value
    bad = CONTROL.search(probe)
    if bad:
        raise UserError(
            f"Input '{name}' contains a control character ({_describe(bad.group())}).",
            f"give `{name}` on one line, without control characters (check for a stray newline from a "
            "multi-line expression or secret).",
            input_name=name,
        )
    return value


def check_identifier(value: str, name: str, pattern: re.Pattern[str], description: str) -> str:
    check_text(value, name)
    if not pattern.fullmatch(value):
        raise UserError(f"Input '{name}' is not valid: '{shown(value)}'.", f"`{name}` must be {description}.",
                        input_name=name)
    return value


def check_branch(value: str, name: str) -> str:
    """A branch name git accepts (``git check-ref-format --branch``) that cannot be read as an option."""
    check_text(value, name)
    if (value.startswith(("-", "/", ".")) or value.endswith(("/", ".")) or _REF_FORBIDDEN.search(value)
            or value == "@" or len(value) > 200):
        raise UserError(
            f"Input '{name}' is not a valid branch name: '{shown(value)}'.",
            f"give `{name}` as a plain branch name (letters, digits, '/', '.', '_', '-'; not starting with '-', "
            "no '..', spaces or ':').",
            input_name=name,
        )
    return value


def check_url(value: str, name: str, *, mask: object = None) -> str:
    """An http(s) URL without credentials (they would reach a log or argv): refused with the fix named."""
    check_text(value, name)
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or value.startswith("-"):
        raise UserError(f"Input '{name}' must be an http(s) URL, got '{_redact(value)}'.",
                        f"write `{name}: https://host/...`.", input_name=name)
    if parts.username is not None or parts.password is not None:
        if callable(mask):
            mask(parts.password or parts.username)
        raise UserError(
            f"Input '{name}' carries credentials in the URL.",
            "remove them from the URL and pass the token in `token` (it travels as an HTTP header, never in a "
            "URL or on a command line).",
            input_name=name,
        )
    return value


def placeholders(template: str, name: str) -> list[str]:
    """The ``{fields}`` of a str.format template (a malformed template is a UserError naming ``name``)."""
    try:
        return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        raise UserError(f"Input '{name}' is not a valid template: {exc}.",
                        "use {placeholder} fields and write {{ and }} for literal braces.", input_name=name)


def check_template(template: str, name: str, allowed: Iterable[str]) -> str:
    """Every placeholder of ``template`` is one of ``allowed`` (checked before anything is pushed)."""
    allowed = tuple(allowed)
    for field in placeholders(template, name):
        if field not in allowed:
            raise UserError(
                f"Input '{name}' uses an unknown placeholder {{{shown(field)}}}.",
                f"use only: {', '.join('{' + p + '}' for p in allowed)} (write {{{{ and }}}} for literal braces).",
                input_name=name,
            )
    return template


def _describe(char: str) -> str:
    return {"\n": "a newline", "\r": "a carriage return", "\t": "a tab"}.get(char, f"U+{ord(char):04X}")


def shown(value: str) -> str:
    """A refused value as an error may quote it: any ``user:password@`` part blanked, at most 200 characters."""
    return _USERINFO.sub(r"\1***@", value)[:200]


_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def _redact(value: str) -> str:
    return shown(value)
