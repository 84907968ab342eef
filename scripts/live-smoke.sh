#!/usr/bin/env bash
# Live check against the real index (not part of `cargo test`): resolve the shipped example
# with airlock and with `uv pip compile` at the same moment, for every target in airlock.toml,
# and compare the pins. Needs network access to the index and uv (installed into a temp venv
# unless UV is set). Exit 0 when the pins are identical for every target.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_uv
work=$(mktemp -d)
"$AIRLOCK" resolve --lockfiles "$work/locks" -q
status=0
for lock in "$work"/locks/pylock.*.toml; do
  python3 - "$lock" "$work" <<'PY'
import sys, tomllib, pathlib
lock = tomllib.loads(pathlib.Path(sys.argv[1]).read_text())
air = lock["tool"]["airlock"]
for i, t in enumerate(air["targets"]):
    pins = sorted(f"{p['name']}=={p['version']}" for p in t["pins"])
    pathlib.Path(sys.argv[2], f"airlock-{i}.txt").write_text("\n".join(pins) + "\n")
    pathlib.Path(sys.argv[2], f"target-{i}").write_text(f"{t['python-version']} {t['python-platform']} {air['requirements']}\n")
PY
  for target in "$work"/target-*; do
    i=${target##*-}
    read -r version platform requirements < "$target"
    "$UV" pip compile -q --no-header --no-annotate --only-binary :all: \
      --python-version "$version" --python-platform "$platform" "$requirements" \
      | grep -v '^\s*#' | sed 's/ *;.*//' | tr 'A-Z_' 'a-z-' | sort > "$work/uv-$i.txt"
    if diff -u "$work/uv-$i.txt" "$work/airlock-$i.txt" > "$work/diff-$i.txt"; then
      echo "cp$version $platform: $(wc -l < "$work/airlock-$i.txt") pins, identical to uv"
    else
      echo "cp$version $platform: pins differ from uv:"; cat "$work/diff-$i.txt"; status=1
    fi
  done
  rm -f "$work"/target-* "$work"/airlock-*.txt
done
exit $status
