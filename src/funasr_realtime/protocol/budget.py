"""The retry budget of one segment: backoff, failures in a row, and the outage clock.

A segment retries a transient failure after a backoff delay, and gives up when the
failure is permanent (:func:`~funasr_realtime.protocol.retry.is_retryable`), when
``max_retries`` attempts in a row have failed, or when one outage has lasted longer than
``max_outage`` seconds. An outage starts with the first attempt that failed since the last
one that made progress (delivered a final), and only progress resets the count: a server
that accepts connections but never delivers cannot keep a stream alive forever. The clock
is passed in: ``now`` is any monotonic time in seconds.

Throttling is different: the account is over its quota (``Throttling.RateQuota``, HTTP 429;
:attr:`ErrorKind.RATE_LIMIT`), which the service says "typically resumes within one
minute". Retrying fast cannot help and only spends the attempts. So an outage that
includes throttling is retried with its own, slower backoff (1 s doubling to 10 s, with
jitter) for ``throttled_outage`` seconds (90 s: about 60 s of waits fit, with the attempts
themselves), however many attempts that takes; ``max_retries`` does not apply to it,
except that 0 still means no retry at all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .classify import ErrorKind, classify
from .retry import backoff

__all__ = ["RetryBudget", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The limits of a :class:`RetryBudget` (see ``Resilience`` for what each one means).

    The ``throttled_*`` limits replace ``max_retries``, ``max_outage`` and the backoff in an
    outage that includes throttling (see the module doc).
    """

    max_retries: int
    max_outage: float
    backoff_initial: float
    backoff_max: float
    throttled_outage: float = 90.0
    throttled_backoff_initial: float = 1.0
    throttled_backoff_max: float = 10.0


class RetryBudget:
    """Decides, failure by failure, whether to retry and after how long."""

    def __init__(self, policy: RetryPolicy, *, rng: random.Random | None = None) -> None:
        self.policy = policy
        # One sequence per segment, never rewound: delays keep growing across outages.
        self._delays = backoff(initial=policy.backoff_initial, maximum=policy.backoff_max, rng=rng)
        self._throttled_delays = backoff(
            initial=policy.throttled_backoff_initial, maximum=policy.throttled_backoff_max, rng=rng
        )
        self.failures = 0  # attempts failed in a row (since the last progress)
        self.outage_started: float | None = None
        self.throttled = False  # the current outage includes throttling: its limits apply
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
            self.failures, self.outage_started, self.throttled = 0, self._attempt_started, False
        self.failures += 1
        policy, kind = self.policy, classify(error)
        if not kind.retryable or policy.max_retries <= 0:  # 0: never retry, throttling included
            return None
        self.throttled = self.throttled or kind is ErrorKind.RATE_LIMIT
        outage = now - self.outage_started
        if self.throttled:
            if outage > max(policy.max_outage, policy.throttled_outage):
                return None
            return next(self._throttled_delays if kind is ErrorKind.RATE_LIMIT else self._delays)
        if self.failures > policy.max_retries or outage > policy.max_outage:
            return None
        return next(self._delays)
