"""Decode the service's compressed formats into PCM, incrementally (local server and client).

The service accepts ``mp3``, ``aac`` (ADTS), ``amr`` (AMR-NB in the ``#!AMR`` file format),
and ``opus`` / ``speex`` in Ogg (docs/PROTOCOL.md §2.1). The local server decodes them
with PyAV (``av`` on PyPI, whose wheels bundle FFmpeg) frame by frame as the audio arrives,
so compressed streams get partial results like PCM does. The client uses the same decoders
to send every format as PCM (:func:`funasr_realtime.audio.pcm_converter`).

Contracts:

* :func:`decoder_name` returns the FFmpeg decoder used for a format, or raises
  :class:`CodecUnavailable` naming the codec when PyAV or that decoder is missing;
* :func:`create_decoder` builds a :class:`StreamDecoder` whose ``feed(data)`` returns the
  s16le mono PCM (at the requested rate) contained in each piece of the stream, and whose
  ``flush()`` returns the rest at end of stream. Both raise :class:`DecodeError` for data
  that is not the declared format; a corrupt packet inside a valid stream is skipped (as
  players do), and ``flush`` raises when nothing at all was decodable. No other exception
  type escapes them: whatever PyAV raises (``FFmpegError``, ``ValueError``...) becomes a
  :class:`DecodeError`. A mid-stream change of channel layout or rate is followed (the
  output stays mono at the requested rate);
* memory is bounded per decoder: an Ogg packet longer than :data:`MAX_PACKET_BYTES` (Opus
  packets are at most a few KiB) is rejected, as is a stream with no packet in its first
  64 KiB; FFmpeg's parsers and the AMR framer hold at most one frame.

Framing is ours and small: FFmpeg's parsers split mp3 and ADTS streams; AMR frames are
sized from their table-of-contents byte; Ogg pages are split into packets here (an Ogg
demuxer would need the whole file). Instances are synchronous and not thread-safe.
"""

from __future__ import annotations

import functools
import logging
import struct
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol import AudioError, ConfigurationError

if TYPE_CHECKING:
    from av.audio.codeccontext import AudioCodecContext
    from av.audio.frame import AudioFrame
    from av.audio.resampler import AudioResampler
    from av.packet import Packet

    _Packet = Packet[Any]

__all__ = [
    "COMPRESSED_FORMATS",
    "CodecUnavailable",
    "DecodeError",
    "MAX_PACKET_BYTES",
    "MonoResampler",
    "StreamDecoder",
    "available_decoders",
    "create_decoder",
    "decoder_name",
]

logger = logging.getLogger(__name__)

COMPRESSED_FORMATS: tuple[str, ...] = ("mp3", "aac", "amr", "opus", "speex")

#: FFmpeg decoders per format, preferred first. FFmpeg 8's native ``amrnb`` decoder refuses
#: streams whose channel layout is unset, so OpenCORE's comes first.
DECODERS: dict[str, tuple[str, ...]] = {
    "mp3": ("mp3float", "mp3"),
    "aac": ("aac",),
    "amr": ("libopencore_amrnb", "amrnb"),
    "opus": ("opus", "libopus"),
    "speex": ("speex", "libspeex"),
}

AMR_MAGIC = b"#!AMR\n"
AMR_WB_MAGIC = b"#!AMR-WB\n"
# Speech bytes after the table-of-contents byte, per AMR-NB frame type (3GPP TS 26.101).
_AMR_FRAME_BYTES = (12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, 0, 0, 0, 0)
_OGG_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, segments
_OGG_HEADS = {"opus": b"OpusHead", "speex": b"Speex   "}
# A stream that has produced no packet after this much input is not the declared format.
_MAX_UNFRAMED_BYTES = 64 * 1024
#: Longest Ogg packet accepted. Opus packets are at most 120 ms (a few KiB), Speex ones
#: smaller still; without a bound, pages whose lacing values are all 255 grow one packet forever.
MAX_PACKET_BYTES = 64 * 1024
#: How to get PyAV, for the messages that need it.
PYAV_HINT = 'pip install "funasr-realtime[audio]"'


class DecodeError(AudioError):
    """The audio is not valid data of its declared format (an :class:`~funasr_realtime.AudioError`)."""


class CodecUnavailable(DecodeError, ConfigurationError):
    """This installation cannot decode the format; the message names the missing codec.

    Also a :class:`~funasr_realtime.ConfigurationError`: the installation, not the audio, is at fault.
    """


@functools.cache
def available_decoders() -> frozenset[str]:
    """Names of the FFmpeg audio decoders PyAV offers here (empty without PyAV)."""
    try:
        import av
    except ImportError:
        return frozenset()
    wanted = {name for names in DECODERS.values() for name in names}
    found = set()
    for name in wanted:
        try:
            av.codec.Codec(name, "r")
        except av.codec.codec.UnknownCodecError:
            continue
        found.add(name)
    return frozenset(found)


def decoder_name(format: str, available: frozenset[str] | None = None) -> str:
    """The decoder for ``format``; raises :class:`CodecUnavailable` naming the codec if none is here."""
    names = DECODERS.get(format)
    if names is None:
        raise CodecUnavailable(f"{format!r} is not a compressed format the service accepts")
    have = available_decoders() if available is None else available
    for name in names:
        if name in have:
            return name
    if not have:
        raise CodecUnavailable(f"cannot decode {format}: PyAV is not installed ({PYAV_HINT})")
    raise CodecUnavailable(f"cannot decode {format}: this PyAV/FFmpeg build has no {' or '.join(names)} decoder")


def create_decoder(format: str, sample_rate: int, available: frozenset[str] | None = None) -> StreamDecoder:
    """A decoder from ``format`` to s16le mono PCM at ``sample_rate``."""
    return StreamDecoder(format, decoder_name(format, available), sample_rate)


class _Framer(Protocol):
    def feed(self, data: bytes) -> list[_Packet]: ...

    def flush(self) -> list[_Packet]: ...


class StreamDecoder:
    """Compressed bytes in (any split), PCM out. See the module docstring for the contract."""

    def __init__(self, format: str, codec: str, sample_rate: int) -> None:
        import av
        from av.audio.codeccontext import AudioCodecContext

        context = av.CodecContext.create(codec, "r")
        assert isinstance(context, AudioCodecContext)
        self.format = format
        self.codec = codec
        self._context = context
        self._resampler = MonoResampler(sample_rate)
        self._framer = _framer_for(format, context)
        self._bytes_in = 0
        self._samples_out = 0
        self._bad_packets = 0

    def feed(self, data: bytes) -> bytes:
        self._bytes_in += len(data)
        pcm = self._decode(self._frame(self._framer.feed, data))
        if not self._samples_out and self._bytes_in > _MAX_UNFRAMED_BYTES:
            raise DecodeError(f"no {self.format} audio found in the first {self._bytes_in} bytes")
        return pcm

    def flush(self) -> bytes:
        pcm = self._decode(self._frame(lambda _: self._framer.flush(), b""), last=True)
        if self._bytes_in and not self._samples_out:
            skipped = f" ({self._bad_packets} corrupt packets)" if self._bad_packets else ""
            raise DecodeError(f"no decodable {self.format} audio in {self._bytes_in} bytes{skipped}")
        return pcm

    def _frame(self, framer: Any, data: bytes) -> list[_Packet]:
        """Packets from the framer; whatever it raises besides DecodeError is a DecodeError too."""
        try:
            packets: list[_Packet] = framer(data)
        except DecodeError:
            raise
        except Exception as exc:  # FFmpeg's parser on hostile input: the data, not us, is wrong
            raise DecodeError(f"invalid {self.format} stream: {exc}") from exc
        return packets

    def _decode(self, packets: list[_Packet], *, last: bool = False) -> bytes:
        out = bytearray()
        for packet in packets:
            out += self._convert(packet)
        if last:
            out += self._convert(None)
            out += self._drain_resampler()
        return bytes(out)

    def _convert(self, packet: _Packet | None) -> bytes:
        """PCM of one packet (None: the decoder's tail). A corrupt packet is skipped, as
        players do; a stream of nothing but corrupt packets fails in :meth:`flush`."""
        import av

        try:
            frames = self._context.decode(packet)
        except av.error.FFmpegError as exc:
            self._bad_packets += 1
            logger.debug("skipping a %s packet %s cannot decode: %s", self.format, self.codec, exc)
            return b""
        except Exception as exc:  # e.g. ValueError from PyAV on a frame it cannot describe
            raise DecodeError(f"cannot decode {self.format} audio: {exc}") from exc
        try:
            return b"".join(self._resample(frame) for frame in frames)
        except Exception as exc:
            raise DecodeError(f"cannot convert {self.format} audio to PCM: {exc}") from exc

    def _resample(self, frame: AudioFrame) -> bytes:
        pcm = self._resampler.resample(frame)
        self._samples_out += len(pcm) // 2
        return pcm

    def _drain_resampler(self) -> bytes:
        try:
            pcm = self._resampler.flush()
        except Exception as exc:
            raise DecodeError(f"cannot convert {self.format} audio to PCM: {exc}") from exc
        self._samples_out += len(pcm) // 2
        return pcm


class MonoResampler:
    """Decoded frames in, s16le mono bytes at ``sample_rate`` out.

    A frame whose sample format, layout or rate differs from the previous ones (a stream may
    switch mid-way; PyAV's resampler refuses such a frame with a ValueError) gets a new
    resampler, after the old one's tail. Needs PyAV.
    """

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._resampler: AudioResampler | None = None
        self._shape: tuple[str, str, int] | None = None

    def resample(self, frame: AudioFrame) -> bytes:
        from av.audio.resampler import AudioResampler

        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        out = b""
        if self._resampler is None or shape != self._shape:
            out = self.flush()
            self._resampler = AudioResampler(format="s16", layout="mono", rate=self._rate)
            self._shape = shape
        return out + _pcm_of(self._resampler.resample(frame))

    def flush(self) -> bytes:
        """The tail of the current resampler; the next frame starts a new one."""
        if self._resampler is None:
            return b""
        resampler, self._resampler = self._resampler, None
        return _pcm_of(resampler.resample(None))


def _pcm_of(frames: list[AudioFrame]) -> bytes:
    return b"".join(bytes(frame.planes[0])[: frame.samples * 2] for frame in frames)


def _framer_for(format: str, context: AudioCodecContext) -> _Framer:
    if format == "amr":
        # OpenCORE needs the layout and rate up front; AMR-NB is always 8 kHz mono.
        context.layout = "mono"
        context.sample_rate = 8000
        return _AmrFramer()
    if format in _OGG_HEADS:
        return _OggFramer(format, context)
    return _ParserFramer(context, skip_id3=format == "mp3")


class _ParserFramer:
    """FFmpeg's own parser (mp3, ADTS): finds frame boundaries in a raw elementary stream."""

    def __init__(self, context: AudioCodecContext, *, skip_id3: bool) -> None:
        self._context = context
        self._head: bytearray | None = bytearray() if skip_id3 else None
        self._skip = 0

    def feed(self, data: bytes) -> list[_Packet]:
        data = self._strip_id3(data)
        return self._context.parse(data) if data else []

    def flush(self) -> list[_Packet]:
        pending = bytes(self._head or b"")
        self._head = None
        return (self._context.parse(pending) if pending else []) + self._context.parse(None)

    def _strip_id3(self, data: bytes) -> bytes:
        """Drop a leading ID3v2 tag: its bytes could contain false frame syncs."""
        if self._skip:
            cut = min(self._skip, len(data))
            self._skip -= cut
            data = data[cut:]
        if self._head is None:
            return data
        self._head += data
        if len(self._head) < 10:
            return b""
        head, self._head = bytes(self._head), None
        if head[:3] == b"ID3":
            size = 10 + (head[6] << 21 | head[7] << 14 | head[8] << 7 | head[9])
            self._skip = max(0, size - len(head))
            return head[size:]
        return head


class _AmrFramer:
    """AMR-NB storage format: ``#!AMR\\n``, then frames sized by their first byte."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._magic_seen = False

    def feed(self, data: bytes) -> list[_Packet]:
        from av.packet import Packet

        self._buffer += data
        if not self._magic_seen and not self._check_magic():
            return []
        packets = []
        while self._buffer:
            size = 1 + _AMR_FRAME_BYTES[(self._buffer[0] >> 3) & 0x0F]
            if len(self._buffer) < size:
                break
            packets.append(Packet(bytes(self._buffer[:size])))
            del self._buffer[:size]
        return packets

    def flush(self) -> list[_Packet]:
        if self._buffer:
            logger.debug("dropping %d bytes of a truncated AMR frame", len(self._buffer))
        return []

    def _check_magic(self) -> bool:
        head = bytes(self._buffer[: len(AMR_WB_MAGIC)])
        if head.startswith(AMR_WB_MAGIC):
            raise DecodeError("AMR-WB is not supported: amr means AMR-NB (#!AMR)")
        if len(head) < len(AMR_MAGIC):
            if not AMR_MAGIC.startswith(head):
                raise DecodeError("not an AMR-NB file: missing the #!AMR header")
            return False
        if not head.startswith(AMR_MAGIC):
            raise DecodeError("not an AMR-NB file: missing the #!AMR header")
        del self._buffer[: len(AMR_MAGIC)]
        self._magic_seen = True
        return True


class _OggFramer:
    """Ogg pages to codec packets. The first packet (codec header) becomes the extradata;
    the second (comments) is skipped; the rest are audio. One logical stream is expected."""

    def __init__(self, format: str, context: AudioCodecContext) -> None:
        self._format = format
        self._context = context
        self._buffer = bytearray()
        self._packet = bytearray()  # a packet continued on the next page
        self._index = 0

    def feed(self, data: bytes) -> list[_Packet]:
        from av.packet import Packet

        self._buffer += data
        packets = []
        for payload in self._complete_packets():
            if self._index == 0:
                self._on_header(payload)
            elif self._index > 1:
                packets.append(Packet(payload))
            self._index += 1
        return packets

    def flush(self) -> list[_Packet]:
        if self._buffer or self._packet:
            logger.debug("dropping %d bytes of a truncated Ogg page", len(self._buffer) + len(self._packet))
        return []

    def _complete_packets(self) -> list[bytes]:
        packets: list[bytes] = []
        while len(self._buffer) >= _OGG_HEADER.size:
            capture, *_rest, segments = _OGG_HEADER.unpack_from(self._buffer)
            if capture != b"OggS":
                raise DecodeError(f"not an Ogg {self._format} stream: no OggS page where one must start")
            lacing_end = _OGG_HEADER.size + segments
            if len(self._buffer) < lacing_end:
                break
            lacing = self._buffer[_OGG_HEADER.size : lacing_end]
            if len(self._buffer) < lacing_end + sum(lacing):
                break
            offset = lacing_end
            for size in lacing:
                self._packet += self._buffer[offset : offset + size]
                offset += size
                if len(self._packet) > MAX_PACKET_BYTES:
                    raise DecodeError(
                        f"an Ogg {self._format} packet exceeds {MAX_PACKET_BYTES // 1024} KiB (it never ends)"
                    )
                if size < 255:  # a lacing value below 255 ends a packet
                    packets.append(bytes(self._packet))
                    self._packet.clear()
            del self._buffer[:offset]
        return packets

    def _on_header(self, payload: bytes) -> None:
        magic = _OGG_HEADS[self._format]
        if not payload.startswith(magic):
            raise DecodeError(f"the Ogg stream does not hold {self._format} (first packet is not {magic.decode()!r})")
        self._context.extradata = payload
