#!/usr/bin/env bash
# Benchmark: `airlock bundle push` and `bundle pull` against the protocol done by hand with
# curl (one monolithic upload: POST then PUT of the whole archive; one GET of the blob, piped
# through sha256sum), against the same registry: Debian's docker-registry on 127.0.0.1, each
# run into an empty repository so nothing is reused. The bundle is the shipped example synced
# into a scratch copy. Runs alternate; prints each run, the medians and the ratios.
# Usage: scripts/bench-registry.sh [RUNS]   (default 5; needs docker-registry)
set -euo pipefail
runs=${1:-5}
source "$(dirname "$0")/lib.sh"
[ -x /usr/bin/docker-registry ] || { echo "docker-registry is not installed (apt-get install docker-registry)" >&2; exit 2; }
work=$(mktemp -d)
TIMES=$work/times
project=$work/example
mkdir -p "$work/registry"
synced_example "$project"
(cd "$project" && "$AIRLOCK" bundle create -q -o "$work/kit.tar.zst")
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:18500
EOF
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:18500/v2/ > /dev/null && break; sleep 0.1; done
size=$(stat -c %s "$work/kit.tar.zst")
digest=sha256:$(sha256sum "$work/kit.tar.zst" | cut -d' ' -f1)
echo "airlock $("$AIRLOCK" --version | cut -d' ' -f2), docker-registry $(docker-registry --version | awk '{print $3}'); bundle $((size / 1048576)) MiB; $runs runs each"

curl_push() { # repository
  local location
  location=$(curl -sf -X POST -D - -o /dev/null "http://127.0.0.1:18500/v2/$1/blobs/uploads/" | tr -d '\r' | awk -F': ' 'tolower($1) == "location" {print $2}')
  case $location in http*) ;; *) location=http://127.0.0.1:18500$location ;; esac
  curl -sf -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$work/kit.tar.zst" \
    "$location&digest=$digest" -o /dev/null
}
curl_pull() { # repository
  curl -sf "http://127.0.0.1:18500/v2/$1/blobs/$digest" | sha256sum > /dev/null
}
for run in $(seq "$runs"); do
  timed push "$AIRLOCK" bundle push -q "$work/kit.tar.zst" "oci://127.0.0.1:18500/airlock/run$run:1"
  timed curl-push curl_push "curl/run$run"
  rm -f "$work/pulled.tar.zst"
  timed pull "$AIRLOCK" bundle pull -q "oci://127.0.0.1:18500/airlock/run$run:1" -o "$work/pulled.tar.zst"
  timed curl-pull curl_pull "curl/run$run"
  cmp -s "$work/pulled.tar.zst" "$work/kit.tar.zst" || { echo "the pulled bundle differs" >&2; exit 1; }
done
for label in push curl-push pull curl-pull; do
  m=$(grep "^$label " "$TIMES" | cut -d' ' -f2 | median)
  printf '%-10s median %6.2f s  %7.1f MiB/s\n' "$label" "$m" "$(echo "$size / 1048576 / $m" | bc -l)"
  eval "m_${label//-/_}=$m"
done
echo "push throughput / curl monolithic upload: $(echo "scale=2; $m_curl_push / $m_push" | bc)x"
echo "pull throughput / curl GET | sha256sum: $(echo "scale=2; $m_curl_pull / $m_pull" | bc)x"
