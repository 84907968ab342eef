#!/usr/bin/env bash
# Benchmark: parsing a real Debian Packages index (the largest suite's main component for one
# architecture, ~60k stanzas) on one core, deb822 alone and with relations and versions, plus
# xz decoding for scale; then airlock resolve of the issue's package list from a warm cache,
# where decoding and parsing overlap.
#
# Usage: scripts/bench-parse.sh [Packages.xz]   (default: fetched from the host's first Debian
# source through airlock's own cache, by resolving once.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages_xz=${1:-}
project="$work/project"
mkdir -p "$project"
printf '[apt]\npackages = ["build-essential", "cmake", "git", "curl", "ca-certificates", "libgomp1", "ffmpeg"]\nbase = "none"\n' > "$project/airlock.toml"
(cd "$project" && AIRLOCK_CACHE_DIR="$work/cache" "$AIRLOCK" resolve -q)
if [ -z "$packages_xz" ]; then
  # The largest cached body is the main component's Packages.xz.
  packages_xz=$(find "$work/cache" -type f -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
fi
xz -dc "$packages_xz" > "$work/Packages" 2>/dev/null || cp "$packages_xz" "$work/Packages"
echo "index: $(grep -c '^Package:' "$work/Packages") stanzas, $(stat -c %s "$work/Packages") bytes"
start=$(date +%s.%N); xz -dc "$packages_xz" > /dev/null 2>&1 || true
echo "xz -dc alone: $(echo "$(date +%s.%N) - $start" | bc) s"
AIRLOCK_BENCH_PACKAGES="$work/Packages" cargo test --release --quiet --test it parse_a_real_packages_index \
  -- --ignored --nocapture 2>/dev/null | grep '^parse '
for i in 1 2 3; do
  rm -rf "$project/lockfiles"
  /usr/bin/time -f "airlock resolve, warm cache, run $i: %e s, peak %M KB" \
    env AIRLOCK_CACHE_DIR="$work/cache" "$AIRLOCK" -q resolve --config "$project/airlock.toml" 2>&1 | tail -1
done
