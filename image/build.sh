#!/usr/bin/env bash
# Build the Shipyard suite image: the locked runtime in a ready venv, git, git-lfs, skopeo and buildah (vfs,
# chroot), from Debian's packages, with buildah only (no daemon, no Dockerfile, nothing pulled from a container
# registry). Reproducible inputs: the Debian suite at SOURCE_DATE_EPOCH (the commit's time), the hash-locked
# wheels, this checkout; the image's created time is that epoch too.
#
#   bash image/build.sh [--tag NAME] [--platform linux/amd64[,linux/arm64]] [--version X.Y.Z]
#                       [--wheelhouse DIR] [--sbom FILE] [--suite bookworm]
#
# One platform gives the image NAME; several give a manifest list NAME (foreign platforms need qemu-user-static
# and binfmt for the RUN steps). Needs: mmdebstrap, buildah, python3 (and pip) on the build machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tag="localhost/shipyard:dev"
platforms=""
version=""
wheels=""
sbom_out=""
suite="bookworm"
die() { echo "::error title=shipyard image::$*" >&2; exit 1; }
while [ "$#" -gt 0 ]; do
  [ "$#" -ge 2 ] || die "$1 needs a value. Fix: see the usage at the top of image/build.sh"
  case "$1" in
    --tag) tag="$2" ;;
    --platform) platforms="$2" ;;
    --version) version="$2" ;;
    --wheelhouse) wheels="$2" ;;
    --sbom) sbom_out="$2" ;;
    --suite) suite="$2" ;;
    *) die "unknown option '$1'. Fix: use --tag, --platform, --version, --wheelhouse, --sbom or --suite" ;;
  esac
  shift 2
done
case "$tag" in -*|*[[:space:]]*|"") die "--tag '$tag' is not an image name. Fix: e.g. --tag localhost/shipyard:1.2.3" ;; esac
[[ "$suite" =~ ^[a-z]+$ ]] || die "--suite '$suite' is not a Debian suite name. Fix: e.g. --suite bookworm"
for tool in mmdebstrap buildah python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing. Fix: apt-get install $tool"
done

native="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
[ -n "$platforms" ] || platforms="linux/$native"
[ -n "$version" ] || version="$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml")"
revision="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)}"
created="$(python3 -c 'import datetime, sys; print(datetime.datetime.fromtimestamp(int(sys.argv[1]), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))' "$SOURCE_DATE_EPOCH")"

work="$(mktemp -d "${TMPDIR:-/tmp}/shipyard-image.XXXXXX")"
containers=()
cleanup() {
  for c in ${containers[@]+"${containers[@]}"}; do buildah rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Debian package names: what the image holds besides Python's own.
packages="python3,python3-venv,ca-certificates,git,git-lfs,openssh-client,skopeo,buildah,fuse-overlayfs,uidmap"
# Docs, man pages and translations are dead weight in a CI image.
dpkgopts=(--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
          --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
          --dpkgopt='path-exclude=/usr/share/info/*')

build_one() {  # $1 = linux/<arch>, $2 = image name, $3 = single|multi; prints the image id
  local platform="$1" arch ctr pyver plat_tag
  arch="${platform#linux/}"
  case "$arch" in amd64) plat_tag=x86_64 ;; arm64) plat_tag=aarch64 ;; *) die "platform '$platform' is not supported. Fix: linux/amd64 and/or linux/arm64" ;; esac
  echo "image: $platform: Debian $suite rootfs (mmdebstrap)" >&2
  # shellcheck disable=SC2016 # $1 is mmdebstrap's, expanded by the hook's shell
  mmdebstrap --quiet --variant=apt --architectures="$arch" --include="$packages" "${dpkgopts[@]}" \
    --customize-hook='printf "[storage]\ndriver = \"vfs\"\nrunroot = \"/run/containers/storage\"\ngraphroot = \"/var/lib/containers/storage\"\n" > "$1/etc/containers/storage.conf"' \
    "$suite" "$work/rootfs-$arch.tar" >&2
  ctr="$(buildah from --arch "$arch" scratch)"
  containers+=("$ctr")
  buildah add --quiet "$ctr" "$work/rootfs-$arch.tar" / >/dev/null
  pyver="$(buildah run "$ctr" -- python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  local wh="$wheels"
  if [ -z "$wh" ]; then
    wh="$work/wheels-$arch"
    echo "image: $platform: wheels for Python $pyver" >&2
    # pip matches an explicit --platform exactly: name every manylinux level Debian's glibc (2.36) runs.
    local levels=() level
    for level in 2014 _2_17 _2_24 _2_27 _2_28 _2_31 _2_34 _2_35 _2_36; do levels+=(--platform "manylinux${level}_$plat_tag"); done
    bash "$root/scripts/wheelhouse.sh" "$wh" "${levels[@]}" --python-version "$pyver" >&2
  fi
  buildah run "$ctr" -- mkdir -p /opt/shipyard/scripts /opt/shipyard/requirements
  buildah copy --quiet "$ctr" "$wh" /tmp/wheels >/dev/null
  buildah copy --quiet "$ctr" "$root/requirements/runtime.txt" /opt/shipyard/requirements/runtime.txt >/dev/null
  buildah copy --quiet "$ctr" "$root/src" /opt/shipyard/src >/dev/null
  buildah copy --quiet "$ctr" "$root/actions" /opt/shipyard/actions >/dev/null
  buildah copy --quiet "$ctr" "$root/scripts/shipyard" "$root/scripts/bootstrap.sh" /opt/shipyard/scripts/ >/dev/null
  buildah run "$ctr" -- sh -euc '
    python3 -m venv /opt/shipyard/venv
    /opt/shipyard/venv/bin/pip install --quiet --disable-pip-version-check --no-index --find-links /tmp/wheels \
      --require-hashes --only-binary :all: -r /opt/shipyard/requirements/runtime.txt
    rm -rf /tmp/wheels /root/.cache
    find /opt/shipyard/src -name __pycache__ -prune -exec rm -rf {} +
    /opt/shipyard/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash /opt/shipyard/src /opt/shipyard/venv >/dev/null
    touch /opt/shipyard/venv/.shipyard-ready
    mkdir -p /usr/share/doc/shipyard' >&2
  # SBOM (SPDX 2.3): every Debian package and every Python distribution in the image.
  # shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
  buildah run "$ctr" -- dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\n' > "$work/dpkg-$arch.tsv"
  buildah run "$ctr" -- /opt/shipyard/venv/bin/python -c \
    'import importlib.metadata as m, json; print(json.dumps(sorted([d.metadata["Name"], d.version] for d in m.distributions())))' \
    > "$work/python-$arch.json"
  python3 "$root/image/sbom.py" --name "shipyard-$version-$arch" --created "$created" \
    --dpkg "$work/dpkg-$arch.tsv" --python "$work/python-$arch.json" > "$work/sbom-$arch.spdx.json"
  buildah copy --quiet "$ctr" "$work/sbom-$arch.spdx.json" /usr/share/doc/shipyard/sbom.spdx.json >/dev/null
  if [ -n "$sbom_out" ]; then
    if [ "$3" = single ]; then cp "$work/sbom-$arch.spdx.json" "$sbom_out"; else cp "$work/sbom-$arch.spdx.json" "${sbom_out%.json}-$arch.json"; fi
  fi
  buildah config \
    --entrypoint '["/opt/shipyard/scripts/shipyard"]' --cmd '["--help"]' \
    --env SHIPYARD_VENV=/opt/shipyard/venv --env SHIPYARD_ROOT=/opt/shipyard \
    --env PYTHONDONTWRITEBYTECODE=1 --env STORAGE_DRIVER=vfs --env BUILDAH_ISOLATION=chroot \
    --label org.opencontainers.image.title=shipyard \
    --label "org.opencontainers.image.description=Shipyard pipeline stages (python runtime, git, git-lfs, skopeo, buildah)" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$revision" \
    --label "org.opencontainers.image.created=$created" \
    --label org.opencontainers.image.licenses=MIT \
    --label "org.opencontainers.image.base.name=debian:$suite" \
    --label "dev.shipyard.sbom=/usr/share/doc/shipyard/sbom.spdx.json" \
    "$ctr"
  buildah commit --quiet --rm --squash --timestamp "$SOURCE_DATE_EPOCH" "$ctr" "$2"
}

IFS=',' read -r -a wanted <<< "$platforms"
if [ "${#wanted[@]}" -eq 1 ]; then
  build_one "${wanted[0]}" "$tag" single
else
  buildah manifest rm "$tag" >/dev/null 2>&1 || true
  buildah manifest create "$tag" >/dev/null
  for platform in "${wanted[@]}"; do
    id="$(build_one "$platform" "$tag-${platform#linux/}" multi)"
    buildah manifest add "$tag" "$id" >/dev/null
  done
  buildah manifest inspect "$tag" >/dev/null
  echo "$tag"
fi
containers=()
