"""The SDK's exceptions, placed in our error tree, and the mapping from errors to status codes.

Misuse of the API raises, as in the SDK; failures of the service or the network are
*reported* (``on_error`` while streaming, a :class:`RecognitionResult` with
``status_code != 200`` from ``call()``), never raised. :func:`describe` maps each error to
``(status_code, code, message)``:

============================  ===========  ================================  ===========================
error                         status_code  code                              message
============================  ===========  ================================  ===========================
task-failed                   by code [1]  the server's ``error_code``       the server's ``error_message``
handshake rejected (HTTP)     that status  ``InvalidApiKey`` (401),          ``HTTP 401: ...``
                                           ``AccessDenied`` (403), ...
connection refused/unreached  503          ``ConnectError``                  the OS reason
a bounded wait ran out        504          ``Timeout``                       which wait, how long
socket closed mid-task        502          ``ConnectionClosed``              close code and reason
server broke the protocol     502          ``ProtocolError``                 what was wrong
============================  ===========  ================================  ===========================

[1] 400 for parameter, audio and arrears codes, 401 ``InvalidApiKey``, 403 access codes,
404 not-found codes, 408 ``CLIENT_ERROR`` / ``RequestTimeOut``, 429 throttling, 503
``ModelUnavailable`` / ``ModelServingError``, otherwise 500. ``code`` is always a string
(the SDK mixes ints and strings and uses the magic statuses 44 and -1).
"""

from __future__ import annotations

from http import HTTPStatus

from ..protocol import (
    ConnectError,
    ConnectionClosed,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    RemoteProtocolError,
    TaskFailedError,
    TransportTimeout,
)
from .audiofile import InputDataRequired

__all__ = ["InputDataRequired", "InvalidParameter", "describe"]


class InvalidParameter(LocalProtocolError, ValueError):
    """The SDK's error for calls the current state forbids.

    Messages are the SDK's: ``"Speech recognition has started."`` (``start()`` twice),
    ``"Speech recognition has stopped."`` (sending or stopping when not running; after a
    failure the reason follows), ``"Speech recognition has been called."`` (``call()``
    while running).
    """


_TASK_STATUS: dict[str, HTTPStatus] = {
    "InvalidApiKey": HTTPStatus.UNAUTHORIZED,
    "AccessDenied": HTTPStatus.FORBIDDEN,
    "Model.AccessDenied": HTTPStatus.FORBIDDEN,
    "Workspace.AccessDenied": HTTPStatus.FORBIDDEN,
    "AllocationQuota.FreeTierOnly": HTTPStatus.FORBIDDEN,
    "Arrearage": HTTPStatus.BAD_REQUEST,
    "InvalidParameter": HTTPStatus.BAD_REQUEST,
    "InvalidParameters": HTTPStatus.BAD_REQUEST,
    "NO_VALID_AUDIO_ERROR": HTTPStatus.BAD_REQUEST,
    "NO_INPUT_AUDIO_ERROR": HTTPStatus.BAD_REQUEST,
    "UnsupportedFormat": HTTPStatus.BAD_REQUEST,
    "ModelNotFound": HTTPStatus.NOT_FOUND,
    "NotFound": HTTPStatus.NOT_FOUND,
    "CLIENT_ERROR": HTTPStatus.REQUEST_TIMEOUT,
    "RequestTimeOut": HTTPStatus.REQUEST_TIMEOUT,
    "InternalError": HTTPStatus.INTERNAL_SERVER_ERROR,
    "ModelUnavailable": HTTPStatus.SERVICE_UNAVAILABLE,
    "ModelServingError": HTTPStatus.SERVICE_UNAVAILABLE,
}

_HANDSHAKE_CODES = {401: "InvalidApiKey", 403: "AccessDenied", 404: "NotFound", 429: "Throttling"}


def describe(error: FunAsrError) -> tuple[int, str, str]:
    """``(status_code, code, message)`` for an error, per the table in the module docstring."""
    status, code, message = _describe(error)
    return int(status), code, message


def _describe(error: FunAsrError) -> tuple[int, str, str]:
    if isinstance(error, TaskFailedError):
        return _task_status(error.error_code), error.error_code, error.error_message
    if isinstance(error, HandshakeRejected):
        return error.status_code, _handshake_code(error.status_code), str(error)
    for kind, status, code in _TRANSPORT_STATUS:
        if isinstance(error, kind):
            return status, code, str(error)
    return HTTPStatus.INTERNAL_SERVER_ERROR, type(error).__name__, str(error)


# Checked in order, most specific first.
_TRANSPORT_STATUS: tuple[tuple[type[FunAsrError], HTTPStatus, str], ...] = (
    (TransportTimeout, HTTPStatus.GATEWAY_TIMEOUT, "Timeout"),
    (ConnectionClosed, HTTPStatus.BAD_GATEWAY, "ConnectionClosed"),
    (ConnectError, HTTPStatus.SERVICE_UNAVAILABLE, "ConnectError"),
    (RemoteProtocolError, HTTPStatus.BAD_GATEWAY, "ProtocolError"),
)


def _task_status(code: str) -> HTTPStatus:
    if code.startswith("Throttling"):
        return HTTPStatus.TOO_MANY_REQUESTS
    return _TASK_STATUS.get(code, HTTPStatus.INTERNAL_SERVER_ERROR)


def _handshake_code(status: int) -> str:
    if status in _HANDSHAKE_CODES:
        return _HANDSHAKE_CODES[status]
    try:
        return HTTPStatus(status).phrase.replace(" ", "")
    except ValueError:
        return f"HTTP{status}"
