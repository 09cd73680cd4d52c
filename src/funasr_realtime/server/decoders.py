"""Re-export of :mod:`funasr_realtime.audio.decoders`: the server's compressed-format decoders.

The decoders moved to the shared :mod:`funasr_realtime.audio` package so the client can
convert files and streams to PCM with the same code; this module keeps the server's imports
(and anything else that imported it) working.
"""

from __future__ import annotations

from ..audio.decoders import (
    COMPRESSED_FORMATS,
    DECODERS,
    CodecUnavailable,
    DecodeError,
    StreamDecoder,
    available_decoders,
    create_decoder,
    decoder_name,
)

__all__ = [
    "COMPRESSED_FORMATS",
    "DECODERS",
    "CodecUnavailable",
    "DecodeError",
    "StreamDecoder",
    "available_decoders",
    "create_decoder",
    "decoder_name",
]
