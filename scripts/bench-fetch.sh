#!/usr/bin/env bash
# Benchmark: `airlock fetch` with an empty cache vs `pip download` of the same pinned wheels vs
# a bandwidth ceiling (`curl --parallel` of exactly the URLs airlock fetches), against the real
# index. Runs alternate between the tools; prints each run, medians, ratios and peak RSS.
#
# Usage: scripts/bench-fetch.sh [RUNS]   (default 3; PIP=/path/to/pip to skip the venv)
# The lock: REQUIREMENTS (default requirements/requirements-api.in) for PYTHON_VERSION (3.12)
# on PYTHON_PLATFORM (x86_64-manylinux_2_36); pip gets the matching --platform.
set -euo pipefail
runs=${1:-3}
requirements=${REQUIREMENTS:-requirements/requirements-api.in}
version=${PYTHON_VERSION:-3.12}
platform=${PYTHON_PLATFORM:-x86_64-manylinux_2_36}
source "$(dirname "$0")/lib.sh"
need_pip
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# pip does not widen --platform manylinux_2_36 to older glibc tags: pass the whole chain, as
# airlock's target expands it (manylinux_2_36 … manylinux_2_17, the legacy aliases, linux).
arch=${platform%%-*}; glibc_minor=${platform##*_}
pip_platforms=()
for minor in $(seq "$glibc_minor" -1 5); do pip_platforms+=(--platform "manylinux_2_${minor}_$arch"); done
pip_platforms+=(--platform "manylinux2014_$arch" --platform "manylinux2010_$arch" --platform "manylinux1_$arch")
"$AIRLOCK" resolve -q -r "$requirements" --lockfiles "$work/locks" \
  --python-version "$version" --python-platform "$platform"
python3 - "$work" <<'PY'
import sys, tomllib, pathlib
work = pathlib.Path(sys.argv[1])
lock = tomllib.loads(next((work / "locks").glob("pylock.*.toml")).read_text())
urls = [w["url"] for p in lock["packages"] for w in p.get("wheels", [])]
(work / "urls.txt").write_text("\n".join(urls) + "\n")
pins = [f"{p['name']}=={p['version']}" for p in lock["packages"]]
(work / "pins.txt").write_text("\n".join(pins) + "\n")
size = sum(w.get("size", 0) for p in lock["packages"] for w in p.get("wheels", []))
print(f"{len(urls)} wheels, {size / 1e6:.1f} MB, {len(pins)} pins")
PY
echo "airlock vs pip $("$PIP" --version | cut -d' ' -f2) vs curl $(curl --version | head -1 | cut -d' ' -f2); cp$version $platform; $runs runs each"

measure() { # name command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > /dev/null 2>&1 || { echo "$name failed" >&2; exit 1; }
  local result; result=$(cat "$work/time")
  echo "$name: ${result% *} s, peak ${result#* } KB"
  echo "$result" >> "$work/result-$name"
}
run_airlock() { measure airlock env AIRLOCK_CACHE_DIR="$work/cache-$1" "$AIRLOCK" fetch -q \
  --lockfiles "$work/locks" --wheelhouse "$work/out-airlock-$1"; rm -rf "$work/out-airlock-$1" "$work/cache-$1"; }
run_pip() { measure pip "$PIP" download -q --no-cache-dir --no-deps --only-binary=:all: \
  --python-version "$version" "${pip_platforms[@]}" -d "$work/out-pip-$1" -r "$work/pins.txt"
  rm -rf "$work/out-pip-$1"; }
run_curl() { mkdir -p "$work/out-curl-$1"
  measure curl bash -c "cd '$work/out-curl-$1' && xargs curl -sSf --parallel --parallel-max 16 --remote-name-all < '$work/urls.txt'"
  rm -rf "$work/out-curl-$1"; }

for i in $(seq "$runs"); do
  order="airlock pip curl"
  [ $((i % 3)) -eq 2 ] && order="pip curl airlock"
  [ $((i % 3)) -eq 0 ] && order="curl airlock pip"
  for tool in $order; do "run_$tool" "$i"; done
done

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
printf '%-8s %10s %14s\n' tool median_s peak_rss_MB
for tool in airlock pip curl; do
  t=$(cut -d' ' -f1 "$work/result-$tool" | median)
  m=$(cut -d' ' -f2 "$work/result-$tool" | sort -n | tail -1)
  printf '%-8s %10s %14s\n' "$tool" "$t" "$((m / 1024))"
  eval "median_$tool=$t"
done
awk -v a="$median_airlock" -v p="$median_pip" -v c="$median_curl" 'BEGIN {
  printf "pip/airlock speedup %.2fx (target >= 3); airlock speed vs curl ceiling %.2f (target >= 0.8)\n", p / a, c / a }'
