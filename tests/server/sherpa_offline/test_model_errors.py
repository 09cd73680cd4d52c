"""A missing, incomplete, corrupt or wrong SenseVoice folder: one ConfigurationError line each.

sherpa-onnx ends the process on a model that lacks a metadata key, so these are checked first;
a file onnxruntime cannot load is reported by sherpa-onnx's own message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto
from onnx import helper as oh
from tests.server.sherpa_offline.tiny_sense_voice import METADATA, TOKENS, build_model, write_tokens

from funasr_realtime.protocol import ConfigurationError
from funasr_realtime.server.engines.sherpa_offline import SenseVoiceEngine


def folder_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def one_line_error(model_dir: Path | None) -> str:
    with pytest.raises(ConfigurationError) as caught:
        SenseVoiceEngine(model_dir)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_no_folder_names_the_fetch_command(tmp_path: Path) -> None:
    message = one_line_error(None)
    assert "needs --model-dir" in message and "curl -SL https://github.com/k2-fsa/sherpa-onnx/releases" in message
    assert "model folder not found" in one_line_error(tmp_path / "absent")


def test_missing_tokens_names_the_file_and_the_command(sense_voice_dir: Path, tmp_path: Path) -> None:
    folder = folder_copy(sense_voice_dir, tmp_path / "m")
    (folder / "tokens.txt").unlink()
    message = one_line_error(folder)
    assert "has no tokens.txt" in message and "tar xjf" in message


def test_missing_model_names_both_accepted_names(sense_voice_dir: Path, tmp_path: Path) -> None:
    folder = folder_copy(sense_voice_dir, tmp_path / "m")
    (folder / "model.int8.onnx").unlink()
    assert "has no model.int8.onnx or model.onnx" in one_line_error(folder)


def test_fp32_model_name_is_accepted(tmp_path: Path) -> None:
    build_model(tmp_path / "model.onnx")
    write_tokens(tmp_path / "tokens.txt")
    assert SenseVoiceEngine(tmp_path).name == "sherpa-sensevoice"


def test_truncated_model_is_not_readable(sense_voice_dir: Path, tmp_path: Path) -> None:
    folder = folder_copy(sense_voice_dir, tmp_path / "m")
    model = folder / "model.int8.onnx"
    model.write_bytes(model.read_bytes()[:300])
    assert f"{model} is not a readable ONNX model (truncated protobuf)" == one_line_error(folder)


def test_text_file_as_model_is_not_readable(sense_voice_dir: Path, tmp_path: Path) -> None:
    folder = folder_copy(sense_voice_dir, tmp_path / "m")
    (folder / "model.int8.onnx").write_text("this is not a model\n")
    assert "is not a readable ONNX model" in one_line_error(folder)


def test_model_without_sense_voice_metadata(tmp_path: Path) -> None:
    partial = {k: v for k, v in METADATA.items() if k not in ("lang_zh", "neg_mean")}
    build_model(tmp_path / "model.int8.onnx", partial)
    write_tokens(tmp_path / "tokens.txt")
    message = one_line_error(tmp_path)
    assert message.endswith("is not a SenseVoice model: its metadata lacks lang_zh, neg_mean")


def test_token_table_smaller_than_the_model(tmp_path: Path) -> None:
    build_model(tmp_path / "model.int8.onnx")
    write_tokens(tmp_path / "tokens.txt", TOKENS[:5])
    assert one_line_error(tmp_path).endswith(f"defines 5 tokens but the model has {len(TOKENS)}")


def test_unreadable_token_table(tmp_path: Path) -> None:
    build_model(tmp_path / "model.int8.onnx")
    (tmp_path / "tokens.txt").write_bytes(b"\xff\xfe\x00 0\n")
    assert one_line_error(tmp_path).startswith("cannot read")


def test_graph_onnxruntime_cannot_load_is_reported_by_sherpa_onnx(tmp_path: Path) -> None:
    """Valid protobuf and metadata, but an operator onnxruntime does not know."""
    graph = oh.make_graph(
        [oh.make_node("NoSuchOperator", ["x"], ["logits"], domain="no.such.domain")],
        "broken",
        [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", 560])],
        [oh.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
    )
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("no.such.domain", 1)])
    model.ir_version = 8
    for key, value in METADATA.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(tmp_path / "model.int8.onnx"))
    write_tokens(tmp_path / "tokens.txt")
    message = one_line_error(tmp_path)
    assert message.startswith(f"sherpa-onnx cannot load {tmp_path / 'model.int8.onnx'}: ")
