#!/usr/bin/env bash
# Benchmark the resolver on real public stacks: `airlock resolve` against `uv pip compile`
# (default mode) on every requirements file in scripts/stacks/, for cp3.12 x86_64-manylinux_2_36
# and cp3.11 aarch64-manylinux_2_28, one target per run for both tools.
#   cold = empty caches for both tools; warm = each tool's cache primed by its cold run.
# The tools alternate run by run, so network weather hits both alike. For every run it prints
# wall time and peak RSS, whether the pins are identical, then the sums, the airlock/uv ratios,
# and the stacks where airlock was slower or used more memory.
#
# Usage: scripts/bench-stacks.sh [STACK...]   (default: every scripts/stacks/*.txt)
#        UV=/path/to/uv to use an installed uv.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_uv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stacks=("$@")
if ((${#stacks[@]} == 0)); then
  stacks=(scripts/stacks/*.txt)
fi
targets=("3.12 x86_64-manylinux_2_36" "3.11 aarch64-manylinux_2_28")
echo "airlock $("$AIRLOCK" --version | cut -d' ' -f2) vs $("$UV" --version)"
printf '%-10s %-28s %-4s %9s %9s %6s %8s %8s %s\n' stack target mode airlock_s uv_s ratio air_MB uv_MB pins

# Sorted name==version lines from a lock's first target, or from uv's output.
pins_of_lock() {
  python3 - "$1" <<'PY'
import sys, tomllib, glob
lock = tomllib.load(open(glob.glob(sys.argv[1] + "/pylock.*.toml")[0], "rb"))
for pin in sorted(f"{p['name']}=={p['version']}" for p in lock["tool"]["airlock"]["targets"][0]["pins"]):
    print(pin)
PY
}
pins_of_uv() {
  python3 - "$1" <<'PY'
import sys, re
pins = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].split(";")[0].strip()
    if "==" in line:
        name, version = line.split("==", 1)
        pins.append(re.sub(r"[-_.]+", "-", name).lower() + "==" + version.strip())
print("\n".join(sorted(pins)))
PY
}

run() { # tool stack version platform cache out
  local tool=$1 stack=$2 version=$3 platform=$4 cache=$5 out=$6
  if [ "$tool" = airlock ]; then
    rm -rf "$out"
    /usr/bin/time -f "%e %M" -o "$work/time" env AIRLOCK_CACHE_DIR="$cache" \
      "$AIRLOCK" resolve -q -r "$stack" --lockfiles "$out" \
      --python-version "$version" --python-platform "$platform" 2> "$work/err" \
      || { echo "airlock failed: $(tail -3 "$work/err")" >&2; echo "0 0"; return; }
  else
    # To stdout, not -o: uv reads an existing output file as preferred pins.
    /usr/bin/time -f "%e %M" -o "$work/time" env UV_CACHE_DIR="$cache" \
      "$UV" pip compile -q --no-header --no-annotate --python-version "$version" \
      --python-platform "$platform" "$stack" > "$out" 2> "$work/err" \
      || { echo "uv failed: $(tail -3 "$work/err")" >&2; echo "0 0"; return; }
  fi
  cat "$work/time"
}

: > "$work/rows"
for stack in "${stacks[@]}"; do
  name=$(basename "$stack" .txt)
  for target in "${targets[@]}"; do
    read -r version platform <<< "$target"
    key="$name-$version"
    rm -rf "$work/cache-airlock-$key" "$work/cache-uv-$key"
    for mode in cold warm; do
      read -r a_s a_kb < <(run airlock "$stack" "$version" "$platform" "$work/cache-airlock-$key" "$work/lock-$key")
      read -r u_s u_kb < <(run uv "$stack" "$version" "$platform" "$work/cache-uv-$key" "$work/uv-$key.txt")
      if [ -d "$work/lock-$key" ] && diff -q <(pins_of_lock "$work/lock-$key") \
        <(pins_of_uv "$work/uv-$key.txt") > /dev/null; then
        pins="identical($(pins_of_lock "$work/lock-$key" | wc -l))"
      else
        pins="DIFFER"
      fi
      ratio=$(python3 -c "print(f'{$a_s / $u_s:.2f}' if $u_s else 'n/a')")
      printf '%-10s %-28s %-4s %9s %9s %6s %8d %8d %s\n' "$name" "cp$version $platform" "$mode" \
        "$a_s" "$u_s" "$ratio" $((a_kb / 1024)) $((u_kb / 1024)) "$pins"
      echo "$name $version $mode $a_s $u_s $a_kb $u_kb $pins" >> "$work/rows"
    done
  done
done

python3 - "$work/rows" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
for mode in ("cold", "warm"):
    chosen = [r for r in rows if r[2] == mode]
    a = sum(float(r[3]) for r in chosen)
    u = sum(float(r[4]) for r in chosen)
    print(f"{mode}: airlock {a:.1f} s, uv {u:.1f} s in all, ratio {a / u:.2f}")
    slower = [f"{r[0]} cp{r[1]}" for r in chosen if float(r[3]) > float(r[4])]
    print(f"  slower than uv: {', '.join(slower) or 'none'}")
heavier = [f"{r[0]} cp{r[1]} {r[2]}" for r in rows if int(r[5]) > int(r[6])]
print(f"peak RSS above uv's: {', '.join(heavier) or 'none'}")
differ = [f"{r[0]} cp{r[1]} {r[2]}" for r in rows if r[7] == "DIFFER"]
print(f"pins differing from uv: {', '.join(differ) or 'none'}")
PY
