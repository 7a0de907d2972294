#!/usr/bin/env bash
# Installs what building and testing Switchboard needs on a Debian machine, and says
# clearly what it cannot install. Safe to run again: it only installs what is missing.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v git >/dev/null 2>&1 || need_apt+=(git)
command -v curl >/dev/null 2>&1 || need_apt+=(curl ca-certificates)

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    need_apt+=(cargo rustc)
fi

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} from Debian" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Switchboard needs Rust 1.85 or newer (edition 2021, current crates).
version=$(rustc --version | awk '{print $2}')
major=${version%%.*}; rest=${version#*.}; minor=${rest%%.*}
if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 85 ]; }; then
    echo "setup: rustc $version is too old; Switchboard needs Rust 1.85 or newer." >&2
    echo "setup: install a current toolchain with rustup (https://rustup.rs) and run this again." >&2
    exit 1
fi

if [ ! -d "$(dirname "$0")/../../shared/data/eval" ]; then
    echo "setup: warning: ../shared/data/eval is missing beside the checkout; the matching-quality tests will fail." >&2
fi
# --- PostgreSQL for the read-model store tests (switchboard-readstore) -----------------
# Skipped when a server already answers on 127.0.0.1:5432.
if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "setup: installing PostgreSQL from Debian" >&2
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
    fi
    pg_version=$(ls /etc/postgresql | sort -V | tail -n 1)
    # Trust local TCP connections (development machine only).
    pg_hba="/etc/postgresql/$pg_version/main/pg_hba.conf"
    if ! $SUDO grep -q '^host all all 127.0.0.1/32 trust' "$pg_hba"; then
        $SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$pg_hba"
    fi
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start 2>/dev/null \
        || $SUDO pg_ctlcluster --skip-systemctl-redirect "$pg_version" main reload
    for _ in $(seq 1 30); do
        (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null && break
        sleep 1
    done
fi
if command -v psql >/dev/null 2>&1 \
    && ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test" >/dev/null
fi
# --- end PostgreSQL ---------------------------------------------------------------------
echo "setup: ready (rustc $version)" >&2
