"""Compressed formats decoded incrementally for the local server, and what happens when they cannot be."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import SPEECH, load_speech

from funasr_realtime.server import decoders
from funasr_realtime.server.decoders import (
    COMPRESSED_FORMATS,
    CodecUnavailable,
    DecodeError,
    available_decoders,
    create_decoder,
    decoder_name,
)
from funasr_realtime.server.engines import create_engine
from funasr_realtime.server.task import TaskRejected, TaskSession

FORMATS = SPEECH / "formats"
FIXTURES = {"mp3": "s1.mp3", "aac": "s1.aac", "amr": "s1.amr", "opus": "s1.opus", "speex": "s1.spx"}
S1 = load_speech("s1")


def decode(format: str, data: bytes, piece: int, rate: int = 16000) -> bytes:
    decoder = create_decoder(format, rate)
    out = b"".join(decoder.feed(data[i : i + piece]) for i in range(0, len(data), piece))
    return out + decoder.flush()


def test_this_build_decodes_every_format() -> None:
    assert {decoder_name(f) for f in COMPRESSED_FORMATS} <= available_decoders()


@pytest.mark.parametrize("format", COMPRESSED_FORMATS)
@pytest.mark.parametrize("rate", [16000, 8000])
def test_each_fixture_decodes_to_pcm_of_its_duration(format: str, rate: int) -> None:
    pcm = decode(format, (FORMATS / FIXTURES[format]).read_bytes(), 4096, rate)
    duration_ms = len(pcm) * 1000 // (2 * rate)
    assert abs(duration_ms - S1.duration_ms) < 200, "encoders pad a little, never more"


@pytest.mark.parametrize("format", COMPRESSED_FORMATS)
def test_decoding_does_not_depend_on_how_the_stream_is_split(format: str) -> None:
    data = (FORMATS / FIXTURES[format]).read_bytes()
    whole = decode(format, data, len(data))
    assert decode(format, data, 1) == whole
    assert decode(format, data, 333) == whole


@pytest.mark.parametrize("format", COMPRESSED_FORMATS)
def test_audio_comes_out_while_the_stream_arrives(format: str) -> None:
    data = (FORMATS / FIXTURES[format]).read_bytes()
    decoder = create_decoder(format, 16000)
    early = b"".join(decoder.feed(data[i : i + 512]) for i in range(0, len(data) // 2, 512))
    assert len(early) > 16000, "half the file yields audio before the end (partials are possible)"


@pytest.mark.parametrize(
    ("format", "data", "fragment"),
    [
        ("mp3", bytes(range(256)) * 8, "(invalid|no decodable) mp3 audio"),
        ("aac", b"\0" * 3000, "(invalid|no decodable) aac audio"),
        ("opus", b"RIFF" + b"\0" * 100, "not an Ogg opus stream"),
        ("speex", (FORMATS / "s1.opus").read_bytes(), "does not hold speex"),
        ("amr", b"RIFF....", "missing the #!AMR header"),
        ("amr", b"#!AMR-WB\n" + b"\0" * 50, "AMR-WB is not supported"),
    ],
    ids=["mp3-garbage", "aac-silence", "opus-not-ogg", "speex-holds-opus", "amr-no-magic", "amr-wb"],
)
def test_data_that_is_not_the_format_is_a_decode_error(format: str, data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=fragment):
        decode(format, data, 1024)


def test_a_missing_codec_is_named() -> None:
    with pytest.raises(CodecUnavailable, match="no speex or libspeex decoder"):
        decoder_name("speex", frozenset({"mp3"}))
    with pytest.raises(CodecUnavailable, match="PyAV is not installed"):
        decoder_name("mp3", frozenset())
    with pytest.raises(CodecUnavailable, match="not a compressed format"):
        decoder_name("wav")


def session(format: str, **parameters: Any) -> TaskSession:
    return TaskSession.create(
        "fun-asr-realtime",
        {"format": format, "sample_rate": 16000, **parameters},
        create_engine("synthetic"),
        heartbeat_interval_ms=2000,
        max_audio_s=60,
    )


def test_run_task_is_rejected_naming_the_codec_when_it_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decoders, "available_decoders", lambda: frozenset({"mp3float"}))
    assert session("mp3").params.format == "mp3"
    with pytest.raises(TaskRejected) as info:
        session("speex")
    assert info.value.code == "NO_VALID_AUDIO_ERROR"
    assert "speex" in info.value.message and "decoder" in info.value.message


def test_a_session_decodes_compressed_audio_and_fails_on_garbage() -> None:
    good = session("opus")
    data = (FORMATS / "s1.opus").read_bytes()
    for i in range(0, len(data), 1000):
        good.feed(data[i : i + 1000])
    good.finish()
    assert abs(good.audio_ms - S1.duration_ms) < 200
    good.close()

    bad = session("mp3")
    bad.feed(b"\0" * 4000)
    with pytest.raises(TaskRejected) as info:
        bad.finish()
    assert info.value.code == "NO_VALID_AUDIO_ERROR"
    bad.close()
