"""Audio files made in the test from the speech fixtures with PyAV (no committed binaries)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
from av.audio.resampler import AudioResampler

# container format, codec, sample format the encoder takes
KINDS: dict[str, tuple[str, str, str]] = {
    "wav": ("wav", "pcm_s16le", "s16"),
    "mp3": ("mp3", "libmp3lame", "s16p"),
    "m4a": ("ipod", "aac", "fltp"),
    "aac": ("adts", "aac", "fltp"),
    "opus": ("ogg", "libopus", "s16"),
    "flac": ("flac", "flac", "s16"),
}


def encode(pcm: bytes, kind: str, *, source_rate: int = 16000, rate: int | None = None, layout: str = "mono") -> bytes:
    """``pcm`` (s16le mono at ``source_rate``) as a ``kind`` file at ``rate`` with ``layout``."""
    container_format, codec, sample_format = KINDS[kind]
    rate = rate or source_rate
    if kind == "opus":
        rate = 48000  # Opus always runs at 48 kHz; the decoder resamples
    out = io.BytesIO()
    with av.open(out, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)  # type: ignore[call-overload]
        resampler = AudioResampler(format=sample_format, layout=layout, rate=rate)
        frame_size = stream.codec_context.frame_size or 1024
        fifo = av.AudioFifo()
        for frame in _frames(pcm, source_rate):
            for converted in resampler.resample(frame):
                fifo.write(converted)
            while (chunk := fifo.read(frame_size)) is not None:
                container.mux(stream.encode(chunk))
        for converted in resampler.resample(None):
            fifo.write(converted)
        if (rest := fifo.read()) is not None:
            container.mux(stream.encode(rest))
        container.mux(stream.encode(None))
    return out.getvalue()


def _frames(pcm: bytes, rate: int, samples: int = 1600) -> list[av.AudioFrame]:
    frames = []
    for i in range(0, len(pcm), samples * 2):
        piece = pcm[i : i + samples * 2]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(piece) // 2)
        frame.planes[0].update(piece)
        frame.sample_rate = rate
        frame.pts = i // 2
        frames.append(frame)
    return frames


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def wav_bytes(samples: bytes, *, channels: int, rate: int, bits: int, tag: int = 1, extra_chunks: bytes = b"") -> bytes:
    """A WAV file with a hand-made header: any tag (1 PCM, 3 float), width and channel count."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunks
    body += b"data" + struct.pack("<I", len(samples)) + samples + (b"\0" if len(samples) % 2 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def with_silence(pcm: bytes, seconds: float, rate: int = 16000, at: int | None = None) -> bytes:
    """``pcm`` with ``seconds`` of digital silence inserted at byte ``at`` (default: the middle, sample-aligned)."""
    middle = (len(pcm) // 4) * 2 if at is None else at
    return pcm[:middle] + b"\0" * (int(seconds * rate) * 2) + pcm[middle:]
