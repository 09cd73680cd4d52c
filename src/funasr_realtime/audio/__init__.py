"""Audio helpers shared by the client, the CLI, compat and the local server.

* :func:`pcm_converter`: any format the service accepts (pcm, wav, mp3, aac, amr, opus,
  speex), split anywhere, as s16le mono PCM at a given rate;
* :func:`file_pcm`: a whole file as such PCM, MP4/M4A, FLAC and Ogg Vorbis included;
* :mod:`.decoders`: the incremental PyAV decoders of the compressed formats.

Imports only :mod:`funasr_realtime.protocol` and, lazily, PyAV (``av``; ``pip install
"funasr-realtime[audio]"``); never numpy.
"""

from __future__ import annotations

from .convert import PcmConverter, pcm_converter, wire_converter
from .decoders import (
    COMPRESSED_FORMATS,
    MAX_PACKET_BYTES,
    PYAV_HINT,
    CodecUnavailable,
    DecodeError,
    StreamDecoder,
    create_decoder,
    decoder_name,
)
from .files import CONTAINER_FORMATS, file_pcm
from .wav import WavConverter

__all__ = [
    "COMPRESSED_FORMATS",
    "CONTAINER_FORMATS",
    "MAX_PACKET_BYTES",
    "PYAV_HINT",
    "CodecUnavailable",
    "DecodeError",
    "PcmConverter",
    "StreamDecoder",
    "WavConverter",
    "create_decoder",
    "decoder_name",
    "file_pcm",
    "pcm_converter",
    "wire_converter",
]
