"""Any format the service accepts, as the s16le mono PCM that goes on the wire.

:func:`pcm_converter` is what lets the client send every format as PCM: a new task after a
pause, a rotation or a reconnect then needs no container header, and the replay buffer is
bounded as for PCM.
"""

from __future__ import annotations

from typing import Protocol

from ..protocol import AUDIO_FORMATS, AudioError, ConfigurationError
from .decoders import COMPRESSED_FORMATS, create_decoder
from .wav import WavConverter

__all__ = ["PcmConverter", "pcm_converter", "wire_converter"]


class PcmConverter(Protocol):
    """Bytes of a format in, split anywhere; s16le mono PCM at the converter's rate out.

    ``feed`` returns the PCM the bytes so far complete (possibly empty), ``flush`` the rest at
    the end of the stream. Both raise :class:`~funasr_realtime.AudioError` for invalid data.
    """

    def feed(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


def pcm_converter(format: str, sample_rate: int) -> PcmConverter | None:
    """A converter from ``format`` to s16le mono PCM at ``sample_rate``; None for ``"pcm"``.

    ``"wav"`` is parsed in pure Python (any channel count, 8-32 bit PCM or float; PyAV only
    to change the rate); compressed formats are decoded with PyAV. Raises
    :class:`~funasr_realtime.ConfigurationError` for an unknown format, a bad rate, or a
    compressed format this installation cannot decode (the message has the ``pip install``
    line).
    """
    if sample_rate <= 0:
        raise ConfigurationError(f"sample_rate must be positive, not {sample_rate}")
    if format == "pcm":
        return None
    if format == "wav":
        return WavConverter(sample_rate)
    if format in COMPRESSED_FORMATS:
        return create_decoder(format, sample_rate)  # CodecUnavailable is a ConfigurationError
    raise ConfigurationError(f"unknown format {format!r}; the service accepts {', '.join(AUDIO_FORMATS)}")


def wire_converter(format: str, sample_rate: int) -> PcmConverter:
    """:func:`pcm_converter`, where ``"pcm"`` too gets a converter: one that checks whole samples.

    Its ``feed`` raises :class:`~funasr_realtime.AudioError` for a chunk of odd length
    (half a 16-bit sample), so a stream needs no case of its own for PCM.
    """
    return pcm_converter(format, sample_rate) or _WholeSamples()


class _WholeSamples:
    """s16le PCM passed through, refusing chunks that split a sample."""

    def feed(self, data: bytes) -> bytes:
        if len(data) % 2:
            raise AudioError(f"PCM audio must be whole 16-bit samples; got {len(data)} bytes")
        return data

    def flush(self) -> bytes:
        return b""
