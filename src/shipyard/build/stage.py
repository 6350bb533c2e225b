"""The build stage: detect, (generate a Dockerfile), hash the content, skip + retag or build, push, report."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.build import builders, content, dockerfiles, hostbuild, tags, validate
from shipyard.build.detect import LANGUAGES, Detection, detect
from shipyard.oci import ImageRef, Manifest, RegistryClient, RegistryError, RegistryUnreachable, is_loopback
from shipyard.runtime import Action, UserError, format_duration

DEFAULT_IGNORE = [".git", ".github", "**/node_modules", "**/__pycache__", "**/*.pyc", ".venv", "target", "build",
                  ".gradle", ".build", ".idea", ".vscode", "**/.DS_Store", ".shipyard"]
# identifiers and choices: one line, no control characters, no credentials (checked before anything else, so
# that no message or output ever repeats such a value)
ONE_LINE_INPUTS = ("context", "dockerfile", "language", "build-mode", "builder", "cache", "service-name", "target",
                   "platforms", "tags", "source-url")
_SECRET_HINT = re.compile(r"(?i)(password|secret|token|apikey|api_key|private)")


@dataclass
class Plan:
    image: ImageRef
    context: Path
    workspace: Path
    dockerfile_text: str
    dockerfile_path: Path | None  # the repository's Dockerfile, or None when generated
    detection: Detection | None
    mode: str
    generated: dockerfiles.Generated | None = None
    bases: list[str] = field(default_factory=list)
    ignore: content.DockerIgnore = field(default_factory=lambda: content.DockerIgnore([]))
    has_ignorefile: bool = False


def _workspace(action: Action) -> Path:
    return Path(action.env.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()


def _image(action: Action) -> ImageRef:
    text = action.require("image")
    validate.no_control("image", "image", text)
    try:
        ref = ImageRef.parse(text)
    except ValueError as exc:
        raise UserError(f"Input 'image' is not a valid image name: {validate.redact(str(exc))}.",
                        "set `image:` to REGISTRY/REPOSITORY, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/"
                        "team/service (no tag: tags are computed).", input_name="image") from exc
    if ref.tag or ref.digest:
        raise UserError(f"Input 'image' must not carry a tag or digest ('{validate.redact(text)}').",
                        "drop the ':tag' part; add extra tags with `tags:`.", input_name="image")
    return ref


def _resolve_dockerfile(action: Action, workspace: Path, context: Path) -> Path | None:
    given = action.input("dockerfile")
    if given:
        for base in (workspace, context):
            candidate = (base / given).resolve()
            if candidate.is_file():
                return candidate
        raise UserError(f"Input 'dockerfile': '{validate.redact(given)}' does not exist (looked in {workspace} "
                        f"and {context}).",
                        "give the Dockerfile's path relative to the repository root, or leave `dockerfile:` empty "
                        "to use <context>/Dockerfile or a generated one.", input_name="dockerfile")
    for name in ("Dockerfile", "Containerfile"):
        if (context / name).is_file():
            return context / name
    return None


def plan(action: Action) -> Plan:
    workspace = _workspace(action)
    image = _image(action)
    for name in ONE_LINE_INPUTS:
        value = action.input(name)
        if value is not None:
            validate.no_control(name, name, value)
    context = (workspace / (action.input("context") or ".")).resolve()
    if not context.is_dir():
        shown = validate.redact(action.input("context") or "")
        raise UserError(f"Input 'context': '{shown}' is not a directory under {workspace}.",
                        "set `context:` to the service's directory (monorepos: one build step per service).",
                        input_name="context")
    mode = action.choice("build-mode", ["container", "host"], "container")
    language = action.input("language")
    if language is not None:
        language = action.choice("language", LANGUAGES)
    dockerfile_path = _resolve_dockerfile(action, workspace, context)
    own_ignore = next((context / n for n in (".containerignore", ".dockerignore") if (context / n).exists()), None)
    ignore = content.DockerIgnore.load(context) if own_ignore else content.DockerIgnore(DEFAULT_IGNORE)
    if dockerfile_path is not None:
        if mode == "host":
            raise UserError("`build-mode: host` only applies to generated Dockerfiles, and this service has "
                            f"its own ({dockerfile_path.name}).", "remove `build-mode: host`.",
                            input_name="build-mode")
        detection = None
        try:
            detection = detect(context, language)
        except UserError:
            pass  # a Dockerfile needs no detectable language
        text = dockerfile_path.read_text(encoding="utf-8", errors="replace")
        # an own Dockerfile gets the repository's .dockerignore or none at all: no surprise exclusions
        ignore = content.DockerIgnore.load(context) if own_ignore else content.DockerIgnore([])
        return Plan(image, context, workspace, text, dockerfile_path, detection, mode,
                    bases=dockerfiles.from_images(text, action.mapping("build-args")), ignore=ignore,
                    has_ignorefile=own_ignore is not None)
    detection = detect(context, language)
    bases = dockerfiles.choose_bases(detection, action.mapping("base-images"))
    generated = dockerfiles.generate(detection, bases, mode)
    return Plan(image, context, workspace, generated.text, None, detection, mode, generated,
                bases=list(generated.bases.values()), ignore=ignore, has_ignorefile=own_ignore is not None)


def base_digests(action: Action, refs: list[str], insecure: bool) -> tuple[list[str], list[str]]:
    """Digest-pinned references for the content hash; tags are resolved through the registry when possible."""
    out: list[str] = []
    unresolved: list[str] = []
    for text in refs:
        try:
            ref = ImageRef.parse(text)
        except ValueError:
            out.append(text)
            unresolved.append(text)
            continue
        if ref.digest:
            out.append(f"{ref.name}@{ref.digest}")
            continue
        try:
            client = RegistryClient(action, ref.registry, insecure=insecure or None, attempts=2, max_elapsed=10,
                                    timeout=10)
            info = client.head_manifest(ref.repository, ref.reference)
        except (RegistryError, UserError) as exc:
            action.debug(f"could not resolve {text}: {exc}")
            info = None
        if info is None:
            out.append(str(ref))
            unresolved.append(text)
        else:
            out.append(f"{ref.name}@{info.digest}")
    return out, unresolved


def _labels(action: Action, revision: str, title: str = "", version: str = "") -> dict[str, str]:
    """OCI labels of the image; like every label they stay out of the content hash (a new commit of unchanged
    content keeps skipping the build, with the labels of the image first built from it)."""
    server = action.env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo = action.github("repository")
    source = action.input("source-url") or (f"{server}/{repo}" if repo else "")
    labels = {
        "org.opencontainers.image.created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.revision": revision,
    }
    if title:  # otherwise the base image's title (e.g. its distribution's) would describe this service
        labels["org.opencontainers.image.title"] = title
    if version:
        labels["org.opencontainers.image.version"] = version
    if source:
        labels["org.opencontainers.image.source"] = source
    labels.update(action.mapping("labels"))
    return labels


def _git_head(context: Path) -> tuple[str, str]:
    import subprocess

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(context), *args], capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    sha = git("rev-parse", "HEAD")
    branch = git("symbolic-ref", "-q", "HEAD")
    return sha, branch


def choose_builder(action: Action) -> str:
    wanted = action.choice("builder", ["auto", "buildah", "buildx"], "auto")
    if wanted != "auto":
        return wanted
    if builders.docker_available():
        return "buildx"
    if shutil.which("buildah"):
        return "buildah"
    raise UserError("Neither a docker daemon with buildx nor buildah is available on this runner.",
                    "install buildah (daemonless; works on Kubernetes runners) or use a runner with docker.",
                    input_name="builder")


def run(action: Action) -> None:
    """The stage. A failure also sets the ``error`` output (one line) for the next steps (Slack, summaries)."""
    try:
        _run(action)
    except UserError as exc:
        action.set_output("error", exc.message.splitlines()[0][:500] if exc.message else "build failed")
        raise


@dataclass
class Options:
    """The build's inputs beyond the plan, read and checked before any side effect."""

    push: bool
    skip_unchanged: bool
    insecure: bool
    provenance: bool
    platforms: list[str]
    build_args: dict[str, str]
    target: str | None
    extra_tags: list[str]
    service: str
    builder: str
    cache: str
    secret_envs: dict[str, str]


def read_options(action: Action, p: Plan) -> Options:
    push = action.boolean("push", True)
    skip_unchanged = action.boolean("skip-unchanged", True)
    insecure = action.boolean("insecure-registry", False)
    provenance = action.boolean("provenance", False)
    platforms = action.items("platforms")
    bad_platforms = [x for x in platforms if not re.fullmatch(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?", x)]
    if bad_platforms:
        raise UserError(f"Input 'platforms' has malformed platform(s): {validate.redact(', '.join(bad_platforms))}.",
                        "write OS/ARCH[/VARIANT], e.g. `linux/amd64,linux/arm64` or `linux/arm/v7`.",
                        input_name="platforms")
    build_args = action.mapping("build-args")
    validate.build_args(build_args)
    for key in build_args:
        if _SECRET_HINT.search(key):
            action.warning(f"build arg '{key}' looks like a secret: build args are stored in the image history; "
                           "use build secrets instead.")
    target = action.input("target")
    if target is not None:
        validate.target(target)
    validate.labels(action.mapping("labels"))
    if action.input("source-url"):
        validate.source_url(action.input("source-url") or "")
    extra_tags = action.items("tags")
    bad = tags.invalid_tags(extra_tags)
    if bad:
        raise UserError(f"Input 'tags' has invalid tag(s): {validate.redact(', '.join(bad))}.",
                        "tags may hold letters, digits, '_', '.', '-' (max 128, not starting with '.' or '-').",
                        input_name="tags")
    service = action.input("service-name") or p.image.repository.rsplit("/", 1)[-1]
    validate.service_name(service)
    builder = choose_builder(action)
    cache = action.choice("cache", ["auto", "registry", "gha", "none"], "auto")
    if cache == "auto":
        cache = "registry" if builder == "buildx" and push else "none"
    if cache == "gha" and builder != "buildx":
        raise UserError("`cache: gha` needs the buildx builder.", "use `cache: registry` or `cache: none` with "
                        "buildah.", input_name="cache")
    if cache == "gha" and not (action.env.get("ACTIONS_RUNTIME_TOKEN") and action.env.get("ACTIONS_CACHE_URL")):
        action.warning("`cache: gha` needs ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL in the environment, which "
                       "`run:` steps do not get: add `crazy-max/ghaction-github-runtime@v3` before this step, or use "
                       "`cache: registry`.")
    secret_envs = action.mapping("secret-envs")
    validate.secret_envs(secret_envs)
    for sid, var in secret_envs.items():
        if var not in action.env:
            raise UserError(f"Input 'secret-envs': {sid}={var} names an environment variable that is not set.",
                            f"set `env: {var}: ${{{{ secrets.... }}}}` on this step (the value is passed to the "
                            "build as a secret mount, never as an argument).", input_name="secret-envs")
        action.mask(action.env[var])
    return Options(push, skip_unchanged, insecure, provenance, platforms, build_args, target, extra_tags, service,
                   builder, cache, secret_envs)


@dataclass
class Identity:
    """What the content hash says about this build, and the tags it gets."""

    chash: str
    content_tag: str
    refs: list[str]  # every tag, as full references
    moving: list[str]  # the moving ones (latest, the branch, semver aliases)
    moving_names: list[str]
    push_list: list[str]  # tag names this stage pushes (defer-moving-tags leaves the moving ones to ecr-push)
    push_refs: list[str]
    deferred: list[str]
    commit: str
    labels: dict[str, str]
    language: str
    dockerfile_label: str
    defer: bool


def identify(action: Action, p: Plan, o: Options, files: content.ContextFiles) -> Identity:
    """The content hash (context files, Dockerfile, build inputs, pinned base digests, host toolchain) and the
    tags derived from it and from git."""
    digests, unresolved = base_digests(action, p.bases, o.insecure)
    for ref in unresolved:
        action.warning(f"base image {ref} is not pinned by digest and could not be resolved: the content hash "
                       "uses its name, so a new upstream image under the same tag will not trigger a rebuild. "
                       "Pin it (`image:tag@sha256:...`).")
    extra = {"mode": p.mode}
    if p.mode == "host" and p.detection:
        extra["toolchain"] = hostbuild.toolchain_version(p.detection, action.env)
        extra["install"] = action.input("install-command") or ""
        extra["build"] = action.input("build-command") or ""
    chash = content.compute(files, p.dockerfile_text, build_args=o.build_args, target=o.target,
                            platforms=o.platforms, base_digests=digests, extra=extra)
    content_tag = content.tag_for(chash)
    head_sha, head_ref = _git_head(p.context)
    git = tags.git_context(action.env, head_sha, head_ref)
    aliases = action.boolean("semver-aliases", False)
    defer = action.boolean("defer-moving-tags", False)
    tag_list = tags.compute_tags(git, content_tag, o.extra_tags, head_ref=action.github("head_ref"),
                                 semver_aliases=aliases)
    moving_names = tags.moving_tags(git, head_ref=action.github("head_ref"), semver_aliases=aliases)
    refs = [f"{p.image.name}:{t}" for t in tag_list]
    # defer-moving-tags: the moving tags are listed in the outputs but left to ecr-push, which moves them only
    # once the image passed its scan gate
    push_list = [t for t in tag_list if not (defer and t in moving_names)]
    push_refs = [f"{p.image.name}:{t}" for t in push_list]
    commit = tags.commit_tag(git)
    if p.dockerfile_path and p.dockerfile_path.is_relative_to(p.workspace):
        dockerfile_label = str(p.dockerfile_path.relative_to(p.workspace))
    else:
        dockerfile_label = str(p.dockerfile_path) if p.dockerfile_path else f"generated ({p.mode})"
    return Identity(
        chash=chash, content_tag=content_tag, refs=refs, moving=[f"{p.image.name}:{t}" for t in moving_names],
        moving_names=moving_names, push_list=push_list, push_refs=push_refs,
        deferred=[r for r in refs if r not in push_refs], commit=commit,
        labels=_labels(action, git.sha, o.service, tags.semver_version(git) or commit),
        language=p.detection.label if p.detection else "(own Dockerfile)", dockerfile_label=dockerfile_label,
        defer=defer,
    )


def _run(action: Action) -> None:
    started = action.clock()
    p = plan(action)
    o = read_options(action, p)
    files = content.context_files(p.context, p.ignore)
    if not files.git:
        action.warning(f"build context {p.context} is not in a git work tree: hashing every file under it.")
    ident = identify(action, p, o, files)
    action.info(f"service {o.service}: {ident.language}, Dockerfile {ident.dockerfile_label}, content hash "
                f"{ident.chash[:12]}")
    action.set_output("image", p.image.name)
    action.set_output("content-hash", ident.chash)
    action.set_output("content-tag", ident.content_tag)
    action.set_output("commit-tag", ident.commit)
    action.set_output("language", p.detection.language if p.detection else "")

    # manifest HEAD/GET/PUT are small: 10 s without an answer is a hung registry, not a slow one
    client = RegistryClient(action, p.image.registry, insecure=o.insecure or None, attempts=3, max_elapsed=20,
                            timeout=10)
    if _skip_unchanged(action, p, o, ident, client, started):
        return
    if action.dry_run:
        _dry_run(action, p, o, ident, started)
        return
    _build_and_push(action, p, o, ident, files, client, started)


def _summarise(action: Action, o: Options, ident: Identity, digest: str, size: int, started: float, result: str,
               deferred: Sequence[str] = ()) -> None:
    _summary(action, o.service, ident.language, o.builder, ident.dockerfile_label, ident.chash, ident.refs, digest,
             size, action.clock() - started, result, deferred)


def _skip_unchanged(action: Action, p: Plan, o: Options, ident: Identity, client: RegistryClient,
                    started: float) -> bool:
    """The content is already in the registry under its content tag: add the other tags server-side (no build)
    and report. Returns whether it skipped. A registry that cannot be asked means building anyway."""
    push = o.push and not action.dry_run
    existing = None
    if o.skip_unchanged:
        try:
            existing = client.head_manifest(p.image.repository, ident.content_tag)
        except RegistryUnreachable as exc:
            action.warning(f"could not check {p.image.name} for {ident.content_tag} ({exc}): building anyway.")
        except UserError as exc:
            if o.push:
                raise
            action.warning(f"could not check {p.image.name} for {ident.content_tag} ({exc.message}): building "
                           "anyway.")
    if push and ident.defer and ident.moving_names:
        action.info(f"moving tags {', '.join(ident.moving_names)} left to ecr-push (applied once the scan gate "
                    "passed)")
    if existing is None:
        return False
    size = 0
    if push:
        moving_before = {} if ident.defer else _current_digests(client, p.image, ident.moving_names)
        manifest = _retag(client, p.image, existing.digest, ident.push_list[1:])
        size = manifest.image_size()
        _notice_moves(action, p.image, moving_before, existing.digest)
    action.info(f"{p.image.name}:{ident.content_tag} exists ({existing.digest}): skipped the build"
                + (", added the tags server-side" if push else ""))
    _outputs(action, ident.refs, ident.moving, existing.digest, skipped=True)
    _summarise(action, o, ident, existing.digest, size, started,
               "skipped: unchanged content, tags added by server-side retag" if push
               else "skipped: unchanged content (dry run: no tags added)", ident.deferred)
    return True


def _dry_run(action: Action, p: Plan, o: Options, ident: Identity, started: float) -> None:
    spec_dir = Path(tempfile.mkdtemp(prefix="shipyard-build-"))
    try:
        spec = _spec(p, ident.push_refs, o.build_args, o.target, o.platforms, o.push, o.cache, o.provenance,
                     o.insecure, o.service, ident.labels, spec_dir, p.context, o.builder, o.secret_envs)
        cmd = builders.buildah_command(spec) if o.builder == "buildah" else builders.buildx_command(spec)
        action.info("dry run: would run " + " ".join(cmd))
    finally:
        shutil.rmtree(spec_dir, ignore_errors=True)
    _outputs(action, ident.refs, ident.moving, "", skipped=False)
    _summarise(action, o, ident, "", 0, started, "dry run: not built")


def _build_and_push(action: Action, p: Plan, o: Options, ident: Identity, files: content.ContextFiles,
                    client: RegistryClient, started: float) -> None:
    moving_before = _current_digests(client, p.image, ident.moving_names) if o.push and not ident.defer else {}
    temp_root = Path(tempfile.mkdtemp(prefix="shipyard-build-", dir=action.env.get("RUNNER_TEMP") or None))
    try:
        build_context = p.context
        if p.mode == "host":
            assert p.detection is not None
            build_context = temp_root / "context"
            build_context.mkdir()
            with action.group(f"Build {o.service} on the runner ({p.detection.label})"):
                hostbuild.stage(p.detection, p.context, files, build_context, env=action.env,
                                emit=action.info, platforms=o.platforms,
                                install_command=action.input("install-command"),
                                build_command=action.input("build-command"))
        spec = _spec(p, ident.push_refs, o.build_args, o.target, o.platforms, o.push, o.cache, o.provenance,
                     o.insecure, o.service, ident.labels, temp_root, build_context, o.builder, o.secret_envs)
        digest, cache_hits, steps = _build(action, o.builder, spec, o.service)
        size = 0
        if o.push:
            digest = _push(action, o.builder, spec, client, p.image, ident.push_list, digest)
            _notice_moves(action, p.image, moving_before, digest)
            try:
                pushed = client.get_manifest(p.image.repository, digest)
                size = pushed.image_size() if pushed else 0
            except RegistryError:
                size = 0
        _outputs(action, ident.refs, ident.moving, digest, skipped=False)
        result = "built and pushed" if o.push else "built (not pushed)"
        if steps:
            result += f"; cache hits {cache_hits}/{steps} steps"
        _summarise(action, o, ident, digest, size, started, result, ident.deferred if o.push else ())
    finally:
        if o.builder == "buildah" and len(o.platforms) > 1:
            _remove_manifest_list(action, f"localhost/shipyard-manifest-{temp_root.name.lower().replace('_', '-')}")
        shutil.rmtree(temp_root, ignore_errors=True)


def _remove_manifest_list(action: Action, name: str) -> None:
    """The local manifest list of a multi-platform buildah build is per run: remove it (images stay cached)."""
    import subprocess

    try:
        subprocess.run(["buildah", "manifest", "rm", name], env=action.env, capture_output=True, timeout=60,
                       check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _spec(p: Plan, refs: list[str], build_args: dict[str, str], target: str | None, platforms: list[str],
          push: bool, cache: str, provenance: bool, insecure: bool, service: str, labels: dict[str, str],
          temp_root: Path, build_context: Path, builder: str,
          secrets: dict[str, str] | None = None) -> builders.BuildSpec:
    if p.dockerfile_path is not None:
        dockerfile = p.dockerfile_path
    else:
        dockerfile = temp_root / "Dockerfile"
        dockerfile.write_text(p.dockerfile_text, encoding="utf-8")
    ignorefile = None
    if not p.has_ignorefile and p.mode == "container" and p.dockerfile_path is None:
        # generated Dockerfile, no .dockerignore in the context: a default one (buildx reads
        # <Dockerfile>.dockerignore next to the Dockerfile, buildah gets --ignorefile)
        ignorefile = temp_root / "Dockerfile.dockerignore"
        ignorefile.write_text("\n".join(DEFAULT_IGNORE) + "\n", encoding="utf-8")
    cache_ref = ""
    if cache == "registry":
        cache_ref = f"{p.image.name}:buildcache" if builder == "buildx" else f"{p.image.name}/buildcache"
    return builders.BuildSpec(
        context=build_context, dockerfile=dockerfile, tags=refs, build_args=build_args, labels=labels,
        target=target, platforms=platforms, push=push, cache=cache, cache_ref=cache_ref, cache_scope=service,
        provenance=provenance, insecure=insecure, push_insecure=insecure or is_loopback(p.image.registry),
        ignorefile=ignorefile if builder == "buildah" else None, metadata_file=temp_root / "metadata.json",
        secrets=dict(secrets or {}),
        manifest_name=f"localhost/shipyard-manifest-{temp_root.name.lower().replace('_', '-')}",
    )


def _build(action: Action, builder: str, spec: builders.BuildSpec, service: str) -> tuple[str, int, int]:
    cmd = builders.buildah_command(spec) if builder == "buildah" else builders.buildx_command(spec)
    with action.group(f"Build {service} with {builder}"):
        action.info("$ " + " ".join(cmd))
        result = builders.stream(cmd, env=action.env, emit=action.info)
    if result.returncode != 0:
        failure = builders.parse_failure(result.lines, builder)
        step = failure.step if failure else "(unknown step)"
        tail = failure.tail if failure else result.lines[-builders.TAIL_LINES:]
        action.summary.heading(f"build {service}: failed", 3)
        action.summary.key_values([("failing step", step), ("builder", builder)])
        action.summary.text("Last lines of its output:\n\n```\n" + "\n".join(tail) + "\n```")
        raise UserError(f"The image build failed at {step} (exit {result.returncode}).",
                        "read the step's output above (log group 'Build ...') and fix the Dockerfile or the code.")
    if builder == "buildah":
        hits = sum(1 for line in result.lines if "Using cache" in line)
        steps = sum(1 for line in result.lines if builders._BUILDAH_STEP.match(line.strip()))
        return "", hits, steps
    digest = ""
    if spec.metadata_file and spec.metadata_file.exists():
        try:
            digest = str(json.loads(spec.metadata_file.read_text()).get("containerimage.digest") or "")
        except ValueError:
            digest = ""
    hits = sum(1 for line in result.lines if re.match(r"^#\d+ CACHED", line))
    steps = sum(1 for line in result.lines if builders._BUILDX_STEP.match(line))
    return digest, hits, steps


def _push(action: Action, builder: str, spec: builders.BuildSpec, client: RegistryClient, image: ImageRef,
          tag_list: list[str], digest: str) -> str:
    if builder == "buildx":
        return digest  # buildx pushed every tag itself
    digest_file = Path(tempfile.mkstemp(prefix="digest-", dir=spec.metadata_file.parent if spec.metadata_file
                                        else None)[1])
    cmd = builders.buildah_push_command(spec, spec.tags[0], digest_file)
    with action.group(f"Push {spec.tags[0]}"):
        action.info("$ " + " ".join(cmd))
        result = None
        for attempt in range(3):  # buildah retries blobs itself; this covers a dropped connection mid-push
            result = builders.stream(cmd, env=action.env, emit=action.info)
            if result.returncode == 0:
                break
            text = "\n".join(result.lines[-10:])
            if re.search(r"unauthorized|denied|authentication required", text, re.I):
                raise UserError(f"the registry refused the push to {image.name}:\n{text}",
                                "log in first (the ecr-push stage's login, `buildah login`, or an auth file in "
                                "$REGISTRY_AUTH_FILE) with a credential that may push this repository.")
            action.warning(f"push attempt {attempt + 1} failed; retrying")
            action.sleep(2 ** attempt)
        assert result is not None
        if result.returncode != 0:
            raise UserError(f"pushing {spec.tags[0]} failed:\n" + "\n".join(result.lines[-10:]),
                            "check that the registry is reachable and the repository exists.")
    digest = digest_file.read_text().strip()
    if not digest:  # `buildah manifest push` of some versions leaves the digest file empty: ask the registry
        info = client.head_manifest(image.repository, tag_list[0])
        if info is None:
            raise UserError(f"the push of {spec.tags[0]} reported success but the registry does not have it.",
                            "check the registry's storage and that nothing deletes tags right after a push.")
        digest = info.digest
    if len(tag_list) > 1:
        _retag(client, image, digest, tag_list[1:])
    return digest


def _retag(client: RegistryClient, image: ImageRef, digest: str, new_tags: list[str]) -> Manifest:
    try:
        return client.retag(image.repository, digest, new_tags)
    except RegistryUnreachable as exc:
        raise _tags_incomplete(client, image, digest, new_tags, exc) from None
    except RegistryError as exc:
        if exc.status in (400, 409) or "TAG" in str(exc).upper():
            raise UserError(
                f"the registry refused to move a tag of {image.name} to {digest}: {exc}.",
                "the moving tags (`branch-*`, `pr-*`) get a new image with every build: exclude them from tag "
                "immutability (the ecr-push stage does with its default `mutable-tag-prefixes: branch-, pr-`; "
                "`enforce-settings: true` fixes an existing repository), or make the repository's tags "
                "mutable.") from exc
        raise _tags_incomplete(client, image, digest, new_tags, exc) from None


def _tags_incomplete(client: RegistryClient, image: ImageRef, digest: str, new_tags: list[str],
                     exc: Exception) -> UserError:
    """The retag failed after retries: name the tags that point at the image and the ones that do not."""
    in_place: list[str] = []
    missing: list[str] = []
    for tag in new_tags:
        try:
            info = client.head_manifest(image.repository, tag)
        except (RegistryError, UserError):
            info = None
        (in_place if info is not None and info.digest == digest else missing).append(tag)
    return UserError(f"Adding the tags of {image.name}@{digest} failed after retries ({' '.join(str(exc).split())}). "
                     f"In place: {', '.join(in_place) or 'none'}; not written: {', '.join(missing)}.",
                     "re-run the job: the image is in the registry and a re-run adds only the missing tags.")


def _current_digests(client: RegistryClient, image: ImageRef, tag_names: list[str]) -> dict[str, str]:
    """Where the moving tags point before this run moves them (one HEAD each; best effort, for the notice)."""
    out: dict[str, str] = {}
    for tag in tag_names:
        try:
            info = client.head_manifest(image.repository, tag)
        except (RegistryError, UserError):
            return out
        if info is not None:
            out[tag] = info.digest
    return out


def _notice_moves(action: Action, image: ImageRef, before: dict[str, str], digest: str) -> None:
    for tag, old in before.items():
        if old != digest:
            action.notice(f"moving tag {image.name}:{tag} moved from {old} to {digest}")


def _outputs(action: Action, refs: list[str], moving: list[str], digest: str, *, skipped: bool) -> None:
    action.set_output("tags", "\n".join(refs))
    action.set_output("moving-tags", "\n".join(moving))
    action.set_output("digest", digest)
    action.set_output("skipped", skipped)


def _size(size: int) -> str:
    if not size:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _summary(action: Action, service: str, language: str, builder: str, dockerfile: str, chash: str,
             refs: list[str], digest: str, size: int, seconds: float, result: str,
             deferred: Sequence[str] = ()) -> None:
    action.summary.heading(f"build {service}", 3)
    action.summary.key_values([
        ("result", result),
        ("language", language),
        ("builder", builder),
        ("Dockerfile", dockerfile),
        ("content hash", chash[:24]),
        ("digest", digest or "-"),
        ("size", _size(size)),
        ("time", format_duration(seconds)),
    ])
    action.summary.table(["tags"], [[r + (" (moving: left to ecr-push, after its scan gate)" if r in deferred else "")]
                                    for r in refs])
