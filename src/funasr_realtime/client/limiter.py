"""The account's task quota on the client: every run-task of the process takes a token first.

The service lets an account start about 20 tasks per second per model (docs/RELIABILITY.md,
"Task quota"); over it, run-task fails with ``Throttling.RateQuota``. Finalize by rotation
starts a task per turn, so the quota is shared by every stream of every :class:`Client` in
the process, compat included. One :class:`~funasr_realtime.protocol.quota.TokenBucket`
per endpoint (``host:port``), model, rate and burst lives in this module for the whole
process, behind a lock: compat runs its streams on a loop of its own thread.

* Every run-task (a stream's first task, a rotation's, a retry's replay, the task after an
  idle finish) waits for its token in :meth:`TaskLimiter.take` before it is sent; the audio
  meanwhile waits in the stream's replay buffer (a live source is never slowed: it is
  paced no slower than real time), and is sent when the task starts.
* A finalize asks :meth:`TaskLimiter.allows_rotation` first. When a token would not come within
  one burst's refill (``burst / rate``: 0.5 s by default), the finalize does not rotate:
  the task stays open and the service's own endpointing ends the sentence (the audio keeps
  going to the open task, so nothing is lost). So under pressure the wait of a rotation
  stays near that bound, and the starts no stream can defer (first tasks, retries) queue
  behind at most one burst: each waits its turn at ``rate``.

Which endpoints have a quota: ``Resilience.task_rate`` None (the default) means
:data:`DEFAULT_TASK_RATE` on Alibaba Cloud endpoints reached over the WebSocket transport,
and none elsewhere (a local server or a custom transport has no such quota); a number
applies that rate to every endpoint; 0 turns the limiter off.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..protocol import region_of_url
from ..protocol.quota import TokenBucket
from .config import ClientConfig, Resilience
from .transport import dials_url

__all__ = ["DEFAULT_TASK_RATE", "TaskLimiter", "task_limiter"]

logger = logging.getLogger(__name__)

#: Task starts per second per model the service documents for an account (Fun-ASR and
#: Paraformer real time: 20 per second, "RPM 1200"); not verified against a live key.
DEFAULT_TASK_RATE = 20.0

# Shared by every stream of the process, whichever loop or thread runs it.
_LOCK = threading.Lock()
_BUCKETS: dict[tuple[str, str, float, int], TokenBucket] = {}


def task_limiter(config: ClientConfig, resilience: Resilience) -> TaskLimiter | None:
    """The limiter for streams of ``config`` with ``resilience``'s quota; None: no limit (see the module doc)."""
    rate = resilience.task_rate
    if rate is None:
        on_cloud = dials_url(config.transport) and region_of_url(config.url) is not None
        rate = DEFAULT_TASK_RATE if on_cloud else 0.0
    if rate <= 0:
        return None
    endpoint = (urlsplit(config.url).netloc or config.url).lower()
    limiter = TaskLimiter(endpoint, rate, resilience.task_burst)
    limiter.bucket("")  # validates the rate and burst now, where the stream is created
    return limiter


@dataclass(frozen=True, slots=True)
class TaskLimiter:
    """The task quota of one endpoint: a process-wide bucket per model (see the module doc)."""

    endpoint: str
    rate: float
    burst: int

    def bucket(self, model: str) -> TokenBucket:
        """The bucket every stream with these settings shares for ``model``."""
        return self._shared(model)

    def _shared(self, name: str) -> TokenBucket:
        """The process-wide bucket ``name`` of these settings, created full on first use."""
        key = (self.endpoint, name, self.rate, self.burst)
        with _LOCK:
            bucket = _BUCKETS.get(key)
            if bucket is None:
                bucket = _BUCKETS[key] = TokenBucket(self.rate, self.burst, time.monotonic())
            return bucket

    def allows_rotation(self, model: str) -> bool:
        """Whether a finalize should rotate to a new task of ``model`` now (its token comes soon enough).

        False: the quota is under pressure; the finalize keeps the task open (logged at INFO).
        """
        bucket = self.bucket(model)
        with _LOCK:
            admitted = bucket.admits(time.monotonic())
        if not admitted:
            logger.info(
                "task quota of %s for %s (%g/s) under pressure: the task stays open, the service ends the sentence",
                self.endpoint,
                model,
                self.rate,
            )
        return admitted

    async def take(self, model: str) -> float:
        """Wait for the token of one run-task of ``model``, then pass the send gate; returns the
        seconds waited. Cancelled while waiting, the token goes back to the bucket.
        """
        bucket = self.bucket(model)
        started = time.monotonic()
        with _LOCK:
            wait = bucket.reserve(started)
        try:
            if wait > 0:
                logger.debug("task quota of %s for %s: run-task waits %.3f s", self.endpoint, model, wait)
                await asyncio.sleep(wait)
            await self._pass_gate(model)
        except asyncio.CancelledError:
            with _LOCK:
                bucket.refund(time.monotonic())
            raise
        return time.monotonic() - started

    async def _pass_gate(self, model: str) -> None:
        """Take a token of the *send gate*: the service's own bucket, checked now.

        A reservation promises a slot in time; a loop stalled past several slots wakes their
        waiters together, and the service, whose bucket holds at most ``burst`` tokens
        however long the stall, would throttle all but ``burst`` of them. The gate is that
        capped bucket, checked at the moment each start goes, so starts never bunch beyond it.
        """
        gate = self._shared("gate:" + model)
        while True:
            with _LOCK:
                now = time.monotonic()
                if gate.try_take(now):
                    return
                wait = gate.delay(now)
            await asyncio.sleep(wait)
