"""The one background event loop that carries every compat connection.

Started lazily on first use, on a daemon thread named :data:`LOOP_THREAD_NAME`; it only
runs network I/O (never user code), so results and pings are handled as they arrive,
whatever the application threads are doing.

Two ways in: :func:`call` / :func:`submit` run a coroutine and hand back its outcome (a
future per call, for what the caller must wait for); :class:`Poster` runs plain callbacks
without a future, waking the loop once for whatever was posted meanwhile (the audio path).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ..protocol import TransportTimeout

__all__ = ["LOOP_THREAD_NAME", "Poster", "call", "poster", "submit"]

LOOP_THREAD_NAME = "funasr-realtime-compat-loop"

logger = logging.getLogger(__name__)

#: While audio keeps coming, the loop takes what was posted every this many seconds instead of
#: being woken per frame: a frame waits at most 10 ms (the SDK's own sender polls its queue),
#: and at 50 streams one wake-up carries about five frames (CPU measured in bench/compat_cpu.py).
BATCH_INTERVAL = 0.01

T = TypeVar("T")


class Poster:
    """Runs callbacks on one loop, in the order they were posted, with one wake-up per batch.

    :meth:`post` appends to a deque and wakes the loop (a write to its self-pipe) only if no
    batch is pending yet. While callbacks keep coming, the loop stops being woken: after a
    batch that ran something it takes the next batch itself, ``interval`` seconds later, so
    one wake-up carries what every thread posted meanwhile (many streams' frames), and the
    posting threads make no system call at all. A batch that finds nothing ends that: the
    next post wakes the loop at once. No future, no lock: a posting thread never waits.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self._loop = loop
        self._interval = interval
        self._callbacks: deque[Callable[[], object]] = deque()
        self._pending = False  # a batch will run: posting need not wake the loop
        self._timer: asyncio.TimerHandle | None = None

    def post(self, callback: Callable[[], object]) -> None:
        """Run ``callback()`` on the loop soon (within ``interval``); safe from any thread, returns at once."""
        self._callbacks.append(callback)
        if not self._pending:
            # Racing posters can only cost an extra (empty) batch, never a lost one: the flag
            # is cleared before a batch is taken, and set here before the wake-up is sent.
            self._pending = True
            self._loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        if self._timer is not None:  # a wake-up came before the timer: one timer at a time
            self._timer.cancel()
            self._timer = None
        self._pending = False
        callbacks = self._callbacks
        ran = len(callbacks)
        for _ in range(ran):  # those posted during the batch go with the next one
            callback = callbacks.popleft()
            try:
                callback()
            except Exception:  # a bug in one callback must not strand the rest of the batch
                logger.exception("compat loop callback %r raised", callback)
        if ran and self._interval > 0:
            self._pending = True
            self._timer = self._loop.call_later(self._interval, self._run)


class _LoopThread:
    """The process-wide loop and its thread, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poster: Poster | None = None
        self.thread: threading.Thread | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        return self.both()[0]

    def both(self) -> tuple[asyncio.AbstractEventLoop, Poster]:
        with self._lock:
            if self._loop is None or self._poster is None or self.thread is None or not self.thread.is_alive():
                self._loop = asyncio.new_event_loop()
                self._poster = Poster(self._loop, BATCH_INTERVAL)
                self.thread = threading.Thread(target=self._loop.run_forever, name=LOOP_THREAD_NAME, daemon=True)
                self.thread.start()
            return self._loop, self._poster


_LOOP = _LoopThread()


def poster() -> Poster:
    """The loop thread's :class:`Poster` (starting the loop if needed)."""
    return _LOOP.both()[1]


def submit(coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
    """Schedule ``coroutine`` on the loop thread; returns at once."""
    if threading.current_thread() is _LOOP.thread:
        coroutine.close()
        raise RuntimeError("compat calls cannot be made from the compat event loop thread")
    return asyncio.run_coroutine_threadsafe(coroutine, _LOOP.get())


def call(coroutine: Coroutine[Any, Any, T], timeout: float, operation: str) -> T:
    """Run ``coroutine`` on the loop thread and wait at most ``timeout`` seconds for its result.

    Raises what the coroutine raises, or :class:`TransportTimeout` (after cancelling it)
    when the wait runs out. Every coroutine given here is bounded itself; this bound is a
    backstop, so it should be a little longer than the coroutine's own.
    """
    future = submit(coroutine)
    done, _ = concurrent.futures.wait([future], timeout)
    if not done:
        future.cancel()
        raise TransportTimeout(operation, timeout)
    return future.result()
