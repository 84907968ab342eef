#!/usr/bin/env bash
# Benchmark: airlock resolve + fetch of Debian packages vs apt-get update + apt-get install
# --download-only under an isolated configuration (own lists, cache and status), for the
# issue's package list on the host's Debian release and architecture, with an empty base and
# with the host's own dpkg status as base. Empty caches on every run; runs alternate. Prints
# each run, the difference between the two closures, medians and the ratio, and airlock's
# peak RSS (resolve and fetch measured apart).
#
# Usage: scripts/bench-apt.sh [RUNS]   (default 3; needs apt-get, and the network to the mirrors
# the host's sources name).
set -euo pipefail
runs=${1:-3}
packages=${PACKAGES:-"build-essential cmake git curl ca-certificates libgomp1 ffmpeg"}
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$work/empty-status"
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

for base in empty host; do
  status=$([ "$base" = empty ] && echo "$work/empty-status" || echo /var/lib/dpkg/status)
  project="$work/project-$base"
  mkdir -p "$project"
  list=$(printf '"%s", ' $packages)
  printf '[apt]\npackages = [%s]\nbase = "%s"\n' "${list%, }" "$status" > "$project/airlock.toml"
  : > "$work/$base-airlock"; : > "$work/$base-apt"; : > "$work/$base-rss-resolve"; : > "$work/$base-rss-fetch"
  for i in $(seq "$runs"); do
    for tool in airlock apt; do
      if [ $((i % 2)) -eq 0 ]; then tool=$([ "$tool" = airlock ] && echo apt || echo airlock); fi
      if [ "$tool" = airlock ]; then
        rm -rf "$project/lockfiles" "$project/wheelhouse" "$work/cache-airlock"
        start=$(date +%s.%N)
        # resolve, then fetch (= sync), each under /usr/bin/time for its peak RSS.
        (cd "$project" && AIRLOCK_CACHE_DIR="$work/cache-airlock" /usr/bin/time -f %M -o "$work/rss-resolve" "$AIRLOCK" resolve -q \
          && AIRLOCK_CACHE_DIR="$work/cache-airlock" /usr/bin/time -f %M -o "$work/rss-fetch" "$AIRLOCK" fetch -q)
        cat "$work/rss-resolve" >> "$work/$base-rss-resolve"
        cat "$work/rss-fetch" >> "$work/$base-rss-fetch"
      else
        rm -rf "$work/apt" && mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
        opts=(-o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o "Dir::State::status=$status" -o APT::Install-Recommends=false -o APT::Sandbox::User=root)
        start=$(date +%s.%N)
        apt-get -qq "${opts[@]}" update > /dev/null
        apt-get -qq -y "${opts[@]}" install --download-only $packages > /dev/null
      fi
      seconds=$(echo "$(date +%s.%N) - $start" | bc)
      echo "$base base, $tool run $i: $seconds s"
      echo "$seconds" >> "$work/$base-$tool"
    done
  done
  # The two closures: airlock's lock vs apt's plan with the same lists and status.
  python3 - "$project/lockfiles/apt.lock.toml" > "$work/$base-airlock.txt" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
for p in sorted(lock["packages"], key=lambda p: p["name"]):
    print(f'{p["name"]}={p["version"]}')
PY
  sort -o "$work/$base-airlock.txt" "$work/$base-airlock.txt"
  apt-get -s -qq "${opts[@]}" install $packages 2>/dev/null | grep '^Inst ' \
    | sed -E 's/^Inst ([^ ]+) (\[[^]]*\] )?\(([^ ]+).*/\1=\3/' | sort > "$work/$base-apt.txt"
  a=$(median < "$work/$base-airlock"); p=$(median < "$work/$base-apt")
  echo "$base base: airlock $(wc -l < "$work/$base-airlock.txt") packages, apt $(wc -l < "$work/$base-apt.txt") packages"
  if diff "$work/$base-apt.txt" "$work/$base-airlock.txt" > "$work/$base.diff"; then echo "  closures identical"; else echo "  closures differ:"; cat "$work/$base.diff"; fi
  awk -v a="$a" -v p="$p" -v b="$base" 'BEGIN { printf "  %s base: median airlock %.2f s, apt %.2f s; apt/airlock %.2fx\n", b, a, p, p / a }'
  echo "  airlock peak RSS: resolve $(( $(sort -n "$work/$base-rss-resolve" | tail -1) / 1024 )) MB, fetch $(( $(sort -n "$work/$base-rss-fetch" | tail -1) / 1024 )) MB (largest of $runs runs)"
done
