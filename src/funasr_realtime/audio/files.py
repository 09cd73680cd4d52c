"""A whole audio file as s16le mono PCM, read piece by piece (the CLI and compat ``call()``).

:func:`file_pcm` yields ``(pcm, consumed)`` pairs: PCM at the requested rate and how many
bytes of the file produced it (for progress). Formats the service accepts go through
:func:`~funasr_realtime.audio.pcm_converter` as the file is read; containers the service
does not accept (:data:`CONTAINER_FORMATS`: MP4/M4A holding AAC, FLAC, Ogg Vorbis) are
demuxed and decoded by PyAV (``av.open``). Memory stays bounded by the read size either way.
Raises :class:`~funasr_realtime.AudioError` for invalid data and
:class:`~funasr_realtime.ConfigurationError` when PyAV is needed and missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..protocol import AudioError, ConfigurationError
from .convert import pcm_converter
from .decoders import PYAV_HINT, MonoResampler

__all__ = ["CONTAINER_FORMATS", "READ_BYTES", "file_pcm"]

#: File kinds decoded with PyAV's demuxer rather than sent in a service format.
CONTAINER_FORMATS: tuple[str, ...] = ("mp4", "flac", "ogg")
#: How much of a file is read at a time.
READ_BYTES = 16 * 1024


def file_pcm(
    path: str | os.PathLike[str], format: str, sample_rate: int, read_bytes: int = READ_BYTES
) -> Iterator[tuple[bytes, int]]:
    """``(pcm, consumed)`` pieces of the whole file; see the module docstring."""
    if format in CONTAINER_FORMATS:
        yield from _container_pcm(Path(path), sample_rate)
        return
    converter = pcm_converter(format, sample_rate)
    with Path(path).open("rb") as handle:
        while chunk := handle.read(read_bytes):
            yield (chunk if converter is None else converter.feed(chunk)), len(chunk)
    if converter is not None:
        yield converter.flush(), 0


def _container_pcm(path: Path, sample_rate: int) -> Iterator[tuple[bytes, int]]:
    try:
        import av
    except ImportError:
        raise ConfigurationError(f"{path.name}: decoding this container needs PyAV ({PYAV_HINT})") from None
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise AudioError(f"{path.name}: cannot open the audio container: {exc}") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path.name}: the container has no audio stream")
        resampler = MonoResampler(sample_rate)
        produced = False
        try:
            for packet in container.demux(container.streams.audio[0]):
                pcm = b"".join(resampler.resample(frame) for frame in packet.decode())
                produced = produced or bool(pcm)
                yield pcm, packet.size
            tail = resampler.flush()
        except Exception as exc:  # FFmpegError, or PyAV's ValueError on a frame it cannot describe
            raise AudioError(f"{path.name}: cannot decode the audio: {exc}") from exc
        if not produced and not tail:
            raise AudioError(f"{path.name}: the container holds no decodable audio")
        yield tail, 0
