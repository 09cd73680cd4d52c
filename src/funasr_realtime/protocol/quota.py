"""The account's task quota, sans I/O: a token bucket for run-task starts.

The service limits how many tasks an account may start per second and model (about 20;
docs/RELIABILITY.md, "Task quota"). Finalize by rotation starts a task per turn, so many
streams of one account can run into it. A :class:`TokenBucket` holds ``burst`` tokens and
gains ``rate`` per second; a start takes one. The client reserves its token before it sends
run-task (``client/limiter.py`` waits for it), the local server takes one when a run-task
arrives or fails the task with ``Throttling.RateQuota`` (``server/connection.py``).

Reservations are first come, first served: a reservation made while the bucket is empty
takes a token that does not exist yet (the bucket goes into debt) and says how long to
wait for it, so waiters are served in order at exactly ``rate``. Time is passed in
(``now``: any monotonic clock in seconds); nothing here waits or reads a clock.
"""

from __future__ import annotations

from .errors import ConfigurationError

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` in hand (the bucket starts full)."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if not rate > 0 or burst < 1:
            raise ConfigurationError(f"a task quota needs rate > 0 and burst >= 1; got rate={rate}, burst={burst}")
        self.rate = float(rate)
        self.burst = burst
        self._tokens = float(burst)  # negative: debt, tokens already promised to waiters
        self._at = now

    @property
    def max_delay(self) -> float:
        """The wait that refills a whole burst: what a start that may be deferred accepts (see :meth:`admits`)."""
        return self.burst / self.rate

    def delay(self, now: float) -> float:
        """Seconds a reservation made now would wait (0: a token is in hand). Reserves nothing."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.rate)

    def admits(self, now: float) -> bool:
        """Whether a start that could also not happen (a rotation) should: its wait is within :attr:`max_delay`."""
        return self.delay(now) <= self.max_delay

    def reserve(self, now: float) -> float:
        """Take the next token; return how long to wait for it (0: go now)."""
        wait = self.delay(now)
        self._tokens -= 1.0
        return wait

    def try_take(self, now: float) -> bool:
        """Take a token only if one is in hand now (a server's check): False means over the quota."""
        self._refill(now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def refund(self, now: float) -> None:
        """Give back a reserved token that was not used (its waiter was cancelled)."""
        self._refill(now)
        self._tokens = min(float(self.burst), self._tokens + 1.0)

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
