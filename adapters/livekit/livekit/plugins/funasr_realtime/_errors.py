"""The one boundary where core errors become LiveKit errors.

Whether an error is worth retrying is the core's decision (:func:`funasr_realtime.is_retryable`);
this module only picks the LiveKit type that carries it:

* permanent (bad key, arrears, unknown model, invalid parameter, protocol violation):
  :class:`APIStatusError` with ``retryable=False``, so LiveKit does not retry and the
  application (or a ``FallbackAdapter``) can fail over at once;
* transient with an HTTP or service status (429, 5xx, throttling): a retryable
  :class:`APIStatusError` that keeps the status;
* a bounded wait that ran out: :class:`APITimeoutError`;
* any other transient failure (dropped connection, refused connect): :class:`APIConnectionError`.

Transient errors only get here once the core's own reconnect-and-replay budget is spent.
Messages are built from the core's messages, which never contain the API key.
"""

from __future__ import annotations

from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError

import funasr_realtime as fr

__all__ = ["to_api_error"]

# task-failed codes by the HTTP status that means the same thing.
_UNAUTHORIZED = frozenset({"InvalidApiKey"})
_FORBIDDEN = frozenset(
    {"AccessDenied", "Model.AccessDenied", "Workspace.AccessDenied", "AllocationQuota.FreeTierOnly", "Arrearage"}
)
_NOT_FOUND = frozenset({"ModelNotFound", "NotFound"})


def to_api_error(error: fr.FunAsrError, *, request_id: str = "") -> APIError:
    """The LiveKit error for a core error, with the core error as its ``__cause__``.

    ``request_id`` is the last Fun-ASR task id seen (a ``task-failed`` carries its own).
    """
    mapped = _map(error, request_id)
    mapped.__cause__ = error  # LiveKit's APIConnectionError names the root cause in str()
    return mapped


def _map(error: fr.FunAsrError, request_id: str) -> APIError:
    retryable = fr.is_retryable(error)
    if isinstance(error, fr.TransportTimeout):
        return APITimeoutError("Fun-ASR timed out", retryable=retryable)
    if isinstance(error, fr.HandshakeRejected):
        return APIStatusError(
            f"Fun-ASR refused the connection: {error}",
            status_code=error.status_code,
            request_id=request_id or None,
            retryable=retryable,
        )
    if isinstance(error, fr.TaskFailedError):
        return APIStatusError(
            f"Fun-ASR task failed: {error}",
            status_code=_task_status(error, retryable),
            request_id=error.task_id or request_id or None,
            body={"error_code": error.error_code, "error_message": error.error_message},
            retryable=retryable,
        )
    if not retryable:
        body: dict[str, object] = {"error": type(error).__name__}
        if isinstance(error, fr.ConnectionClosed):
            body["close_code"] = error.code
        return APIStatusError(
            f"Fun-ASR: {error}", status_code=400, request_id=request_id or None, body=body, retryable=False
        )
    return APIConnectionError("Fun-ASR connection failed", retryable=True)


def _task_status(error: fr.TaskFailedError, retryable: bool) -> int:
    code = error.error_code
    if code in _UNAUTHORIZED:
        return 401
    if code in _FORBIDDEN:
        return 403
    if code in _NOT_FOUND:
        return 404
    if code.startswith("Throttling"):
        return 429
    return 500 if retryable else 400
