"""Liveness of one connection: tell a slow peer from a dead one.

websockets' own keepalive declares a connection dead when a pong is late. That is wrong
for a streaming client: a ping is queued behind the audio already written, so a healthy
server that is working through a backlog answers late, and a fast sender is disconnected
for being fast. :class:`Liveness` judges by evidence instead:

* anything received (a result, a heartbeat, a pong) proves the peer alive;
* when nothing was received for ``ping_interval``, a ping is written at once, behind the
  audio but without waiting for the socket to drain;
* ``ping_timeout`` later, with nothing received, the connection is dead, unless the
  outgoing bytes that were queued ahead of the ping are still draining (the peer's TCP
  is acknowledging them): then the ping is still on its way and it gets another window.
  A black hole acknowledges nothing, so a send backlog cannot hide it;
* a task that has been sent audio for ``results`` seconds without one message back is
  stalled (only when heartbeats were asked for: otherwise silence legitimately gets none).

It reads the connection only through its :class:`~.transport.Transport`: whether it is open,
its write backlog (for a socket: the userspace buffer plus, on Linux, the kernel's unsent
bytes) and whether a ping was answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..protocol import FunAsrError, TransportTimeout
from .config import Timeouts
from .transport import Transport

__all__ = ["Liveness"]

Clock = Callable[[], float]

# A ping with less than this queued ahead of it reaches the peer in well under a second on
# any link that can carry audio: it gets no extra window.
_SMALL_BACKLOG_BYTES = 64 * 1024


class Liveness:
    """The watchdog of one connection: :meth:`start` it; it calls ``on_dead`` once."""

    def __init__(
        self, transport: Transport, timeouts: Timeouts, clock: Clock, on_dead: Callable[[FunAsrError], None]
    ) -> None:
        self._transport = transport
        self._timeouts = timeouts
        self._clock = clock
        self._on_dead = on_dead
        self.last_received = clock()
        self._written = 0  # audio bytes written, to tell draining from new writes
        self._unanswered_since: float | None = None  # first audio sent since the last message
        self.watch_results = False  # the current task asked for heartbeats
        self._ping: _Ping | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tick_s = 0.0

    # ------------------------------------------------------------------ evidence

    def received(self) -> None:
        """Any message arrived."""
        self.last_received = self._clock()
        self._unanswered_since = None

    def sent_audio(self, size: int) -> None:
        self._written += size
        if self._unanswered_since is None:
            self._unanswered_since = self._clock()

    def task_ended(self) -> None:
        self._unanswered_since = None
        self.watch_results = False

    # ------------------------------------------------------------------ the watchdog

    def start(self) -> None:
        """Check every fifth of the shorter of ``ping_interval`` / ``ping_timeout`` (none: off).

        A timer on the running loop, not a task: a connection's watchdog then costs one
        timer handle instead of a task and its coroutine frame (about 1 kB per connection).
        It stops by itself once the transport is closed or ``on_dead`` was called.
        """
        interval, timeout = self._timeouts.ping_interval, self._timeouts.ping_timeout
        if interval is None or timeout is None:
            return
        self._tick_s = max(0.02, min(interval, timeout) / 5)
        self._schedule()

    def stop(self) -> None:
        """Stop the checks (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._tick_s, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self._transport.is_open:
            return
        interval, timeout = self._timeouts.ping_interval, self._timeouts.ping_timeout
        assert interval is not None and timeout is not None  # start() checked
        error = self._check(interval, timeout)
        if error is not None:
            self._on_dead(error)
            return
        self._schedule()

    def _check(self, interval: float, timeout: float) -> FunAsrError | None:
        now = self._clock()
        stall = self._timeouts.results
        if self.watch_results and self._unanswered_since is not None and now - self._unanswered_since >= stall:
            return TransportTimeout("any result for the audio sent", stall)
        ping = self._ping
        if ping is None:
            if now - self.last_received >= interval:
                self._ping = self._send_ping(now)
            return None
        if self.last_received > ping.sent_at or ping.answered():
            self.last_received = max(self.last_received, ping.sent_at)
            self._ping = None
            return None
        if now - ping.window_start < timeout:
            return None
        backlog = self._transport.backlog()
        drained = (self._written - ping.written) - (backlog - ping.backlog)
        if ping.ahead > _SMALL_BACKLOG_BYTES and ping.drained < ping.ahead and drained > ping.drained:
            # The bytes ahead of the ping are still leaving: the ping is late, not lost.
            ping.window_start, ping.drained = now, drained
            return None
        return TransportTimeout("a pong or any message", timeout)

    def _send_ping(self, now: float) -> _Ping:
        """Write a ping behind the queued audio, without waiting for the socket to drain."""
        backlog = self._transport.backlog()
        return _Ping(self._transport.ping(), now, self._written, backlog)


class _Ping:
    """An outstanding ping and the outgoing backlog it was queued behind."""

    __slots__ = ("ahead", "answered", "backlog", "drained", "sent_at", "window_start", "written")

    def __init__(self, answered: Callable[[], bool], sent_at: float, written: int, backlog: int) -> None:
        self.answered = answered
        self.sent_at = self.window_start = sent_at
        self.written = written
        self.backlog = self.ahead = backlog
        self.drained = 0
