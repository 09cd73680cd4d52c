"""Sans-I/O core of the DashScope real-time ASR protocol.

Messages, parameters and the model capability table, the client and server state machines,
the error tree and the retry policy, and the stream core: the segments of a stream, what to
replay, the retry budget, pacing and idle finish (``stream.py``, ``segments.py``,
``budget.py``). Nothing here performs I/O: no asyncio, sockets, threads, clock or
environment (``tests/protocol/test_layering.py`` enforces it).
"""

from .budget import RetryBudget, RetryPolicy
from .classify import ErrorKind, classify
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
from .models import (
    ENDPOINTS,
    MODELS,
    ModelSpec,
    Region,
    accepts_sample_rate,
    choose_sample_rate,
    default_sample_rate,
    find_model,
    region_of_url,
    workspace_url,
)
from .params import AUDIO_FORMATS, AudioFormat, RecognitionParams, check_compatibility
from .replay import ReplayBuffer
from .retry import PERMANENT_ERROR_CODES, backoff, is_retryable
from .segments import SEGMENT_TRANSITIONS, CloseReason, Segment, SegmentState, SegmentTrigger
from .server import ServerProtocol
from .states import ClientState, ServerState
from .stream import FinalizeRequest, Restart, ResumePoint, StreamCore, TaskEnd, wire_params
from .timeline import Timeline

__all__ = [
    "AUDIO_FORMATS",
    "ENDPOINTS",
    "MAX_AUDIO_FRAME_BYTES",
    "MODELS",
    "PERMANENT_ERROR_CODES",
    "SEGMENT_TRANSITIONS",
    "AudioDropped",
    "AudioError",
    "AudioFormat",
    "ClientProtocol",
    "ClientState",
    "CloseReason",
    "ConfigurationError",
    "ConnectError",
    "ConnectionClosed",
    "ContinueTask",
    "ErrorKind",
    "FinalizeRequest",
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
    "Restart",
    "ResultGenerated",
    "ResumePoint",
    "RetryBudget",
    "RetryPolicy",
    "RunTask",
    "Segment",
    "SegmentState",
    "SegmentTrigger",
    "Sentence",
    "ServerEvent",
    "ServerProtocol",
    "ServerState",
    "StreamCore",
    "TaskEnd",
    "TaskFailed",
    "TaskFailedError",
    "TaskFinished",
    "TaskStarted",
    "Timeline",
    "TransportError",
    "TransportTimeout",
    "Usage",
    "Word",
    "accepts_sample_rate",
    "backoff",
    "check_compatibility",
    "choose_sample_rate",
    "classify",
    "decode_client_message",
    "decode_server_event",
    "default_sample_rate",
    "find_model",
    "is_retryable",
    "region_of_url",
    "wire_params",
    "workspace_url",
]
