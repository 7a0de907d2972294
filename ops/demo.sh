#!/usr/bin/env bash
# Sets up what serving needs on this machine if missing (not the test tools), builds
# Switchboard and serves the demo team on the embedded store: http://127.0.0.1:8080/.
# Extra arguments go to `switchboard serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/setup.sh serve
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
cargo build --release --locked -p switchboard-cli
exec "$CARGO_TARGET_DIR/release/switchboard" serve --demo "$@"
