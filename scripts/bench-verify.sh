#!/usr/bin/env bash
# Benchmark: `airlock verify` on a wheelhouse of at least 1 GB vs the hashing ceiling,
# `sha256sum` over the same wheels in parallel (xargs -P$(nproc)), with a cold page cache
# (dropped before each run; needs root) and a warm one. verify does more than hash (zip
# directories, the closure re-resolution, lock freshness), so it is measured whole.
#
# Usage: scripts/bench-verify.sh [RUNS]  (default 5). Needs the network once, to fetch the
# wheels (the example stack plus torch for cp3.12 x86_64: about 1.5 GB with its CUDA wheels).
set -euo pipefail
runs=${1:-5}
source "$(dirname "$0")/lib.sh"
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/project/requirements"
printf -- '-r %s/requirements/requirements-api.in\ntorch\n' "$repo" > "$work/project/requirements/big.in"
cat > "$work/project/airlock.toml" <<TOML
[python]
requirements = ["requirements/big.in"]
targets = [{ python-version = "3.12", python-platform = "x86_64-manylinux_2_36" }]
TOML
cd "$work/project"
"$AIRLOCK" sync -q
size=$(du -sb wheelhouse | cut -f1)
count=$(find wheelhouse -name '*.whl' | wc -l)
echo "wheelhouse: $count wheels, $((size / 1000000)) MB; $(nproc) cores"
[ "$size" -ge 1000000000 ] || { echo "the wheelhouse is under 1 GB" >&2; exit 1; }

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || { echo "cannot drop caches (needs root)" >&2; exit 1; }; }
measure() { # name cold|warm command...
  local name=$1 mode=$2; shift 2
  [ "$mode" = cold ] && drop_caches
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2>&1 || { echo "$name failed" >&2; exit 1; }
  local result; result=$(cat "$work/time")
  echo "$mode $name: ${result% *} s, peak ${result#* } KB"
  echo "$result" >> "$work/result-$mode-$name"
}
run_airlock() { measure airlock "$1" "$AIRLOCK" verify; }
run_sha256sum() { measure sha256sum "$1" bash -c "find wheelhouse -name '*.whl' -print0 | xargs -0 -n 8 -P$(nproc) sha256sum"; }

"$AIRLOCK" verify > /dev/null 2>&1 || { "$AIRLOCK" verify; exit 1; }
for mode in cold warm; do
  for i in $(seq "$runs"); do
    if [ $((i % 2)) -eq 1 ]; then run_airlock "$mode"; run_sha256sum "$mode"; else run_sha256sum "$mode"; run_airlock "$mode"; fi
  done
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
for mode in cold warm; do
  a=$(cut -d' ' -f1 "$work/result-$mode-airlock" | median)
  s=$(cut -d' ' -f1 "$work/result-$mode-sha256sum" | median)
  m=$(cut -d' ' -f2 "$work/result-$mode-airlock" | sort -n | tail -1)
  awk -v a="$a" -v s="$s" -v m="$m" -v mode="$mode" 'BEGIN {
    printf "%s: airlock verify %.2f s (peak %d MB), parallel sha256sum %.2f s; airlock speed vs the ceiling %.2f (target >= 0.8)\n", mode, a, m / 1024, s, s / a }'
done
