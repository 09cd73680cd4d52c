"""The sherpa-paraformer engine on the tiny model: the real sherpa-onnx loading and decoding path."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.conftest import chunks, load_speech
from tests.server.sherpa import tiny_paraformer

from funasr_realtime.protocol import ConfigurationError
from funasr_realtime.server.engines import ENGINE_NAMES, create_engine
from funasr_realtime.server.engines._onnx_meta import read_metadata
from funasr_realtime.server.engines.catalog import find_model
from funasr_realtime.server.engines.sherpa_paraformer import ENCODER_METADATA, SherpaParaformerEngine
from funasr_realtime.text import tidy_spacing

SILENCE = b"\x00\x00" * 16000  # 1 s


def _prefixes(count: int) -> set[str]:
    return {tiny_paraformer.expected_text(n) for n in range(1, count)}


def test_the_engine_is_registered(paraformer_dir: Path) -> None:
    assert "sherpa-paraformer" in ENGINE_NAMES
    engine = create_engine("sherpa-paraformer", model_dir=paraformer_dir)
    assert isinstance(engine, SherpaParaformerEngine)
    assert engine.synthetic is False
    assert engine.files["encoder"].name == "encoder.int8.onnx"


def test_partials_grow_while_feeding_and_end_gives_the_final(paraformer_dir: Path) -> None:
    engine = SherpaParaformerEngine(paraformer_dir)
    speech = load_speech("long")  # several sentences: enough tokens to show the mixed text
    utterance = engine.new_utterance()
    partials = [utterance.feed(frame) for frame in chunks(speech.pcm)]
    text, words = utterance.end()
    shown = [p for p in partials if p]
    assert len(set(shown)) >= 3, "partials must appear (and change) while the audio is fed"
    assert all(text.startswith(p) for p in shown), "each partial is a prefix of the final"
    assert text in _prefixes(200), text
    assert "hello" in text and "funasr" in text and "你好" in text  # Latin and CJK mixed
    assert words == [], "the model gives no timestamps"
    with pytest.raises(RuntimeError, match="ended or is closed"):
        utterance.feed(SILENCE)
    utterance.close()  # safe to repeat


def test_silence_gives_no_text(paraformer_dir: Path) -> None:
    utterance = SherpaParaformerEngine(paraformer_dir).new_utterance()
    assert utterance.feed(SILENCE) == ""
    assert utterance.end() == ("", [])


def test_each_utterance_decodes_on_its_own_stream(paraformer_dir: Path) -> None:
    engine = SherpaParaformerEngine(paraformer_dir)
    s1 = load_speech("s1").pcm
    first, second = engine.new_utterance(), engine.new_utterance()
    first.feed(s1)
    second.feed(s1[: len(s1) // 2])
    assert first.end()[0] != second.end()[0], "streams share no state"
    third = engine.new_utterance()
    third.feed(s1)
    assert third.end()[0] == engine_text(engine, s1), "a fresh stream starts from scratch"


def engine_text(engine: SherpaParaformerEngine, pcm: bytes) -> str:
    utterance = engine.new_utterance()
    utterance.feed(pcm)
    return utterance.end()[0]


@pytest.mark.parametrize(
    ("raw", "tidy"),
    [
        (" hello world 你好", "hello world 你好"),
        ("你 好  世 界", "你好世界"),
        ("我用 Python 写代码", "我用 Python 写代码"),
        ("你好\uff0c\u3000世界。", "你好\uff0c世界。"),  # full-width comma, ideographic space
        ("  fun asr  ", "fun asr"),
        ("", ""),
    ],
)
def test_spacing_follows_the_service(raw: str, tidy: str) -> None:
    assert tidy_spacing(raw) == tidy


# --------------------------------------------------------------------------- error paths


def test_a_missing_folder_names_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SherpaParaformerEngine(tmp_path / "nowhere")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"model folder not found: {tmp_path / 'nowhere'}; fetch it with: curl -SL ")
    assert find_model("sherpa-paraformer").fetch_command in message


@pytest.mark.parametrize("missing", ["encoder.int8.onnx", "decoder.int8.onnx", "tokens.txt"])
def test_a_missing_file_is_named(paraformer_dir: Path, tmp_path: Path, missing: str) -> None:
    folder = shutil.copytree(paraformer_dir, tmp_path / "model")
    (folder / missing).unlink()
    with pytest.raises(ConfigurationError) as caught:
        SherpaParaformerEngine(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{folder} has no {missing}" in message
    assert message.endswith(find_model("sherpa-paraformer").fetch_command)


def test_the_fp32_files_are_used_when_the_int8_ones_are_absent(tmp_path: Path) -> None:
    folder = tiny_paraformer.build(tmp_path / "fp32", encoder="encoder.onnx", decoder="decoder.onnx")
    engine = SherpaParaformerEngine(folder)
    assert {engine.files["encoder"].name, engine.files["decoder"].name} == {"encoder.onnx", "decoder.onnx"}
    assert engine_text(engine, load_speech("s1").pcm) in _prefixes(50)


def test_the_folder_holding_the_unpacked_archive_is_accepted(paraformer_dir: Path) -> None:
    engine = SherpaParaformerEngine(paraformer_dir.parent)
    assert engine.files["tokens"] == paraformer_dir / "tokens.txt"


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_model_file_is_a_clear_error(paraformer_dir: Path, tmp_path: Path, damage: str) -> None:
    folder = shutil.copytree(paraformer_dir, tmp_path / "model")
    for name in ("encoder.int8.onnx", "decoder.int8.onnx"):
        path = folder / name
        data = path.read_bytes()
        path.write_bytes(data[:100] if damage == "truncated" else b"\xff" * 64)
        with pytest.raises(ConfigurationError) as caught:
            SherpaParaformerEngine(folder)
        message = str(caught.value)
        assert "\n" not in message
        assert str(path) in message or str(folder) in message
        assert message.endswith(find_model("sherpa-paraformer").fetch_command)
        path.write_bytes(data)


def test_a_decoder_that_is_not_onnx_is_refused_by_sherpa_onnx(paraformer_dir: Path, tmp_path: Path) -> None:
    # Parses as protobuf (one empty field) but holds no graph: sherpa-onnx itself refuses it.
    folder = shutil.copytree(paraformer_dir, tmp_path / "model")
    (folder / "decoder.int8.onnx").write_bytes(b"\x12\x00")
    with pytest.raises(ConfigurationError, match=r"^sherpa-onnx could not load the model in "):
        SherpaParaformerEngine(folder)


def test_a_model_without_the_paraformer_metadata_is_refused_not_fatal(paraformer_dir: Path, tmp_path: Path) -> None:
    # sherpa-onnx would end the process here (a missing metadata key is _Exit(-1) there).
    folder = shutil.copytree(paraformer_dir, tmp_path / "model")
    shutil.copy(folder / "decoder.int8.onnx", folder / "encoder.int8.onnx")
    with pytest.raises(ConfigurationError) as caught:
        SherpaParaformerEngine(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'encoder.int8.onnx'} is not a streaming Paraformer encoder: ")
    assert "vocab_size" in message and "\n" not in message
    assert message.endswith(f"; fetch the model again with: {find_model('sherpa-paraformer').fetch_command}")


def test_the_tiny_models_metadata_is_what_sherpa_onnx_reads(paraformer_dir: Path) -> None:
    metadata = read_metadata(paraformer_dir / "encoder.int8.onnx")
    assert set(ENCODER_METADATA) <= set(metadata)
    assert metadata["lfr_window_size"] == "7" and len(metadata["neg_mean"].split(",")) == 560
