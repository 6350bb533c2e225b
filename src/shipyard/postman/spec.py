"""Find, generate, load and validate the service's OpenAPI document.

Search order (the first hit wins):

1. ``spec-path`` when given (after running ``generate-command`` if one is given too: the command may write it);
2. a committed ``openapi.{yaml,yml,json}`` / ``swagger.{yaml,yml,json}`` at the root or in ``docs/``, ``api/``,
   ``openapi/``, ``spec/``, ``src/main/resources[/static]``;
3. build output under ``target/`` or ``build/`` (springdoc's Maven/Gradle plugins write ``openapi.json`` there);
4. ``generate-command`` (its stdout is the document), then ``fastapi-app`` (``module:attr``; imports the app in a
   subprocess and prints ``app.openapi()``).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.runtime import UserError

SPEC_NAMES = ("openapi.yaml", "openapi.yml", "openapi.json", "swagger.yaml", "swagger.yml", "swagger.json")
COMMITTED_DIRS = ("", "docs", "api", "openapi", "spec", "src/main/resources", "src/main/resources/static")
BUILD_DIRS = ("target", "build")
MAX_ERRORS = 5

FASTAPI_SCRIPT = """\
import importlib, json, sys
module_name, _, attr = sys.argv[1].partition(":")
obj = importlib.import_module(module_name)
for part in (attr or "app").split("."):
    obj = getattr(obj, part)
if callable(obj) and not hasattr(obj, "openapi"):
    obj = obj()
sys.stdout.write(json.dumps(obj.openapi()))
"""


@dataclass
class Found:
    document: dict[str, Any]
    source: str  # a path relative to the working directory, or "command: ..." / "fastapi: module:app"
    kind: str  # file | build | command | fastapi


def parse(text: str, name: str) -> dict[str, Any]:
    """JSON or YAML text -> dict; a parse error names the file and line."""
    import yaml

    try:
        is_json = name.endswith(".json") or text.lstrip().startswith("{")
        value = json.loads(text) if is_json else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"The OpenAPI document {name} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            "fix the syntax error (or regenerate the file).",
        )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UserError(
            f"The OpenAPI document {name} is not valid YAML{where}: {getattr(exc, 'problem', exc)}.",
            "fix the syntax error (or regenerate the file).",
        )
    if not isinstance(value, dict) or not ({"openapi", "swagger"} & set(value)):
        raise UserError(
            f"{name} is not an OpenAPI document (no top-level `openapi:` or `swagger:` key).",
            "point `spec-path` at the OpenAPI/Swagger document.",
            input_name="spec-path",
        )
    return value


def _load_file(path: Path, root: Path, kind: str) -> Found:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"Cannot read the OpenAPI document {path}: {exc}.", "check the file.")
    rel = os.path.relpath(path, root)
    return Found(parse(text, rel), rel, kind)


def committed(root: Path) -> Path | None:
    for folder in COMMITTED_DIRS:
        for name in SPEC_NAMES:
            candidate = root / folder / name
            if candidate.is_file():
                return candidate
    return None


def built(root: Path) -> Path | None:
    hits: list[Path] = []
    for folder in BUILD_DIRS:
        base = root / folder
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            depth = len(Path(dirpath).relative_to(base).parts)
            dirnames[:] = sorted(d for d in dirnames if depth < 3 and not d.startswith("."))
            hits.extend(Path(dirpath) / f for f in filenames if f in SPEC_NAMES)
    if not hits:
        return None
    return sorted(hits, key=lambda p: (len(p.relative_to(root).parts), str(p)))[0]


def _run(argv: list[str] | str, root: Path, env: dict[str, str], timeout: float, what: str, fix: str) -> str:
    try:
        proc = subprocess.run(
            argv,
            cwd=root,
            env=env,
            shell=isinstance(argv, str),
            executable="/bin/bash" if isinstance(argv, str) else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise UserError(f"{what} did not finish within {timeout:.0f}s.", fix)
    except OSError as exc:
        raise UserError(f"{what} could not start: {exc}.", fix)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise UserError(f"{what} failed with exit code {proc.returncode}:\n{tail}", fix)
    return proc.stdout


def _child_env(base: dict[str, str], root: Path, extra: dict[str, str]) -> dict[str, str]:
    """The job's environment minus Shipyard's own inputs, venv and source path, with the service folder first
    on PYTHONPATH, plus the user's dummy settings."""
    ours = str(Path(base["SHIPYARD_ROOT"]) / "src") if base.get("SHIPYARD_ROOT") else None
    env = {k: v for k, v in base.items() if not k.startswith(("INPUT_", "SHIPYARD_")) and k != "VIRTUAL_ENV"}
    kept = [p for p in base.get("PYTHONPATH", "").split(os.pathsep) if p and p != ours]
    env["PYTHONPATH"] = os.pathsep.join([str(root), *kept])
    env.update(extra)
    return env


def generate(command: str, root: Path, env: dict[str, str], timeout: float) -> str:
    return _run(
        command, root, env, timeout, f"generate-command `{command}`",
        "run the command locally in the service directory; it must print the OpenAPI document to stdout "
        "or write the file named by `spec-path`.",
    )


def fastapi(app_ref: str, python: str, root: Path, env: dict[str, str], timeout: float) -> str:
    if ":" not in app_ref and "." not in app_ref:
        raise UserError(
            f"Input 'fastapi-app' must look like module:attribute (e.g. app.main:app), got '{app_ref}'.",
            "set `fastapi-app: app.main:app`.",
            input_name="fastapi-app",
        )
    return _run(
        [python, "-c", FASTAPI_SCRIPT, app_ref], root, env, timeout, f"Importing the FastAPI app {app_ref}",
        "install the service's requirements in this job before this step (e.g. `pip install -r requirements.txt`),"
        " pass dummy settings with `generate-env: KEY=value`, or set `python:` to the interpreter that has them.",
    )


def find(
    root: Path,
    *,
    spec_path: str | None,
    generate_command: str | None,
    fastapi_app: str | None,
    python: str,
    env: dict[str, str],
    extra_env: dict[str, str],
    timeout: float,
) -> Found:
    if not root.is_dir():
        raise UserError(
            f"The working directory {root} does not exist.",
            "set `working-directory` to the service's folder (relative to the repository root).",
            input_name="working-directory",
        )
    child_env = _child_env(env, root, extra_env)
    if spec_path:
        target = root / spec_path
        if not target.is_file() and generate_command:
            out = generate(generate_command, root, child_env, timeout)
            if not target.is_file() and out.strip():
                return Found(parse(out, f"output of `{generate_command}`"), f"command: {generate_command}", "command")
        if not target.is_file():
            raise UserError(
                f"spec-path '{spec_path}' was not found in {root}.",
                "commit the OpenAPI document there, fix `spec-path`, or give a `generate-command` that writes it.",
                input_name="spec-path",
            )
        kind = "command" if generate_command else ("build" if target.parts and spec_path.split("/")[0] in BUILD_DIRS
                                                   else "file")
        return _load_file(target, root, kind)
    hit = committed(root)
    if hit:
        return _load_file(hit, root, "file")
    hit = built(root)
    if hit:
        return _load_file(hit, root, "build")
    if generate_command:
        out = generate(generate_command, root, child_env, timeout)
        if not out.strip():
            again = committed(root) or built(root)
            if again:
                return _load_file(again, root, "command")
            raise UserError(
                f"generate-command `{generate_command}` printed nothing and wrote no openapi/swagger file.",
                "make it print the document to stdout, or set `spec-path` to the file it writes.",
                input_name="generate-command",
            )
        return Found(parse(out, f"output of `{generate_command}`"), f"command: {generate_command}", "command")
    if fastapi_app:
        out = fastapi(fastapi_app, python, root, child_env, timeout)
        return Found(parse(out, f"app.openapi() of {fastapi_app}"), f"fastapi: {fastapi_app}", "fastapi")
    names = ", ".join(SPEC_NAMES)
    raise UserError(
        f"No OpenAPI document found in {root}: no committed {names}, nothing under target/ or build/, and no "
        "generate-command or fastapi-app given.",
        "commit the spec (or set `spec-path`), build it first (springdoc's Maven/Gradle plugin), or set "
        "`generate-command` / `fastapi-app: app.main:app` (see the action README for per-language recipes).",
    )


def _best(error: Any) -> Any:
    """Descend into anyOf/oneOf sub-errors to the most specific one, skipping the "it is not a $ref"
    alternative that every OpenAPI object offers."""
    for _ in range(8):
        context = [
            e for e in getattr(error, "context", None) or []
            if getattr(e, "message", "") != "'$ref' is a required property"
        ]
        if not context:
            return error
        error = max(context, key=lambda e: (len(list(e.relative_path)), -len(str(e.message))))
    return error


def _json_path(parts: Any) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.isidentifier():
            out += f".{part}"
        else:
            out += "[" + json.dumps(str(part)) .replace('"', "'") + "]"
    return out


def validate(document: dict[str, Any], source: str) -> str:
    """Validate with openapi-spec-validator; returns the version (2.0/3.0/3.1). Invalid -> UserError listing
    the JSON path and message of the first errors."""
    from openapi_spec_validator.shortcuts import get_validator_cls
    from openapi_spec_validator.validation.exceptions import ValidatorDetectError
    from openapi_spec_validator.versions.exceptions import OpenAPIVersionNotFound

    try:
        cls = get_validator_cls(document)
    except (OpenAPIVersionNotFound, ValidatorDetectError):
        raise UserError(
            f"{source}: unsupported OpenAPI version "
            f"({document.get('openapi') or document.get('swagger')!r}); OpenAPI 2.0, 3.0 and 3.1 are supported.",
            "set `openapi: 3.0.3`/`3.1.0` or `swagger: '2.0'`.",
        )
    errors: list[str] = []
    try:
        for error in cls(document).iter_errors():
            best = _best(error)
            path = _json_path(list(getattr(best, "absolute_path", []) or []))
            message = getattr(best, "message", str(best))
            errors.append(f"{path}: {message}")
            if len(errors) >= MAX_ERRORS:
                break
    except RecursionError:
        errors.append("$: the document's references are too deeply nested to validate")
    except Exception as exc:  # the validator's own checks assume a well-formed shape (e.g. `responses: 5`)
        if not errors:
            errors.append(f"$: the validator could not read the document's structure ({type(exc).__name__}: {exc})")
    if errors:
        listing = "\n".join(f"  {e}" for e in errors)
        raise UserError(
            f"{source} is not a valid OpenAPI document; first errors:\n{listing}",
            "correct the spec at the JSON paths shown (an editor with OpenAPI linting helps), then re-run.",
        )
    from shipyard.postman.model import version

    return version(document)
