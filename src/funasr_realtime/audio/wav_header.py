"""The one WAV header parser of the package: where a RIFF/WAVE stream's audio starts, and what it is.

Everyone that reads WAV uses :class:`WavHeaderParser`, each with its own idea of which
samples it takes (the ``check``): the client's converter
(:class:`~funasr_realtime.audio.WavConverter`, 8-32 bit PCM or float, any channels), the
file probe (:mod:`funasr_realtime.audio.probe`) and the local server's WAV stream
(``funasr_realtime.server.audio``, 16-bit mono PCM only).

Contract of :meth:`WavHeaderParser.feed`: bytes in, split anywhere; ``(None, b"")`` while
the ``data`` chunk is not reached, then ``(header, rest)`` once it is, ``rest`` being the
bytes after the data chunk's own header (the first audio bytes). It raises
:class:`WavFormatError` (an :class:`~funasr_realtime.AudioError`, so a ``ValueError``) as
soon as the bytes cannot be such a WAV: a wrong magic (checked on the first bytes, before
12 have arrived), a data chunk before any fmt chunk, a fmt chunk the ``check`` refuses, or
no data chunk within ``max_header_bytes``. Chunks it has no use for (``LIST``, ``fact``,
``JUNK``...) are skipped as they stream, never buffered.

Pure Python, no I/O; instances are not thread-safe.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from ..protocol import AudioError

__all__ = [
    "EXTENSIBLE",
    "FLOAT",
    "MAX_FMT_BYTES",
    "PCM",
    "WavFormat",
    "WavFormatError",
    "WavHeader",
    "WavHeaderParser",
    "looks_like_wav",
    "parse_fmt",
]

#: The encoding tags of a fmt chunk: integer PCM, IEEE float, and "see the sub-format GUID".
PCM, FLOAT, EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
#: A fmt chunk is 16-40 bytes; one claiming more than this is not a WAV header.
MAX_FMT_BYTES = 1024
_MAGICS = (b"RIFF", b"RF64")
# Sizes writers put in the header when the length is not known up front (streaming writers).
_UNKNOWN_SIZES = frozenset({0, 0xFFFFFFFF})


class WavFormatError(AudioError):
    """The bytes are not a WAV file, or not one the reader takes."""


@dataclass(frozen=True, slots=True)
class WavFormat:
    """What a ``fmt `` chunk says: encoding tag (1 PCM, 3 float), channels, rate and bits per sample."""

    tag: int
    channels: int
    sample_rate: int
    bits: int

    @property
    def block_align(self) -> int:
        """Bytes of one sample frame (one sample of every channel)."""
        return self.channels * self.bits // 8


@dataclass(frozen=True, slots=True)
class WavHeader:
    """Where a WAV's audio starts (``data_offset``: index of its first byte in the stream) and what it is.

    ``data_size`` is None when the header gives no usable size (a streaming writer's 0 or
    0xFFFFFFFF): the audio then runs to the end of the stream.
    """

    sample_rate: int
    data_offset: int
    data_size: int | None
    channels: int = 1
    bits: int = 16
    tag: int = PCM

    @property
    def format(self) -> WavFormat:
        return WavFormat(self.tag, self.channels, self.sample_rate, self.bits)


def looks_like_wav(head: bytes) -> bool:
    """Whether ``head`` (at least 12 bytes) starts like a RIFF/WAVE or RF64 file."""
    return head[:4] in _MAGICS and head[8:12] == b"WAVE"


def parse_fmt(body: bytes) -> WavFormat:
    """The :class:`WavFormat` of a ``fmt `` chunk body; raises :class:`WavFormatError` if it is too short."""
    if len(body) < 16:
        raise WavFormatError(f"WAV fmt chunk is too short ({len(body)} bytes)")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == EXTENSIBLE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
        tag = struct.unpack_from("<H", body, 24)[0]
    return WavFormat(tag, channels, rate, bits)


def _check_magic(head: bytes) -> None:
    """Raise unless ``head`` (any length up to 12) can begin a RIFF/WAVE file."""
    riff, wave = head[:4], head[8:12]
    if not any(magic.startswith(riff) for magic in _MAGICS):
        if b"RIFX".startswith(riff):
            raise WavFormatError("big-endian WAV (RIFX) is not supported")
        raise WavFormatError("not a WAV file: missing RIFF header")
    if not b"WAVE".startswith(wave):
        raise WavFormatError("not a WAV file: RIFF type is not WAVE")


class WavHeaderParser:
    """Reads a RIFF/WAVE header from a stream in pieces, up to its data chunk; see the module docstring.

    ``check`` is called with each fmt chunk's :class:`WavFormat` and raises
    :class:`WavFormatError` for the formats the caller cannot take (None: take any).
    ``max_header_bytes`` bounds where the data chunk may start (None: no bound).
    ``after`` continues a stream past a data chunk of that format: what follows is more
    chunks of the same file (another data chunk keeps ``after``'s format) or a whole new
    WAV; ``skip`` bytes (the data chunk's padding byte) are dropped first.
    One parser reads one header: make a new one to read past the data chunk.
    """

    def __init__(
        self,
        check: Callable[[WavFormat], None] | None = None,
        *,
        max_header_bytes: int | None = None,
        after: WavFormat | None = None,
        skip: int = 0,
    ) -> None:
        self._check = check
        self._max = max_header_bytes
        self._buffer = bytearray()
        self._position = 0  # stream offset of self._buffer[0]
        self._start = 0  # stream offset of the current WAV's first byte: the bound counts from it
        self._skip = skip  # bytes of an unused chunk still to drop
        self._at_riff = after is None  # the next bytes must be a RIFF header
        self._may_restart = after is not None  # a new WAV may begin at a chunk boundary
        self._riff_seen = False
        self._done = False
        #: The format of the last fmt chunk read (or ``after``), None before any.
        self.format = after

    @property
    def riff_seen(self) -> bool:
        """Whether a complete RIFF/WAVE header has been read."""
        return self._riff_seen

    def feed(self, data: bytes | bytearray | memoryview) -> tuple[WavHeader | None, bytes]:
        """Consume header bytes; ``(header, rest)`` once the data chunk is reached, else ``(None, b"")``."""
        if self._done:
            raise RuntimeError("WavHeaderParser.feed() after the data chunk: make a new parser")
        self._buffer += data
        while not isinstance(step := self._step(), WavHeader):
            if not step:
                return None, b""
        self._done = True
        rest = bytes(self._buffer)
        self._buffer.clear()
        return step, rest

    # ------------------------------------------------------------------ one step each

    def _step(self) -> WavHeader | bool:
        """Consume one piece of the header: True to go on, False for "need more bytes", or the header."""
        if self._skip:
            return self._drop(self._skip)
        if self._may_restart and not self._at_riff:
            if len(self._buffer) < 4:
                return False
            self._at_riff = bytes(self._buffer[:4]) in _MAGICS
        if self._at_riff:
            return self._riff_header()
        return self._chunk()

    def _chunk(self) -> WavHeader | bool:
        if len(self._buffer) < 8:
            return False
        chunk_id = bytes(self._buffer[:4])
        (size,) = struct.unpack_from("<I", self._buffer, 4)
        if chunk_id == b"data":
            return self._data_chunk(size)
        if chunk_id == b"fmt " and size > MAX_FMT_BYTES:
            raise WavFormatError(f"WAV fmt chunk size {size} is implausible")
        self._check_bound(size)
        if chunk_id == b"fmt ":
            return self._fmt_chunk(size)
        self._consume(8)
        self._skip = size + (size & 1)  # RIFF pads every chunk to an even length
        return True

    def _riff_header(self) -> bool:
        if len(self._buffer) < 12:
            _check_magic(bytes(self._buffer))
            return False
        _check_magic(bytes(self._buffer[:12]))
        self._start = self._position
        self._consume(12)
        self._at_riff = self._may_restart = False
        self._riff_seen = True
        self.format = None
        return True

    def _fmt_chunk(self, size: int) -> bool:
        if len(self._buffer) < 8 + size:
            return False
        fmt = parse_fmt(bytes(self._buffer[8 : 8 + size]))
        if self._check is not None:
            self._check(fmt)
        self.format = fmt
        self._consume(8 + size)
        self._skip = size & 1
        return True

    def _data_chunk(self, size: int) -> WavHeader:
        fmt = self.format
        if fmt is None:
            raise WavFormatError("WAV data chunk comes before its fmt chunk: no format is known before the fmt chunk")
        self._consume(8)
        data_size = None if size in _UNKNOWN_SIZES else size
        return WavHeader(fmt.sample_rate, self._position, data_size, fmt.channels, fmt.bits, fmt.tag)

    def _check_bound(self, size: int) -> None:
        """Raise at once if the data chunk cannot start within the bound, without waiting for the bytes."""
        if self._max is None or self._position + 8 + size - self._start <= self._max:
            return
        bound = f"{self._max // 1024} KiB" if self._max % 1024 == 0 else f"{self._max} bytes"
        raise WavFormatError(f"no WAV data chunk within the first {bound}")

    def _drop(self, count: int) -> bool:
        cut = min(count, len(self._buffer))
        self._consume(cut)
        self._skip = count - cut
        return not self._skip

    def _consume(self, count: int) -> None:
        del self._buffer[:count]
        self._position += count
