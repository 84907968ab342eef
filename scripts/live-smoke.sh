#!/usr/bin/env bash
# Live check against the real index (not part of `cargo test`).
#  1. Pins: the shipped example (every target in airlock.toml) and the real stacks in
#     scripts/stacks/ (cp3.12 x86_64-manylinux_2_36 and cp3.11 aarch64-manylinux_2_28) are
#     resolved by airlock and by `uv pip compile` in its default mode (sdists allowed) at the same
#     moment, and the pins compared per target.
#  2. Offline: one stack with sdist-only packages (STACK, default crawler) is synced for the
#     host's own target, verified inside `unshare -n`, exported, and installed by pip into a
#     fresh venv inside `unshare -n` with --no-index --require-hashes: the sdists build offline.
# Needs network access to the index, uv (installed into a temp venv unless UV is set), and root
# for `unshare -n`. Exit 0 when every comparison is identical and the offline install works.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_uv
work=$(mktemp -d)
status=0

# Writes airlock-<i>.txt and target-<i> (version platform requirements) for each target of a lock.
split_lock() { # lock
  python3 - "$1" "$work" <<'PY'
import sys, tomllib, pathlib
lock = tomllib.loads(pathlib.Path(sys.argv[1]).read_text())
air = lock["tool"]["airlock"]
for i, t in enumerate(air["targets"]):
    pins = sorted(f"{p['name']}=={p['version']}" for p in t["pins"])
    pathlib.Path(sys.argv[2], f"airlock-{i}.txt").write_text("\n".join(pins) + "\n")
    pathlib.Path(sys.argv[2], f"target-{i}").write_text(f"{t['python-version']} {t['python-platform']}\n")
    built = sorted(p["name"] for p in t["pins"] if p.get("sdist"))
    pathlib.Path(sys.argv[2], f"built-{i}").write_text(" ".join(built) + "\n")
PY
}

compare() { # label requirements-file lock
  split_lock "$3"
  for target in "$work"/target-*; do
    i=${target##*-}
    read -r version platform < "$target"
    # Not `-o`: uv reads an existing output file as preferred pins.
    "$UV" pip compile -q --no-header --no-annotate \
      --python-version "$version" --python-platform "$platform" "$2" > "$work/uv-raw.txt"
    python3 - "$work/uv-raw.txt" "$work/uv-$i.txt" <<'PY'
import sys, re
pins = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].split(";")[0].strip()
    if "==" in line:
        name, version = line.split("==", 1)
        pins.append(re.sub(r"[-_.]+", "-", name).lower() + "==" + version.strip())
open(sys.argv[2], "w").write("\n".join(sorted(pins)) + "\n")
PY
    built=$(cat "$work/built-$i")
    if diff -u "$work/uv-$i.txt" "$work/airlock-$i.txt" > "$work/diff-$i.txt"; then
      echo "$1 cp$version $platform: $(wc -l < "$work/airlock-$i.txt") pins identical to uv; built from sdists: ${built:-none}"
    else
      echo "$1 cp$version $platform: pins differ from uv (built from sdists: ${built:-none}):"
      grep '^[-+][^-+]' "$work/diff-$i.txt" || true
      status=1
    fi
  done
  rm -f "$work"/target-* "$work"/airlock-*.txt "$work"/built-*
}

"$AIRLOCK" resolve --lockfiles "$work/example" -q
for lock in "$work"/example/pylock.*.toml; do
  requirements=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["tool"]["airlock"]["requirements"])' "$lock")
  compare "example" "$requirements" "$lock"
done

for stack in scripts/stacks/*.txt; do
  name=$(basename "$stack" .txt)
  mkdir -p "$work/$name"
  "$AIRLOCK" resolve -q -r "$stack" --lockfiles "$work/$name" \
    --python-version 3.12 --python-platform x86_64-manylinux_2_36 \
    --python-version 3.11 --python-platform aarch64-manylinux_2_28
  compare "$name" "$stack" "$work/$name/pylock.$name.toml"
done

# Offline: the host's own target, so pip here can build and install what was locked.
stack=scripts/stacks/${STACK:-crawler}.txt
host=$(python3 -c 'import sys, platform; print("%d.%d" % sys.version_info[:2], platform.machine() + "-manylinux_" + platform.libc_ver()[1].replace(".", "_"))')
read -r host_version host_platform <<< "$host"
project="$work/offline"
mkdir -p "$project"
cp "$stack" "$project/requirements.txt"
(
  cd "$project"
  "$AIRLOCK" sync -q -r requirements.txt --python-version "$host_version" --python-platform "$host_platform"
  unshare -n "$AIRLOCK" verify --format json > verify.json || { echo "offline verify failed:"; cat verify.json; exit 1; }
  "$AIRLOCK" export --format requirements-txt -o requirements.lock.txt
  python3 -m venv venv
  unshare -n venv/bin/pip install -q --no-index --find-links wheelhouse --require-hashes -r requirements.lock.txt
  echo "offline: $(ls wheelhouse/*.tar.gz wheelhouse/*.zip 2>/dev/null | wc -l) sdists built and $(venv/bin/pip list --format freeze | wc -l) distributions installed by pip in unshare -n (cp$host_version $host_platform, $(basename "$stack"))"
  # uv reads the PEP 751 lock and selects exactly the runtime pins: the build packages under
  # [tool.airlock] are not installed.
  python3 -m venv uv-venv
  "$UV" pip install --dry-run --python uv-venv/bin/python -r lockfiles/pylock.requirements.toml 2>&1 \
    | sed -n 's/^ + //p' | sort > uv-selected.txt
  python3 - lockfiles/pylock.requirements.toml uv-selected.txt <<'PY'
import re, sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
pins = sorted(f"{p['name']}=={p['version']}" for p in lock["tool"]["airlock"]["targets"][0]["pins"])
norm = lambda line: re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() + "==" + line.split("==")[1]
selected = sorted(norm(l.strip()) for l in open(sys.argv[2]) if "==" in l)
if pins != selected:
    sys.exit(f"uv selects other packages from the lock: only in the lock {sorted(set(pins) - set(selected))}, only in uv's plan {sorted(set(selected) - set(pins))}")
print(f"uv reads the lock: it would install exactly the {len(pins)} runtime pins, no build package")
PY
) || status=1
exit $status
