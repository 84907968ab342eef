#!/usr/bin/env bash
# Benchmark: what source distributions cost. One stack with five sdist-only packages and the
# same stack without them, each resolved by `airlock resolve` and by `uv pip compile` (default
# mode, which builds sdists for their metadata), cold (empty caches, every run), warm (caches
# primed; pages past their max-age are revalidated with the index) and offline (caches primed,
# `--offline` for both tools: only local work). Runs alternate between the tools. Prints each
# run, then medians and ratios: airlock with sdists / without, warm and offline (the stack with
# sdists also has more project pages to revalidate), and airlock / uv per stack and mode.
# Usage: scripts/bench-sdist.sh [RUNS]   (default 5; UV=/path/to/uv to skip installing uv)
set -euo pipefail
runs=${1:-5}
version=${PYTHON_VERSION:-3.12}
platform=${PYTHON_PLATFORM:-x86_64-manylinux_2_36}
source "$(dirname "$0")/lib.sh"
need_uv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base="requests flask pydantic sqlalchemy httpx rich click jinja2"
sdists="docopt langdetect feedfinder2 jieba3k tinysegmenter"
printf '%s\n' $base > "$work/without.in"
printf '%s\n' $base $sdists > "$work/with.in"
echo "airlock $("$AIRLOCK" --version | cut -d' ' -f2) vs $("$UV" --version); cp$version $platform; $runs runs each"
echo "stack without: $base"
echo "stack with:    the same + $sdists (sdist-only)"

run() { # tool stack cache [--offline]
  if [ "$1" = airlock ]; then
    /usr/bin/time -f "%e %M" -o "$work/time" env AIRLOCK_CACHE_DIR="$3" \
      "$AIRLOCK" resolve -q ${4:-} -r "$work/$2.in" --lockfiles "$work/locks-$2" \
      --python-version "$version" --python-platform "$platform" 2> /dev/null
  else
    /usr/bin/time -f "%e %M" -o "$work/time" env UV_CACHE_DIR="$3" \
      "$UV" pip compile -q ${4:-} --python-version "$version" --python-platform "$platform" \
      "$work/$2.in" > /dev/null
  fi
  cat "$work/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for stack in without with; do
  for tool in airlock uv; do run "$tool" "$stack" "$work/warm-$tool-$stack" > /dev/null; done
done
for mode in cold warm offline; do
  for stack in without with; do
    for i in $(seq "$runs"); do
      order="airlock uv"; [ $((i % 2)) -eq 0 ] && order="uv airlock"
      for tool in $order; do
        if [ "$mode" = cold ]; then cache="$work/cold-$tool-$stack-$i"; else cache="$work/warm-$tool-$stack"; fi
        flag=""; [ "$mode" = offline ] && flag=--offline
        result=$(run "$tool" "$stack" "$cache" $flag)
        echo "$mode $stack $tool run $i: ${result% *} s, peak ${result#* } KB"
        echo "$result" >> "$work/$mode-$stack-$tool"
      done
    done
  done
done
echo
printf '%-7s %-8s %-8s %10s %12s\n' mode stack tool median_s peak_MB
for mode in cold warm offline; do
  for stack in without with; do
    for tool in airlock uv; do
      t=$(cut -d' ' -f1 "$work/$mode-$stack-$tool" | median)
      m=$(cut -d' ' -f2 "$work/$mode-$stack-$tool" | sort -n | tail -1)
      printf '%-7s %-8s %-8s %10s %12s\n' "$mode" "$stack" "$tool" "$t" "$((m / 1024))"
      eval "${mode}_${stack}_${tool}=$t"
    done
  done
done
for mode in warm offline; do
  w=$(eval echo "\$${mode}_with_airlock"); wo=$(eval echo "\$${mode}_without_airlock")
  awk -v w="$w" -v wo="$wo" -v m="$mode" \
    'BEGIN { printf "%s airlock: with sdists / without = %.2f\n", m, w / wo }'
done
for mode in cold warm offline; do
  for stack in without with; do
    a=$(eval echo "\$${mode}_${stack}_airlock"); u=$(eval echo "\$${mode}_${stack}_uv")
    awk -v a="$a" -v u="$u" -v m="$mode" -v s="$stack" \
      'BEGIN { printf "%s %s: airlock/uv = %.2f (below 1: airlock faster)\n", m, s, a / u }'
  done
done
