"""Compressed formats decoded incrementally (server and client), and what happens when they cannot be."""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest
from tests.conftest import SPEECH, load_speech

from funasr_realtime import AudioError, ConfigurationError
from funasr_realtime.audio import decoders
from funasr_realtime.server.decoders import (
    COMPRESSED_FORMATS,
    CodecUnavailable,
    DecodeError,
    available_decoders,
    create_decoder,
    decoder_name,
)
from funasr_realtime.server.engines import create_engine
from funasr_realtime.server.task import TaskRecognizer, TaskRejected

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


def session(format: str, **parameters: Any) -> TaskRecognizer:
    return TaskRecognizer.create(
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


# --------------------------------------------------------------------------- hostile and broken input (issue 12)


def ogg_page(payload_lacing: list[int], body: bytes, sequence: int, flags: int = 0) -> bytes:
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, -1, 1, sequence, 0, len(payload_lacing))
    return header + bytes(payload_lacing) + body


def ogg_pages(data: bytes) -> list[bytes]:
    pages, at = [], 0
    while at < len(data):
        segments = data[at + 26]
        end = at + 27 + segments + sum(data[at + 27 : at + 27 + segments])
        pages.append(data[at:end])
        at = end
    return pages


def test_an_ogg_packet_that_never_ends_is_bounded_after_audio_too() -> None:
    decoder = create_decoder("opus", 16000)
    pages = ogg_pages((FORMATS / "s1.opus").read_bytes())
    audio = b"".join(decoder.feed(page) for page in pages[:-1])
    assert audio, "the stream has produced samples: the before-the-first-sample guard no longer applies"
    fed = 0
    with pytest.raises(DecodeError, match="packet exceeds 64 KiB"):
        for sequence in range(len(pages), 10_000):
            endless = ogg_page([255] * 255, bytes(255 * 255), sequence)  # all lacing 255: the packet goes on
            decoder.feed(endless)
            fed += len(endless)
    assert fed <= decoders.MAX_PACKET_BYTES + 65_307, "rejected at the bound (a page more at most), not after a GB"


def encoded(kind: str, pcm: bytes, **options: Any) -> bytes:
    from tests.audio.media import encode

    return encode(pcm, kind, **options)


def corruptions(data: bytes, seed: int) -> dict[str, bytes]:
    """Truncations, flipped bytes, zeroed and repeated stretches of one valid file."""
    rng = random.Random(seed)
    n = len(data)
    flipped = bytearray(data)
    for _ in range(max(1, n // 200)):
        flipped[rng.randrange(n)] ^= 1 << rng.randrange(8)
    zeroed = bytearray(data)
    at = rng.randrange(n // 4, n // 2)
    zeroed[at : at + n // 5] = bytes(len(zeroed[at : at + n // 5]))
    garbage = bytearray(data)
    garbage[n // 3 : n // 3 + 512] = rng.randbytes(512)
    return {
        "header-only": data[:40],
        "cut-10": data[: n // 10],
        "cut-half": data[: n // 2],
        "cut-end": data[:-7],
        "flipped": bytes(flipped),
        "zeroed": bytes(zeroed),
        "garbage": bytes(garbage),
        "repeated": data[: n // 2] + data[n // 4 :],
        "tail-only": data[n // 2 :],
        "random": rng.randbytes(n),
    }


@pytest.mark.parametrize("format", COMPRESSED_FORMATS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_corrupt_input_ends_in_a_decode_error_or_valid_pcm(format: str, seed: int) -> None:
    outcomes = set()
    for name, data in corruptions((FORMATS / FIXTURES[format]).read_bytes(), seed).items():
        for piece in (97, 4096):
            try:
                pcm = decode(format, data, piece)
            except DecodeError:
                outcomes.add("error")
                continue
            # Valid PCM, though not always short: zeroed Speex bytes are "null" frames of a
            # few bits each, 20 ms of silence apiece (the server's audio limits bound that).
            assert len(pcm) % 2 == 0, name
            outcomes.add("pcm")
    assert outcomes  # any other exception type has failed the test above


def test_an_mp3_whose_channel_count_changes_mid_stream_decodes() -> None:
    mono = encoded("mp3", S1.pcm, rate=44100)
    stereo = encoded("mp3", S1.pcm, rate=44100, layout="stereo")
    for data in (mono + stereo, stereo + mono):
        pcm = decode("mp3", data, 1000)
        assert abs(len(pcm) // 32 - 2 * S1.duration_ms) < 400, "both halves, mono at 16 kHz"


def test_a_rate_change_mid_stream_is_followed() -> None:
    pcm = decode("mp3", encoded("mp3", S1.pcm, rate=44100) + encoded("mp3", S1.pcm, rate=22050), 1000)
    assert abs(len(pcm) // 32 - 2 * S1.duration_ms) < 400


@pytest.mark.parametrize("error", [ValueError("Frame does not match AudioResampler setup"), RuntimeError("boom")])
def test_any_exception_from_pyav_is_a_decode_error(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    decoder = create_decoder("mp3", 16000)

    class Hostile:
        def __init__(self, real: Any) -> None:
            self._real = real

        def decode(self, packet: Any) -> Any:
            raise error

        def parse(self, data: Any) -> Any:
            return self._real.parse(data)

    monkeypatch.setattr(decoder, "_context", Hostile(decoder._context))
    monkeypatch.setattr(decoder._framer, "_context", Hostile(decoder._framer._context))
    with pytest.raises(DecodeError, match=str(error)):
        decoder.feed((FORMATS / "s1.mp3").read_bytes())


def test_a_decoder_exception_reaches_the_client_as_no_valid_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: Any, frame: Any) -> bytes:
        raise ValueError("Frame does not match AudioResampler setup")  # what PyAV raises on a layout switch

    monkeypatch.setattr(decoders.MonoResampler, "resample", explode)
    task = session("mp3")
    with pytest.raises(TaskRejected) as info:
        task.feed((FORMATS / "s1.mp3").read_bytes())
        task.finish()
    assert info.value.code == "NO_VALID_AUDIO_ERROR"
    task.close()


def test_decode_errors_are_audio_errors_and_a_missing_codec_is_a_configuration_error() -> None:
    assert issubclass(DecodeError, AudioError)
    assert issubclass(CodecUnavailable, ConfigurationError) and issubclass(CodecUnavailable, DecodeError)


def test_the_server_module_re_exports_the_shared_decoders() -> None:
    from funasr_realtime.audio import decoders as shared
    from funasr_realtime.server import decoders as server

    assert server.create_decoder is shared.create_decoder and server.DecodeError is shared.DecodeError
