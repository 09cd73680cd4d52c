"""The sherpa-funasr-nano engine on the tiny model: real sherpa-onnx loading, prompting and decoding.

The tiny LLM writes a known text, preceded by ``热词`` when the prompt held hot words and by
``前文`` when it held an ``@`` (see :mod:`tests.server.sherpa_offline.tiny_nano`), so the tests
see what reached Nano's prompt through sherpa-onnx's stream options.
"""

# Chinese text here holds full-width punctuation (the full-width comma) on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.server.sherpa_offline.tiny_nano import CONTEXT, HOT, SCRIPT_TEXT, build_encoder, build_llm

from funasr_realtime.protocol import ConfigurationError
from funasr_realtime.protocol.context import ContextMessage
from funasr_realtime.protocol.vocabulary import HotWord
from funasr_realtime.server.engines import create_engine
from funasr_realtime.server.engines._offline import OfflineUtterance
from funasr_realtime.server.engines.base import ContextEngine, ContextView, HotWordEngine
from funasr_realtime.server.engines.sherpa_nano import FunAsrNanoEngine, NanoView, nano_options

BYTES_PER_MS = 32


def noise(ms: int) -> bytes:
    return (np.random.default_rng(1).standard_normal(ms * 16) * 3000).astype(np.int16).tobytes()


def transcribe(engine: FunAsrNanoEngine | NanoView, pcm: bytes) -> tuple[list[str], str, list[tuple[str, int, int]]]:
    utterance = engine.new_utterance()
    partials = [utterance.feed(pcm[i : i + 3200]) for i in range(0, len(pcm), 3200)]
    text, words = utterance.end()
    utterance.close()
    return partials, text, words


def test_final_is_the_llm_s_text_with_service_spacing_and_no_words(nano: FunAsrNanoEngine) -> None:
    partials, text, words = transcribe(nano, noise(3000))
    assert text == SCRIPT_TEXT  # "Python写" from the tokenizer, spaced as the service writes it
    assert words == []  # Nano's token times are spread evenly by sherpa-onnx, not aligned: none reported
    assert all(text.startswith(p) for p in partials)


def test_partials_decode_every_1_5_s_and_half_the_segment(nano: FunAsrNanoEngine) -> None:
    decoded: list[int] = []

    def decode(pcm: bytes):  # type: ignore[no-untyped-def]
        decoded.append(len(pcm) // BYTES_PER_MS)
        return nano._decode(pcm, {})

    utterance = OfflineUtterance(decode, nano.cadence)
    for i in range(0, 7000 * BYTES_PER_MS, 3200):
        utterance.feed(noise(7000)[i : i + 3200])
    assert decoded == [1500, 3000, 4500, 6800]  # the next needs 1500 ms and half of 4500 ms


def test_silence_gives_an_empty_final(nano: FunAsrNanoEngine) -> None:
    assert transcribe(nano, bytes(2000 * BYTES_PER_MS))[1:] == ("", [])


def test_hot_words_reach_the_prompt(nano: FunAsrNanoEngine) -> None:
    assert isinstance(nano, HotWordEngine) and isinstance(nano, ContextEngine)
    view = nano.with_hot_words([HotWord(text="Sherpa", weight=4), HotWord(text="Fun,ASR；x", weight=2)])
    assert isinstance(view, ContextView)  # a BiasedEngine with set_context
    assert view.hot_words == ("Sherpa", "Fun ASR x")  # sherpa-onnx's separators would split a word
    assert view.options == {"hotwords": "Sherpa,Fun ASR x"}
    assert transcribe(view, noise(1000))[1] == HOT + "你好 world，"
    view.close()
    view.close()  # safe to repeat


def test_context_reaches_the_prompt_and_a_new_context_applies_next(nano: FunAsrNanoEngine) -> None:
    view = nano.with_context([], [ContextMessage(role="user", text="@ the caller")])
    assert transcribe(view, noise(1000))[1] == CONTEXT + "你好 world，"
    view.set_context([ContextMessage(role="assistant", text="no marker")])
    assert transcribe(view, noise(1000))[1] == "你好 world，"  # context without "@": the plain text
    view.set_context([])
    assert view.options == {}


def test_hot_words_and_context_together(nano: FunAsrNanoEngine) -> None:
    view = nano.with_context([HotWord(text="Sherpa", weight=1)], [ContextMessage(role="user", text="@")])
    options = view.options
    assert options["hotwords"] == "" and options["itn"] == "1"  # so sherpa-onnx takes the prompt verbatim
    assert "[Sherpa]" in options["user_prompt"] and "@" in options["user_prompt"]
    assert transcribe(view, noise(1000))[1] == HOT + CONTEXT + "你好 world，"


def test_nano_options() -> None:
    user = ContextMessage(role="user", text="上一句")
    assert nano_options((), ()) == {}
    assert nano_options(("a", "b"), [ContextMessage(role="user", text="  ")]) == {"hotwords": "a,b"}
    only_context = nano_options((), [user, ContextMessage(role="assistant", text="回答")])
    assert only_context["user_prompt"].count("\n") == 2 and "上一句\n回答" in only_context["user_prompt"]


def test_create_engine_builds_it(nano_dir: Path) -> None:
    engine = create_engine("sherpa-funasr-nano", model_dir=nano_dir)
    assert isinstance(engine, FunAsrNanoEngine) and engine.name == "sherpa-funasr-nano"


def folder_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def one_line_error(folder: Path) -> str:
    with pytest.raises(ConfigurationError) as caught:
        FunAsrNanoEngine(folder)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_missing_file_names_it_and_the_fetch_command(nano_dir: Path, tmp_path: Path) -> None:
    folder = folder_copy(nano_dir, tmp_path / "m")
    (folder / "llm.int8.onnx").unlink()
    message = one_line_error(folder)
    assert "has no llm.int8.onnx" in message and "sherpa-onnx-funasr-nano-int8-2025-12-30.tar.bz2" in message


def test_incomplete_tokenizer_folder(nano_dir: Path, tmp_path: Path) -> None:
    folder = folder_copy(nano_dir, tmp_path / "m")
    (folder / "Qwen3-0.6B" / "merges.txt").unlink()
    assert one_line_error(folder).endswith("has no merges.txt (the Fun-ASR-Nano tokenizer)")


def test_wrong_metadata_is_caught_before_sherpa_onnx_exits(nano_dir: Path, tmp_path: Path) -> None:
    folder = folder_copy(nano_dir, tmp_path / "m")
    build_encoder(folder / "encoder_adaptor.int8.onnx", {"lfr_window_size": 7})
    lacks = "is not a Fun-ASR-Nano encoder_adaptor: its metadata lacks lfr_window_shift, llm_dim"
    assert lacks in one_line_error(folder)
    build_encoder(folder / "encoder_adaptor.int8.onnx")
    build_llm(folder / "llm.int8.onnx", {"vocab_size": 10, "model_type": "qwen3"})
    assert "is not a KV-delta Fun-ASR-Nano llm (model_type 'qwen3')" in one_line_error(folder)


def test_corrupt_llm(nano_dir: Path, tmp_path: Path) -> None:
    folder = folder_copy(nano_dir, tmp_path / "m")
    llm = folder / "llm.int8.onnx"
    llm.write_bytes(llm.read_bytes()[:100])
    assert one_line_error(folder) == f"{llm} is not a readable ONNX model (truncated protobuf)"
