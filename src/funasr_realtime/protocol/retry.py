"""Retry policy: the single place that decides which failures are worth retrying.

Permanent failures (bad or region-mismatched key, arrears, access denied, model not found,
invalid parameters, audio the server cannot decode) are never retried: retrying cannot help
and hides the problem from the application, which should fail over instead. Everything that
can heal by itself (throttling, 5xx, unavailable models, dropped connections, timeouts) is
retryable. Reference: dashscope-protocol.md §7.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from .errors import (
    ConfigurationError,
    ConnectError,
    ConnectionClosed,
    HandshakeRejected,
    ProtocolError,
    TaskFailedError,
    TransportTimeout,
)

__all__ = ["PERMANENT_ERROR_CODES", "backoff", "is_retryable"]

#: ``task-failed`` error codes that no retry can fix.
PERMANENT_ERROR_CODES = frozenset(
    {
        "InvalidApiKey",
        "AccessDenied",
        "Model.AccessDenied",
        "Workspace.AccessDenied",
        "AllocationQuota.FreeTierOnly",
        "Arrearage",
        "ModelNotFound",
        "NotFound",
        "InvalidParameter",
        "InvalidParameters",
        "NO_VALID_AUDIO_ERROR",
        "UnsupportedFormat",
    }
)

# Messages that mark a parameter error even when the code is generic.
_PERMANENT_MESSAGES = ("invalid payload data", "invalid parameter")

# Close codes that mean "do not come back with the same request".
_PERMANENT_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1010})


def is_retryable(error: BaseException) -> bool:
    """Return True if ``error`` may heal by retrying with backoff, False if it is permanent.

    Unknown ``task-failed`` codes count as retryable: the caller's retry budget and
    quick-failure cutoff still bound them, and a transient server fault should not end a call.
    """
    if isinstance(error, TaskFailedError):
        return _task_failure_is_retryable(error)
    if isinstance(error, HandshakeRejected):
        return error.status_code in (408, 429) or error.status_code >= 500
    if isinstance(error, ConnectionClosed):
        return error.code not in _PERMANENT_CLOSE_CODES
    if isinstance(error, (ConnectError, TransportTimeout)):
        return True
    if isinstance(error, (ConfigurationError, ProtocolError)):
        return False
    return isinstance(error, (ConnectionError, TimeoutError))


def _task_failure_is_retryable(error: TaskFailedError) -> bool:
    if error.error_code in PERMANENT_ERROR_CODES:
        return False
    message = error.error_message.lower()
    return not any(marker in message for marker in _PERMANENT_MESSAGES)


def backoff(
    *,
    initial: float = 0.1,
    maximum: float = 5.0,
    factor: float = 2.0,
    jitter: float = 0.5,
    rng: random.Random | None = None,
) -> Iterator[float]:
    """Yield an endless sequence of delays in seconds: exponential, capped, with jitter.

    Each delay is ``min(maximum, initial * factor**n)`` scaled by a random factor in
    ``[1 - jitter, 1]`` so that many clients dropped at once do not reconnect in lockstep.
    Pass ``rng`` for reproducible sequences in tests.
    """
    rand = rng or random.Random()
    delay = min(maximum, initial)
    while True:
        yield delay * (1.0 - jitter * rand.random())
        delay = min(maximum, delay * factor)
