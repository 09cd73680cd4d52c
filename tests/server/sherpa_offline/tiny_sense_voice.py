"""A tiny SenseVoice model the tests build: the graph sherpa-onnx's SenseVoice path runs, with known output.

sherpa-onnx (``offline-sense-voice-model.cc``, ``offline-recognizer-sense-voice-impl.h``) runs a
model with inputs ``x`` (N, T, 560: 80 fbank bins x an LFR window of 7), ``x_length`` (N),
``language`` (N) and ``text_norm`` (N), all int32 but ``x``, and one output, CTC logits of shape
(N, T + 4, vocab): the first four frames are the language, emotion, event and ITN tags, which it
keeps out of the text.  It reads the metadata keys in :data:`METADATA` and greedy-decodes.

This graph's logits are one-hot, so the text is known: content frame ``t`` emits token
``SCRIPT[(t // 5) % len(SCRIPT)]`` when ``t`` is a multiple of 5 (one token per 300 ms; blanks
between them) and the frame is not digital silence (mean log-mel above -10; zeros give about
-15.9); every other frame is blank.  The language tag follows the ``language`` input (``<|en|>``
for the id of "en", else ``<|zh|>``) and the ITN tag follows ``text_norm``.
"""

# Chinese text here holds full-width punctuation (the full-width comma) on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as oh
from onnx import numpy_helper as nh

FEATURES = 560
#: token table; index = id. "▁" starts a word (SentencePiece), as in the real tokens.txt.
TOKENS = (
    "<blk>", "<|zh|>", "<|NEUTRAL|>", "<|Speech|>", "<|withitn|>",
    "你", "好", "▁world", "，", "我", "们", "▁Py", "thon", "写", "。",
    "<|en|>", "<|woitn|>",
)  # fmt: skip
SCRIPT = tuple(TOKENS.index(t) for t in ("你", "好", "▁world", "，", "我", "们", "▁Py", "thon", "写", "。"))
#: the text one pass of SCRIPT decodes to, after the engine's spacing
SCRIPT_TEXT = "你好 world，我们 Python 写。"
EVERY = 5  # content frames per token
FRAME_S = 0.06  # one LFR frame: 6 fbank frames of 10 ms
LANG_EN, WITH_ITN, WITHOUT_ITN = 4, 14, 15
METADATA = {
    "vocab_size": len(TOKENS),
    "blank_id": 0,
    "lfr_window_size": 7,
    "lfr_window_shift": 6,
    "normalize_samples": 0,
    "with_itn": WITH_ITN,
    "without_itn": WITHOUT_ITN,
    "lang_auto": 0,
    "lang_zh": 3,
    "lang_en": LANG_EN,
    "lang_ja": 11,
    "lang_ko": 12,
    "lang_yue": 7,
    "neg_mean": ",".join(["0"] * FEATURES),
    "inv_stddev": ",".join(["1"] * FEATURES),
    "comment": "tiny SenseVoice test model (funasr-realtime tests)",
}


def _constants() -> list[onnx.TensorProto]:
    lang_tags = np.full(16, TOKENS.index("<|zh|>"), np.int64)
    lang_tags[LANG_EN] = TOKENS.index("<|en|>")
    values = {
        "script": np.array(SCRIPT, np.int64),
        "script_len": np.array(len(SCRIPT), np.int64),
        "every": np.array(EVERY, np.int64),
        "zero": np.array(0, np.int64),
        "one": np.array(1, np.int64),
        "axis0": np.array([0], np.int64),
        "axis1": np.array([1], np.int64),
        "quiet": np.array(-10.0, np.float32),
        "onehot_values": np.array([0.0, 1.0], np.float32),
        "depth": np.array(len(TOKENS), np.int64),
        "lang_tags": lang_tags,
        "middle_tags": np.array([[TOKENS.index("<|NEUTRAL|>"), TOKENS.index("<|Speech|>")]], np.int64),
        "with_itn": np.array(WITH_ITN, np.int32),
        "itn_tag": np.array(TOKENS.index("<|withitn|>"), np.int64),
        "no_itn_tag": np.array(TOKENS.index("<|woitn|>"), np.int64),
    }
    return [nh.from_array(value, name) for name, value in values.items()]


def _nodes() -> list[onnx.NodeProto]:
    node = oh.make_node
    return [
        # content ids (N, T): SCRIPT[(t // EVERY) % len] on every EVERY-th loud frame, else blank
        node("Shape", ["x"], ["x_shape"]),
        node("Gather", ["x_shape", "one"], ["frames"], axis=0),
        node("Range", ["zero", "frames", "one"], ["t"]),
        node("Mod", ["t", "every"], ["phase"]),
        node("Equal", ["phase", "zero"], ["emits"]),
        node("Div", ["t", "every"], ["slot"]),
        node("Mod", ["slot", "script_len"], ["slot_in_script"]),
        node("Gather", ["script", "slot_in_script"], ["token"], axis=0),
        node("ReduceMean", ["x"], ["energy"], axes=[2], keepdims=0),
        node("Greater", ["energy", "quiet"], ["loud"]),
        node("And", ["loud", "emits"], ["speaks"]),
        node("Where", ["speaks", "token", "zero"], ["content"]),
        # tags (N, 4): language from the input, then NEUTRAL, Speech, and ITN from text_norm
        node("Gather", ["lang_tags", "language"], ["lang_tag"], axis=0),
        node("Unsqueeze", ["lang_tag", "axis1"], ["lang_col"]),
        node("Equal", ["text_norm", "with_itn"], ["itn_on"]),
        node("Where", ["itn_on", "itn_tag", "no_itn_tag"], ["itn"]),
        node("Unsqueeze", ["itn", "axis1"], ["itn_col"]),
        node("Gather", ["x_shape", "zero"], ["batch"], axis=0),
        node("Unsqueeze", ["batch", "axis0"], ["batch1"]),
        node("Concat", ["batch1", "axis1"], ["middle_shape"], axis=0),
        node("Expand", ["middle_tags", "middle_shape"], ["middle"]),
        node("Concat", ["lang_col", "middle", "itn_col", "content"], ["ids"], axis=1),
        node("OneHot", ["ids", "depth", "onehot_values"], ["logits"], axis=-1),
    ]


def build_model(path: Path, metadata: dict[str, object] | None = None) -> Path:
    """Write the model to ``path`` (``metadata`` replaces :data:`METADATA`, to test bad files)."""
    int32 = TensorProto.INT32
    graph = oh.make_graph(
        _nodes(),
        "tiny_sense_voice",
        [
            oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", FEATURES]),
            oh.make_tensor_value_info("x_length", int32, ["N"]),
            oh.make_tensor_value_info("language", int32, ["N"]),
            oh.make_tensor_value_info("text_norm", int32, ["N"]),
        ],
        [oh.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", "T4", len(TOKENS)])],
        _constants(),
    )
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    model.ir_version = 8  # what the onnxruntime inside sherpa-onnx reads
    for key, value in (METADATA if metadata is None else metadata).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_folder(folder: Path, model_name: str = "model.int8.onnx") -> Path:
    """A model folder as the sherpa-onnx archive unpacks it: the model and ``tokens.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    build_model(folder / model_name)
    write_tokens(folder / "tokens.txt")
    return folder


def write_tokens(path: Path, tokens: tuple[str, ...] = TOKENS) -> None:
    path.write_text("".join(f"{token} {index}\n" for index, token in enumerate(tokens)), encoding="utf-8")


def content_frames(samples: int) -> int:
    """LFR frames sherpa-onnx makes of ``samples`` at 16 kHz (25 ms fbank windows, snip_edges)."""
    fbank = 1 + (samples - 400) // 160 if samples >= 400 else 0
    return (fbank - 7) // 6 + 1 if fbank >= 7 else 0


def script_tokens(samples: int) -> list[int]:
    """The ids a loud segment of ``samples`` decodes to."""
    count = -(-content_frames(samples) // EVERY)
    return [SCRIPT[i % len(SCRIPT)] for i in range(count)]
