"""The offline engines' pure parts: words from timed tokens, text cleaning, spacing, ONNX metadata."""

# Chinese text here holds full-width punctuation (the full-width comma) on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

import io
from pathlib import Path

import pytest
from tests.server.sherpa_offline.tiny_sense_voice import METADATA

from funasr_realtime.protocol import ConfigurationError
from funasr_realtime.server.engines._offline import Cadence, Decoded, clean_text, timed_words
from funasr_realtime.server.engines._onnx_meta import _metadata, check_metadata, read_metadata
from funasr_realtime.text import tidy_spacing


@pytest.mark.parametrize(
    ("raw", "tidy"),
    [
        ("你 好 。", "你好。"),
        ("我用Python写代码", "我用 Python 写代码"),
        (" 你好 world。我们 Python写 ", "你好 world。我们 Python 写"),
        ("上午9点开会。", "上午9点开会。"),  # digits stay attached
        ("Hello  world.", "Hello world."),
        ("我说 hello, world", "我说 hello, world"),
        ("你好 ，世界", "你好，世界"),
        ("", ""),
    ],
)
def test_tidy_spacing(raw: str, tidy: str) -> None:
    assert tidy_spacing(raw) == tidy


def test_clean_text_drops_leftover_tags() -> None:
    assert clean_text("<|zh|><|NEUTRAL|>你好 world") == "你好 world"


def test_words_group_tokens_and_attach_punctuation() -> None:
    decoded = Decoded(
        "",
        tokens=("，", " it", "'s", " fine", "<|x|>", " ", "好", "。"),
        starts=(0.0, 0.1, 0.2, 0.4, 0.5, 0.6, 0.9, 1.0),
    )
    assert timed_words(decoded, 5000) == [
        ("，", 0, 100),  # leading punctuation: a word of its own
        ("it's", 100, 400),
        ("fine", 400, 900),  # tags and blank tokens are skipped
        ("好。", 900, 1400),
    ]


def test_no_times_no_words() -> None:
    assert timed_words(Decoded("你好", tokens=("你", "好")), 1000) == []
    assert timed_words(Decoded(""), 1000) == []


def test_cadence_is_validated() -> None:
    with pytest.raises(ValueError, match="interval_ms must be > 0"):
        Cadence(interval_ms=0)


def test_metadata_is_read_without_loading(tmp_path: Path) -> None:
    from tests.server.sherpa_offline.tiny_sense_voice import build_model

    model = build_model(tmp_path / "m.onnx")
    metadata = read_metadata(model)
    assert metadata["vocab_size"] == str(METADATA["vocab_size"]) and metadata["lfr_window_shift"] == "6"
    assert check_metadata(model, ("vocab_size",), "x")["blank_id"] == "0"


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def entry(key: str, value: str) -> bytes:
    body = b"\x0a" + varint(len(key)) + key.encode() + b"\x12" + varint(len(value)) + value.encode()
    return b"\x72" + varint(len(body)) + body  # field 14, length-delimited


def parse(data: bytes) -> dict[str, str]:
    return _metadata(io.BytesIO(data), len(data))


def test_every_wire_type_is_skipped() -> None:
    fixed64 = b"\x09" + bytes(8)  # field 1, 64-bit
    fixed32 = b"\x15" + bytes(4)  # field 2, 32-bit
    varint_field = b"\x08" + varint(300)
    assert parse(fixed64 + fixed32 + varint_field + entry("k", "v") + entry("n", "1")) == {"k": "v", "n": "1"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x0b", "wire type 3"),  # a group: never in ONNX
        (b"\x72\x05ab", "truncated"),
        (b"\x3a\x10abc", "truncated"),  # a length past the end
        (b"\x08" + b"\xff" * 10, "bad varint"),
        (b"\x72\x02\x08\x01", "bad metadata entry"),
    ],
)
def test_malformed_protobuf(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse(data)


def test_unreadable_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a readable ONNX model"):
        check_metadata(tmp_path / "absent.onnx", (), "x")
