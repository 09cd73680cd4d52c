"""The retry budget of one segment: backoff, failures in a row, and the outage clock.

A segment retries a transient failure after a backoff delay, and gives up when the
failure is permanent (:func:`~funasr_realtime.protocol.retry.is_retryable`), when
``max_retries`` attempts in a row have failed, or when one outage has lasted longer than
``max_outage`` seconds. An outage starts with the first attempt that failed since the last
one that made progress (delivered a final), and only progress resets the count: a server
that accepts connections but never delivers cannot keep a stream alive forever. The clock
is passed in: ``now`` is any monotonic time in seconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .retry import backoff, is_retryable

__all__ = ["RetryBudget", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The limits of a :class:`RetryBudget` (see ``Resilience`` for what each one means)."""

    max_retries: int
    max_outage: float
    backoff_initial: float
    backoff_max: float


class RetryBudget:
    """Decides, failure by failure, whether to retry and after how long."""

    def __init__(self, policy: RetryPolicy, *, rng: random.Random | None = None) -> None:
        self.policy = policy
        # One sequence per segment, never rewound: delays keep growing across outages.
        self._delays = backoff(initial=policy.backoff_initial, maximum=policy.backoff_max, rng=rng)
        self.failures = 0  # attempts failed in a row (since the last progress)
        self.outage_started: float | None = None
        self._attempt_started = 0.0

    def attempt_started(self, now: float) -> None:
        """An attempt begins (before it gets a connection): an outage may start here."""
        self._attempt_started = now

    def failed(self, error: BaseException, now: float, *, progressed: bool) -> float | None:
        """The attempt failed: the delay before the next one, or None to give up.

        ``progressed`` says whether the failed attempt delivered a final; if so, the count
        and the outage start over from this attempt.
        """
        if progressed or self.outage_started is None:
            self.failures, self.outage_started = 0, self._attempt_started
        self.failures += 1
        too_long = now - self.outage_started > self.policy.max_outage
        if not is_retryable(error) or self.failures > self.policy.max_retries or too_long:
            return None
        return next(self._delays)
