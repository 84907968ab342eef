#!/usr/bin/env bash
# Benchmark: `airlock resolve` vs `uv pip compile --generate-hashes` on the same requirements and
# target, against the real index. Cold = empty caches for both tools on every run; warm = caches
# primed by a previous run. Runs alternate between the tools so that network weather hits both
# alike. Prints each run, then medians, the airlock/uv ratio and peak RSS.
#
# Usage: scripts/bench-resolve.sh [RUNS]   (default 5; UV=/path/to/uv to skip installing uv)
# Requirements: REQUIREMENTS (default requirements/requirements-api.in),
#               PYTHON_VERSION (3.12), PYTHON_PLATFORM (x86_64-manylinux_2_36).
set -euo pipefail
runs=${1:-5}
requirements=${REQUIREMENTS:-requirements/requirements-api.in}
version=${PYTHON_VERSION:-3.12}
platform=${PYTHON_PLATFORM:-x86_64-manylinux_2_36}
source "$(dirname "$0")/lib.sh"
need_uv
airlock=$AIRLOCK
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "airlock $("$airlock" --version | cut -d' ' -f2) vs $("$UV" --version); $requirements for cp$version $platform; $runs runs each"

run_airlock() { # cache_dir
  /usr/bin/time -f "%e %M" -o "$work/time" env AIRLOCK_CACHE_DIR="$1" \
    "$airlock" resolve -q -r "$requirements" --lockfiles "$work/locks" \
    --python-version "$version" --python-platform "$platform"
  cat "$work/time"
}
run_uv() { # cache_dir
  /usr/bin/time -f "%e %M" -o "$work/time" env UV_CACHE_DIR="$1" \
    "$UV" pip compile -q --generate-hashes --python-version "$version" \
    --python-platform "$platform" "$requirements" -o "$work/uv.txt"
  cat "$work/time"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for mode in cold warm; do
  : > "$work/$mode-airlock"; : > "$work/$mode-uv"
  if [ "$mode" = warm ]; then
    run_airlock "$work/warm-cache-airlock" > /dev/null
    run_uv "$work/warm-cache-uv" > /dev/null
  fi
  for i in $(seq "$runs"); do
    for tool in airlock uv; do
      # Alternate which tool goes first.
      if [ $((i % 2)) -eq 0 ]; then tool=$([ "$tool" = airlock ] && echo uv || echo airlock); fi
      if [ "$mode" = cold ]; then cache="$work/cold-$tool-$i"; else cache="$work/warm-cache-$tool"; fi
      result=$("run_$tool" "$cache")
      echo "$mode $tool run $i: ${result% *} s, peak ${result#* } KB"
      echo "$result" >> "$work/$mode-$tool"
    done
  done
done
echo
printf '%-5s %-8s %10s %14s\n' mode tool median_s peak_rss_MB
for mode in cold warm; do
  for tool in airlock uv; do
    t=$(cut -d' ' -f1 "$work/$mode-$tool" | median)
    m=$(cut -d' ' -f2 "$work/$mode-$tool" | sort -n | tail -1)
    printf '%-5s %-8s %10s %14s\n' "$mode" "$tool" "$t" "$((m / 1024))"
    eval "${mode}_${tool}=$t"
  done
  awk -v a="${mode}_airlock" -v av="$(eval echo \$${mode}_airlock)" -v uv="$(eval echo \$${mode}_uv)" -v m="$mode" \
    'BEGIN { printf "%s: airlock/uv time ratio %.2f (below 1 means airlock is faster)\n", m, av / uv }'
done
