# Shared by the scripts in this folder: build airlock and find (or install) uv.
# Sourced, not run. Sets AIRLOCK and UV.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q
AIRLOCK=$PWD/target/release/airlock
if [ -z "${UV:-}" ]; then
  venv=$(mktemp -d)/venv
  python3 -m venv "$venv" && "$venv/bin/pip" install -q uv
  UV=$venv/bin/uv
fi
