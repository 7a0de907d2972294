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
echo "setup: ready (rustc $version)" >&2
