"""The one error tree of funasr-realtime.

Every exception the library raises on purpose derives from :class:`FunAsrError`::

    FunAsrError
    ├── ConfigurationError (ValueError)    bad options, model/rate/region mismatch, no API key
    ├── AudioError (ValueError)            audio that cannot be what it claims (odd-length PCM,
    │                                      a file whose content does not match its format)
    ├── ProtocolError
    │   ├── LocalProtocolError             you called something the current state forbids
    │   └── RemoteProtocolError            the peer sent something the protocol forbids
    ├── TransportError
    │   ├── ConnectError                   could not open the WebSocket
    │   │   └── HandshakeRejected          the server answered the upgrade with an HTTP status
    │   ├── TransportTimeout (TimeoutError) a bounded wait ran out (connect, task-started, stop, send)
    │   └── ConnectionClosed               the socket closed before the task ended (code, reason)
    ├── TaskFailedError                    the server sent task-failed (error_code, error_message)
    ├── ApiError                           an HTTP API request failed (status_code, code, message)
    └── AudioDropped                       a reconnect outlasted the replay buffer; audio was lost

What an error means is decided in exactly one place,
:func:`funasr_realtime.protocol.classify.classify` (an :class:`ErrorKind`); whether it is
worth retrying (:func:`~funasr_realtime.protocol.retry.is_retryable`) follows from its kind.

No exception here ever carries the API key: messages are built from status codes, server
error codes and state names only.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "AudioDropped",
    "AudioError",
    "ConfigurationError",
    "ConnectError",
    "ConnectionClosed",
    "FunAsrError",
    "HandshakeRejected",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "TaskFailedError",
    "TransportError",
    "TransportTimeout",
]


class FunAsrError(Exception):
    """Base class of every error raised by funasr-realtime."""


class ConfigurationError(FunAsrError, ValueError):
    """The options cannot work: detected before anything is sent."""


class AudioError(FunAsrError, ValueError):
    """Audio handed to the library is malformed or does not match its declared format."""


class ProtocolError(FunAsrError):
    """The DashScope task protocol was violated, locally or by the peer."""


class LocalProtocolError(ProtocolError):
    """This side tried something the current state forbids (API misuse).

    The message names the state, e.g. ``cannot send audio: task is starting``.
    """


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids (malformed JSON, unknown event, ...)."""


class TransportError(FunAsrError):
    """The network connection failed."""


class ConnectError(TransportError):
    """The WebSocket could not be opened (refused, unreachable, TLS, bad URL)."""


class HandshakeRejected(ConnectError):
    """The server refused the WebSocket upgrade with an HTTP status (401 = bad API key)."""

    def __init__(self, status_code: int, reason: str = "") -> None:
        self.status_code = status_code
        self.reason = reason
        text = _HANDSHAKE_HINTS.get(status_code, reason or "handshake rejected")
        super().__init__(f"HTTP {status_code}: {text}")


_HANDSHAKE_HINTS = {
    401: "unauthorized, the API key is invalid (keys are bound to a region)",
    403: "forbidden, the API key has no access to this service or workspace",
    404: "not found, check the WebSocket URL",
    429: "too many requests",
    503: "service temporarily unavailable",
}


class TransportTimeout(TransportError, TimeoutError):
    """A bounded wait ran out. ``operation`` says which one (``connect``, ``task-started``...)."""

    def __init__(self, operation: str, seconds: float) -> None:
        self.operation = operation
        self.seconds = seconds
        super().__init__(f"timed out after {seconds:g} s waiting for {operation}")


class ConnectionClosed(TransportError):
    """The WebSocket closed while a task still needed it."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        detail = f"code {code}" if code is not None else "no close frame"
        super().__init__(f"connection closed ({detail}{': ' + reason if reason else ''})")


class TaskFailedError(FunAsrError):
    """The server ended a task with ``task-failed``."""

    def __init__(self, error_code: str, error_message: str, task_id: str = "") -> None:
        self.error_code = error_code
        self.error_message = error_message
        self.task_id = task_id
        super().__init__(f"{error_code}: {error_message} (task {task_id or '?'})")


class ApiError(FunAsrError):
    """An HTTP API request to the service (e.g. minting a temporary key) failed.

    ``status_code`` is the HTTP status; ``code`` and ``message`` are the service's error code
    and message from the JSON body (empty when it sent none), ``request_id`` its request id.
    """

    def __init__(self, status_code: int, code: str = "", message: str = "", request_id: str = "") -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        self.request_id = request_id
        detail = f"{code}: {message}" if code else (message or "request failed")
        super().__init__(f"HTTP {status_code} {detail} (request {request_id or '?'})")


class AudioDropped(FunAsrError):
    """Audio was lost because an outage outlasted the replay buffer.

    ``dropped_ms`` is how much audio (milliseconds of stream time) could not be replayed.
    """

    def __init__(self, dropped_ms: int) -> None:
        self.dropped_ms = dropped_ms
        super().__init__(f"{dropped_ms} ms of audio were dropped: the outage outlasted the replay buffer")
