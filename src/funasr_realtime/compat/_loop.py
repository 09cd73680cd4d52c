"""The one background event loop that carries every compat connection.

Started lazily on first use, on a daemon thread named :data:`LOOP_THREAD_NAME`; it only
runs network I/O (never user code), so results and pings are handled as they arrive,
whatever the application threads are doing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ..protocol import TransportTimeout

__all__ = ["LOOP_THREAD_NAME", "call", "submit"]

LOOP_THREAD_NAME = "funasr-realtime-compat-loop"

T = TypeVar("T")


class _LoopThread:
    """The process-wide loop and its thread, created on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self.thread is None or not self.thread.is_alive():
                self._loop = asyncio.new_event_loop()
                self.thread = threading.Thread(target=self._loop.run_forever, name=LOOP_THREAD_NAME, daemon=True)
                self.thread.start()
            return self._loop


_LOOP = _LoopThread()


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
