"""The callback thread: runs a task's user callbacks one at a time, in order.

The network loop posts callbacks here and never waits for them, so a slow callback delays
only later callbacks, never the reception of results. The thread ends after the task's
last callback (``on_close``); it waits on a queue (no polling).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["CALLBACK_THREAD_NAME", "CallbackThread"]

logger = logging.getLogger(__name__)

CALLBACK_THREAD_NAME = "funasr-realtime-callbacks"

_Job = tuple[Callable[..., Any], tuple[Any, ...]]


class CallbackThread:
    """A daemon thread that calls what :meth:`post` hands it, serially, until :meth:`close`."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=CALLBACK_THREAD_NAME, daemon=True)
        self._thread.start()

    @property
    def is_current(self) -> bool:
        """Whether the caller runs on this thread (inside a callback)."""
        return threading.current_thread() is self._thread

    def post(self, function: Callable[..., Any], *args: Any) -> None:
        """Queue ``function(*args)``; safe from any thread."""
        self._jobs.put((function, args))

    def close(self) -> None:
        """End the thread once the jobs posted so far have run."""
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            function, args = job
            _call(function, args)


def _call(function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """Run one callback; an exception it raises is logged and the task's callbacks go on.

    Later callbacks (``on_close`` above all) must still run, so the exception cannot end
    the thread; it is reported with its traceback, as an uncaught thread exception would be.
    ``sys.exit()`` inside a callback ends only the callback, as it would in the SDK's worker.
    """
    name = getattr(function, "__qualname__", repr(function))
    try:
        function(*args)
    except SystemExit:
        logger.info("callback %s called sys.exit(); only the callback ended", name)
    except Exception:
        logger.exception("callback %s raised", name)
