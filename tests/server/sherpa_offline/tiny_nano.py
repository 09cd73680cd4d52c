"""A tiny Fun-ASR-Nano the tests build: the three graphs and the tokenizer folder sherpa-onnx reads.

sherpa-onnx (``offline-funasr-nano-model.cc``, ``offline-recognizer-funasr-nano-impl.cc``,
``funasr-nano-tokenizer.cc``) runs:

* ``encoder_adaptor``: LFR features (1, T, 560) -> audio embeddings (1, T, llm_dim); metadata
  ``lfr_window_size``, ``lfr_window_shift``, ``llm_dim``;
* ``embedding``: token ids (1, S) int64 -> embeddings (1, S, llm_dim);
* ``llm``: ``inputs_embeds`` (1, S, H), ``attention_mask`` (1, L) int64, ``cache_position`` (S)
  int64 and per layer ``past_key``/``past_value`` (1, max_total_len, kv_heads, head_dim) ->
  ``logits`` (1, S, V) and per layer the KV *deltas* (1, S, kv_heads, head_dim), which
  sherpa-onnx writes into its zeroed cache at ``cache_position``; metadata ``vocab_size``,
  ``model_type`` containing ``kv_delta``, ``num_layers``, ``max_total_len``;
* a Qwen-style byte-level BPE tokenizer folder: ``vocab.json``, ``merges.txt`` and the
  ``added_tokens`` of ``tokenizer.json`` (``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``).

It prefills the chat prompt (system, user prompt, audio placeholders filled with the encoder's
output, assistant), then samples greedily until ``<|im_end|>``.

This model's embeddings (H = 4) count things, and its single layer's KV deltas are the
embeddings themselves, so summing the cache tells the LLM what the prompt and the tokens so
far held: dim 0 counts generated tokens, dim 1 loud audio frames (mean log-mel above -10),
dim 2 ``[`` characters (the hot-word prompt lists hot words in brackets), dim 3 ``@``
characters (the tests put one in their context).  It writes ``热词`` first if the prompt had
hot words, then ``前文`` if it had an ``@``, then one SCRIPT token per 5 loud frames (300 ms),
then ``<|im_end|>``.
"""

# Chinese text here holds full-width punctuation (the full-width comma) on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as oh
from onnx import numpy_helper as nh

FEATURES, HIDDEN, MAX_TOTAL_LEN = 560, 4, 2048
SCRIPT = ("你", "好", " world", "，", "我", "们", " Py", "thon", "写", "。")
SCRIPT_TEXT = "你好 world，我们 Python 写。"  # one pass of SCRIPT, after the engine's spacing
HOT, CONTEXT = "热词", "前文"
SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")


def _byte_unicode() -> dict[int, str]:
    """GPT-2's bytes_to_unicode: how byte-level BPE spells each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTES = _byte_unicode()


def spelled(text: str) -> str:
    return "".join(BYTES[b] for b in text.encode("utf-8"))


#: ids: 0-255 the bytes, then the SCRIPT and marker tokens, then the special tokens
WORDS = (*SCRIPT, HOT, CONTEXT)
WORD_IDS = {word: 256 + i for i, word in enumerate(WORDS)}
SPECIAL_IDS = {token: 256 + len(WORDS) + i for i, token in enumerate(SPECIALS)}
VOCAB = 256 + len(WORDS) + len(SPECIALS)


def write_tokenizer(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {BYTES[b]: b for b in range(256)} | {spelled(w): i for w, i in WORD_IDS.items()}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")  # no merges: text encodes to bytes
    flags = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    added = [{"id": i, "content": t, **flags} for t, i in SPECIAL_IDS.items()]
    (folder / "tokenizer.json").write_text(json.dumps({"added_tokens": added}, ensure_ascii=False), encoding="utf-8")
    return folder


def _save(graph: onnx.GraphProto, path: Path, metadata: dict[str, object]) -> None:
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def build_encoder(path: Path, metadata: dict[str, object] | None = None) -> None:
    node = oh.make_node
    graph = oh.make_graph(
        [
            node("ReduceMean", ["x"], ["energy"], axes=[2], keepdims=1),  # (1, T, 1)
            node("Greater", ["energy", "quiet"], ["loud"]),
            node("Cast", ["loud"], ["loud_f"], to=TensorProto.FLOAT),
            node("Mul", ["loud_f", "loud_dim"], ["encoder_out"]),  # (1, T, H): dim 1 = loud
        ],
        "tiny_nano_encoder_adaptor",
        [oh.make_tensor_value_info("x", TensorProto.FLOAT, [1, "T", FEATURES])],
        [oh.make_tensor_value_info("encoder_out", TensorProto.FLOAT, [1, "T", HIDDEN])],
        [
            nh.from_array(np.array(-10.0, np.float32), "quiet"),
            nh.from_array(np.array([0, 1, 0, 0], np.float32), "loud_dim"),
        ],
    )
    default = {"lfr_window_size": 7, "lfr_window_shift": 6, "llm_dim": HIDDEN, "comment": "tiny Nano test model"}
    _save(graph, path, default if metadata is None else metadata)


def build_embedding(path: Path) -> None:
    table = np.zeros((VOCAB, HIDDEN), np.float32)
    for i in WORD_IDS.values():
        table[i, 0] = 1.0  # a generated token
    table[ord("["), 2] = 1.0
    table[ord("@"), 3] = 1.0
    graph = oh.make_graph(
        [oh.make_node("Gather", ["table", "input_ids"], ["inputs_embeds"], axis=0)],
        "tiny_nano_embedding",
        [oh.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "S"])],
        [oh.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, [1, "S", HIDDEN])],
        [nh.from_array(table, "table")],
    )
    _save(graph, path, {"hidden_size": HIDDEN})


def _llm_constants() -> list[onnx.TensorProto]:
    script = np.array([WORD_IDS[w] for w in SCRIPT], np.int64)
    values = {
        "script": script,
        "script_len": np.array(len(SCRIPT), np.int64),
        "five": np.array(5, np.int64),
        "four": np.array(4, np.int64),
        "zero": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "hot_id": np.array(WORD_IDS[HOT], np.int64),
        "context_id": np.array(WORD_IDS[CONTEXT], np.int64),
        "end_id": np.array(SPECIAL_IDS["<|im_end|>"], np.int64),
        "depth": np.array(VOCAB, np.int64),
        "onehot_values": np.array([0.0, 1.0], np.float32),
        "delta_shape": np.array([1, -1, 1, HIDDEN], np.int64),
        "axis01": np.array([0, 1], np.int64),
        "axis012": np.array([0, 1, 2], np.int64),
        "axis0": np.array([0], np.int64),
        "one1": np.array([1], np.int64),
        "depth1": np.array([VOCAB], np.int64),
        **{f"i{k}": np.array(k, np.int64) for k in range(HIDDEN)},
    }
    return [nh.from_array(v, k) for k, v in values.items()]


def _llm_nodes() -> list[onnx.NodeProto]:
    node = oh.make_node
    counts = [node("Gather", ["total", f"i{k}"], [f"count{k}"], axis=0) for k in range(HIDDEN)]
    return [
        # what the cache and this step's inputs hold, summed: (H,)
        node("ReduceSum", ["past_key_0", "axis012"], ["past_sum"], keepdims=0),
        node("ReduceSum", ["inputs_embeds", "axis01"], ["now_sum"], keepdims=0),
        node("Add", ["past_sum", "now_sum"], ["total_f"]),
        node("Round", ["total_f"], ["total_r"]),
        node("Cast", ["total_r"], ["total"], to=TensorProto.INT64),
        *counts,
        # markers first: hot words (a "[" in the prompt), then context (an "@")
        node("Greater", ["count2", "zero"], ["has_hot"]),
        node("Greater", ["count3", "zero"], ["has_context"]),
        node("Cast", ["has_hot"], ["hot_n"], to=TensorProto.INT64),
        node("Cast", ["has_context"], ["context_n"], to=TensorProto.INT64),
        node("Add", ["hot_n", "context_n"], ["markers"]),
        # then ceil(loud / 5) script tokens, then <|im_end|>
        node("Add", ["count1", "four"], ["loud4"]),
        node("Div", ["loud4", "five"], ["wanted"]),
        node("Sub", ["count0", "markers"], ["j"]),
        node("Less", ["j", "wanted"], ["more"]),
        node("Max", ["j", "zero"], ["j0"]),
        node("Mod", ["j0", "script_len"], ["slot"]),
        node("Gather", ["script", "slot"], ["word"], axis=0),
        node("Where", ["more", "word", "end_id"], ["after_markers"]),
        node("Less", ["count0", "hot_n"], ["at_hot"]),
        node("Less", ["count0", "markers"], ["at_marker"]),
        node("Where", ["at_marker", "context_id", "after_markers"], ["maybe_context"]),
        node("Where", ["at_hot", "hot_id", "maybe_context"], ["next_id"]),
        # logits (1, S, V): the same one-hot at every position (sherpa-onnx reads the last)
        node("Unsqueeze", ["next_id", "axis0"], ["next_ids"]),
        node("OneHot", ["next_ids", "depth", "onehot_values"], ["onehot"], axis=-1),  # (1, V)
        node("Shape", ["inputs_embeds"], ["embeds_shape"]),
        node("Gather", ["embeds_shape", "one"], ["steps"], axis=0),
        node("Unsqueeze", ["steps", "axis0"], ["steps1"]),
        node("Concat", ["one1", "steps1", "depth1"], ["logits_shape"], axis=0),
        node("Expand", ["onehot", "logits_shape"], ["logits"]),
        # the KV deltas are the embeddings
        node("Reshape", ["inputs_embeds", "delta_shape"], ["present_key_0"]),
        node("Identity", ["present_key_0"], ["present_value_0"]),
    ]


def build_llm(path: Path, metadata: dict[str, object] | None = None) -> None:
    cache = ["B", "max_len", 1, HIDDEN]
    graph = oh.make_graph(
        _llm_nodes(),
        "tiny_nano_llm",
        [
            oh.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, [1, "S", HIDDEN]),
            oh.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "L"]),
            oh.make_tensor_value_info("cache_position", TensorProto.INT64, ["S"]),
            oh.make_tensor_value_info("past_key_0", TensorProto.FLOAT, cache),
            oh.make_tensor_value_info("past_value_0", TensorProto.FLOAT, cache),
        ],
        [
            oh.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "S", VOCAB]),
            oh.make_tensor_value_info("present_key_0", TensorProto.FLOAT, [1, "S", 1, HIDDEN]),
            oh.make_tensor_value_info("present_value_0", TensorProto.FLOAT, [1, "S", 1, HIDDEN]),
        ],
        _llm_constants(),
    )
    default = {
        "vocab_size": VOCAB,
        "hidden_size": HIDDEN,
        "model_type": "qwen3_kv_delta",
        "num_layers": 1,
        "max_total_len": MAX_TOTAL_LEN,
    }
    _save(graph, path, default if metadata is None else metadata)


def build_folder(folder: Path) -> Path:
    """A model folder as the sherpa-onnx archive unpacks it."""
    folder.mkdir(parents=True, exist_ok=True)
    build_encoder(folder / "encoder_adaptor.int8.onnx")
    build_llm(folder / "llm.int8.onnx")
    build_embedding(folder / "embedding.int8.onnx")
    write_tokenizer(folder / "Qwen3-0.6B")
    return folder
