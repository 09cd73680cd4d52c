"""WAV to s16le mono PCM, incrementally, in pure Python (PyAV only to change the rate).

:class:`WavConverter` takes a RIFF/WAVE byte stream split anywhere and returns the samples
as s16le mono at the requested rate:

* the header (``RIFF``/``RF64`` ... ``fmt `` ... ``data``) and any other chunk are stripped;
  a second WAV concatenated after the first is parsed again (its format may differ);
* PCM of 8, 16, 24 or 32 bits and IEEE float of 32 or 64 bits are converted to 16-bit;
  several channels are averaged into one;
* a WAV at another rate is resampled with PyAV; without PyAV that raises
  :class:`~funasr_realtime.AudioError` with the ``pip install`` line;
* anything that is not such a WAV raises :class:`~funasr_realtime.AudioError`.

The common case (16-bit mono at the requested rate) costs one slice per call.
"""

from __future__ import annotations

import math
import struct
import sys
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..protocol import AudioError
from .decoders import PYAV_HINT

if TYPE_CHECKING:
    from av.audio.resampler import AudioResampler

__all__ = ["WavConverter", "WavFormat"]

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
# A header that has not reached its data chunk after this many bytes is not a WAV we can stream.
_MAX_HEADER_BYTES = 1 << 20
_UNKNOWN_SIZE = (0, 0xFFFFFFFF)  # streaming writers leave the data size at 0 or at its maximum


@dataclass(frozen=True, slots=True)
class WavFormat:
    """What a ``fmt `` chunk says: encoding tag (1 PCM, 3 float), channels, rate and bits per sample."""

    tag: int
    channels: int
    sample_rate: int
    bits: int

    @property
    def block_align(self) -> int:
        return self.channels * self.bits // 8

    def check(self) -> None:
        """Raise :class:`AudioError` unless the samples are a kind this module converts."""
        supported = {_PCM: (8, 16, 24, 32), _FLOAT: (32, 64)}.get(self.tag, ())
        if self.bits not in supported:
            kind = f"{self.bits}-bit IEEE float" if self.tag == _FLOAT else f"{self.bits}-bit encoding 0x{self.tag:04x}"
            raise AudioError(f"WAV holds {kind} samples; 8-32 bit PCM or 32/64-bit float is needed")
        if not 1 <= self.channels <= 64 or not 1 <= self.sample_rate <= 1_000_000:
            raise AudioError(f"WAV header is not plausible: {self.channels} channels at {self.sample_rate} Hz")


def parse_fmt(body: bytes) -> WavFormat:
    """The :class:`WavFormat` of a ``fmt `` chunk body; raises :class:`AudioError` if truncated."""
    if len(body) < 16:
        raise AudioError("WAV fmt chunk is truncated")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _EXTENSIBLE and len(body) >= 26:  # WAVE_FORMAT_EXTENSIBLE: the sub-format's tag
        tag = struct.unpack_from("<H", body, 24)[0]
    return WavFormat(tag, channels, rate, bits)


class WavConverter:
    """A WAV stream in (any split), s16le mono PCM at ``sample_rate`` out. See the module docstring."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._buffer = bytearray()  # header bytes, or a partial sample frame
        self._format: WavFormat | None = None  # set while inside a data chunk
        self._remaining = 0  # bytes left in the current data chunk (or in a chunk being skipped)
        self._skipping = False
        self._unbounded = False  # data chunk of unknown size: everything after the header is audio
        self._data_pad = 0  # the padding byte after an odd-sized data chunk
        self._riff_seen = False
        self._data_seen = False
        self._fed = False
        self._pending_format: WavFormat | None = None  # from the fmt chunk, until the data chunk
        self._header_bytes = 0
        self._resampler: AudioResampler | None = None
        self._resampler_rate = 0

    def feed(self, data: bytes) -> bytes:
        if self._format is not None and self._fast(data):
            # The hot path: 16-bit mono at the right rate, whole samples, inside the data chunk.
            if not self._unbounded:
                self._remaining -= len(data)
            return data
        self._fed = self._fed or bool(data)
        self._buffer += data
        out = bytearray()
        while self._buffer:
            if self._format is None:
                if not self._parse_header():
                    break
                continue
            out += self._take_audio()
            if self._format is not None:
                break  # waiting for more audio (a partial sample frame stays buffered)
        return bytes(out)

    def flush(self) -> bytes:
        if self._fed and not self._riff_seen:
            raise AudioError("not a WAV file: no RIFF/WAVE header")
        if self._fed and not self._data_seen:
            raise AudioError("the WAV header is truncated: no data chunk")
        self._buffer.clear()  # a partial sample frame at the end is not audio
        return self._resample(b"", last=True)

    # ------------------------------------------------------------------ header

    def _fast(self, data: bytes) -> bool:
        fmt = self._format
        assert fmt is not None
        return (
            not self._buffer
            and fmt.channels == 1
            and fmt.bits == 16
            and fmt.tag == _PCM
            and fmt.sample_rate == self._rate
            and not len(data) % 2
            and (self._unbounded or len(data) <= self._remaining)
        )

    def _parse_header(self) -> bool:
        """Consume header bytes up to the data chunk; False when more bytes are needed."""
        if self._skipping:
            cut = min(self._remaining, len(self._buffer))
            del self._buffer[:cut]
            self._remaining -= cut
            if self._remaining:
                return False
            self._skipping = False
        if not self._riff_seen or bytes(self._buffer[:4]) in (b"RIFF", b"RF64"):
            if len(self._buffer) < 12:
                return self._need_more()
            if bytes(self._buffer[:4]) not in (b"RIFF", b"RF64") or self._buffer[8:12] != b"WAVE":
                raise AudioError("not a WAV file: no RIFF/WAVE header")
            self._riff_seen = True
            self._pending_format = None
            del self._buffer[:12]
        if len(self._buffer) < 8:
            return self._need_more()
        chunk, size = bytes(self._buffer[:4]), struct.unpack_from("<I", self._buffer, 4)[0]
        if chunk == b"fmt ":
            if len(self._buffer) < 8 + size:
                return self._need_more()
            self._pending_format = parse_fmt(bytes(self._buffer[8 : 8 + size]))
            self._pending_format.check()
            del self._buffer[: 8 + size + (size & 1)]
        elif chunk == b"data":
            self._start_data(size)
        else:  # LIST, fact, cue... and the padding byte of odd-sized chunks
            del self._buffer[:8]
            self._remaining, self._skipping = size + (size & 1), True
        self._header_bytes += 8
        return True

    def _need_more(self) -> bool:
        if len(self._buffer) + self._header_bytes > _MAX_HEADER_BYTES:
            raise AudioError(f"no WAV data chunk in the first {_MAX_HEADER_BYTES // 1024} KiB")
        return False

    def _start_data(self, size: int) -> None:
        fmt = self._pending_format
        if fmt is None:
            raise AudioError("WAV data chunk comes before its fmt chunk")
        del self._buffer[:8]
        self._format, self._header_bytes, self._data_seen = fmt, 0, True
        self._unbounded = size in _UNKNOWN_SIZE
        self._remaining, self._data_pad = size, size & 1
        if fmt.sample_rate != self._rate:
            self._resampler_for(fmt.sample_rate)

    # ------------------------------------------------------------------ samples

    def _take_audio(self) -> bytes:
        fmt = self._format
        assert fmt is not None
        available = len(self._buffer) if self._unbounded else min(len(self._buffer), self._remaining)
        whole = available - available % fmt.block_align
        raw = bytes(self._buffer[:whole])
        del self._buffer[:whole]
        if not self._unbounded:
            self._remaining -= whole
            if self._remaining < fmt.block_align:
                # The chunk is over (a partial frame left is not audio): skip the rest and the
                # padding byte, then what follows is chunks again, or another WAV.
                self._format = None
                self._remaining += self._data_pad
                self._skipping = self._remaining > 0
        return self._resample(to_mono_s16(raw, fmt), rate=fmt.sample_rate)

    def _resampler_for(self, rate: int) -> AudioResampler:
        if self._resampler is None or self._resampler_rate != rate:
            try:
                from av.audio.resampler import AudioResampler
            except ImportError:
                raise AudioError(
                    f"the WAV is {rate} Hz, not {self._rate} Hz: resampling needs PyAV ({PYAV_HINT})"
                ) from None
            self._resampler = AudioResampler(format="s16", layout="mono", rate=self._rate)
            self._resampler_rate = rate
        return self._resampler

    def _resample(self, pcm: bytes, *, rate: int | None = None, last: bool = False) -> bytes:
        if not last and (rate is None or rate == self._rate):
            return pcm
        if last and self._resampler is None:
            return b""
        import av

        out = bytearray()
        if last:
            assert self._resampler is not None
            frames = self._resampler.resample(None)
            self._resampler = None
        else:
            assert rate is not None
            if not pcm:
                return b""
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
            frame.planes[0].update(pcm)
            frame.sample_rate = rate
            frames = self._resampler_for(rate).resample(frame)
        for converted in frames:
            out += bytes(converted.planes[0])[: converted.samples * 2]
        return bytes(out)


def to_mono_s16(raw: bytes, fmt: WavFormat) -> bytes:
    """Whole sample frames of ``fmt`` as s16le mono (channels averaged)."""
    pcm = _to_s16(raw, fmt)
    if fmt.channels == 1:
        return pcm
    samples = array("h", pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    channels = fmt.channels
    if channels == 2:
        mono = array("h", [(a + b) >> 1 for a, b in zip(samples[0::2], samples[1::2], strict=True)])
    else:
        columns = [samples[i::channels] for i in range(channels)]
        mono = array("h", [sum(frame) // channels for frame in zip(*columns, strict=True)])
    if sys.byteorder == "big":
        mono.byteswap()
    return mono.tobytes()


_U8_TO_S8 = bytes((b ^ 0x80) for b in range(256))


def _to_s16(raw: bytes, fmt: WavFormat) -> bytes:
    """Interleaved samples of any supported kind as interleaved s16le (the top 16 bits of ints)."""
    if fmt.tag == _PCM:
        width = fmt.bits // 8
        if width == 2:
            return raw
        out = bytearray(len(raw) // width * 2)
        if width == 1:  # unsigned 8-bit: flip the sign bit, make it the high byte
            out[1::2] = raw.translate(_U8_TO_S8)
        else:  # 24/32-bit little-endian: keep the two most significant bytes
            out[0::2] = raw[width - 2 :: width]
            out[1::2] = raw[width - 1 :: width]
        return bytes(out)
    floats = array("f" if fmt.bits == 32 else "d", raw)
    if sys.byteorder == "big":
        floats.byteswap()
    ints = array("h", [0 if math.isnan(x) else round(max(-1.0, min(1.0, x)) * 32767.0) for x in floats])
    if sys.byteorder == "big":
        ints.byteswap()
    return ints.tobytes()
