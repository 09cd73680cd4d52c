"""PCM helpers for the local recognition server: WAV headers and resampling.

Contracts:

* ``parse_wav_header(buf)`` inspects the start of a byte stream.  It returns
  ``None`` while ``buf`` is too short to decide, a :class:`WavHeader` once the
  ``data`` chunk has been reached, and raises :class:`WavFormatError` (a
  ``ValueError``) for anything that is not RIFF/WAVE (or RF64) holding
  uncompressed 16-bit mono PCM.
* :class:`WavStream` strips the header from a stream that arrives in
  arbitrary pieces and returns only PCM payload bytes.
* :class:`Resampler` turns s16le mono PCM at 1-384 kHz into s16le mono PCM at
  16 kHz, statefully, accepting chunks of any byte length (an odd trailing
  byte is carried into the next call).  At 16 kHz input it is a pass-through.

Everything here is synchronous and free of I/O; instances are not thread-safe.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass

import numpy as np
import soxr

logger = logging.getLogger(__name__)

TARGET_RATE = 16000
# A streamed header never needs this much; refusing more bounds what a
# misbehaving client can make us buffer before any audio is found.
MAX_HEADER_BYTES = 64 * 1024
MIN_RATE = 1000
MAX_RATE = 384000
_PCM = 0x0001
_EXTENSIBLE = 0xFFFE
# Sizes writers put in the header when the length is not known up front.
_UNKNOWN_SIZES = frozenset({0, 0xFFFFFFFF})
_MAX_FMT_BYTES = 1024
_FULL_SCALE = 32768.0


class WavFormatError(ValueError):
    """The stream is not a WAV file this server can decode."""


@dataclass(frozen=True, slots=True)
class WavHeader:
    sample_rate: int
    data_offset: int  # index of the first PCM byte in the stream
    data_size: int | None  # None when the header does not give a usable size


def parse_wav_header(buf: bytes | bytearray | memoryview) -> WavHeader | None:
    """Parse a WAV header at the start of ``buf``; ``None`` means "need more bytes"."""
    view = memoryview(buf)
    if len(view) < 12:
        _check_magic(bytes(view))
        return None
    _check_magic(bytes(view[:12]))
    return _walk_chunks(view)


def _check_magic(head: bytes) -> None:
    riff, wave = head[:4], head[8:12]
    if not (b"RIFF".startswith(riff) or b"RF64".startswith(riff)):
        if b"RIFX".startswith(riff):
            raise WavFormatError("big-endian WAV (RIFX) is not supported")
        raise WavFormatError("not a WAV stream: missing RIFF header")
    if not b"WAVE".startswith(wave):
        raise WavFormatError("not a WAV stream: RIFF type is not WAVE")


def _walk_chunks(view: memoryview) -> WavHeader | None:
    offset = 12
    rate: int | None = None
    while True:
        if offset > MAX_HEADER_BYTES:
            raise WavFormatError(f"no WAV data chunk within the first {MAX_HEADER_BYTES} bytes")
        if offset + 8 > len(view):
            return None
        chunk_id = bytes(view[offset : offset + 4])
        (size,) = struct.unpack_from("<I", view, offset + 4)
        body = offset + 8
        if chunk_id == b"data":
            if rate is None:
                raise WavFormatError("WAV data chunk appears before the fmt chunk")
            return WavHeader(rate, body, None if size in _UNKNOWN_SIZES else size)
        if chunk_id == b"fmt ":
            if size > _MAX_FMT_BYTES:
                raise WavFormatError(f"WAV fmt chunk size {size} is implausible")
            if body + size > len(view):
                return None
            rate = _parse_fmt(bytes(view[body : body + size]))
        # RIFF pads every chunk to an even length.
        offset = body + size + (size & 1)


def _parse_fmt(fmt: bytes) -> int:
    if len(fmt) < 16:
        raise WavFormatError(f"WAV fmt chunk too short ({len(fmt)} bytes)")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 26:
        # WAVE_FORMAT_EXTENSIBLE: the real format is the sub-format GUID's first field.
        (tag,) = struct.unpack_from("<H", fmt, 24)
    if tag != _PCM:
        raise WavFormatError(f"WAV encoding 0x{tag:04x} is not supported; need PCM")
    if channels != 1:
        raise WavFormatError(f"WAV has {channels} channels; need mono")
    if bits != 16:
        raise WavFormatError(f"WAV has {bits}-bit samples; need 16-bit")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise WavFormatError(f"WAV sample rate {rate} Hz is out of range")
    return int(rate)


class WavStream:
    """Strip a WAV header from a stream that arrives in pieces.

    ``feed`` returns the PCM payload contained in each piece (``b""`` while the
    header is incomplete).  Bytes past a declared ``data`` size are dropped,
    since trailing chunks (LIST, id3) are metadata, not audio.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._header: WavHeader | None = None
        self._remaining: int | None = None

    @property
    def header(self) -> WavHeader | None:
        return self._header

    @property
    def sample_rate(self) -> int | None:
        return None if self._header is None else self._header.sample_rate

    def feed(self, chunk: bytes | bytearray | memoryview) -> bytes:
        if self._header is None:
            self._pending += chunk
            header = parse_wav_header(self._pending)
            if header is None:
                return b""
            self._header = header
            self._remaining = header.data_size
            payload = bytes(self._pending[header.data_offset :])
            self._pending.clear()
        else:
            payload = bytes(chunk)
        return self._limit(payload)

    def _limit(self, payload: bytes) -> bytes:
        if self._remaining is None:
            return payload
        payload = payload[: self._remaining]
        self._remaining -= len(payload)
        return payload


class Resampler:
    """Stream s16le mono PCM at ``in_rate`` to s16le mono PCM at 16 kHz.

    ``feed`` may return fewer samples than the ratio implies because the
    filter holds back a short delay; ``flush`` releases it at end of stream.
    After ``flush`` the instance must not be fed again.
    """

    def __init__(self, in_rate: int, *, quality: str = "HQ") -> None:
        if not MIN_RATE <= in_rate <= MAX_RATE:
            raise ValueError(f"sample rate {in_rate} Hz is out of range [{MIN_RATE}, {MAX_RATE}]")
        self.in_rate = in_rate
        self._carry = b""
        self._flushed = False
        # float32 rather than int16 inside soxr: its int16 output rounding
        # depends on how the stream was split into chunks, float32 does not.
        self._stream = None if in_rate == TARGET_RATE else soxr.ResampleStream(in_rate, TARGET_RATE, 1, quality=quality)

    def feed(self, pcm: bytes | bytearray | memoryview) -> bytes:
        if self._flushed:
            raise RuntimeError("Resampler.feed() after flush()")
        data = self._carry + bytes(pcm)
        whole = len(data) & ~1
        self._carry = data[whole:]
        return self._convert(data[:whole], last=False)

    def flush(self) -> bytes:
        if self._flushed:
            return b""
        self._flushed = True
        if self._carry:
            logger.debug("dropping odd trailing byte at end of PCM stream")
            self._carry = b""
        return self._convert(b"", last=True)

    def _convert(self, pcm: bytes, *, last: bool) -> bytes:
        if self._stream is None:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / _FULL_SCALE
        out = np.asarray(self._stream.resample_chunk(samples, last=last), dtype=np.float32)
        scaled = np.clip(np.rint(out * _FULL_SCALE), -_FULL_SCALE, _FULL_SCALE - 1)
        return bytes(scaled.astype("<i2").tobytes())
