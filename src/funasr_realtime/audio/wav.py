"""WAV to s16le mono PCM, incrementally, in pure Python (PyAV only to change the rate).

:class:`WavConverter` takes a RIFF/WAVE byte stream split anywhere and returns the samples
as s16le mono at the requested rate:

* the header (``RIFF``/``RF64`` ... ``fmt `` ... ``data``) and any other chunk are stripped
  (read by :class:`~funasr_realtime.audio.wav_header.WavHeaderParser`, the package's one
  WAV header parser); a second WAV concatenated after the first is parsed again (its
  format may differ);
* PCM of 8, 16, 24 or 32 bits and IEEE float of 32 or 64 bits are converted to 16-bit;
  several channels are averaged into one;
* a WAV at another rate is resampled with PyAV; without PyAV that raises
  :class:`~funasr_realtime.AudioError` with the ``pip install`` line;
* anything that is not such a WAV raises :class:`~funasr_realtime.AudioError`.

The common case (16-bit mono at the requested rate) costs one slice per call.
"""

from __future__ import annotations

import math
import sys
from array import array
from typing import TYPE_CHECKING

from ..protocol import AudioError
from .decoders import PYAV_HINT
from .wav_header import FLOAT, PCM, WavFormat, WavFormatError, WavHeader, WavHeaderParser

if TYPE_CHECKING:
    from av.audio.resampler import AudioResampler

__all__ = ["WavConverter", "check_convertible", "to_mono_s16"]

# A header that has not reached its data chunk after this many bytes is not a WAV we can stream.
MAX_HEADER_BYTES = 1 << 20


def check_convertible(fmt: WavFormat) -> None:
    """Raise :class:`WavFormatError` unless the samples are a kind this module converts."""
    supported = {PCM: (8, 16, 24, 32), FLOAT: (32, 64)}.get(fmt.tag, ())
    if fmt.bits not in supported:
        kind = f"{fmt.bits}-bit IEEE float" if fmt.tag == FLOAT else f"{fmt.bits}-bit encoding 0x{fmt.tag:04x}"
        raise WavFormatError(f"WAV holds {kind} samples; 8-32 bit PCM or 32/64-bit float is needed")
    if not 1 <= fmt.channels <= 64 or not 1 <= fmt.sample_rate <= 1_000_000:
        raise WavFormatError(f"WAV header is not plausible: {fmt.channels} channels at {fmt.sample_rate} Hz")


class WavConverter:
    """A WAV stream in (any split), s16le mono PCM at ``sample_rate`` out. See the module docstring."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._parser = WavHeaderParser(check_convertible, max_header_bytes=MAX_HEADER_BYTES)
        self._format: WavFormat | None = None  # set while inside a data chunk
        self._passthrough = False  # that chunk is 16-bit mono PCM at the requested rate
        self._remaining = 0  # bytes left in the current data chunk (unless unbounded)
        self._unbounded = False  # data chunk of unknown size: everything after the header is audio
        self._data_pad = 0  # the padding byte after an odd-sized data chunk
        self._carry = b""  # a partial sample frame, completed by the next call
        self._data_seen = False
        self._fed = False
        self._resampler: AudioResampler | None = None
        self._resampler_rate = 0

    def feed(self, data: bytes) -> bytes:
        if self._passthrough and self._fast(data):
            # The hot path: 16-bit mono at the right rate, whole samples, inside the data chunk.
            if not self._unbounded:
                self._remaining -= len(data)
            return data
        self._fed = self._fed or bool(data)
        out = bytearray()
        while data:
            if self._format is None:
                header, data = self._parser.feed(data)
                if header is None:
                    break
                self._start_data(header)
            else:
                data = self._take_audio(data, out)
        return bytes(out)

    def flush(self) -> bytes:
        if self._fed and not self._data_seen:
            if not self._parser.riff_seen:
                raise WavFormatError("not a WAV file: missing RIFF header")
            raise WavFormatError("the WAV header is truncated: no data chunk")
        self._carry = b""  # a partial sample frame at the end is not audio
        return self._resample(b"", last=True)

    # ------------------------------------------------------------------ chunks

    def _fast(self, data: bytes) -> bool:
        """Whether ``data``, in a passthrough chunk, goes out as it is: whole samples, all inside the chunk."""
        return not self._carry and not len(data) % 2 and (self._unbounded or len(data) <= self._remaining)

    def _start_data(self, header: WavHeader) -> None:
        fmt = header.format
        self._format, self._data_seen = fmt, True
        self._passthrough = fmt.channels == 1 and fmt.bits == 16 and fmt.tag == PCM and fmt.sample_rate == self._rate
        self._unbounded = header.data_size is None
        self._remaining = header.data_size or 0
        self._data_pad = self._remaining & 1
        if fmt.sample_rate != self._rate:
            self._resampler_for(fmt.sample_rate)

    def _end_data(self) -> None:
        """The data chunk is over: what follows is chunks again (skipped), or another WAV."""
        fmt = self._format
        assert fmt is not None
        self._format, self._carry = None, b""  # a partial frame at the end of the chunk is not audio
        self._passthrough = False
        self._parser = WavHeaderParser(check_convertible, after=fmt, skip=self._data_pad)

    # ------------------------------------------------------------------ samples

    def _take_audio(self, data: bytes, out: bytearray) -> bytes:
        """Convert the audio of ``data`` that belongs to this data chunk into ``out``; return the bytes after it."""
        fmt = self._format
        assert fmt is not None
        if self._unbounded:
            audio, rest = data, b""
        else:
            audio, rest = data[: self._remaining], data[self._remaining :]
            self._remaining -= len(audio)
        raw = self._carry + audio
        whole = len(raw) - len(raw) % fmt.block_align
        self._carry = raw[whole:]
        out += self._resample(to_mono_s16(raw[:whole], fmt), rate=fmt.sample_rate)
        if not self._unbounded and not self._remaining:
            self._end_data()
        return rest

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
    if fmt.tag == PCM:
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
