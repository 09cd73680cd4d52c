"""PCM helpers for the local recognition server: WAV headers and resampling.

Contracts:

* ``parse_wav_header(buf)`` inspects the start of a byte stream.  It returns
  ``None`` while ``buf`` is too short to decide, a :class:`WavHeader` once the
  ``data`` chunk has been reached, and raises :class:`WavFormatError` (a
  ``ValueError``) for anything that is not RIFF/WAVE (or RF64) holding
  uncompressed 16-bit mono PCM.  The parsing is the package's one WAV header
  parser (:mod:`funasr_realtime.audio.wav_header`); this module adds what the
  server takes (:func:`check_server_format`) and its bound on the header.
* :class:`WavStream` strips the header from a stream that arrives in
  arbitrary pieces and returns only PCM payload bytes.
* :class:`Resampler` turns s16le mono PCM at 1-384 kHz into s16le mono PCM at
  16 kHz, statefully, accepting chunks of any byte length (an odd trailing
  byte is carried into the next call).  At 16 kHz input it is a pass-through.

Everything here is synchronous and free of I/O; instances are not thread-safe.
"""

from __future__ import annotations

import logging

import numpy as np
import soxr

from ..audio.wav_header import PCM, WavFormat, WavFormatError, WavHeader, WavHeaderParser

__all__ = [
    "MAX_HEADER_BYTES",
    "Resampler",
    "WavFormatError",
    "WavHeader",
    "WavStream",
    "check_server_format",
    "parse_wav_header",
]

logger = logging.getLogger(__name__)

TARGET_RATE = 16000
# A streamed header never needs this much; refusing more bounds what a
# misbehaving client can make us wait for before any audio is found.
MAX_HEADER_BYTES = 64 * 1024
MIN_RATE = 1000
MAX_RATE = 384000
_FULL_SCALE = 32768.0


def check_server_format(fmt: WavFormat) -> None:
    """Raise :class:`WavFormatError` unless ``fmt`` is what the server decodes: 16-bit mono PCM."""
    if fmt.tag != PCM:
        raise WavFormatError(f"WAV encoding 0x{fmt.tag:04x} is not supported; need PCM")
    if fmt.channels != 1:
        raise WavFormatError(f"WAV has {fmt.channels} channels; need mono")
    if fmt.bits != 16:
        raise WavFormatError(f"WAV has {fmt.bits}-bit samples; need 16-bit")
    if not MIN_RATE <= fmt.sample_rate <= MAX_RATE:
        raise WavFormatError(f"WAV sample rate {fmt.sample_rate} Hz is out of range")


def _header_parser() -> WavHeaderParser:
    return WavHeaderParser(check_server_format, max_header_bytes=MAX_HEADER_BYTES)


def parse_wav_header(buf: bytes | bytearray | memoryview) -> WavHeader | None:
    """Parse a WAV header at the start of ``buf``; ``None`` means "need more bytes"."""
    header, _audio = _header_parser().feed(buf)
    return header


class WavStream:
    """Strip a WAV header from a stream that arrives in pieces.

    ``feed`` returns the PCM payload contained in each piece (``b""`` while the
    header is incomplete).  Bytes past a declared ``data`` size are dropped,
    since trailing chunks (LIST, id3) are metadata, not audio.
    """

    def __init__(self) -> None:
        self._parser = _header_parser()
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
            header, payload = self._parser.feed(chunk)
            if header is None:
                return b""
            self._header = header
            self._remaining = header.data_size
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
