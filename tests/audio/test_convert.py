"""Every format to s16le mono PCM on the client: WAV in pure Python, compressed formats and containers with PyAV."""

from __future__ import annotations

import struct
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from funasr_realtime import AudioError, ConfigurationError
from funasr_realtime.audio import PYAV_HINT, WavConverter, decoders, file_pcm, pcm_converter
from tests.audio.media import encode, wav_bytes
from tests.conftest import SPEECH, load_speech

FORMATS = SPEECH / "formats"
S1 = load_speech("s1")
S1_8K = load_speech("s1", 8000)


def convert(format: str, data: bytes, piece: int, rate: int = 16000) -> bytes:
    converter = pcm_converter(format, rate)
    assert converter is not None
    out = b"".join(converter.feed(data[i : i + piece]) for i in range(0, len(data), piece))
    return out + converter.flush()


def samples(pcm: bytes) -> array[int]:
    return array("h", pcm)


def close_to(a: bytes, b: bytes, tolerance: int) -> bool:
    return len(a) == len(b) and max(abs(x - y) for x, y in zip(samples(a), samples(b), strict=True)) <= tolerance


# --------------------------------------------------------------------------- WAV


def test_pcm_needs_no_converter() -> None:
    assert pcm_converter("pcm", 16000) is None


@pytest.mark.parametrize("piece", [1, 7, 333, 4096, 1 << 20])
def test_a_wav_gives_its_samples_for_any_split(piece: int) -> None:
    assert convert("wav", S1.path.read_bytes(), piece) == S1.pcm


def test_the_common_case_returns_the_input_itself() -> None:
    converter = WavConverter(16000)
    data = S1.path.read_bytes()
    converter.feed(data[:44])  # the header
    frame = data[44:3244]
    assert converter.feed(frame) is frame, "16-bit mono at the task rate: no copy, no conversion"


def widen(pcm: bytes, width: int) -> bytes:
    """16-bit samples as ``width``-byte little-endian ints (the 16 bits on top, zeros below)."""
    if width == 1:
        return bytes(((s >> 8) + 128) & 0xFF for s in samples(pcm))
    out = bytearray(len(pcm) // 2 * width)
    out[width - 2 :: width] = pcm[0::2]
    out[width - 1 :: width] = pcm[1::2]
    return bytes(out)


@pytest.mark.parametrize(("bits", "tolerance"), [(8, 256), (24, 0), (32, 0)])
def test_integer_widths_become_16_bit(bits: int, tolerance: int) -> None:
    data = wav_bytes(widen(S1.pcm, bits // 8), channels=1, rate=16000, bits=bits)
    assert close_to(convert("wav", data, 1000), S1.pcm, tolerance)


@pytest.mark.parametrize(("bits", "code"), [(32, "f"), (64, "d")])
def test_float_wavs_become_16_bit(bits: int, code: str) -> None:
    floats = array(code, [s / 32767.0 for s in samples(S1.pcm)])
    data = wav_bytes(floats.tobytes(), channels=1, rate=16000, bits=bits, tag=3)
    assert close_to(convert("wav", data, 999), S1.pcm, 1)


def test_out_of_range_and_nan_floats_are_clipped() -> None:
    floats = array("f", [2.0, -3.0, float("nan"), float("inf"), 0.5])
    data = wav_bytes(floats.tobytes(), channels=1, rate=16000, bits=32, tag=3)
    assert list(samples(convert("wav", data, 3))) == [32767, -32767, 0, 32767, 16384]


def interleave(*channels: bytes) -> bytes:
    columns = [samples(c) for c in channels]
    return array("h", [v for frame in zip(*columns, strict=True) for v in frame]).tobytes()


@pytest.mark.parametrize("channels", [2, 3, 6])
def test_channels_are_averaged_into_mono(channels: int) -> None:
    same = wav_bytes(interleave(*[S1.pcm] * channels), channels=channels, rate=16000, bits=16)
    assert convert("wav", same, 777) == S1.pcm, "identical channels give the signal itself"
    silent = [S1.pcm] + [bytes(len(S1.pcm))] * (channels - 1)
    mixed = convert("wav", wav_bytes(interleave(*silent), channels=channels, rate=16000, bits=16), 500)
    expected = array("h", [s // channels for s in samples(S1.pcm)]).tobytes()
    assert close_to(mixed, expected, 1)


def test_other_chunks_and_padding_are_skipped() -> None:
    odd = b"LIST" + struct.pack("<I", 5) + b"abcde" + b"\0"  # odd-sized chunk and its pad byte
    data = wav_bytes(S1.pcm, channels=1, rate=16000, bits=16, extra_chunks=odd)
    data += b"LIST" + struct.pack("<I", 4) + b"INFO"  # a chunk after the audio is not audio
    data = data[:4] + struct.pack("<I", len(data) - 8) + data[8:]
    assert convert("wav", data, 1) == S1.pcm
    assert convert("wav", data, 100) == S1.pcm


def test_concatenated_wavs_and_streaming_headers() -> None:
    first, second = S1.pcm[:16000], S1.pcm[16000:]
    joined = wav_bytes(first, channels=1, rate=16000, bits=16) + wav_bytes(second, channels=1, rate=16000, bits=16)
    assert convert("wav", joined, 1001) == S1.pcm
    unknown = bytearray(wav_bytes(S1.pcm, channels=1, rate=16000, bits=16))
    unknown[40:44] = b"\xff\xff\xff\xff"  # what a streaming writer leaves for the data size
    assert convert("wav", bytes(unknown), 640) == S1.pcm


def test_another_rate_is_resampled() -> None:
    up = convert("wav", SPEECH.joinpath("s1_8k.wav").read_bytes(), 1000, 16000)
    assert abs(len(up) // 32 - S1.duration_ms) <= 20
    stereo = encode(S1.pcm, "wav", rate=44100, layout="stereo")
    down = convert("wav", stereo, 4096, 16000)
    assert abs(len(down) // 32 - S1.duration_ms) <= 20


def block_pyav(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "av" or m.startswith("av.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "av", None)


def test_resampling_without_pyav_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    block_pyav(monkeypatch)
    assert convert("wav", S1.path.read_bytes(), 4096) == S1.pcm, "no PyAV needed at the task rate"
    with pytest.raises(AudioError, match=r'8000 Hz, not 16000 Hz.*pip install "funasr-realtime\[audio\]"'):
        convert("wav", SPEECH.joinpath("s1_8k.wav").read_bytes(), 4096, 16000)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"ID3\x04" + bytes(100), "not a WAV file"),
        (b"RIFF\0\0\0\0WAVEdata\4\0\0\0abcd", "data chunk comes before its fmt chunk"),
        (wav_bytes(b"\0\0", channels=1, rate=8000, bits=8, tag=6), "encoding 0x0006"),  # A-law
        (wav_bytes(b"\0\0", channels=1, rate=8000, bits=12), "12-bit"),
        (wav_bytes(b"\0\0", channels=0, rate=8000, bits=16), "not plausible"),
        (wav_bytes(b"", channels=1, rate=16000, bits=16)[:30], "truncated"),
    ],
    ids=["mp3", "data-first", "alaw", "12-bit", "no-channels", "truncated"],
)
def test_what_is_not_a_usable_wav_is_an_audio_error(data: bytes, fragment: str) -> None:
    with pytest.raises(AudioError, match=fragment):
        convert("wav", data, 5)


@pytest.mark.parametrize(
    ("chunks", "message"),
    [
        (b"fmt " + struct.pack("<I", 2_000_000), "^WAV fmt chunk size 2000000 is implausible$"),
        (
            wav_bytes(b"", channels=1, rate=16000, bits=16)[12:36] + b"LIST" + struct.pack("<I", 2_000_000),
            "^no WAV data chunk within the first 1024 KiB$",
        ),
    ],
    ids=["huge-fmt", "huge-list"],
)
def test_a_header_that_never_reaches_its_data_is_bounded(chunks: bytes, message: str) -> None:
    converter = WavConverter(16000)
    huge = b"RIFF\0\0\0\0WAVE" + chunks
    with pytest.raises(AudioError, match=message):
        for i in range(0, 2_000_000, 65536):
            converter.feed(huge if i == 0 else bytes(65536))


# --------------------------------------------------------------------------- compressed formats and containers


@pytest.mark.parametrize("format", decoders.COMPRESSED_FORMATS)
def test_compressed_formats_convert_to_the_task_rate(format: str) -> None:
    name = {"speex": "s1.spx"}.get(format, f"s1.{format}")
    pcm = convert(format, (FORMATS / name).read_bytes(), 1500, 8000)
    assert abs(len(pcm) // 16 - S1.duration_ms) < 200


@pytest.mark.parametrize(("kind", "format"), [("mp3", "mp3"), ("aac", "aac"), ("opus", "opus")])
@pytest.mark.parametrize("layout", ["stereo", "mono"])
def test_stereo_and_any_rate_compressed_audio_is_mono_at_the_task_rate(kind: str, format: str, layout: str) -> None:
    data = encode(S1.pcm, kind, rate=44100 if kind != "opus" else None, layout=layout)
    pcm = convert(format, data, 2048, 16000)
    assert abs(len(pcm) // 32 - S1.duration_ms) < 200


@pytest.mark.parametrize(("kind", "format"), [("m4a", "mp4"), ("flac", "flac")])
def test_containers_are_demuxed_by_pyav(tmp_path: Path, kind: str, format: str) -> None:
    path = tmp_path / f"s1.{kind}"
    path.write_bytes(encode(S1.pcm, kind, rate=44100, layout="stereo"))
    pieces = list(file_pcm(path, format, 16000))
    pcm = b"".join(p for p, _ in pieces)
    assert abs(len(pcm) // 32 - S1.duration_ms) < 200
    assert sum(n for _, n in pieces) <= path.stat().st_size and len(pieces) > 5, "read as it goes, not at once"


def test_a_broken_container_is_an_audio_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.m4a"
    data = encode(S1.pcm, "m4a")
    path.write_bytes(data[: len(data) // 3])  # the moov atom is at the end: cut, nothing decodes
    with pytest.raises(AudioError):
        b"".join(p for p, _ in file_pcm(path, "mp4", 16000))


def test_file_pcm_streams_service_formats_through_the_converter(tmp_path: Path) -> None:
    pcm = b"".join(p for p, _ in file_pcm(S1.path, "wav", 16000, read_bytes=1000))
    assert pcm == S1.pcm
    raw = tmp_path / "s1.pcm"
    raw.write_bytes(S1.pcm)
    assert b"".join(p for p, _ in file_pcm(raw, "pcm", 16000)) == S1.pcm


def test_unknown_formats_missing_codecs_and_bad_rates_are_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="unknown format 'flac'"):
        pcm_converter("flac", 16000)
    with pytest.raises(ConfigurationError, match="positive"):
        pcm_converter("wav", 0)
    monkeypatch.setattr(decoders, "available_decoders", frozenset)
    with pytest.raises(ConfigurationError, match=f"PyAV is not installed .{PYAV_HINT.replace('[', '.')}"):
        pcm_converter("opus", 16000)


def test_the_audio_package_imports_and_converts_without_numpy() -> None:
    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "from funasr_realtime.audio import pcm_converter\n"
        f"c = pcm_converter('wav', 16000); data = open({str(S1.path)!r}, 'rb').read()\n"
        "assert len(c.feed(data) + c.flush()) == len(data) - 44\n"
        "c = pcm_converter('opus', 16000)\n"
        f"assert c.feed(open({str(FORMATS / 's1.opus')!r}, 'rb').read()) + c.flush()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
