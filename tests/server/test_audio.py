"""WAV header parsing, header stripping and resampling (server/audio.py)."""

from __future__ import annotations

import io
import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funasr_realtime.server.audio import (
    MAX_HEADER_BYTES,
    Resampler,
    WavFormatError,
    WavHeader,
    WavStream,
    parse_wav_header,
)

SPEECH = Path(__file__).parent.parent / "fixtures" / "speech"


def make_wav(pcm: bytes, rate: int = 16000, channels: int = 1, width: int = 2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def riff(*chunks: bytes, form: bytes = b"WAVE", magic: bytes = b"RIFF") -> bytes:
    body = form + b"".join(chunks)
    return magic + struct.pack("<I", len(body)) + body


def chunk(chunk_id: bytes, body: bytes, size: int | None = None) -> bytes:
    pad = b"\0" if len(body) % 2 else b""
    return chunk_id + struct.pack("<I", len(body) if size is None else size) + body + pad


def fmt(tag: int = 1, channels: int = 1, rate: int = 16000, bits: int = 16, extra: bytes = b"") -> bytes:
    align = channels * bits // 8
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits) + extra)


def extensible(subformat: int) -> bytes:
    # cbSize, valid bits, channel mask, then the sub-format GUID (its first field is the format tag).
    guid = struct.pack("<H", subformat) + bytes.fromhex("000000001000800000aa00389b71")
    return fmt(tag=0xFFFE, extra=struct.pack("<HHI", 22, 16, 4) + guid)


PCM = bytes(range(200))


# --- parse_wav_header -------------------------------------------------------


@pytest.mark.parametrize(("name", "rate"), [("s1_16k.wav", 16000), ("long_8k.wav", 8000)])
def test_parses_fixture_headers(name: str, rate: int) -> None:
    data = (SPEECH / name).read_bytes()
    header = parse_wav_header(data)
    assert header == WavHeader(sample_rate=rate, data_offset=44, data_size=len(data) - 44)


def test_needs_more_bytes_until_the_data_chunk() -> None:
    data = make_wav(PCM)
    for cut in range(44):
        assert parse_wav_header(data[:cut]) is None, cut
    assert parse_wav_header(data[:44]) == WavHeader(16000, 44, len(PCM))


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_reports_any_sensible_rate(rate: int) -> None:
    header = parse_wav_header(make_wav(PCM, rate=rate))
    assert header is not None
    assert header.sample_rate == rate


def test_skips_other_chunks_including_odd_sized_ones() -> None:
    data = riff(chunk(b"JUNK", b"abc"), fmt(), chunk(b"LIST", b"12345"), chunk(b"data", PCM))
    header = parse_wav_header(data)
    assert header is not None
    assert data[header.data_offset :] == PCM


def test_unknown_data_size_is_none() -> None:
    for size in (0, 0xFFFFFFFF):
        header = parse_wav_header(riff(fmt(), chunk(b"data", PCM, size=size)))
        assert header is not None
        assert header.data_size is None


def test_accepts_rf64_and_extensible_pcm() -> None:
    assert parse_wav_header(riff(fmt(), chunk(b"data", PCM), magic=b"RF64")) is not None
    header = parse_wav_header(riff(extensible(1), chunk(b"data", PCM)))
    assert header is not None
    assert header.sample_rate == 16000


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"ID3\x03", "missing RIFF header"),
        (b"OggS\0\0\0\0", "missing RIFF header"),
        (riff(fmt(), form=b"AVI "), "not WAVE"),
        (riff(fmt(), magic=b"RIFX"), "big-endian"),
        (riff(fmt(channels=2), chunk(b"data", PCM)), "2 channels; need mono"),
        (riff(fmt(bits=8), chunk(b"data", PCM)), "8-bit samples; need 16-bit"),
        (riff(fmt(bits=24), chunk(b"data", PCM)), "24-bit"),
        (riff(fmt(tag=3, bits=32), chunk(b"data", PCM)), "0x0003 is not supported"),
        (riff(fmt(tag=6, bits=8), chunk(b"data", PCM)), "0x0006 is not supported"),
        (riff(extensible(3), chunk(b"data", PCM)), "0x0003 is not supported"),
        (riff(fmt(rate=0), chunk(b"data", PCM)), "out of range"),
        (riff(chunk(b"data", PCM), fmt()), "before the fmt chunk"),
        (riff(chunk(b"fmt ", b"\x01\x00\x01\x00"), chunk(b"data", PCM)), "too short"),
        (riff(chunk(b"fmt ", b"", size=1 << 30)), "implausible"),
        (riff(fmt(), chunk(b"LIST", b"x" * MAX_HEADER_BYTES), chunk(b"data", PCM)), "no WAV data chunk"),
        # A plausible fmt chunk that the bound cuts off: the bound is what failed, not the fmt.
        (riff(chunk(b"LIST", b"x" * (MAX_HEADER_BYTES - 30)), fmt(), chunk(b"data", PCM)), "^no WAV data chunk"),
    ],
)
def test_rejects_what_it_cannot_decode(data: bytes, message: str) -> None:
    with pytest.raises(WavFormatError, match=message) as info:
        parse_wav_header(data)
    assert isinstance(info.value, ValueError)


def test_huge_skipped_chunk_is_rejected_without_waiting_for_it() -> None:
    data = riff(fmt(), chunk(b"LIST", b"", size=1 << 31))
    with pytest.raises(WavFormatError, match="no WAV data chunk"):
        parse_wav_header(data[:64])


# --- WavStream --------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=40))
def test_stream_returns_exactly_the_payload_however_it_is_split(sizes: list[int]) -> None:
    data = make_wav(PCM, rate=8000) + chunk(b"LIST", b"trailing metadata")
    stream = WavStream()
    out = bytearray()
    pos = 0
    for size in sizes * (len(data) // sum(sizes) + 1):
        out += stream.feed(data[pos : pos + size])
        pos += size
    assert bytes(out) == PCM
    assert stream.sample_rate == 8000


def test_stream_with_unknown_size_passes_everything_through() -> None:
    stream = WavStream()
    assert stream.feed(riff(fmt(), chunk(b"data", b"", size=0))) == b""
    assert stream.header is not None
    assert stream.feed(b"abcd") == b"abcd"


def test_stream_raises_on_a_bad_header() -> None:
    stream = WavStream()
    assert stream.feed(b"RI") == b""
    with pytest.raises(WavFormatError):
        stream.feed(b"FX\0\0\0\0WAVE")


# --- Resampler --------------------------------------------------------------


def sine(rate: int, hz: float, seconds: float, amplitude: float = 8000.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes()


def test_16k_is_passed_through_even_when_split_mid_sample() -> None:
    pcm = sine(16000, 440, 0.1)
    resampler = Resampler(16000)
    out = resampler.feed(pcm[:101]) + resampler.feed(pcm[101:]) + resampler.flush()
    assert out == pcm


def test_8k_becomes_16k_and_keeps_the_tone() -> None:
    pcm8 = sine(8000, 440, 1.0)
    resampler = Resampler(8000)
    out = resampler.feed(pcm8) + resampler.flush()
    samples = np.frombuffer(out, dtype="<i2").astype(np.float64)
    assert abs(len(samples) - 16000) <= 1
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    peak_hz = np.argmax(spectrum) * 16000 / len(samples)
    assert abs(peak_hz - 440) < 2
    assert np.max(np.abs(samples[2000:-2000])) == pytest.approx(8000, rel=0.02)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=701), min_size=1, max_size=30))
def test_resampling_does_not_depend_on_packet_boundaries(sizes: list[int]) -> None:
    pcm8 = sine(8000, 300, 0.5)
    whole = Resampler(8000)
    expected = whole.feed(pcm8) + whole.flush()
    split = Resampler(8000)
    out = bytearray()
    pos = 0
    while pos < len(pcm8):
        for size in sizes:
            out += split.feed(pcm8[pos : pos + size])
            pos += size
    out += split.flush()
    assert bytes(out) == expected


def test_resampler_rejects_bad_rates_and_use_after_flush() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Resampler(0)
    resampler = Resampler(8000)
    resampler.flush()
    assert resampler.flush() == b""
    with pytest.raises(RuntimeError, match="after flush"):
        resampler.feed(b"\0\0")
