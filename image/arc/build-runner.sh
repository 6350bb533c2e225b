#!/usr/bin/env bash
# The ARC runner image: the Shipyard suite image (image/build.sh) with the GitHub Actions runner layered on top,
# for a gha-runner-scale-set (values.yaml next to this file). The runner is the official release tarball,
# unpacked into /home/runner as the official runner image does; the suite's Debian base gives it python3, the
# locked Shipyard venv (SHIPYARD_VENV: the composite flavour starts with no bootstrap), git, git-lfs, skopeo and
# buildah (vfs, chroot: builds without a Docker daemon or a privileged pod).
#
#   bash image/arc/build-runner.sh --from IMAGE --runner-tarball FILE [--tag NAME] [--runner-deps apt|none]
#
#   --from            the suite image, e.g. localhost/shipyard:1.4.0 or <registry>/acme/shipyard:1.4.0
#   --runner-tarball  actions-runner-linux-<x64|arm64>-<version>.tar.gz from the runner's releases page
#   --tag             the runner image's name (default localhost/shipyard-runner:dev)
#   --runner-deps     apt (default): install the runner's .NET dependencies from Debian (libicu, libkrb5,
#                     liblttng-ust, libssl, zlib, sudo); none: they are already in --from
# Needs buildah. Nothing is written when an argument is refused.
set -euo pipefail

from=""
tarball=""
tag="localhost/shipyard-runner:dev"
deps="apt"
die() { printf '::error title=shipyard runner image::%s\n' "$*" >&2; exit 1; }
while [ "$#" -gt 0 ]; do
  [ "$#" -ge 2 ] || die "$1 needs a value. Fix: see the usage at the top of image/arc/build-runner.sh"
  case "$1" in
    --from) from="$2" ;;
    --runner-tarball) tarball="$2" ;;
    --tag) tag="$2" ;;
    --runner-deps) deps="$2" ;;
    *) die "unknown option '$(printf '%s' "$1" | tr -d '\000-\037\177' | cut -c1-80)'. Fix: use --from, --runner-tarball, --tag or --runner-deps" ;;
  esac
  shift 2
done
[ -n "$from" ] || die "--from is missing. Fix: --from localhost/shipyard:<version> (build it with image/build.sh)"
[ -n "$tarball" ] || die "--runner-tarball is missing. Fix: download actions-runner-linux-x64-<version>.tar.gz from the runner's releases and pass its path"
[ -f "$tarball" ] || die "--runner-tarball '$(printf '%s' "$tarball" | tr -d '\000-\037\177' | cut -c1-200)' is not a file. Fix: pass the path of the downloaded runner tarball"
tar -tzf "$tarball" ./run.sh >/dev/null 2>&1 || tar -tzf "$tarball" run.sh >/dev/null 2>&1 \
  || die "--runner-tarball has no run.sh at its top. Fix: use the runner release tarball (actions-runner-linux-<arch>-<version>.tar.gz) as downloaded"
case "$deps" in apt|none) ;; *) die "--runner-deps must be apt or none. Fix: apt installs the runner's libraries from Debian" ;; esac
command -v buildah >/dev/null 2>&1 || die "buildah is missing. Fix: apt-get install buildah"

ctr="$(buildah from --quiet -- "$from")" || die "buildah could not start from '$from'. Fix: build it with image/build.sh --tag $from, or log in to its registry"
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT

if [ "$deps" = apt ]; then
  buildah run "$ctr" -- sh -euc '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends libicu72 libkrb5-3 liblttng-ust1 libssl3 zlib1g sudo
    rm -rf /var/lib/apt/lists/*' >&2
fi
# The runner user as in the official image (uid 1001, group docker 123 left out: no daemon here), with
# subordinate ids for rootless buildah, and the tarball where the scale set's pod template expects it.
buildah run "$ctr" -- sh -euc '
  grep -q "^runner:" /etc/group || echo "runner:x:1001:" >> /etc/group
  grep -q "^runner:" /etc/passwd || echo "runner:x:1001:1001:GitHub Actions runner:/home/runner:/bin/bash" >> /etc/passwd
  grep -q "^runner:" /etc/shadow 2>/dev/null || echo "runner:!:19000::::::" >> /etc/shadow
  echo "runner:100000:65536" > /etc/subuid
  echo "runner:100000:65536" > /etc/subgid
  mkdir -p /home/runner/.config/containers
  printf "[storage]\ndriver = \"vfs\"\n" > /home/runner/.config/containers/storage.conf
  if [ -d /etc/sudoers.d ]; then echo "runner ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/runner; chmod 0440 /etc/sudoers.d/runner; fi'
buildah add --quiet "$ctr" "$tarball" /home/runner >/dev/null
buildah run "$ctr" -- chown -R 1001:1001 /home/runner
buildah config \
  --entrypoint '[]' --cmd '["/home/runner/run.sh"]' --user runner --workingdir /home/runner \
  --env RUNNER_MANUALLY_TRAP_SIG=1 --env ACTIONS_RUNNER_PRINT_LOG_TO_STDOUT=1 \
  --env PATH=/opt/shipyard/scripts:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --label org.opencontainers.image.title=shipyard-runner \
  --label "org.opencontainers.image.description=GitHub Actions runner on the Shipyard suite image (ARC scale sets)" \
  --label "dev.shipyard.base=$from" \
  "$ctr"
buildah commit --quiet --rm "$ctr" "$tag" >/dev/null
trap - EXIT
echo "$tag"
