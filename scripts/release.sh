#!/usr/bin/env bash
# Cut a release: an exact tag vX.Y.Z plus the moving major tag vX (what `uses: ...@v1` follows).
#   bash scripts/release.sh 1.2.3 [--push]
# Refuses a dirty tree, a version that is not in CHANGELOG.md, or a tag that already exists.
set -euo pipefail
version="${1:?usage: release.sh X.Y.Z [--push]}"
push="${2:-}"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "version must be X.Y.Z, got $version" >&2; exit 1; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ -z "$(git status --porcelain)" ] || { echo "working tree is dirty: commit first" >&2; exit 1; }
grep -q "^## \[$version\]" CHANGELOG.md || { echo "CHANGELOG.md has no '## [$version]' section" >&2; exit 1; }
if git rev-parse -q --verify "refs/tags/v$version" >/dev/null; then echo "v$version exists" >&2; exit 1; fi
major="v${version%%.*}"
git tag -a "v$version" -m "Shipyard v$version"
git tag -f -a "$major" -m "Shipyard $major -> v$version" "v$version^{}"
echo "tagged v$version and moved $major to it"
if [ "$push" = "--push" ]; then
  git push origin "v$version"
  git push --force origin "refs/tags/$major"
fi
