#!/usr/bin/env bash
# Builds the binary that ships (the `dist` profile: fat LTO, panic=abort) and splits its line
# tables into a separate file: target/dist/airlock (small, symbols kept) and
# target/dist/airlock.debug (files and lines), tied together by .gnu_debuglink, so a
# backtrace names files and lines when airlock.debug sits beside the binary and still names
# functions when it does not. Prints both sizes.
# Usage: scripts/dist.sh   (needs objcopy from binutils)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile dist --locked -q
out=target/dist
objcopy --only-keep-debug --compress-debug-sections=zlib "$out/airlock" "$out/airlock.debug"
objcopy --strip-debug --add-gnu-debuglink="$out/airlock.debug" "$out/airlock"
ls -l "$out/airlock" "$out/airlock.debug" | awk '{printf "%s %.1f MB\n", $9, $5 / 1048576}'
