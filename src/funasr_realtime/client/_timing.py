"""The stream's two waits on the clock: pacing a fast producer, and the idle finish.

Both ask the :class:`~funasr_realtime.protocol.StreamCore` what to do and only sleep: how
long a producer may be held (never longer than real-time pace would take), and how long
until a quiet task should be finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ..protocol import StreamCore
from ._sync import Flag
from .connection import Clock

__all__ = ["IdleTimer", "pace"]

logger = logging.getLogger("funasr_realtime.client.stream")


async def pace(core: StreamCore, size: int, progress: Flag, clock: Clock, running: Callable[[], bool]) -> None:
    """Wait until ``size`` bytes fit the core's budget, but never longer than real-time pace.

    ``progress`` is set whenever results arrive or audio is sent; ``running()`` turns False
    when the stream ends or fails, which ends the wait too.
    """
    loop = asyncio.get_running_loop()
    ready_at = core.hold(size, loop.time())
    at_floor = False
    try:
        while core.over_budget(size) and running():
            remaining = ready_at - loop.time()
            if remaining <= 0:
                at_floor = True
                break
            progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await progress.wait()
    finally:
        core.unhold(clock(), at_floor=at_floor)


class IdleTimer:
    """Calls ``finish_idle()`` once no audio came for ``idle_finish`` seconds (0: never).

    Armed when a task opens; when it fires, the core says whether the quiet time is up, or
    how much longer to wait because audio came meanwhile.
    """

    def __init__(self, core: StreamCore, clock: Clock, idle_finish: float, finish_idle: Callable[[], object]) -> None:
        self._core, self._clock, self._idle_finish, self._finish_idle = core, clock, idle_finish, finish_idle
        self._handle: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        """Start the timer, unless it is already running or the idle finish is off."""
        if self._handle is None and self._idle_finish > 0:
            self._later(self._idle_finish)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _later(self, delay: float) -> None:
        self._handle = asyncio.get_running_loop().call_later(delay, self._fire)

    def _fire(self) -> None:
        self._handle = None
        wait = self._core.idle_wait(self._clock())
        if wait is not None and wait > 0:
            self._later(wait)
        elif wait is not None:
            quiet = self._idle_finish - wait
            logger.info("no audio for %.1f s: finishing the task (the next audio starts a new one)", quiet)
            self._finish_idle()
