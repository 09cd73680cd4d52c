"""The SDK's exceptions, placed in our error tree, and the mapping from errors to status codes.

Misuse of the API raises, as in the SDK; failures of the service or the network are
*reported* (``on_error`` while streaming, a :class:`RecognitionResult` with
``status_code != 200`` from ``call()``), never raised. :func:`describe` maps each error to
``(status_code, code, message)``:

============================  ===========  ================================  ===========================
error                         status_code  code                              message
============================  ===========  ================================  ===========================
task-failed                   by kind [1]  the server's ``error_code``       the server's ``error_message``
handshake rejected (HTTP)     that status  ``InvalidApiKey`` (401),          ``HTTP 401: ...``
                                           ``AccessDenied`` (403), ...
connection refused/unreached  503          ``ConnectError``                  the OS reason
a bounded wait ran out        504          ``Timeout``                       which wait, how long
socket closed mid-task        502          ``ConnectionClosed``              close code and reason
server broke the protocol     502          ``ProtocolError``                 what was wrong
anything else                 by kind [1]  the error's class name            the error's text
============================  ===========  ================================  ===========================

[1] The status of the error's :class:`~funasr_realtime.ErrorKind`
(:attr:`~funasr_realtime.ErrorKind.http_status`, the core's one table): 401 authentication,
403 permission and quota, 400 billing (DashScope's ``Arrearage`` is a 400), invalid request,
content policy, bad audio and no speech, 404 not found, 408 the server's request timeout
(``CLIENT_ERROR``), 429 rate limit, 503 unavailable, otherwise 500. ``code`` is always a
string (the SDK mixes ints and strings and uses the magic statuses 44 and -1).
"""

from __future__ import annotations

from http import HTTPStatus

from ..audio.probe import InputDataRequired
from ..protocol import (
    ConnectError,
    ConnectionClosed,
    ErrorKind,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    RemoteProtocolError,
    TaskFailedError,
    TransportTimeout,
    classify,
)

__all__ = ["KIND_STATUS", "InputDataRequired", "InvalidParameter", "describe"]


class InvalidParameter(LocalProtocolError, ValueError):
    """The SDK's error for calls the current state forbids.

    Messages are the SDK's: ``"Speech recognition has started."`` (``start()`` twice),
    ``"Speech recognition has stopped."`` (sending or stopping when not running; after a
    failure the reason follows), ``"Speech recognition has been called."`` (``call()``
    while running).
    """


#: The status code reported for each kind of error (a rejected handshake keeps its own):
#: the core's one table (:attr:`~funasr_realtime.ErrorKind.http_status`).
KIND_STATUS: dict[ErrorKind, HTTPStatus] = {kind: HTTPStatus(kind.http_status) for kind in ErrorKind}

_HANDSHAKE_CODES = {401: "InvalidApiKey", 403: "AccessDenied", 404: "NotFound", 429: "Throttling"}


def describe(error: FunAsrError) -> tuple[int, str, str]:
    """``(status_code, code, message)`` for an error, per the table in the module docstring."""
    if isinstance(error, TaskFailedError):
        return int(KIND_STATUS[classify(error)]), error.error_code, error.error_message
    if isinstance(error, HandshakeRejected):
        # The server's own status says more than its kind (502 and 504 are both SERVER).
        return error.status_code, _handshake_code(error.status_code), str(error)
    return int(KIND_STATUS[classify(error)]), _code(error), str(error)


# The SDK-style ``code`` of an error without a server code, most specific class first.
_CODES: tuple[tuple[type[FunAsrError], str], ...] = (
    (TransportTimeout, "Timeout"),
    (ConnectionClosed, "ConnectionClosed"),
    (ConnectError, "ConnectError"),
    (RemoteProtocolError, "ProtocolError"),
)


def _code(error: FunAsrError) -> str:
    for cls, code in _CODES:
        if isinstance(error, cls):
            return code
    return type(error).__name__


def _handshake_code(status: int) -> str:
    if status in _HANDSHAKE_CODES:
        return _HANDSHAKE_CODES[status]
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return f"HTTP{status}"
