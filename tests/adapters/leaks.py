"""A task-leak check for the adapters: which funasr-realtime tasks are still pending.

LiveKit's own test suite checks for leaked tasks at teardown, but the wheel ships no such
helper, so this is the same idea with ``asyncio.all_tasks()``: a task is ours if any
coroutine on its await chain runs code of the core (``funasr_realtime``) or of an adapter
(``livekit/plugins/funasr_realtime``, ``pipecat_funasr_realtime``), or if it carries one of
our task names. Call it right after ``aclose()``, with no sleep in between: a close that
returns before its tasks are done is exactly what it must catch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from types import CodeType
from typing import Any

__all__ = ["describe", "pending_funasr_tasks"]

_OURS = ("funasr_realtime", "funasr-realtime")


def pending_funasr_tasks() -> list[asyncio.Task[Any]]:
    """Tasks of this event loop, other than the caller's, that run our code and are not done."""
    current = asyncio.current_task()
    return [task for task in asyncio.all_tasks() if task is not current and not task.done() and _is_ours(task)]


def describe(tasks: list[asyncio.Task[Any]]) -> list[str]:
    """``name: outer.qualname -> ... -> inner.qualname`` per task, for assertion messages."""
    return [f"{task.get_name()}: " + " -> ".join(code.co_qualname for code in _chain(task)) for task in tasks]


def _is_ours(task: asyncio.Task[Any]) -> bool:
    if any(mark in task.get_name() for mark in _OURS):
        return True
    return any(any(mark in code.co_filename for mark in _OURS) for code in _chain(task))


def _chain(task: asyncio.Task[Any]) -> Iterator[CodeType]:
    """Code objects of the coroutines (and generators) the task is suspended in, outermost first."""
    awaitable: Any = task.get_coro()
    for _ in range(100):  # await chains are short; the bound only guards against a cycle
        code = getattr(awaitable, "cr_code", None) or getattr(awaitable, "gi_code", None)
        if code is None:
            return
        yield code
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
