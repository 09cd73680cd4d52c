"""A tiny streaming Paraformer that sherpa-onnx loads and decodes like the real one.

sherpa-onnx's online Paraformer (``online-paraformer-model.cc``,
``online-recognizer-paraformer-impl.h``) reads from the encoder the metadata keys
``vocab_size``, ``lfr_window_size``, ``lfr_window_shift``, ``encoder_output_size``,
``decoder_num_blocks``, ``decoder_kernel_size``, ``neg_mean`` and ``inv_stddev`` (comma-separated
floats, one per LFR feature), and runs, per 0.61 s chunk of 80-dim fbank frames stacked 7 by 7:

* the encoder: ``(speech [1, T, 560] float, speech_lengths [1] int32)`` ->
  ``(encoder_out [1, T, D], encoder_out_lens [1] int32, alphas [1, T])``; it fires a token (CIF)
  each time the alphas add up to 1;
* the decoder: ``(encoder_out, encoder_out_lens, acoustic_embeds [1, N, D], acoustic_embeds_len [1]
  int32, in_cache_0..B-1 [1, D, K-1])`` -> ``(logits [1, N, V], sample_ids [1, N] int64,
  out_cache_0..B-1)``; id 0 is blank.

This model's alpha is ``ALPHA`` on loud frames (mean log-mel energy above 0, i.e. speech) and about
0 on silence, so speech fires a token every ``1 / ALPHA`` LFR frames (60 ms each) and silence none.
The decoder numbers tokens with a counter kept in its cache: the n-th token of a stream is
``CYCLE[n % len(CYCLE)]``, so a sentence's text is always a prefix of ``cycle_text(n)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

__all__ = ["ALPHA", "CYCLE", "TOKENS", "build", "expected_text"]

ALPHA = 0.25
FEATURE_DIM = 80 * 7
DIM = 4  # encoder_output_size
KERNEL = 11  # decoder_kernel_size: the cache is [1, DIM, KERNEL - 1]
#: The vocabulary (id = line number); ids 1.. are cycled through by the decoder.
TOKENS = ("<blank>", "你", "好", "fun@@", "asr", "世", "界", "hello")
CYCLE = tuple(range(1, len(TOKENS)))
_OPSET = [helper.make_opsetid("", 17)]


def expected_text(count: int) -> str:
    """What sherpa-onnx makes of the first ``count`` tokens (ASCII after CJK gets a space, ``@@`` joins)."""
    text = ""
    previous = ""
    for n in range(count):
        token = TOKENS[CYCLE[n % len(CYCLE)]]
        if ord(token[0]) < 0x80:
            text += token.removesuffix("@@") if previous.endswith("@@") else " " + token.removesuffix("@@")
        else:
            text += (" " if previous and ord(previous[0]) < 0x80 else "") + token
        previous = token
    return text


def build(directory: Path, *, encoder: str = "encoder.int8.onnx", decoder: str = "decoder.int8.onnx") -> Path:
    """Write ``encoder``, ``decoder`` and ``tokens.txt`` into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(_encoder(), directory / encoder)
    onnx.save(_decoder(), directory / decoder)
    lines = [f"{token} {index}" for index, token in enumerate(TOKENS)]
    (directory / "tokens.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def _floats(values: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in values)


def _encoder() -> onnx.ModelProto:
    const = helper.make_tensor
    nodes = [
        # energy [1, T]: the mean of the (normalized) LFR features of each frame
        helper.make_node("ReduceMean", ["speech"], ["energy"], axes=[2], keepdims=0),
        helper.make_node("Sigmoid", ["energy"], ["loud"]),
        helper.make_node("Mul", ["loud", "alpha"], ["alphas"]),
        # encoder_out [1, T, DIM]: the energy repeated (any finite values do)
        helper.make_node("Unsqueeze", ["energy", "last"], ["energy3"]),
        helper.make_node("Expand", ["energy3", "out_shape"], ["encoder_out"]),
        helper.make_node("Identity", ["speech_lengths"], ["encoder_out_lens"]),
    ]
    inits = [
        const("alpha", TensorProto.FLOAT, [], [ALPHA]),
        const("last", TensorProto.INT64, [1], [-1]),
        const("out_shape", TensorProto.INT64, [3], [1, 1, DIM]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-paraformer-encoder",
        [
            helper.make_tensor_value_info("speech", TensorProto.FLOAT, [1, "T", FEATURE_DIM]),
            helper.make_tensor_value_info("speech_lengths", TensorProto.INT32, [1]),
        ],
        [
            helper.make_tensor_value_info("encoder_out", TensorProto.FLOAT, [1, "T", DIM]),
            helper.make_tensor_value_info("encoder_out_lens", TensorProto.INT32, [1]),
            helper.make_tensor_value_info("alphas", TensorProto.FLOAT, [1, "T"]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=_OPSET)
    model.ir_version = 8
    # sherpa-onnx multiplies inv_stddev by sqrt(encoder_output_size): this makes the scale 1.
    meta = {
        "vocab_size": str(len(TOKENS)),
        "lfr_window_size": "7",
        "lfr_window_shift": "6",
        "encoder_output_size": str(DIM),
        "decoder_num_blocks": "1",
        "decoder_kernel_size": str(KERNEL),
        "neg_mean": _floats(np.zeros(FEATURE_DIM)),
        "inv_stddev": _floats(np.full(FEATURE_DIM, 1 / np.sqrt(DIM))),
    }
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def _decoder() -> onnx.ModelProto:
    const = helper.make_tensor
    nodes = [
        # the stream's token count so far sits in every element of the cache
        helper.make_node("ReduceMax", ["in_cache_0"], ["count"], keepdims=0),
        helper.make_node("Cast", ["acoustic_embeds_len"], ["n_float"], to=TensorProto.FLOAT),
        helper.make_node("Squeeze", ["n_float"], ["n"]),
        helper.make_node("Range", ["zero_f", "n", "one_f"], ["steps"]),
        helper.make_node("Add", ["steps", "count"], ["position"]),
        helper.make_node("Mod", ["position", "cycle"], ["slot"], fmod=1),
        helper.make_node("Add", ["slot", "one_f"], ["ids_float"]),
        helper.make_node("Cast", ["ids_float"], ["ids"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["ids", "zero"], ["sample_ids"]),
        helper.make_node("OneHot", ["sample_ids", "vocab", "off_on"], ["logits"]),
        helper.make_node("Add", ["in_cache_0", "n"], ["out_cache_0"]),
    ]
    inits = [
        const("zero_f", TensorProto.FLOAT, [], [0.0]),
        const("one_f", TensorProto.FLOAT, [], [1.0]),
        const("cycle", TensorProto.FLOAT, [], [float(len(CYCLE))]),
        const("zero", TensorProto.INT64, [1], [0]),
        const("vocab", TensorProto.INT64, [], [len(TOKENS)]),
        const("off_on", TensorProto.FLOAT, [2], [0.0, 1.0]),
    ]
    cache = [1, DIM, KERNEL - 1]
    graph = helper.make_graph(
        nodes,
        "tiny-paraformer-decoder",
        [
            helper.make_tensor_value_info("encoder_out", TensorProto.FLOAT, [1, "T", DIM]),
            helper.make_tensor_value_info("encoder_out_lens", TensorProto.INT32, [1]),
            helper.make_tensor_value_info("acoustic_embeds", TensorProto.FLOAT, [1, "N", DIM]),
            helper.make_tensor_value_info("acoustic_embeds_len", TensorProto.INT32, [1]),
            helper.make_tensor_value_info("in_cache_0", TensorProto.FLOAT, cache),
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "N", len(TOKENS)]),
            helper.make_tensor_value_info("sample_ids", TensorProto.INT64, [1, "N"]),
            helper.make_tensor_value_info("out_cache_0", TensorProto.FLOAT, cache),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=_OPSET)
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
