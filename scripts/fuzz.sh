#!/usr/bin/env bash
# Fuzzes airlock's parsers of untrusted bytes with cargo fuzz (libFuzzer): zip central
# directories and METADATA members, Simple API pages (HTML and JSON), deb822 and everything
# built on it (Packages, Release, sources, dpkg status), Debian relations and versions, RFC
# 2822 dates (which must print back the same), Dockerfiles, sdist archives and core metadata.
#
#   scripts/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). The sanitizer flags it passes are unstable,
# so the machine's stable toolchain runs with RUSTC_BOOTSTRAP=1. Corpora and crashes stay in
# tests/fuzz/{corpus,artifacts} (ignored by git). Not run in CI: the first build alone takes
# about 12 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list --fuzz-dir tests/fuzz)
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build --fuzz-dir tests/fuzz -O
failed=()
for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s"
    mkdir -p "tests/fuzz/corpus/$target"
    if ! cargo fuzz run --fuzz-dir tests/fuzz -O "$target" "tests/fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 2>&1 | tail -4; then
        failed+=("$target")
    fi
done
if ((${#failed[@]})); then
    echo "crashes in: ${failed[*]} (inputs under tests/fuzz/artifacts/)" >&2
    exit 1
fi
echo "no crashes in ${#targets[@]} targets, ${seconds}s each"
