"""funasr-realtime: Alibaba Cloud Fun-ASR real-time speech recognition for Python voice agents.

::

    import funasr_realtime as fr

    client = fr.Client()  # $DASHSCOPE_API_KEY; international endpoint by default
    async with client.stream(language_hints=["en"]) as stream:
        ...  # send_audio(), finalize(), finish(); iterate SentenceEvent / TaskCompleted
"""

from ._version import __version__
from .client import (
    Client,
    ClientConfig,
    RecognitionStream,
    Reconnected,
    Resilience,
    SentenceEvent,
    StreamEvent,
    TaskCompleted,
    TaskMetrics,
    Timeouts,
    TransportFactory,
)
from .protocol import (
    AudioDropped,
    AudioError,
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    ErrorKind,
    FinalizeRequest,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    ProtocolError,
    RecognitionParams,
    Region,
    RemoteProtocolError,
    ResumePoint,
    Sentence,
    TaskFailedError,
    TransportError,
    TransportTimeout,
    Usage,
    Word,
    accepts_sample_rate,
    check_compatibility,
    choose_sample_rate,
    classify,
    default_sample_rate,
    find_model,
    is_retryable,
)
from .text import detect_language, is_unspaced, join_texts, word_spans

__all__ = [
    "AudioDropped",
    "AudioError",
    "Client",
    "ClientConfig",
    "ConfigurationError",
    "ConnectError",
    "ConnectionClosed",
    "ErrorKind",
    "FinalizeRequest",
    "FunAsrError",
    "HandshakeRejected",
    "LocalProtocolError",
    "ProtocolError",
    "RecognitionParams",
    "Reconnected",
    "RecognitionStream",
    "Region",
    "RemoteProtocolError",
    "Resilience",
    "ResumePoint",
    "Sentence",
    "SentenceEvent",
    "StreamEvent",
    "TaskCompleted",
    "TaskFailedError",
    "TaskMetrics",
    "Timeouts",
    "TransportError",
    "TransportFactory",
    "TransportTimeout",
    "Usage",
    "Word",
    "__version__",
    "accepts_sample_rate",
    "check_compatibility",
    "choose_sample_rate",
    "classify",
    "default_sample_rate",
    "detect_language",
    "find_model",
    "is_retryable",
    "is_unspaced",
    "join_texts",
    "word_spans",
]
