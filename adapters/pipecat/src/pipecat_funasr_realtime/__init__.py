"""Alibaba Cloud Fun-ASR real-time speech recognition for Pipecat.

::

    from pipecat_funasr_realtime import FunAsrRealtimeSTTService

    stt = FunAsrRealtimeSTTService(language=Language.ZH)  # $DASHSCOPE_API_KEY
    pipeline = Pipeline([transport.input(), stt, user_aggregator, llm, tts, transport.output()])

Built on the public API of the ``funasr-realtime`` core client; not to be confused with
Pipecat's own ``FunASRSTTService``, which runs a local SenseVoice model.
"""

from ._version import __version__
from .settings import LANGUAGE_MAP, FunAsrRealtimeSTTSettings
from .stt import FUNASR_REALTIME_TTFS_P99, Endpointing, FunAsrRealtimeSTTService, FunAsrSTTUsage

__all__ = [
    "FUNASR_REALTIME_TTFS_P99",
    "LANGUAGE_MAP",
    "Endpointing",
    "FunAsrRealtimeSTTService",
    "FunAsrRealtimeSTTSettings",
    "FunAsrSTTUsage",
    "__version__",
]
