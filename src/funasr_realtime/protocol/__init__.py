"""Sans-I/O core of the DashScope real-time ASR protocol.

Messages, parameters and the model capability table, the client and server state machines,
the error tree and the retry policy. Nothing here performs I/O: no asyncio, sockets,
threads, clock or environment (``tests/protocol/test_layering.py`` enforces it).
"""

from .client import MAX_AUDIO_FRAME_BYTES, ClientProtocol
from .errors import (
    AudioDropped,
    AudioError,
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    TaskFailedError,
    TransportError,
    TransportTimeout,
)
from .messages import (
    ContinueTask,
    FinishTask,
    ResultGenerated,
    RunTask,
    Sentence,
    ServerEvent,
    TaskFailed,
    TaskFinished,
    TaskStarted,
    Usage,
    Word,
    decode_client_message,
    decode_server_event,
)
from .models import ENDPOINTS, MODELS, ModelSpec, Region, find_model, region_of_url, workspace_url
from .params import AUDIO_FORMATS, AudioFormat, RecognitionParams, check_compatibility
from .replay import ReplayBuffer
from .retry import PERMANENT_ERROR_CODES, backoff, is_retryable
from .server import ServerProtocol
from .states import ClientState, ServerState
from .timeline import Timeline

__all__ = [
    "AUDIO_FORMATS",
    "ENDPOINTS",
    "MAX_AUDIO_FRAME_BYTES",
    "MODELS",
    "PERMANENT_ERROR_CODES",
    "AudioDropped",
    "AudioError",
    "AudioFormat",
    "ClientProtocol",
    "ClientState",
    "ConfigurationError",
    "ConnectError",
    "ConnectionClosed",
    "ContinueTask",
    "FinishTask",
    "FunAsrError",
    "HandshakeRejected",
    "LocalProtocolError",
    "ModelSpec",
    "ProtocolError",
    "RecognitionParams",
    "Region",
    "RemoteProtocolError",
    "ReplayBuffer",
    "ResultGenerated",
    "RunTask",
    "Sentence",
    "ServerEvent",
    "ServerProtocol",
    "ServerState",
    "TaskFailed",
    "TaskFailedError",
    "TaskFinished",
    "TaskStarted",
    "Timeline",
    "TransportError",
    "TransportTimeout",
    "Usage",
    "Word",
    "backoff",
    "check_compatibility",
    "decode_client_message",
    "decode_server_event",
    "find_model",
    "is_retryable",
    "region_of_url",
    "workspace_url",
]
