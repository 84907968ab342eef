#!/usr/bin/env bash
# Benchmark: `airlock serve` against nginx (Debian's package) serving the same wheelhouse,
# airlock twice: as it runs by default (files held in memory once asked for, --memory 1G) and
# with --memory 0 (every file streamed from disk through a 1 MiB buffer).
# CLIENTS concurrent clients (curl's parallel transfers, one process) each download every
# locked file once, from each server in turn, RUNS times; every answer must be a 200 with
# the file's full length. Prints each run, the medians, the throughput ratio and the errors.
# The project is the shipped example synced into a scratch copy.
# Usage: scripts/bench-serve.sh [RUNS] [CLIENTS]   (defaults 3 and 200; needs nginx)
set -euo pipefail
runs=${1:-3}
clients=${2:-200}
source "$(dirname "$0")/lib.sh"
command -v nginx >/dev/null || { echo "nginx is not installed (apt-get install nginx-light)" >&2; exit 2; }
work=$(mktemp -d)
TIMES=$work/times
project=$work/example
synced_example "$project"
files=$(find "$project/wheelhouse" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' -o -name '*.zip' \) -printf '%f\n' | sort)
count=$(echo "$files" | wc -l)
bytes=$(cd "$project/wheelhouse" && echo "$files" | xargs du -cb | tail -1 | cut -f1)

"$AIRLOCK" serve "$project" --listen 127.0.0.1:18481 --format json -q > "$work/serve.json" &
airlock_pid=$!
"$AIRLOCK" serve "$project" --listen 127.0.0.1:18483 --memory 0 --format json -q > "$work/serve0.json" &
streamed_pid=$!
cat > "$work/nginx.conf" <<EOF
user root;
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $work/nginx-tmp;
  proxy_temp_path $work/nginx-tmp;
  fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp;
  scgi_temp_path $work/nginx-tmp;
  server { listen 127.0.0.1:18482; location /files/ { alias $project/wheelhouse/; } }
}
EOF
mkdir -p "$work/nginx-tmp"
nginx -c "$work/nginx.conf"
trap 'kill $airlock_pid $streamed_pid 2>/dev/null; nginx -c "$work/nginx.conf" -s stop 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -s "$work/serve.json" ] && [ -s "$work/serve0.json" ] && break; sleep 0.1; done

# One curl config: every client fetches every file (shuffled per client).
make_urls() { # port
  for c in $(seq "$clients"); do
    echo "$files" | shuf | while read -r f; do
      printf 'url = "http://127.0.0.1:%s/files/%s"\noutput = "/dev/null"\n' "$1" "$f"
    done
  done > "$work/urls-$1"
}
make_urls 18481
make_urls 18482
make_urls 18483
fetch_all() { # port
  curl -s -Z --parallel-max "$clients" -K "$work/urls-$1" \
    -w '%{http_code} %{size_download}\n' > "$work/codes-$1"
  local bad
  bad=$(awk '$1 != 200' "$work/codes-$1" | wc -l)
  echo "$bad" > "$work/errors-$1"
}
echo "airlock $("$AIRLOCK" --version | cut -d' ' -f2) vs $(nginx -v 2>&1 | cut -d' ' -f3); $count files, $((bytes / 1048576)) MiB; $clients clients each fetching all of them; $runs runs"
for _ in $(seq "$runs"); do
  timed airlock fetch_all 18481
  echo "  errors: $(cat "$work/errors-18481")"
  timed nginx fetch_all 18482
  echo "  errors: $(cat "$work/errors-18482")"
  timed airlock-memory-0 fetch_all 18483
  echo "  errors: $(cat "$work/errors-18483")"
done
total=$((bytes * clients))
for label in airlock nginx airlock-memory-0; do
  m=$(grep "^$label " "$TIMES" | cut -d' ' -f2 | median)
  printf '%-17s median %6.2f s  %8.1f MiB/s\n' "$label" "$m" "$(echo "$total / 1048576 / $m" | bc -l)"
  eval "m_${label//-/_}=$m"
done
echo "peak RSS: airlock $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$airlock_pid/status), airlock --memory 0 $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$streamed_pid/status)"
echo "airlock throughput / nginx: $(echo "scale=2; $m_nginx / $m_airlock" | bc)x"
echo "airlock --memory 0 throughput / nginx: $(echo "scale=2; $m_nginx / $m_airlock_memory_0" | bc)x"
