#!/usr/bin/env bash
# Build the OpenGBA lab images without pulling anything (README.md "Lab"):
#   1. static binaries on the host: CGO_ENABLED=0 go build -trimpath -ldflags '-s -w'
#      ./cmd/hss-sim ./cmd/bsf ./cmd/naf ./cmd/gba-ue  -> $CTX/bin/
#   2. a build context with an empty rootfs ($CTX/rootfs/{data,tmp})
#   3. docker build --target <name> -t opengba/<name>:$TAG for hss-sim, bsf, naf, gba-ue
#      (Dockerfile: FROM scratch, user 65532).
# Idempotent: rerunning rebuilds the binaries (go's cache makes that cheap) and re-tags.
#
#   scripts/build-images.sh                 # tag "lab"
#   TAG=dev scripts/build-images.sh         # other tag (docker-compose.yml reads OPENGBA_TAG)
#   CTX=/tmp/ctx scripts/build-images.sh    # other build-context directory
#   GOARCH=arm64 scripts/build-images.sh    # other architecture (default: the host's)
set -euo pipefail

die() { echo "build-images: $*" >&2; exit 1; }

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tag=${TAG:-lab}
ctx=${CTX:-$root/dist/docker}
images=(hss-sim bsf naf gba-ue)

command -v go >/dev/null 2>&1 || die "go is not installed (need the Go toolchain of go.mod)"
command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot reach the Docker daemon (is it running, may this user use it?)"
[ -f Dockerfile ] || die "Dockerfile not found in $root"
case "$tag" in
  *[!A-Za-z0-9_.-]* | "" | [.-]*) die "TAG '$tag' is not a valid image tag" ;;
esac

# The classic builder works everywhere; BuildKit only when the buildx plugin is present
# (docker CLI >= 23 refuses DOCKER_BUILDKIT=1 without it).
if [ -z "${DOCKER_BUILDKIT:-}" ] && ! docker buildx version >/dev/null 2>&1; then
  export DOCKER_BUILDKIT=0
fi

echo "== go build (static) -> $ctx/bin"
mkdir -p "$ctx/bin" "$ctx/rootfs/data" "$ctx/rootfs/tmp"
chmod 0755 "$ctx/rootfs/data"
chmod 1777 "$ctx/rootfs/tmp"
for name in "${images[@]}"; do
  [ -d "cmd/$name" ] || die "cmd/$name does not exist"
  CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags '-s -w' -o "$ctx/bin/$name" "./cmd/$name" ||
    die "go build ./cmd/$name failed"
  # A FROM scratch image has no loader: refuse a dynamically linked binary.
  if command -v file >/dev/null 2>&1 && file "$ctx/bin/$name" | grep -q 'dynamically linked'; then
    die "$ctx/bin/$name is dynamically linked; it would not run FROM scratch"
  fi
done
# Anything the classic builder sends besides bin/ and rootfs/ is waste.
printf '*\n!bin/\n!rootfs/\n' >"$ctx/.dockerignore"

revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for name in "${images[@]}"; do
  echo "== docker build --target $name -t opengba/$name:$tag"
  # The output (and the classic builder's deprecation notice) is shown only on failure.
  if ! docker build -f Dockerfile --target "$name" -t "opengba/$name:$tag" \
    --label "org.opencontainers.image.source=https://github.com/opengba/opengba" \
    --label "org.opencontainers.image.revision=$revision" \
    "$ctx" >"$log" 2>&1; then
    cat "$log" >&2
    die "docker build of opengba/$name:$tag failed"
  fi
done

echo "== images"
for name in "${images[@]}"; do
  docker image inspect --format "opengba/$name:$tag  {{.Id}}  {{.Size}} bytes" "opengba/$name:$tag" ||
    die "image opengba/$name:$tag is missing after the build"
done
