#!/usr/bin/env bash
# The Docker flavour's one step (actions/<stage>/docker/action.yml): run a Shipyard stage in the Shipyard image
# with the first container runtime on the runner: docker (when its daemon answers), podman, or buildah
# (daemonless: from + run + rm). The runner needs no Python.
#
#   image/run-stage.sh STAGE
#
# Inputs arrive as INPUT_* variables (the step's env:) and reach the container through the environment only,
# never argv: `-e NAME` (docker, podman: the value is read from this process's environment) or, for buildah,
# whose --env has no such form, a NUL-separated file in a private folder mounted read-only and read by the
# image's Python before it starts the stage. The workspace, RUNNER_TEMP and the GITHUB_* files (outputs, env,
# path, summary, state, event) are mounted at the same paths, the network is the host's.
#
#   SHIPYARD_CONTAINER_IMAGE     the image (default: $SHIPYARD_IMAGE_REPOSITORY:<this checkout's version>)
#   SHIPYARD_CONTAINER_PLATFORM  linux/amd64 or linux/arm64 (default: the runner's)
#   SHIPYARD_IMAGE_REPOSITORY    where the default image comes from (default ghcr.io/shipyard/shipyard)
#   SHIPYARD_CONTAINER_RUNTIME   docker, podman or buildah: skip the search
set -euo pipefail

stage="${1:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$root/pyproject.toml" | head -n 1)"
major="${version%%.*}"

# One line, no control characters, bounded: a refused value is quoted safely in the error.
shown() { printf '%s' "$1" | tr -d '\000-\037\177' | cut -c1-200; }
fail() { printf '::error title=Shipyard Docker flavour::%s\n' "$*"; exit 1; }
has_ctl() { case "$1" in *[[:cntrl:]]*) return 0 ;; esac; return 1; }

has_ctl "$stage" && stage=""
[[ "$stage" =~ ^[a-z][a-z0-9-]{0,40}$ ]] || fail "run-stage.sh needs a stage name, got '$(shown "$stage")'. Fix: image/run-stage.sh <stage>, e.g. slack-notify"

image="${SHIPYARD_CONTAINER_IMAGE:-}"
image="${image#"${image%%[![:space:]]*}"}"; image="${image%"${image##*[![:space:]]}"}"
if [ -z "$image" ]; then
  image="${SHIPYARD_IMAGE_REPOSITORY:-ghcr.io/shipyard/shipyard}:$version"
fi
image="${image#docker://}"
ref_re='^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$'
if has_ctl "$image" || ! [[ "$image" =~ $ref_re ]]; then
  fail "Input 'container-image' is '$(shown "$image")', which is not an image reference. Fix: set container-image to e.g. ghcr.io/shipyard/shipyard:$version (or …@sha256:<digest>), or leave it empty for the image of this action's version."
fi

platform="${SHIPYARD_CONTAINER_PLATFORM:-}"
platform="${platform//[[:space:]]/}"
if [ -z "$platform" ]; then
  case "$(uname -m)" in
    x86_64|amd64) platform=linux/amd64 ;;
    aarch64|arm64) platform=linux/arm64 ;;
    *) platform="linux/$(uname -m)" ;;
  esac
fi
if has_ctl "$platform" || ! [[ "$platform" =~ ^[a-z0-9]+/[a-z0-9_]+(/v[0-9]+)?$ ]]; then
  fail "Input 'container-platform' is '$(shown "$platform")', which is not a platform. Fix: set container-platform to linux/amd64 or linux/arm64, or leave it empty for the runner's own."
fi
want_arch="${platform#*/}"; want_arch="${want_arch%%/*}"

# ------------------------------------------------------------------------------------------------ the runtime
composite_fix="use the composite flavour, which runs on the runner itself: \`uses: shipyard/shipyard/actions/$stage@v$major\` with the same inputs (it needs Python 3.10+ on the runner), or install docker, podman or buildah on the runner"
runtime="${SHIPYARD_CONTAINER_RUNTIME:-}"
if [ -n "$runtime" ]; then
  case "$runtime" in docker|podman|buildah) ;; *) fail "SHIPYARD_CONTAINER_RUNTIME is '$(shown "$runtime")'. Fix: set it to docker, podman or buildah, or unset it to use the first one found." ;; esac
  command -v "$runtime" >/dev/null 2>&1 || fail "SHIPYARD_CONTAINER_RUNTIME is $runtime, which is not on this runner's PATH. Fix: unset it, or $composite_fix."
else
  for candidate in docker podman buildah; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if [ "$candidate" = docker ] && ! timeout 20 docker info >/dev/null 2>&1; then
      continue  # a docker CLI without a daemon it can reach
    fi
    runtime="$candidate"
    break
  done
  [ -n "$runtime" ] || fail "No container runtime on this runner for the Docker flavour of $stage (looked for docker with a reachable daemon, podman and buildah on PATH). Fix: $composite_fix."
fi

# ------------------------------------------------------------------------------------------------ the image
local_platform() {  # os/arch of the image when this runner's storage has it, else nothing
  case "$runtime" in
    buildah) buildah inspect --type image --format '{{.OCIv1.OS}}/{{.OCIv1.Architecture}}' "$image" 2>/dev/null || true ;;
    *) "$runtime" image inspect --format '{{.Os}}/{{.Architecture}}' "$image" 2>/dev/null || true ;;
  esac
}

not_found() {
  fail "Image '$image' does not exist (${1:-the registry knows no such tag}). Fix: set container-image to a published tag (e.g. $(shown "${image%%[:@]*}"):$version, the tags are the release's exact, minor and major versions) or leave it empty for the image of this action's version; for a private registry, log in first (docker/podman/buildah login)."
}
wrong_platform() {
  fail "Image '$image' is not built for $platform (it has: ${1:-other platforms}). Fix: set container-platform to one it has, or run the job on a runner of a platform the image was built for, or use the composite flavour: uses: shipyard/shipyard/actions/$stage@v$major."
}
classify() {  # $1 = a runtime's or skopeo's error text: fail with the matching clear error
  local text="$1" lower
  lower="$(printf '%s' "$text" | tr '[:upper:]' '[:lower:]')"
  case "$lower" in
    *"no image found in manifest list"*|*"no matching manifest"*|*"does not match the specified platform"*|*"choosing image instance"*)
      wrong_platform "" ;;
    *unauthorized*|*denied*|*"authentication required"*)
      fail "The registry refused to serve '$image' (not logged in, or no access). Fix: log in to the registry before this step (docker/podman/buildah login), or use a public image." ;;
    *"manifest unknown"*|*"not found"*|*"does not exist"*|*"no such image"*|*"name unknown"*)
      not_found "" ;;
  esac
  fail "Could not read image '$image': $(printf '%s' "$text" | tr -d '\000-\037\177' | tail -c 300). Fix: check that the runner reaches the registry and the tag exists, or $composite_fix."
}

have="$(local_platform)"
case "$image" in
  localhost/*)  # never pulled: this runner's storage decides
    [ -n "$have" ] || not_found "a localhost/ name is never pulled, and this runner's $runtime storage has no such image"
    [ "${have#*/}" = "$want_arch" ] || wrong_platform "$have" ;;
esac
if [ "${have#*/}" != "$want_arch" ]; then
  # Not here (or here for another platform): ask the registry which platforms the tag has, before pulling.
  if command -v skopeo >/dev/null 2>&1; then
    if ! raw="$(timeout 120 skopeo inspect --raw "docker://$image" 2>&1)"; then
      case "$(printf '%s' "$raw" | tr '[:upper:]' '[:lower:]')" in
        *"manifest unknown"*|*"name unknown"*|*unauthorized*|*denied*|*"authentication required"*)
          [ -n "$have" ] && wrong_platform "$have"
          classify "$raw" ;;
      esac
      # Anything else (skopeo ignores registries.conf's plain-HTTP registries, a proxy it does not know):
      # inconclusive, the runtime's own pull below decides.
      raw=""
    fi
    if printf '%s' "$raw" | grep -q '"manifests"'; then
      offered="$(printf '%s' "$raw" | grep -o '"architecture" *: *"[a-z0-9_]*"' | sed 's/.*"\([a-z0-9_]*\)"$/linux\/\1/' | sort -u | tr '\n' ' ')"
      case " $offered " in *" linux/$want_arch "*) ;; *) wrong_platform "${offered% }" ;; esac
    fi
  fi
  echo "::group::pull $image ($platform) with $runtime"
  set +e
  case "$runtime" in
    buildah) pulled="$(timeout 1800 buildah pull --quiet --platform "$platform" "docker://$image" 2>&1)" ;;
    *) pulled="$(timeout 1800 "$runtime" pull --platform "$platform" "$image" 2>&1)" ;;
  esac
  status=$?
  set -e
  printf '%s\n' "$pulled" | tail -n 20
  echo "::endgroup::"
  [ "$status" -eq 0 ] || classify "$pulled"
  have="$(local_platform)"
  [ "${have#*/}" = "$want_arch" ] || wrong_platform "${have:-unknown}"
fi

# ------------------------------------------------------------------------------------------------ mounts, env
mounts=()
seen=":"
mount_dir() {  # the same path inside as outside
  local dir="$1"
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  case "$dir" in
    /*) ;;
    *) return 0 ;;
  esac
  case "$dir" in *:*|*,*) fail "The runner path '$(shown "$dir")' has a ':' or ',' and cannot be mounted. Fix: use a workspace path without them, or $composite_fix." ;; esac
  case "$seen" in *":$dir:"*) return 0 ;; esac
  seen="$seen$dir:"
  mounts+=(-v "$dir:$dir")
}
workspace="${GITHUB_WORKSPACE:-$PWD}"
mount_dir "$workspace"
mount_dir "${RUNNER_TEMP:-}"
for var in GITHUB_OUTPUT GITHUB_ENV GITHUB_PATH GITHUB_STEP_SUMMARY GITHUB_STATE GITHUB_EVENT_PATH; do
  file="${!var:-}"
  [ -n "$file" ] && mount_dir "$(dirname "$file")"
done

# Every variable the stage may read: its inputs, the run's context, OIDC, proxies, AWS and Shipyard's knobs
# (not the ones that describe this runner's own venv or this script).
names=()
while IFS= read -r name; do
  case "$name" in
    SHIPYARD_VENV|SHIPYARD_ROOT|SHIPYARD_PYTHON3|SHIPYARD_CACHE_DIR|SHIPYARD_WHEELHOUSE|SHIPYARD_CONTAINER_*|SHIPYARD_IMAGE_REPOSITORY) ;;
    INPUT_*|GITHUB_*|RUNNER_*|ACTIONS_*|SHIPYARD_*|AWS_*|CI|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|http_proxy|https_proxy|no_proxy) names+=("$name") ;;
  esac
done < <(compgen -e)

private=""
ctr=""
cleanup() {
  if [ -n "$private" ]; then rm -rf "$private"; fi
  if [ -n "$ctr" ]; then buildah rm "$ctr" >/dev/null 2>&1 || true; fi
}

echo "Shipyard $stage in $image ($platform) with $runtime"
case "$runtime" in
  docker|podman)
    envs=()
    for name in ${names[@]+"${names[@]}"}; do envs+=(-e "$name"); done
    set +e
    "$runtime" run --rm --network host --platform "$platform" --workdir "$workspace" \
      "${mounts[@]}" ${envs[@]+"${envs[@]}"} "$image" "$stage"
    status=$?
    set -e
    exit "$status"
    ;;
  buildah)
    private="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/shipyard-env.XXXXXX")"
    chmod 700 "$private"
    trap cleanup EXIT
    # printf is a builtin: the values never reach an argv
    for name in ${names[@]+"${names[@]}"}; do printf '%s=%s\0' "$name" "${!name}"; done > "$private/env"
    ctr="$(buildah from --pull-never --quiet "$image")" || fail "buildah could not start a container of '$image'. Fix: check the runner's buildah storage (buildah images), or $composite_fix."
    set +e
    buildah run --network host --workingdir "$workspace" "${mounts[@]}" -v "$private:/run/shipyard-env:ro" -- "$ctr" \
      /opt/shipyard/venv/bin/python -c '
import os, sys
with open("/run/shipyard-env/env", "rb") as fh:
    for item in fh.read().split(b"\0"):
        if item:
            key, _, value = item.partition(b"=")
            os.environb[key] = value
os.execv("/opt/shipyard/scripts/shipyard", ["/opt/shipyard/scripts/shipyard", sys.argv[1]])
' "$stage"
    status=$?
    set -e
    exit "$status"
    ;;
esac
