"""File checks before streaming: what each file really is, durations and frame sizes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from funasr_realtime import AudioError
from funasr_realtime.audio.probe import AudioFile, InputDataRequired, format_from_suffix, probe, sniff
from tests.conftest import SPEECH, load_speech

FORMATS = SPEECH / "formats"
S1 = load_speech("s1")


@pytest.mark.parametrize(
    ("name", "format", "rate"),
    [
        ("s1.mp3", "mp3", 16000),
        ("s1.aac", "aac", 16000),
        ("s1.amr", "amr", 8000),
        ("s1.opus", "opus", 48000),
        ("s1.spx", "speex", 16000),
    ],
)
def test_compressed_fixtures_are_recognized_with_their_duration(name: str, format: str, rate: int) -> None:
    audio = probe(FORMATS / name, format, 16000)
    assert audio.format == format and audio.sample_rate == rate
    assert audio.duration_ms is not None
    assert abs(audio.duration_ms - S1.duration_ms) < 200, "headers give the duration (encoders pad a little)"
    assert sniff((FORMATS / name).read_bytes()[:4096]) == format


def test_wav_duration_and_frames_of_100_ms() -> None:
    audio = probe(S1.path, "wav", 16000)
    assert audio == AudioFile(S1.path, "wav", S1.path.stat().st_size, S1.duration_ms, 16000)
    assert audio.frame_bytes() == 3200
    assert probe(SPEECH / "s1_8k.wav", "wav", 8000).frame_bytes() == 1600


def test_compressed_frames_stay_within_the_recommended_sizes() -> None:
    audio = probe(FORMATS / "s1.amr", "amr", 16000)  # 12.2 kbit/s: 100 ms is ~150 bytes
    assert audio.frame_bytes() == 1024


def test_raw_pcm_is_sized_by_the_declared_rate(tmp_path: Path) -> None:
    raw = tmp_path / "speech.pcm"
    raw.write_bytes(S1.pcm)
    assert probe(raw, "pcm", 16000).duration_ms == S1.duration_ms
    raw.write_bytes(S1.pcm + b"\0")
    with pytest.raises(AudioError, match="whole 16-bit samples"):
        probe(raw, "pcm", 16000)


def test_pcm_starting_like_an_mp3_frame_is_still_pcm(tmp_path: Path) -> None:
    raw = tmp_path / "noise.pcm"
    raw.write_bytes(b"\xff\xfb" * 100)  # a sample that happens to look like an MPEG sync
    assert probe(raw, "pcm", 16000).format == "pcm"


@pytest.mark.parametrize(
    ("path", "format", "fragment"),
    [
        (SPEECH / "s1_16k.wav", "pcm", "declared pcm but the content is a WAV file"),
        (SPEECH / "s1_16k.wav", "mp3", "declared mp3 but the content is a WAV file"),
        (FORMATS / "s1.opus", "speex", "declared speex but the content is Opus audio in Ogg"),
        (FORMATS / "s1.spx", "opus", "declared opus but the content is Speex audio in Ogg"),
        (FORMATS / "s1.mp3", "aac", "declared aac but the content is MP3 audio"),
        (FORMATS / "s1.aac", "amr", "declared amr but the content is AAC audio"),
        (SPEECH / "sentences.jsgf", "wav", "not a recognizable audio file"),
    ],
)
def test_a_mismatch_names_what_the_file_really_is(path: Path, format: str, fragment: str) -> None:
    with pytest.raises(AudioError, match=fragment):
        probe(path, format, 16000)


def test_amr_wb_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    wideband = tmp_path / "x.amr"
    wideband.write_bytes(b"#!AMR-WB\n" + b"\0" * 100)
    with pytest.raises(AudioError, match="AMR-WB"):
        probe(wideband, "amr", 16000)
    with pytest.raises(AudioError, match="unknown format 'vorbis'"):
        probe(S1.path, "vorbis", 16000)


def test_wav_variants(tmp_path: Path) -> None:
    def wav(tag: int, channels: int, rate: int, bits: int) -> Path:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
        body = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", 4) + b"\0" * 4
        path = tmp_path / f"{tag}-{channels}-{rate}-{bits}.wav"
        path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
        return path

    assert probe(wav(1, 1, 16000, 16), "wav", 16000).duration_ms == 0
    # Converted on the client: other widths, float, channels and rates are accepted.
    assert probe(wav(1, 1, 16000, 24), "wav", 16000).format == "wav"
    assert probe(wav(3, 2, 16000, 32), "wav", 16000).duration_ms == 0
    stereo_44k = probe(wav(1, 2, 44100, 16), "wav", 16000)
    assert stereo_44k.sample_rate == 44100, "the file's own rate: it is resampled to the task's"
    with pytest.raises(AudioError, match="encoding 0x0006"):
        probe(wav(6, 1, 8000, 8), "wav", 8000)  # A-law
    with pytest.raises(AudioError, match="12-bit"):
        probe(wav(1, 1, 8000, 12), "wav", 8000)


def test_wav_duration_counts_every_channel_and_width() -> None:
    audio = probe(FORMATS / "stereo.wav", "wav", 16000)
    assert audio.duration_ms == (audio.size - 44) * 1000 // (2 * 2 * 16000)


def test_resampling_without_pyav_is_refused_before_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.audio.test_convert import block_pyav

    block_pyav(monkeypatch)
    assert probe(S1.path, "wav", 16000).sample_rate == 16000
    with pytest.raises(AudioError, match=r"resampling its 8000 Hz to 16000 Hz needs PyAV \(pip install"):
        probe(SPEECH / "s1_8k.wav", "wav", 16000)


@pytest.mark.parametrize(("kind", "declared"), [("mp3", "mp3"), ("aac", "aac"), ("opus", "opus")])
def test_stereo_compressed_files_are_accepted(tmp_path: Path, kind: str, declared: str) -> None:
    from tests.audio.media import encode

    path = tmp_path / f"stereo.{kind}"
    path.write_bytes(encode(S1.pcm, kind, rate=44100 if kind != "opus" else None, layout="stereo"))
    audio = probe(path, declared, 16000)
    assert audio.format == declared and audio.duration_ms is not None
    assert abs(audio.duration_ms - S1.duration_ms) < 200


@pytest.mark.parametrize("declared", ["mp4", "aac"])
def test_m4a_is_accepted_as_a_container(tmp_path: Path, declared: str) -> None:
    from tests.audio.media import encode

    path = tmp_path / "talk.m4a"
    path.write_bytes(encode(S1.pcm, "m4a"))
    assert format_from_suffix(path) == "mp4"
    audio = probe(path, declared, 16000)
    assert audio.format == "mp4", "decoded by PyAV's demuxer, whatever the declaration said"


def test_empty_file_is_the_sdks_input_data_required() -> None:
    with pytest.raises(InputDataRequired, match="empty"):
        probe(FORMATS / "empty.wav", "wav", 16000)


def test_format_from_suffix() -> None:
    names = ("a.WAV", "b.spx", "c.ogg", "d.raw", "e.flac", "f.M4A", "g.mp4", "h.aiff")
    assert [format_from_suffix(n) for n in names] == ["wav", "speex", "opus", "pcm", "flac", "mp4", "mp4", None]
