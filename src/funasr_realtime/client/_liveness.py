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

It reads two transport facts: the userspace write buffer and, on Linux, the kernel's
unsent bytes (``TIOCOUTQ``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.protocol import State as WsState

from ..protocol import FunAsrError, TransportTimeout
from .config import Timeouts

__all__ = ["Liveness"]

Clock = Callable[[], float]

# A ping with less than this queued ahead of it reaches the peer in well under a second on
# any link that can carry audio: it gets no extra window.
_SMALL_BACKLOG_BYTES = 64 * 1024


class Liveness:
    """The watchdog of one connection. ``run()`` in a task; it calls ``on_dead`` once."""

    def __init__(
        self, ws: ClientConnection, timeouts: Timeouts, clock: Clock, on_dead: Callable[[FunAsrError], None]
    ) -> None:
        self._ws = ws
        self._timeouts = timeouts
        self._clock = clock
        self._on_dead = on_dead
        self.last_received = clock()
        self._written = 0  # audio bytes written, to tell draining from new writes
        self._unanswered_since: float | None = None  # first audio sent since the last message
        self.watch_results = False  # the current task asked for heartbeats
        self._ping: _Ping | None = None

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

    async def run(self) -> None:
        interval, timeout = self._timeouts.ping_interval, self._timeouts.ping_timeout
        if interval is None or timeout is None:
            return
        tick = max(0.02, min(interval, timeout) / 5)
        while self._ws.protocol.state is WsState.OPEN:
            await asyncio.sleep(tick)
            error = self._check(interval, timeout)
            if error is not None:
                self._on_dead(error)
                return

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
        if self.last_received > ping.sent_at or ping.answered(self._ws):
            self.last_received = max(self.last_received, ping.sent_at)
            self._ping = None
            return None
        if now - ping.window_start < timeout:
            return None
        backlog = self._backlog()
        drained = (self._written - ping.written) - (backlog - ping.backlog)
        if ping.ahead > _SMALL_BACKLOG_BYTES and ping.drained < ping.ahead and drained > ping.drained:
            # The bytes ahead of the ping are still leaving: the ping is late, not lost.
            ping.window_start, ping.drained = now, drained
            return None
        return TransportTimeout("a pong or any message", timeout)

    def _send_ping(self, now: float) -> _Ping:
        """Write a ping behind the queued audio, without waiting for the socket to drain."""
        ws = self._ws
        payload = os.urandom(4)
        backlog = self._backlog()
        with contextlib.suppress(Exception):  # a failed write is the reader's to report
            _pending_pings(ws)[payload] = (asyncio.get_running_loop().create_future(), now)
            ws.protocol.send_ping(payload)
            ws.send_data()
        return _Ping(payload, now, self._written, backlog)

    def _backlog(self) -> int:
        """Bytes written but not yet sent: the transport's buffer plus the kernel's."""
        transport = self._ws.transport
        if transport is None or transport.is_closing():
            return 0
        return transport.get_write_buffer_size() + _kernel_unsent(transport.get_extra_info("socket"))


class _Ping:
    """An outstanding ping and the outgoing backlog it was queued behind."""

    __slots__ = ("ahead", "backlog", "drained", "payload", "sent_at", "window_start", "written")

    def __init__(self, payload: bytes, sent_at: float, written: int, backlog: int) -> None:
        self.payload = payload
        self.sent_at = self.window_start = sent_at
        self.written = written
        self.backlog = self.ahead = backlog
        self.drained = 0

    def answered(self, ws: ClientConnection) -> bool:
        return self.payload not in _pending_pings(ws)


def _pending_pings(ws: ClientConnection) -> dict[bytes, Any]:
    # websockets keeps the pings waiting for a pong in this dict (``pong_waiters`` before
    # 15.0); a pong removes its ping and every earlier one. The range is pinned and
    # tests/client/test_liveness.py checks this on every upgrade.
    pending = getattr(ws, "pending_pings", None)
    if pending is None:
        pending = ws.pong_waiters  # type: ignore[attr-defined,unused-ignore]
    assert isinstance(pending, dict)
    return pending


def _kernel_unsent(sock: socket.socket | None) -> int:
    """Bytes in the kernel's send queue not yet acknowledged by the peer (Linux), else 0."""
    if sock is None or not sys.platform.startswith("linux"):
        return 0
    import fcntl
    import termios

    try:
        raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    return int(struct.unpack("i", raw)[0])
