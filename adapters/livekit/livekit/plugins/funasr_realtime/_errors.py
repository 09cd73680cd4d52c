"""Error mapping: the one boundary where core errors become LiveKit errors.

What an error means, and whether it is worth retrying, is the core's decision
(:func:`funasr_realtime.classify`, :attr:`funasr_realtime.ErrorKind.retryable`); this module
only picks the LiveKit type that carries it (:data:`CONNECTION_ERRORS`), and its status from
the core's one table (:attr:`funasr_realtime.ErrorKind.http_status`):

* every kind but the four below: :class:`APIStatusError` with the kind's status
  (authentication 401, permission and quota 403, billing 400 as DashScope answers
  ``Arrearage``, not found 404, rate limit 429, server protocol violations 502...),
  retryable as its kind says, so LiveKit does not retry a permanent one and the application
  (or a ``FallbackAdapter``) can fail over at once. A rejected handshake keeps the server's
  own HTTP status;
* a bounded wait that ran out: :class:`APITimeoutError`;
* a refused or dropped connection: :class:`APIConnectionError`.

Transient errors only get here once the core's own reconnect-and-replay budget is spent.
Messages are built from the core's messages, which never contain the API key.
"""

from __future__ import annotations

from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError

import funasr_realtime as fr

from .log import logger

__all__ = ["CONNECTION_ERRORS", "AudioLost", "report_reconnect", "to_api_error"]

#: Kinds LiveKit carries as a connection error; every other kind is an ``APIStatusError``
#: with the kind's status (:attr:`funasr_realtime.ErrorKind.http_status`).
CONNECTION_ERRORS: dict[fr.ErrorKind, type[APIConnectionError]] = {
    fr.ErrorKind.AUDIO_LOST: APIConnectionError,
    fr.ErrorKind.TIMEOUT: APITimeoutError,
    fr.ErrorKind.UNREACHABLE: APIConnectionError,
    fr.ErrorKind.DISCONNECTED: APIConnectionError,
}

_CONNECTION_MESSAGES = {fr.ErrorKind.TIMEOUT: "timed out", fr.ErrorKind.AUDIO_LOST: "lost audio"}


class AudioLost(APIConnectionError):
    """Audio the core could not replay after a reconnect: it was never recognized.

    Emitted as a *recoverable* ``error`` event on the STT (recognition goes on; AgentSession
    ignores recoverable errors, an application listening to ``stt.on("error")`` sees it).
    ``dropped_ms`` is how much was lost; ``event`` is the core's :class:`funasr_realtime.Reconnected`.
    """

    def __init__(self, event: fr.Reconnected) -> None:
        super().__init__(
            f"Fun-ASR reconnected after {event.error} but {event.dropped_ms} ms of audio outlasted the replay "
            "buffer and were not recognized",
            retryable=True,
        )
        self.event = event
        self.dropped_ms = event.dropped_ms


def to_api_error(error: fr.FunAsrError, *, request_id: str = "") -> APIError:
    """The LiveKit error for a core error, with the core error as its ``__cause__``.

    ``request_id`` is the last Fun-ASR task id seen (a ``task-failed`` carries its own).
    """
    mapped = _map(error, request_id)
    mapped.__cause__ = error  # LiveKit's APIConnectionError names the root cause in str()
    return mapped


def _map(error: fr.FunAsrError, request_id: str) -> APIError:
    kind = fr.classify(error)
    target = CONNECTION_ERRORS.get(kind, kind.http_status)
    if isinstance(error, fr.HandshakeRejected):
        return APIStatusError(
            f"Fun-ASR refused the connection: {error}",
            status_code=error.status_code,
            request_id=request_id or None,
            retryable=kind.retryable,
        )
    if not isinstance(target, int):
        return target(f"Fun-ASR {_CONNECTION_MESSAGES.get(kind, 'connection failed')}", retryable=kind.retryable)
    if isinstance(error, fr.TaskFailedError):
        return APIStatusError(
            f"Fun-ASR task failed: {error}",
            status_code=target,
            request_id=error.task_id or request_id or None,
            body={"error_code": error.error_code, "error_message": error.error_message},
            retryable=kind.retryable,
        )
    body: dict[str, object] = {"error": type(error).__name__}
    if isinstance(error, fr.ConnectionClosed):
        body["close_code"] = error.code
    return APIStatusError(
        f"Fun-ASR: {error}", status_code=target, request_id=request_id or None, body=body, retryable=kind.retryable
    )


def report_reconnect(event: fr.Reconnected) -> AudioLost | None:
    """Log a core reconnect; a loss is a warning and returns the error event to emit."""
    log = logger.warning if event.dropped_ms else logger.info
    log(
        "recovered from %s after %.0f ms: %d ms replayed, %d ms lost",
        event.error,
        event.downtime_ms,
        event.replayed_ms,
        event.dropped_ms,
    )
    return AudioLost(event) if event.dropped_ms > 0 else None
