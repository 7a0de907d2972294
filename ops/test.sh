#!/usr/bin/env bash
# Sets up this machine if needed and runs every check and test of the workspace:
# formatting, lints, dependency boundaries, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ops/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchboard/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== format" >&2
cargo fmt --all -- --check

echo "== lints" >&2
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "== dependency boundaries" >&2
bash ops/check-boundaries.sh

echo "== tests" >&2
if cargo nextest --version >/dev/null 2>&1; then
    # Documentation examples first, so the suite's summary is the last thing printed.
    cargo test --locked --workspace --doc --quiet
    cargo nextest run --locked --workspace --no-fail-fast
else
    echo "cargo-nextest not found; running cargo test" >&2
    cargo test --locked --workspace --no-fail-fast
fi
