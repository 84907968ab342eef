#!/usr/bin/env bash
# Benchmark: `airlock bundle create` against `tar -c | zstd -T0` of the same files, and
# `airlock bundle verify` against `zstd -dc | sha256sum` of the same archive, on the shipped
# example synced into a scratch copy (for this machine's default target list in airlock.toml).
# Runs alternate; prints each run, the medians and the ratios (throughput, airlock / peer).
# Usage: scripts/bench-bundle.sh [RUNS]   (default 5)
set -euo pipefail
runs=${1:-5}
source "$(dirname "$0")/lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
TIMES=$work/times
project=$work/example
synced_example "$project"
cp Dockerfile "$project/"
cd "$project"
"$AIRLOCK" export --format requirements-txt -o requirements.lock.txt
"$AIRLOCK" bundle create -q -o "$work/kit.tar.zst"
# The peer packs exactly the files the bundle holds.
tar --zstd -tf "$work/kit.tar.zst" | grep -v '^\.airlock-bundle/' > "$work/files"
bytes=$(xargs -d '\n' du -cb < "$work/files" | tail -1 | cut -f1)
echo "airlock $("$AIRLOCK" --version | cut -d' ' -f2), $(zstd --version); $(wc -l < "$work/files") files, $((bytes / 1048576)) MiB; $runs runs each"

peer_create() { tar -cf - -T "$work/files" | zstd -q -T0 > "$work/peer.tar.zst"; }
peer_verify() { zstd -dc "$work/kit.tar.zst" | sha256sum; }
for _ in $(seq "$runs"); do
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  timed create "$AIRLOCK" bundle create -q -o "$work/kit.tar.zst"
  timed tar-zstd peer_create
  timed verify "$AIRLOCK" bundle verify -q "$work/kit.tar.zst"
  timed zstd-sha256sum peer_verify
done
for label in create tar-zstd verify zstd-sha256sum; do
  m=$(grep "^$label " "$work/times" | cut -d' ' -f2 | median)
  printf '%-15s median %6.2f s  %7.1f MiB/s\n' "$label" "$m" "$(echo "$bytes / 1048576 / $m" | bc -l)"
  eval "m_${label//-/_}=$m"
done
echo "create throughput / tar|zstd -T0: $(echo "scale=2; $m_tar_zstd / $m_create" | bc)x"
echo "verify throughput / zstd -dc|sha256sum: $(echo "scale=2; $m_zstd_sha256sum / $m_verify" | bc)x"
