"""The one classification of failures: what went wrong, as an :class:`ErrorKind`.

Every other answer about an error is derived from its kind: whether to retry it
(:attr:`ErrorKind.retryable`, :func:`~funasr_realtime.protocol.retry.is_retryable`), and
in the adapters and the compat layer, their framework's category or status code (each has
a small ``ErrorKind`` → category table). Nothing else reads ``task-failed`` codes, close
codes or handshake statuses to decide what an error means. A failed HTTP API request
(:class:`ApiError`) is classified by its code as a ``task-failed`` is, else by its HTTP
status as a rejected handshake.

=================  =========  ======  ===========================================================
kind               retryable  status  comes from
=================  =========  ======  ===========================================================
AUTHENTICATION     no         401     ``InvalidApiKey``; HTTP 401
PERMISSION         no         403     ``AccessDenied``, ``AccessDenied.Unpurchased``,
                                      ``Model.AccessDenied``, ``Workspace.AccessDenied``; HTTP 403
QUOTA              no         403     ``AllocationQuota.FreeTierOnly``
BILLING            no         400     ``Arrearage`` (the service answers it with a 400); HTTP 402
NOT_FOUND          no         404     ``ModelNotFound``, ``Model.NotExist``, ``NotFound``; HTTP 404
INVALID_REQUEST    no         400     ``InvalidParameter``, ``InvalidParameters``,
                                      ``BadRequest.EmptyInput``, ``BadRequest.EmptyParameters``,
                                      ``BadRequest.EmptyModel``,
                                      ``InvalidURL``, ``UnsupportedOperation``, a message saying
                                      "invalid parameter" or "invalid payload data" (whatever the
                                      code); other HTTP statuses below 500;
                                      :class:`ConfigurationError`, :class:`LocalProtocolError`
CONTENT_POLICY     no         400     ``DataInspectionFailed`` (content moderation)
BAD_AUDIO          no         400     ``NO_VALID_AUDIO_ERROR``, ``UnsupportedFormat``; :class:`AudioError`
NO_SPEECH          no         400     ``NO_INPUT_AUDIO_ERROR``
PROTOCOL           no         502     :class:`RemoteProtocolError`; close codes 1002, 1003, 1007,
                                      1008, 1010
AUDIO_LOST         no         500     :class:`AudioDropped`
UNKNOWN            no         500     anything else: not a failure of the service or the network
RATE_LIMIT         yes        429     ``Throttling`` and ``Throttling.*``; HTTP 429
SERVER             yes        500     ``InternalError``, ``GatewayTimeout`` and every unknown code;
                                      HTTP 5xx but 503
UNAVAILABLE        yes        503     ``ModelUnavailable``, ``ModelServingError``,
                                      ``ServiceUnavailable``; HTTP 503
REQUEST_TIMEOUT    yes        408     ``CLIENT_ERROR``, ``RequestTimeOut``; HTTP 408
TIMEOUT            yes        504     :class:`TransportTimeout`, :class:`TimeoutError`
UNREACHABLE        yes        503     :class:`ConnectError`, :class:`ConnectionRefusedError`
DISCONNECTED       yes        502     ``ClientDisconnect``; :class:`ConnectionClosed` with any
                                      other code (or none); any other :class:`ConnectionError`
=================  =========  ======  ===========================================================

*status* is :attr:`ErrorKind.http_status`, the HTTP status the compat layer reports and the
LiveKit plugin's ``APIStatusError`` carries (a rejected handshake keeps the server's own).

Permanent kinds are the ones no retry can fix: retrying hides the problem from the
application, which should fail over instead. Unknown ``task-failed`` codes count as
``SERVER``, a transient fault: the caller's retry budget and quick-failure cutoff still
bound them, and an unknown server fault should not end a call. The codes are DashScope's
(docs/PROTOCOL.md §7); ``AccessDenied.Unpurchased``, ``Model.NotExist``, ``ServiceUnavailable``
and ``GatewayTimeout`` come from the SDK 2.0.2 error enum and are documented, not yet seen
from the live service.

``NO_INPUT_AUDIO_ERROR`` ("no valid speech detected") is permanent: replaying the same audio
would find no speech again, and bill it again. A stream treats it as the end of a task that
heard nothing when the task was already finished and all its audio sent (its
``TaskCompleted`` comes with no final); anywhere else it ends the stream.
"""

from __future__ import annotations

import enum

from .errors import (
    ApiError,
    AudioDropped,
    AudioError,
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    ProtocolError,
    TaskFailedError,
    TransportTimeout,
)

__all__ = ["PERMANENT_ERROR_CODES", "ErrorKind", "classify"]


class ErrorKind(enum.Enum):
    """What went wrong, independent of how it surfaced (see the module's table)."""

    AUTHENTICATION = "authentication"
    """The API key is missing, invalid, or from another region (keys are region-bound)."""
    PERMISSION = "permission"
    """The key is valid but may not use this model, service or workspace."""
    QUOTA = "quota"
    """The free allowance is used up and the account may not go beyond it."""
    BILLING = "billing"
    """The account is in arrears."""
    NOT_FOUND = "not_found"
    """The model, vocabulary or endpoint does not exist."""
    INVALID_REQUEST = "invalid_request"
    """Parameters or options that cannot work, or a call the current state forbids."""
    CONTENT_POLICY = "content_policy"
    """The content was rejected by the service's data inspection (moderation)."""
    BAD_AUDIO = "bad_audio"
    """Audio that cannot be decoded or does not match its declared format."""
    NO_SPEECH = "no_speech"
    """The service found no speech in the audio of a task."""
    PROTOCOL = "protocol"
    """The peer broke the task protocol, or closed the socket saying this side did."""
    AUDIO_LOST = "audio_lost"
    """An outage outlasted the replay buffer: audio was never recognized."""
    UNKNOWN = "unknown"
    """Not a failure of the service or the network (a bug, an interrupt...)."""
    RATE_LIMIT = "rate_limit"
    """Too many requests: throttled."""
    SERVER = "server"
    """The service failed internally, or with a code this library does not know."""
    UNAVAILABLE = "unavailable"
    """The model or service is temporarily unavailable or overloaded."""
    REQUEST_TIMEOUT = "request_timeout"
    """The server gave up waiting for this client (nothing reached it for too long)."""
    TIMEOUT = "timeout"
    """A bounded wait of this client ran out (connect, task-started, stop, send)."""
    UNREACHABLE = "unreachable"
    """The connection could not be opened (refused, unreachable, TLS)."""
    DISCONNECTED = "disconnected"
    """The connection dropped before the task ended."""

    @property
    def retryable(self) -> bool:
        """Whether a failure of this kind may heal by retrying with backoff."""
        return self in _RETRYABLE

    @property
    def http_status(self) -> int:
        """The HTTP status that stands for this kind (see the module's table)."""
        return _HTTP_STATUS[self]


_RETRYABLE = frozenset(
    {
        ErrorKind.RATE_LIMIT,
        ErrorKind.SERVER,
        ErrorKind.UNAVAILABLE,
        ErrorKind.REQUEST_TIMEOUT,
        ErrorKind.TIMEOUT,
        ErrorKind.UNREACHABLE,
        ErrorKind.DISCONNECTED,
    }
)

_HTTP_STATUS: dict[ErrorKind, int] = {
    ErrorKind.AUTHENTICATION: 401,
    ErrorKind.PERMISSION: 403,
    ErrorKind.QUOTA: 403,
    ErrorKind.BILLING: 400,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.INVALID_REQUEST: 400,
    ErrorKind.CONTENT_POLICY: 400,
    ErrorKind.BAD_AUDIO: 400,
    ErrorKind.NO_SPEECH: 400,
    ErrorKind.PROTOCOL: 502,
    ErrorKind.AUDIO_LOST: 500,
    ErrorKind.UNKNOWN: 500,
    ErrorKind.RATE_LIMIT: 429,
    ErrorKind.SERVER: 500,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.REQUEST_TIMEOUT: 408,
    ErrorKind.TIMEOUT: 504,
    ErrorKind.UNREACHABLE: 503,
    ErrorKind.DISCONNECTED: 502,
}

# ``task-failed`` error codes with a known kind; other codes are SERVER (Throttling* aside).
_TASK_CODES: dict[str, ErrorKind] = {
    "InvalidApiKey": ErrorKind.AUTHENTICATION,
    "AccessDenied": ErrorKind.PERMISSION,
    "AccessDenied.Unpurchased": ErrorKind.PERMISSION,
    "Model.AccessDenied": ErrorKind.PERMISSION,
    "Workspace.AccessDenied": ErrorKind.PERMISSION,
    "AllocationQuota.FreeTierOnly": ErrorKind.QUOTA,
    "Arrearage": ErrorKind.BILLING,
    "ModelNotFound": ErrorKind.NOT_FOUND,
    "Model.NotExist": ErrorKind.NOT_FOUND,
    "NotFound": ErrorKind.NOT_FOUND,
    "InvalidParameter": ErrorKind.INVALID_REQUEST,
    "InvalidParameters": ErrorKind.INVALID_REQUEST,
    "BadRequest.EmptyInput": ErrorKind.INVALID_REQUEST,
    "BadRequest.EmptyParameters": ErrorKind.INVALID_REQUEST,
    "BadRequest.EmptyModel": ErrorKind.INVALID_REQUEST,
    "InvalidURL": ErrorKind.INVALID_REQUEST,
    "UnsupportedOperation": ErrorKind.INVALID_REQUEST,
    "DataInspectionFailed": ErrorKind.CONTENT_POLICY,
    "NO_VALID_AUDIO_ERROR": ErrorKind.BAD_AUDIO,
    "UnsupportedFormat": ErrorKind.BAD_AUDIO,
    "NO_INPUT_AUDIO_ERROR": ErrorKind.NO_SPEECH,
    "InternalError": ErrorKind.SERVER,
    "GatewayTimeout": ErrorKind.SERVER,
    "ModelUnavailable": ErrorKind.UNAVAILABLE,
    "ModelServingError": ErrorKind.UNAVAILABLE,
    "ServiceUnavailable": ErrorKind.UNAVAILABLE,
    "CLIENT_ERROR": ErrorKind.REQUEST_TIMEOUT,
    "RequestTimeOut": ErrorKind.REQUEST_TIMEOUT,
    "ClientDisconnect": ErrorKind.DISCONNECTED,
}

#: ``task-failed`` error codes that no retry can fix.
PERMANENT_ERROR_CODES = frozenset(code for code, kind in _TASK_CODES.items() if not kind.retryable)

# Messages that mark a parameter error even when the code is generic (or transient).
_INVALID_MESSAGES = ("invalid payload data", "invalid parameter")

_HANDSHAKE_STATUSES: dict[int, ErrorKind] = {
    401: ErrorKind.AUTHENTICATION,
    402: ErrorKind.BILLING,
    403: ErrorKind.PERMISSION,
    404: ErrorKind.NOT_FOUND,
    408: ErrorKind.REQUEST_TIMEOUT,
    429: ErrorKind.RATE_LIMIT,
    503: ErrorKind.UNAVAILABLE,
}

# Close codes that mean "do not come back with the same request".
_PROTOCOL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1010})

# The library's own errors whose class alone says what they are, most specific first.
_CLASSES: tuple[tuple[type[BaseException], ErrorKind], ...] = (
    (TransportTimeout, ErrorKind.TIMEOUT),
    (ConnectError, ErrorKind.UNREACHABLE),
    (ConfigurationError, ErrorKind.INVALID_REQUEST),
    (AudioError, ErrorKind.BAD_AUDIO),
    (LocalProtocolError, ErrorKind.INVALID_REQUEST),
    (ProtocolError, ErrorKind.PROTOCOL),
    (AudioDropped, ErrorKind.AUDIO_LOST),
    (FunAsrError, ErrorKind.UNKNOWN),
    # Raw OS errors, from code below the library's error translation.
    (TimeoutError, ErrorKind.TIMEOUT),
    (ConnectionRefusedError, ErrorKind.UNREACHABLE),
    (ConnectionError, ErrorKind.DISCONNECTED),
)


def classify(error: BaseException) -> ErrorKind:
    """The kind of ``error``: any exception, the library's own or not (see the module's table).

    A ``task-failed`` is classified by its code, then by its message; a rejected handshake
    by its HTTP status; a closed connection by its close code; everything else by class.
    """
    if isinstance(error, TaskFailedError):
        return _task_failure_kind(error)
    if isinstance(error, HandshakeRejected):
        return _handshake_kind(error.status_code)
    if isinstance(error, ApiError):
        return _api_kind(error)
    if isinstance(error, ConnectionClosed):
        return ErrorKind.PROTOCOL if error.code in _PROTOCOL_CLOSE_CODES else ErrorKind.DISCONNECTED
    for cls, kind in _CLASSES:
        if isinstance(error, cls):
            return kind
    return ErrorKind.UNKNOWN


def _task_failure_kind(error: TaskFailedError) -> ErrorKind:
    kind = _TASK_CODES.get(error.error_code)
    if kind is not None and not kind.retryable:
        return kind
    # A parameter error can come with a generic or even a transient code: the message tells.
    message = error.error_message.lower()
    if any(marker in message for marker in _INVALID_MESSAGES):
        return ErrorKind.INVALID_REQUEST
    if kind is not None:
        return kind
    return ErrorKind.RATE_LIMIT if error.error_code.startswith("Throttling") else ErrorKind.SERVER


def _api_kind(error: ApiError) -> ErrorKind:
    # The service's code says more than the status (Arrearage comes with a 400): a known
    # code, or Throttling*, decides; otherwise the HTTP status does, as for a handshake.
    if error.code in _TASK_CODES or error.code.startswith("Throttling"):
        return _task_failure_kind(TaskFailedError(error.code, error.message))
    return _handshake_kind(error.status_code)


def _handshake_kind(status: int) -> ErrorKind:
    if status in _HANDSHAKE_STATUSES:
        return _HANDSHAKE_STATUSES[status]
    return ErrorKind.SERVER if status >= 500 else ErrorKind.INVALID_REQUEST
