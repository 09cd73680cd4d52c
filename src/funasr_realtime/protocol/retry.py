"""Retry policy: which failures are worth retrying, and how long to wait between tries.

Whether a failure may heal is a property of its kind (:func:`~.classify.classify`): permanent
failures (bad or region-mismatched key, arrears, access denied, model not found, invalid
parameters, audio the server cannot decode) are never retried: retrying cannot help and
hides the problem from the application, which should fail over instead. Everything that can
heal by itself (throttling, 5xx, unavailable models, dropped connections, timeouts) is
retryable. Reference: docs/PROTOCOL.md §7.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from .classify import PERMANENT_ERROR_CODES, classify

__all__ = ["PERMANENT_ERROR_CODES", "backoff", "is_retryable"]


def is_retryable(error: BaseException) -> bool:
    """Return True if ``error`` may heal by retrying with backoff, False if it is permanent.

    The answer is ``classify(error).retryable``. Unknown ``task-failed`` codes count as
    retryable: the caller's retry budget and quick-failure cutoff still bound them, and a
    transient server fault should not end a call.
    """
    return classify(error).retryable


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
