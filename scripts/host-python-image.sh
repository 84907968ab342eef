#!/usr/bin/env bash
# Commits a small Python base image made from this machine's own Python, with no registry:
# the interpreter, its standard library, pip, /bin/sh and the shared libraries they load. The
# tests of `verify --build` and scripts/bench-build.sh build FROM it; a team can do the same
# with a rootfs from debootstrap (`buildah from scratch`, `buildah copy`, `buildah commit`).
#
#   scripts/host-python-image.sh IMAGE [PYTHON]
#
# buildah's storage is whatever its configuration says (CONTAINERS_STORAGE_CONF,
# STORAGE_DRIVER); the tests point it at a vfs store under target/.
set -euo pipefail
image=${1:?usage: host-python-image.sh IMAGE [PYTHON]}
python=${2:-python3}

mapfile -t info < <("$python" - <<'EOF'
import os, sys, sysconfig, pip
print(os.path.realpath(sys.executable))
print(sysconfig.get_paths()["stdlib"])
print(os.path.dirname(os.path.dirname(os.path.abspath(pip.__file__))))
print("%d.%d.%d" % sys.version_info[:3])
EOF
)
executable=${info[0]} stdlib=${info[1]} pip_parent=${info[2]} version=${info[3]}

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
# Everything keeps its path, so the interpreter finds its prefix and pip as it does here.
tar -C / -cf - "${executable#/}" | tar -C "$rootfs" -xf -
tar -C / --exclude=__pycache__ --exclude=site-packages --exclude=dist-packages \
    --exclude="${stdlib#/}/test" --exclude="${stdlib#/}/idlelib" \
    --exclude="${stdlib#/}/tkinter" --exclude="${stdlib#/}/turtledemo" \
    --exclude=EXTERNALLY-MANAGED -cf - "${stdlib#/}" | tar -C "$rootfs" -xf -
tar -C / --exclude=__pycache__ -cf - "${pip_parent#/}/pip" | tar -C "$rootfs" -xf -
mkdir -p "$rootfs/bin" "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/root" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp "$(readlink -f /bin/sh)" "$rootfs/bin/sh"
for program in "$executable" /bin/sh "$stdlib"/lib-dynload/*.so; do
    ldd "$program" 2>/dev/null | grep -o '/[^ ]*' || true
done | sort -u | while read -r library; do
    mkdir -p "$rootfs$(dirname "$library")"
    cp -L "$library" "$rootfs$library"
done
ln -s "$executable" "$rootfs/usr/local/bin/python3"
ln -s "$executable" "$rootfs/usr/local/bin/python"
printf '#!/bin/sh\nexec python3 -m pip "$@"\n' > "$rootfs/usr/local/bin/pip"
chmod 755 "$rootfs/usr/local/bin/pip"
# pip given a network would verify TLS with these; the builds here have none.
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$rootfs/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
fi
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"

container=$(buildah from scratch)
trap 'rm -rf "$rootfs"; buildah rm "$container" >/dev/null 2>&1 || true' EXIT
buildah copy --quiet "$container" "$rootfs" / >/dev/null
buildah config --env PATH=/usr/local/bin:/usr/bin:/bin --env LANG=C.UTF-8 \
    --env PYTHON_VERSION="$version" --cmd python3 "$container"
buildah commit --quiet --rm "$container" "$image" >/dev/null
trap 'rm -rf "$rootfs"' EXIT
echo "$image: Python $version from $executable"
