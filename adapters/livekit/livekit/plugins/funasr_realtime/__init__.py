"""LiveKit Agents plugin for Alibaba Cloud Fun-ASR real-time speech recognition.

::

    from livekit.plugins import funasr_realtime

    session = AgentSession(stt=funasr_realtime.STT(language="en"), ...)

Built on the ``funasr-realtime`` core client (finalize by task rotation, reconnect with
replay, typed errors). Distinct from the ``livekit.plugins.aliyun`` plugins.
"""

from livekit.agents import Plugin

from .log import logger
from .models import Endpointing, FunAsrModels
from .stt import STT, AudioLost, HotWordsUnavailable, RecognitionOptions, SpeechStream
from .version import __version__

__all__ = [
    "STT",
    "AudioLost",
    "Endpointing",
    "FunAsrModels",
    "HotWordsUnavailable",
    "RecognitionOptions",
    "SpeechStream",
    "__version__",
]


class FunAsrRealtimePlugin(Plugin):
    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__, logger)


# LiveKit's convention: register at import time (on the main thread; see the README).
Plugin.register_plugin(FunAsrRealtimePlugin())
