"""Check an audio file against its declared format before anything is sent.

The service answers a wrong declaration (a ``.wav`` that is really MP3) with no result or a
late ``NO_VALID_AUDIO_ERROR`` (docs/PROTOCOL.md §7, and the troubleshooting section of
the SDK documentation). :func:`probe` reads the file's own headers and says what is wrong,
naming what the file really is. The CLI and :mod:`funasr_realtime.compat` both use it.

Files are sent as PCM converted on the client (:func:`funasr_realtime.audio.file_pcm`), so
what the converter handles is accepted: any channel count (downmixed), any rate (resampled
with PyAV), 8-32 bit PCM and float WAVs, and the containers of
:data:`~funasr_realtime.audio.CONTAINER_FORMATS` (``mp4`` for .m4a/.mp4 AAC, ``flac``).

``probe(path, format, sample_rate)`` returns an :class:`AudioFile` (size, duration when the
headers tell it, first byte of audio) or raises:

* ``FileNotFoundError`` / ``IsADirectoryError`` / ``PermissionError``, as ``open`` does;
* :class:`InputDataRequired` for an empty file (the SDK's error for it);
* :class:`~funasr_realtime.AudioError` when the content does not match ``format``.

Only headers and frame headers are read; the audio itself is never decoded here.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..protocol import AUDIO_FORMATS, AudioError
from .decoders import PYAV_HINT
from .files import CONTAINER_FORMATS
from .wav import check_convertible
from .wav_header import WavHeaderParser, looks_like_wav

__all__ = ["AudioFile", "InputDataRequired", "format_from_suffix", "probe", "sniff", "wav_sample_rate"]

# Enough of the file to find a WAV data chunk or an Ogg codec header.
_HEAD_BYTES = 64 * 1024
_SUFFIXES = {
    ".pcm": "pcm",
    ".raw": "pcm",
    ".wav": "wav",
    ".mp3": "mp3",
    ".aac": "aac",
    ".amr": "amr",
    ".opus": "opus",
    ".spx": "speex",
    ".ogg": "opus",
    ".m4a": "mp4",
    ".mp4": "mp4",
    ".flac": "flac",
}
_DESCRIPTIONS = {
    "wav": "a WAV file",
    "mp3": "MP3 audio",
    "aac": "AAC audio (ADTS)",
    "amr": "AMR-NB audio",
    "amr-wb": "AMR-WB audio",
    "opus": "Opus audio in Ogg",
    "speex": "Speex audio in Ogg",
    "ogg": "an Ogg file of another codec",
    "flac": "a FLAC file",
    "mp4": "an MP4/M4A file",
}


class InputDataRequired(AudioError):
    """The file holds no data (the SDK's name for this error)."""


@dataclass(frozen=True, slots=True)
class AudioFile:
    """What :func:`probe` learned. ``duration_ms`` is None when the headers do not tell it."""

    path: Path
    format: str
    size: int
    duration_ms: int | None
    sample_rate: int | None = None

    def frame_bytes(self, ms: int = 100) -> int:
        """Bytes of about ``ms`` of audio, kept within the service's recommended 1-16 KB per frame."""
        if self.format in ("pcm", "wav") and self.sample_rate:
            per_second = self.sample_rate * 2
        elif self.duration_ms:
            per_second = self.size * 1000 // self.duration_ms
        else:
            per_second = 4000  # 32 kbit/s, a typical speech bitrate
        return min(16000, max(1024, per_second * ms // 1000))


def format_from_suffix(path: str | os.PathLike[str]) -> str | None:
    """The service format a file name suggests (``.spx`` → speex, ``.ogg`` → opus), or None."""
    return _SUFFIXES.get(Path(path).suffix.lower())


def sniff(head: bytes, *, signatures_only: bool = False) -> str | None:
    """What the first bytes of a file say it is (a key of ``_DESCRIPTIONS``), or None.

    ``signatures_only`` ignores bare MP3/ADTS frame syncs, which raw PCM can contain by chance.
    """
    if head.startswith(b"OggS"):
        return _sniff_ogg(head)
    for name, matches in _SIGNATURES:
        if matches(head):
            return name
    if signatures_only:
        return None
    if _is_mp3_sync(head):
        return "mp3"
    return "aac" if _is_adts_sync(head) else None


def probe(path: str | os.PathLike[str], format: str, sample_rate: int) -> AudioFile:
    """Check that ``path`` holds ``format`` audio; see the module docstring for what it raises."""
    if format not in AUDIO_FORMATS and format not in CONTAINER_FORMATS:
        raise AudioError(f"unknown format {format!r}; the service accepts {', '.join(AUDIO_FORMATS)}")
    file = Path(path)
    if file.is_dir():
        raise IsADirectoryError(f"Is a directory: {file}")
    size = file.stat().st_size
    if size == 0:
        raise InputDataRequired(f"The supplied file was empty (zero bytes long): {file}")
    with file.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
        if format == "pcm":
            return _check_pcm(file, size, sniff(head, signatures_only=True), sample_rate)
        actual = sniff(head)
        if actual != format and not (format == "aac" and actual == "mp4"):  # AAC in MP4 (.m4a) is AAC too
            what = _DESCRIPTIONS.get(actual or "", "not a recognizable audio file")
            raise AudioError(f"{file.name}: declared {format} but the content is {what}")
        if actual in CONTAINER_FORMATS:
            _needs_pyav(file.name, "decoding this container")
            return AudioFile(file, actual, size, None, None)
        # A WAV's header is in its head; the other checkers walk every frame to the end.
        data = head if format == "wav" else head + handle.read()
    duration_ms, rate = _CHECKERS[format](file.name, data, sample_rate)
    return AudioFile(file, format, size, duration_ms, rate)


def wav_sample_rate(path: str | os.PathLike[str]) -> int | None:
    """The rate a WAV file's fmt chunk gives, or None when the head holds no readable one."""
    with Path(path).open("rb") as handle:
        data = handle.read(_HEAD_BYTES)
    if sniff(data) != "wav":
        return None
    parser = WavHeaderParser()
    with contextlib.suppress(AudioError):  # what comes after the fmt chunk does not matter here
        parser.feed(data)
    return None if parser.format is None else parser.format.sample_rate


# --------------------------------------------------------------------------- sniffing

# Checked in order: AMR-WB's magic starts with AMR-NB's.
_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("wav", looks_like_wav),
    ("amr-wb", lambda head: head.startswith(b"#!AMR-WB\n")),
    ("amr", lambda head: head.startswith(b"#!AMR\n")),
    ("flac", lambda head: head.startswith(b"fLaC")),
    ("mp4", lambda head: head[4:8] == b"ftyp"),
    ("mp3", lambda head: head.startswith(b"ID3")),
)


def _sniff_ogg(head: bytes) -> str:
    if len(head) < 28:
        return "ogg"
    body = 27 + head[26]
    packet = head[body : body + 8]
    if packet == b"OpusHead":
        return "opus"
    if packet == b"Speex   ":
        return "speex"
    return "ogg"


def _is_mp3_sync(head: bytes) -> bool:
    # 11-bit frame sync, a valid version, and layer III (bits 01).
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] >> 1) & 3 == 1


def _is_adts_sync(head: bytes) -> bool:
    # 12-bit sync 0xFFF with layer 00: what ADTS headers carry.
    return len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0


# --------------------------------------------------------------------------- per format


def _check_pcm(file: Path, size: int, actual: str | None, rate: int) -> AudioFile:
    if actual is not None:
        raise AudioError(f"{file.name}: declared pcm but the content is {_DESCRIPTIONS[actual]}; declare its format")
    if size % 2:
        raise AudioError(f"{file.name}: {size} bytes is not whole 16-bit samples; pcm means s16le mono")
    return AudioFile(file, "pcm", size, size * 1000 // (2 * rate), rate)


def _check_wav(name: str, data: bytes, rate: int) -> tuple[int | None, int]:
    try:
        header, _audio = WavHeaderParser(check_convertible, max_header_bytes=_HEAD_BYTES).feed(data)
    except AudioError as exc:
        raise AudioError(f"{name}: {exc}") from None
    if header is None:
        raise AudioError(f"{name}: no WAV data chunk in the first {_HEAD_BYTES // 1024} KiB")
    if header.sample_rate != rate:
        _needs_pyav(name, f"resampling its {header.sample_rate} Hz to {rate} Hz")
    size = header.data_size
    duration_ms = None if size is None else size * 1000 // (header.format.block_align * header.sample_rate)
    return duration_ms, header.sample_rate


def _needs_pyav(name: str, what: str) -> None:
    try:
        import av  # noqa: F401
    except ImportError:
        raise AudioError(f"{name}: {what} needs PyAV ({PYAV_HINT})") from None


_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MP3_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}


def _check_mp3(name: str, data: bytes, rate: int) -> tuple[int | None, int | None]:
    has_tag = data[:3] == b"ID3" and len(data) >= 10
    pos = 10 + (data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9]) if has_tag else 0
    samples, frame_rate = 0, None
    while pos + 4 <= len(data):
        header = int.from_bytes(data[pos : pos + 4], "big")
        version, layer = (header >> 19) & 3, (header >> 17) & 3
        kbps_index, rate_index = (header >> 12) & 0xF, (header >> 10) & 3
        if header >> 21 != 0x7FF or version == 1 or layer != 1 or kbps_index in (0, 15) or rate_index == 3:
            break  # not a layer III frame header: end of the audio (or trailing tags)
        frame_rate = _MP3_RATES[version][rate_index]
        per_frame = 1152 if version == 3 else 576
        kbps = _MP3_KBPS[3 if version == 3 else 2][kbps_index]
        samples += per_frame
        pos += per_frame // 8 * kbps * 1000 // frame_rate + ((header >> 9) & 1)
    if frame_rate is None:
        raise AudioError(f"{name}: no MP3 (MPEG layer III) frames found")
    return samples * 1000 // frame_rate, frame_rate


_AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


def _check_aac(name: str, data: bytes, rate: int) -> tuple[int | None, int | None]:
    pos, samples, frame_rate = 0, 0, None
    while pos + 7 <= len(data) and _is_adts_sync(data[pos : pos + 2]):
        rate_index = (data[pos + 2] >> 2) & 0xF
        length = (data[pos + 3] & 3) << 11 | data[pos + 4] << 3 | data[pos + 5] >> 5
        if rate_index >= len(_AAC_RATES) or length < 7:
            break
        frame_rate = _AAC_RATES[rate_index]
        samples += 1024 * ((data[pos + 6] & 3) + 1)
        pos += length
    if frame_rate is None:
        raise AudioError(f"{name}: no AAC ADTS frames found")
    return samples * 1000 // frame_rate, frame_rate


_AMR_FRAME_BYTES = (12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, 0, 0, 0, 0)


def _check_amr(name: str, data: bytes, rate: int) -> tuple[int | None, int | None]:
    pos, frames = 6, 0
    while pos < len(data):
        pos += 1 + _AMR_FRAME_BYTES[(data[pos] >> 3) & 0x0F]
        frames += 1
    if frames == 0:
        raise AudioError(f"{name}: the AMR file holds no frames")
    return frames * 20, 8000  # AMR-NB: 20 ms frames at 8 kHz


def _check_ogg(name: str, data: bytes, rate: int) -> tuple[int | None, int | None]:
    head = data[27 + data[26] :]
    if len(head) < (19 if head.startswith(b"OpusHead") else 52):
        raise AudioError(f"{name}: the Ogg codec header is truncated")
    last = data.rfind(b"OggS")
    granule = struct.unpack_from("<q", data, last + 6)[0] if last + 14 <= len(data) else -1
    if head.startswith(b"OpusHead"):
        pre_skip = struct.unpack_from("<H", head, 10)[0]
        return (max(0, granule - pre_skip) * 1000 // 48000 if granule >= 0 else None), 48000
    stream_rate = struct.unpack_from("<I", head, 36)[0]
    return (granule * 1000 // stream_rate if granule >= 0 and stream_rate else None), stream_rate


_CHECKERS: dict[str, Callable[[str, bytes, int], tuple[int | None, int | None]]] = {
    "wav": _check_wav,
    "mp3": _check_mp3,
    "aac": _check_aac,
    "amr": _check_amr,
    "opus": _check_ogg,
    "speex": _check_ogg,
}
