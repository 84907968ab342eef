# Shared by the scripts in this folder. Sourced, not run: moves to the repository root, builds
# airlock (sets AIRLOCK) and offers need_uv / need_pip, which install the peer tools into a
# throwaway venv unless UV / PIP already name them.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q
AIRLOCK=$PWD/target/release/airlock

peer_venv() {
  if [ -z "${PEER_VENV:-}" ]; then
    PEER_VENV=$(mktemp -d)/venv
    python3 -m venv "$PEER_VENV"
  fi
}
need_uv() {
  if [ -z "${UV:-}" ]; then peer_venv; "$PEER_VENV/bin/pip" install -q uv; UV=$PEER_VENV/bin/uv; fi
}
need_pip() {
  if [ -z "${PIP:-}" ]; then peer_venv; PIP=$PEER_VENV/bin/pip; fi
}
# The median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# timed LABEL COMMAND...: runs it quietly (its stderr shown if it fails, then exit), prints
# and appends "LABEL SECONDS" to $TIMES.
timed() {
  local start end
  start=$(date +%s.%N)
  "${@:2}" > /dev/null 2> "$TIMES.stderr" || { cat "$TIMES.stderr"; exit 1; }
  end=$(date +%s.%N)
  echo "$1 $(echo "$end - $start" | bc)" | tee -a "$TIMES"
}
# synced_example DIR: the shipped example (airlock.toml, requirements/) copied into DIR and
# synced there, so a benchmark works on a scratch copy, not the repository.
synced_example() {
  mkdir -p "$1"
  cp -r airlock.toml requirements "$1/"
  (cd "$1" && "$AIRLOCK" sync -q)
}
