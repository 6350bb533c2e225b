"""postman-publish: the service's OpenAPI document, validated, published as one Postman collection that keeps
its UID and item IDs from run to run, skipped when nothing changed, with breaking changes reported."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shipyard.postman import convert, spechub
from shipyard.postman.api import DEFAULT_API_URL, ApiError, PostmanApi
from shipyard.postman.diff import Change, breaking_changes
from shipyard.postman.model import operations
from shipyard.postman.spec import find, validate
from shipyard.runtime import Action, TransientError, UserError
from shipyard.urls import HTTP, check_url, mask_credentials, safe_repr

NAME = "postman-publish"
MAX_COLLECTION_BYTES = 100 * 1024 * 1024
DEFAULT_CONFIG = ".shipyard/postman.json"
DEFAULT_TIMEOUT = 900.0
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,99}")  # workspace ids, collection uids, spec ids: go into URL paths
ONE_LINE = re.compile(r"[^\x00-\x1f\x7f-\x9f\u2028\u2029]{1,300}")
APP_REF = re.compile(r"[A-Za-z_][\w.]*(?::[A-Za-z_][\w.]*)?")
SECRET_TEXT = re.compile(r"[^\x00-\x20\x7f]+")
KEY_FIX = (
    "store a valid Postman API key as a repository secret (e.g. POSTMAN_API_KEY; Postman > Settings > API keys) "
    "and pass `api-key: ${{ secrets.POSTMAN_API_KEY }}`."
)


def read_config(action: Action, root: Path, repo_root: Path) -> dict[str, str]:
    name = action.input("config-file", default=DEFAULT_CONFIG) or DEFAULT_CONFIG
    for base in (root, repo_root):
        path = base / name
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserError(
                    f"The Shipyard Postman config {path} is not valid JSON: {exc}.",
                    'write it as {"collection-uid": "<uid>", "workspace": "<workspace id>"}.',
                    input_name="config-file",
                )
            if not isinstance(data, dict):
                raise UserError(f"{path} must hold a JSON object.",
                                'write it as {"collection-uid": "<uid>", "workspace": "<workspace id>"}.',
                                input_name="config-file")
            aliases = {"collectionUid": "collection-uid", "workspaceId": "workspace", "name": "collection-name"}
            return {aliases.get(str(k), str(k)): str(v) for k, v in data.items() if isinstance(v, (str, int))}
    return {}


def _identifier(name: str, value: str | None, example: str) -> str | None:
    """An ID that goes into a Postman URL path: letters, digits and '-' only (no '/', '?', '..' or newline)."""
    if value is not None and not ID.fullmatch(value):
        raise UserError(f"Input '{name}' ('{safe_repr(value)}') is not a Postman ID.",
                        f"set `{name}:` to the ID as Postman shows it (letters, digits and '-'), e.g. {example}.",
                        input_name=name)
    return value


def _inside(name: str, base: Path, rel: str) -> Path:
    """``base / rel`` resolved, refusing anything that leaves ``base`` (absolute paths, '..')."""
    if not ONE_LINE.fullmatch(rel):
        raise UserError(f"Input '{name}' contains control characters.", f"set `{name}:` to a relative path.",
                        input_name=name)
    path = (base / rel).resolve()
    if not path.is_relative_to(base.resolve()):
        raise UserError(f"Input '{name}' ('{safe_repr(rel)}') points outside the repository.",
                        f"set `{name}:` to a path inside the repository (relative, without '..').", input_name=name)
    return path


def _seconds(action: Action, name: str, default: float) -> float:
    raw = action.input(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 1 <= value <= 86400:  # also false for nan and inf
        raise UserError(f"Input '{name}' must be a number of seconds between 1 and 86400 (got "
                        f"'{safe_repr(raw, 40)}').", f"set `{name}:` to e.g. {default:.0f}.", input_name=name)
    return value


def _bytes(action: Action, name: str, default: int) -> int:
    raw = action.input(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,12}", raw):
        raise UserError(f"Input '{name}' must be a whole number of bytes (got '{safe_repr(raw, 40)}').",
                        f"set `{name}:` to e.g. {default} (0: always asynchronous).", input_name=name)
    return int(raw)


def _explain(exc: ApiError, *, workspace: str | None, uid: str | None, doing: str) -> UserError:
    what = f"Postman answered {exc.status} {exc.name} while {doing}: {exc.message}"
    if exc.status == 401:
        return UserError(f"{what}. The API key is missing or invalid.", KEY_FIX, input_name="api-key")
    if exc.status == 403:
        target = f"workspace {workspace}" if workspace else "the collection"
        return UserError(
            f"{what}. The API key's user has no editor rights on {target}; nothing was published.",
            f"give that user the Editor role on {target} (Workspace settings > Members), or use the key of a user "
            "who has it.",
            input_name="api-key",
        )
    if exc.status == 404 and doing.startswith("checking the workspace"):
        return UserError(
            f"Unknown Postman workspace '{workspace}' ({exc.message}).",
            "set `workspace` to the workspace ID (Workspace settings, or GET /workspaces), and make sure the key's "
            "user is a member.",
            input_name="workspace",
        )
    if exc.status == 404 and uid:
        return UserError(
            f"The collection {uid} stored as this service's identity does not exist any more ({exc.message}).",
            "remove `collection-uid` (and the entry in .shipyard/postman.json) to publish a new collection, or set it "
            "to the collection's current UID.",
            input_name="collection-uid",
        )
    if exc.status == 413:
        return UserError(f"{what}.", "the collection exceeds Postman's 100 MB limit; split the spec.")
    if exc.status in (429, 500, 502, 503, 504):
        return UserError(f"{what}. Postman kept failing; nothing was half-published.",
                         "re-run the job later; the next run finds the collection and resumes (no duplicate is "
                         "created).")
    return UserError(f"{what}.", "check the message above; nothing was half-published.")


def _summary_changes(action: Action, changes: list[Change]) -> None:
    if not changes:
        return
    action.summary.heading(f"Breaking changes ({len(changes)})", 4)
    action.summary.table(["kind", "operation", "change"], [(c.kind, c.operation, c.detail) for c in changes])


@dataclass
class Inputs:
    """Every input, read and checked before the first call to Postman."""

    repo_root: Path
    root: Path
    api_key: str | None
    stage_timeout: float
    dry_run: bool
    fail_on_breaking: bool
    force: bool
    async_threshold: int
    task_timeout: float
    generate_timeout: float
    api_url: str
    web_url: str
    mode: str
    generate_env: dict[str, str]
    spec_path: str | None
    config: dict[str, str]
    workspace: str | None
    uid: str | None
    spec_id: str | None
    fastapi_app: str | None
    out_path: Path | None


@dataclass
class Spec:
    """The service's document, validated and converted."""

    document: dict[str, Any]
    version: str
    name: str
    digest: str
    collection: dict[str, Any]
    rows: list[tuple[str, object]]


def read_inputs(action: Action) -> Inputs:
    mask_credentials(action)  # a token pasted into any input (https://user:TOKEN@...) never reaches a log
    repo_root = Path(action.env.get("GITHUB_WORKSPACE") or os.getcwd())
    workdir = action.input("working-directory", default=".") or "."
    root = _inside("working-directory", repo_root, workdir)
    api_key = action.secret("api-key")
    if api_key and not SECRET_TEXT.fullmatch(api_key):
        raise UserError("Input 'api-key' contains whitespace or control characters.",
                        "store the bare key (one line, no spaces) as the secret. " + KEY_FIX, input_name="api-key")
    generate_env = action.mapping("generate-env")
    for value in generate_env.values():
        if len(value) >= 8:  # settings for an import may hold real credentials
            action.mask(value)
    config_name = action.input("config-file")
    if config_name:
        _inside("config-file", repo_root, str(root / config_name))
    spec_path = action.input("spec-path")
    if spec_path:
        _inside("spec-path", repo_root, str(root / spec_path))
    config = read_config(action, root, repo_root)
    fastapi_app = action.input("fastapi-app")
    if fastapi_app and not APP_REF.fullmatch(fastapi_app):
        raise UserError(f"Input 'fastapi-app' ('{safe_repr(fastapi_app)}') is not module:attribute.",
                        "set `fastapi-app: app.main:app`.", input_name="fastapi-app")
    for text_input in ("collection-name", "base-url"):
        text = action.input(text_input)
        if text and not ONE_LINE.fullmatch(text):
            raise UserError(f"Input '{text_input}' must be one line without control characters.",
                            f"set `{text_input}:` to a single line of text.", input_name=text_input)
    out_file = action.input("collection-file")
    inp = Inputs(
        repo_root=repo_root,
        root=root,
        api_key=api_key,
        stage_timeout=_seconds(action, "timeout", DEFAULT_TIMEOUT),
        dry_run=action.dry_run,
        fail_on_breaking=action.boolean("fail-on-breaking", False),
        force=action.boolean("force", False),
        async_threshold=_bytes(action, "async-threshold", 5_000_000),
        task_timeout=_seconds(action, "task-timeout", 300.0),
        generate_timeout=_seconds(action, "generate-timeout", 300.0),
        api_url=check_url("api-url", action.input("api-url", default=DEFAULT_API_URL) or DEFAULT_API_URL, HTTP),
        web_url=check_url("web-url", action.input("web-url", default="https://go.postman.co") or "",
                          HTTP).rstrip("/"),
        mode=action.choice("mode", ["collection", "spec-hub"], default="collection"),
        generate_env=generate_env,
        spec_path=spec_path,
        config=config,
        workspace=_identifier("workspace", action.input("workspace") or config.get("workspace"),
                              "1f0df51a-8658-4ee8-a2a1-d2567dfa09a9"),
        uid=_identifier("collection-uid", action.input("collection-uid") or config.get("collection-uid"),
                        "12345678-1f0df51a-8658-4ee8-a2a1-d2567dfa09a9"),
        spec_id=_identifier("spec-id", action.input("spec-id") or config.get("spec-id"),
                            "1f0df51a-8658-4ee8-a2a1-d2567dfa09a9"),
        fastapi_app=fastapi_app,
        out_path=_inside("collection-file", repo_root, out_file) if out_file else None,
    )
    if not inp.api_key and not inp.dry_run:
        raise UserError("Input 'api-key' is required (a Postman API key).", KEY_FIX, input_name="api-key")
    if not inp.workspace and not (inp.spec_id if inp.mode == "spec-hub" else inp.uid) and not inp.dry_run:
        raise UserError(
            "Neither `workspace` nor `collection-uid` is set, so there is nowhere to publish.",
            "set `workspace:` to the Postman workspace ID (the first run creates the collection there), or "
            "`collection-uid:` to an existing collection (or put either in .shipyard/postman.json).",
            input_name="workspace",
        )
    return inp


def load_spec(action: Action, inp: Inputs) -> Spec:
    """Find, validate and convert the document; write `collection-file`; output its hash."""
    with action.group("Find the OpenAPI document"):
        found = find(
            inp.root,
            spec_path=inp.spec_path,
            generate_command=action.input("generate-command"),
            fastapi_app=inp.fastapi_app,
            python=action.input("python", default="python3") or "python3",
            env=action.env,
            extra_env=inp.generate_env,
            timeout=inp.generate_timeout,
        )
        action.info(f"spec: {found.source} ({found.kind})")
        version = validate(found.document, found.source)
        ops = operations(found.document)
        action.info(f"valid OpenAPI {version}, {len(ops)} operations")
    title = str((found.document.get("info") or {}).get("title") or "").strip()
    name = action.input("collection-name") or inp.config.get("collection-name") or title
    if not name:
        raise UserError(
            "The spec has no info.title and no `collection-name` was given.",
            "set `collection-name:`.",
            input_name="collection-name",
        )
    base = action.input("base-url")
    digest = convert.spec_hash(found.document, {"name": name, "base-url": base or ""})
    source = action.github("repository")
    sha = action.github("sha")
    collection = convert.to_collection(
        found.document, name=name, digest=digest, base=base, source=f"{source}@{sha[:12]}" if source and sha else source
    )
    if inp.out_path:
        inp.out_path.parent.mkdir(parents=True, exist_ok=True)
        inp.out_path.write_text(json.dumps(collection, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    action.set_output("spec-sha256", digest)
    rows: list[tuple[str, object]] = [
        ("Spec", f"{found.source} (OpenAPI {version}, {len(ops)} operations)"),
        ("Collection", name),
    ]
    return Spec(found.document, version, name, digest, collection, rows)


def run(action: Action) -> None:
    inp = read_inputs(action)  # all checked before any call
    spec = load_spec(action, inp)
    if not inp.api_key:
        action.set_output("changed", "true")
        action.set_output("breaking-changes", "[]")
        action.summary.heading(f"{NAME} (dry run, no API key)").key_values([*spec.rows, ("Result", "validated only")])
        return
    api = PostmanApi(action, inp.api_key, base_url=inp.api_url, timeout=inp.stage_timeout)
    result, uid = _remote(action, api, inp, spec)
    uid = result.get("uid") or uid
    url = f"{inp.web_url}/collection/{uid}" if uid else ""
    action.set_output("collection-uid", uid or "")
    action.set_output("collection-url", url)
    rows = spec.rows
    rows.append(("Collection UID", f"[{uid}]({url})" if uid else "(none yet)"))
    rows.append(("Requests", f"{api.client.requests_made} (retries {api.retries}, "
                              f"rate-limit waits {api.general.waited + api.imports.waited:.1f}s)"))
    action.summary.heading(NAME).key_values(rows)
    _summary_changes(action, result["changes"])


def _remote(action: Action, api: PostmanApi, inp: Inputs, spec: Spec) -> tuple[dict[str, Any], str | None]:
    """Everything that talks to Postman; its errors become one UserError naming what was being done."""
    uid, workspace = inp.uid, inp.workspace
    doing = "checking the API key"
    try:
        with action.group("Postman"):
            user = api.me()
            action.info(f"authenticated as {user.get('username') or user.get('id') or 'unknown user'}")
            if workspace:
                doing = "checking the workspace"
                ws = api.workspace(workspace)
                action.info(f"workspace {ws.get('name', workspace)} ({workspace})")
            if inp.mode == "spec-hub":
                doing = "publishing to Spec Hub"
                result = spechub.publish(
                    action, api, spec.document, spec.version, name=spec.name, workspace=workspace,
                    spec_id=inp.spec_id, rows=spec.rows, dry_run=inp.dry_run, force=inp.force,
                    fail_on_breaking=inp.fail_on_breaking, task_timeout=inp.task_timeout,
                )
                action.set_output("spec-id", result.get("spec_id") or "")
                return result, None
            doing = "looking up the collection"
            uid, current = _locate(action, api, uid, workspace, spec.name)
            doing = "publishing the collection"
            result = _publish(action, api, spec.document, spec.collection, current, uid, workspace, spec.name,
                              spec.digest, spec.rows, dry_run=inp.dry_run, force=inp.force,
                              fail_on_breaking=inp.fail_on_breaking, async_threshold=inp.async_threshold,
                              task_timeout=inp.task_timeout)
            return result, uid
    except ApiError as exc:
        raise _explain(exc, workspace=workspace, uid=uid, doing=doing)
    except TransientError as exc:
        raise UserError(
            f"Postman kept failing while {doing}: {exc}. Nothing was half-published.",
            "re-run the job later; the next run finds the collection and resumes (no duplicate is created).",
        )


def _locate(action: Action, api: PostmanApi, uid: str | None, workspace: str | None,
            name: str) -> tuple[str | None, dict[str, Any] | None]:
    """The collection this service owns: by `collection-uid`, else by name in the workspace (None: not yet)."""
    if uid:
        return uid, api.get_collection(uid)
    assert workspace is not None
    same = api.find_by_name(workspace, name)
    if len(same) > 1:
        listed = ", ".join(str(c.get("uid")) for c in same)
        raise UserError(
            f"Workspace {workspace} has {len(same)} collections named '{name}' ({listed}).",
            "set `collection-uid:` to the one this service owns (and delete the others).",
            input_name="collection-uid",
        )
    if not same:
        return None, None
    uid = str(same[0].get("uid") or same[0].get("id"))
    action.info(f"found collection '{name}' by name: {uid}")
    return uid, api.get_collection(uid)


def _publish(
    action: Action,
    api: PostmanApi,
    document: dict[str, Any],
    collection: dict[str, Any],
    current: dict[str, Any] | None,
    uid: str | None,
    workspace: str | None,
    name: str,
    digest: str,
    rows: list[tuple[str, object]],
    *,
    dry_run: bool,
    force: bool,
    fail_on_breaking: bool,
    async_threshold: int,
    task_timeout: float,
) -> dict[str, Any]:
    """Create the collection, or update it in place when the spec changed (breaking changes reported)."""
    if current is None:
        assert workspace is not None
        return _create(action, api, collection, workspace, name, digest, rows, dry_run=dry_run)
    assert uid is not None
    result: dict[str, Any] = {"uid": uid, "changes": []}
    compared = _compare(action, document, current, uid, digest, rows, force=force, fail_on_breaking=fail_on_breaking)
    if compared is None:
        return result
    result["changes"], old_spec, new_spec = compared
    _update(action, api, collection, current, uid, digest, rows, convert.renames(old_spec, new_spec),
            dry_run=dry_run, async_threshold=async_threshold, task_timeout=task_timeout)
    return result


def _create(action: Action, api: PostmanApi, collection: dict[str, Any], workspace: str, name: str, digest: str,
            rows: list[tuple[str, object]], *, dry_run: bool) -> dict[str, Any]:
    """The first publish: create the collection, adopting it if a create that answered an error landed."""
    result: dict[str, Any] = {"uid": None, "changes": []}
    action.set_output("breaking-changes", "[]")
    if dry_run:
        action.set_output("changed", "true")
        rows.append(("Result", f"would create '{name}' in workspace {workspace} (dry run)"))
        return result

    def lookup() -> dict[str, Any] | None:
        """Was the failed create applied anyway? Then adopt it instead of creating a duplicate."""
        same = api.find_by_name(workspace, name)
        for candidate in same:
            fetched = api.get_collection(str(candidate.get("uid") or candidate.get("id")))
            if convert.stored_hash(fetched) == digest:
                action.warning(f"the failed create had been applied: adopting {candidate.get('uid')}")
                return candidate
        return None

    created, adopted = api.create_collection(workspace, collection, lookup)
    result["uid"] = str(created.get("uid") or created.get("id") or "")
    if not result["uid"]:  # never report success without an identity (portman #660)
        raise UserError(
            f"Postman accepted the collection but returned no UID ({created}).",
            "check the workspace in Postman; the next run finds the collection by name.",
        )
    action.set_output("changed", "true")
    rows.append(("Result", "created" + (" (adopted after an error answer)" if adopted else "")))
    rows.append(("Items", f"{convert.count_requests(collection)} requests"))
    action.notice(
        f"Created Postman collection '{name}' ({result['uid']}). Later runs find it by name; to pin it, commit "
        f'{DEFAULT_CONFIG} with {{"collection-uid": "{result["uid"]}"}}.'
    )
    return result


def _compare(action: Action, document: dict[str, Any], current: dict[str, Any], uid: str, digest: str,
             rows: list[tuple[str, object]], *, force: bool,
             fail_on_breaking: bool) -> tuple[list[Change], dict[str, Any], dict[str, Any]] | None:
    """None when the published hash is the spec's (skip); else the breaking changes and the old and new specs.
    With `fail-on-breaking`, breaking changes stop the publish here."""
    if convert.stored_hash(current) == digest and not force:
        action.set_output("changed", "false")
        action.set_output("breaking-changes", "[]")
        rows.append(("Result", "unchanged: the spec's hash equals the one last published; skipped"))
        return None
    previous = convert.stored_spec(current)
    old_spec = previous if previous is not None else convert.reconstruct(current)
    new_spec = json.loads(convert.canonical(document))
    changes = breaking_changes(old_spec, new_spec, reconstructed=previous is None)
    action.set_output("breaking-changes", json.dumps([c.as_dict() for c in changes]))
    for change in changes[:20]:
        action.warning(f"breaking change: {change.operation}: {change.detail}")
    if changes and fail_on_breaking:
        action.set_output("changed", "false")
        _summary_changes(action, changes)
        raise UserError(
            f"{len(changes)} breaking change(s) against the published collection {uid}; not published "
            "(fail-on-breaking is true).",
            "restore compatibility (see the list), or publish deliberately with `fail-on-breaking: false`.",
            input_name="fail-on-breaking",
        )
    return changes, old_spec, new_spec


def _update(action: Action, api: PostmanApi, collection: dict[str, Any], current: dict[str, Any], uid: str,
            digest: str, rows: list[tuple[str, object]], renames: Any, *, dry_run: bool, async_threshold: int,
            task_timeout: float) -> None:
    """PUT the collection in place, item IDs carried over; never re-sent once it landed."""
    counts = convert.carry_ids(collection, current, renames)
    payload_size = len(json.dumps({"collection": collection}))
    if payload_size > MAX_COLLECTION_BYTES:
        raise UserError(
            f"The collection is {payload_size / 1e6:.1f} MB; Postman accepts at most 100 MB.",
            "split the spec into several services/collections.",
        )
    rows.append(("Items", f"{counts['kept']} kept, {counts['new']} new, {counts['removed']} removed"))
    if dry_run:
        action.set_output("changed", "true")
        rows.append(("Result", f"would update {uid} (dry run)"))
        return

    def applied() -> dict[str, Any] | None:
        """Did a failed PUT land anyway? Then do not send it again (new items would get new ids twice)."""
        fetched = api.get_collection(uid)
        return fetched if convert.stored_hash(fetched) == digest else None

    action.info(f"updating {uid}: {counts['kept']} items keep their ids, {counts['new']} new, "
                f"{counts['removed']} removed ({payload_size / 1e6:.2f} MB)")
    status, body = api.put_collection(uid, collection, async_=payload_size >= async_threshold, lookup=applied)
    how = "updated"
    if status == 0:
        how = "updated (applied despite an error answer)"
    elif status == 202:
        how = _await_update(api, body, task_timeout, applied)
    action.set_output("changed", "true")
    rows.append(("Result", how))


def _await_update(api: PostmanApi, body: Any, task_timeout: float, applied: Any) -> str:
    """An asynchronous PUT (202): wait for its task, then check the collection carries the new hash."""
    node = body.get("task", body) if isinstance(body, dict) else {}
    task_id = str(node.get("id") or node.get("taskId") or "")
    if not task_id:
        raise UserError(f"Postman answered 202 without a task id: {body}.", "re-run; if it repeats, report it.")
    task = api.wait_task(task_id, task_timeout)
    if task.status == "failed":
        raise UserError(
            f"Postman's asynchronous update task {task_id} failed; the collection keeps its previous content.",
            "re-run; if it fails again, try `async-threshold: 0` off (a synchronous PUT) to see the error.",
        )
    if applied() is None:
        raise UserError(
            f"Postman's update task {task_id} reported {task.status} but the collection does not carry the new "
            "spec hash.",
            "re-run; the next run compares hashes again.",
        )
    return f"updated asynchronously (task {task_id})"
