#!/usr/bin/env bash
# Benchmark: what `airlock verify --build` costs over a plain offline build of the same
# Dockerfile. The shipped example's requirements are synced (from the index the environment
# names) for this machine's Python, exported, and built FROM an image committed from this
# machine's Python (scripts/host-python-image.sh, no registry). Then, alternating, RUNS times:
#   plain:  buildah bud --isolation oci --runtime runc --network none --pull-never (in unshare -n)
#   airlock verify --build --builder buildah  (all of verify: wheelhouse integrity, the closure
#           re-resolved offline, the Dockerfile audit, the base image's Python, the build)
#   airlock verify                           (the same without the build, for the split)
# Prints each run, the medians and the ratio. Needs root, buildah and runc.
# Usage: scripts/bench-build.sh [RUNS]   (default 5)
set -euo pipefail
runs=${1:-5}
source "$(dirname "$0")/lib.sh"
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TIMES=$work/times
# A store of the benchmark's own, so the user's images are not touched.
cat > "$work/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/graph"
runroot = "$work/run"
EOF
export CONTAINERS_STORAGE_CONF=$work/storage.conf
image=localhost/airlock-bench/python:host
"$repo/scripts/host-python-image.sh" "$image" >/dev/null
read -r short platform < <(python3 -c 'import sys, platform; l = platform.libc_ver(); print("%d.%d" % sys.version_info[:2], platform.machine() + "-manylinux_" + l[1].replace(".", "_"))')

project=$work/project
mkdir -p "$project/requirements"
cp "$repo/requirements/requirements-api.in" "$project/requirements/"
sed "s#^FROM .*#FROM $image#" "$repo/Dockerfile" > "$project/Dockerfile"
cat > "$project/airlock.toml" <<EOF
[python]
requirements = ["requirements/requirements-api.in"]
targets = [{ python-version = "$short", python-platform = "$platform" }]
EOF
cd "$project"
"$AIRLOCK" sync -q
"$AIRLOCK" export --format requirements-txt -o requirements.lock.txt
files=$(ls wheelhouse | wc -l)
size=$(du -sh wheelhouse | cut -f1)
echo "airlock $("$AIRLOCK" --version | cut -d' ' -f2), $(buildah --version | cut -d' ' -f1-3); cp$short $platform"
echo "the example's requirements: $files files ($size) in the wheelhouse; $runs runs each"

plain() {
  unshare -n buildah bud --isolation oci --runtime runc --network none --pull-never \
    -q -t localhost/airlock-bench/plain -f Dockerfile . >/dev/null
  buildah rmi localhost/airlock-bench/plain >/dev/null
}
for _ in $(seq "$runs"); do
  timed plain plain
  timed build "$AIRLOCK" verify --build --builder buildah
  timed verify "$AIRLOCK" verify
done
for label in plain build verify; do
  printf '%-7s median %6.2f s\n' "$label" "$(grep "^$label " "$work/times" | cut -d' ' -f2 | median)"
done
p=$(grep '^plain ' "$work/times" | cut -d' ' -f2 | median)
b=$(grep '^build ' "$work/times" | cut -d' ' -f2 | median)
echo "verify --build / plain buildah bud: $(echo "scale=2; $b / $p" | bc)x"
