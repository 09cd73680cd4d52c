"""Flow control of the local server: bounded per-connection inboxes and fair CPU scheduling.

Each connection has an :class:`Inbox`: frames its reader received and its worker has not
processed yet. The inbox counts bytes against its own limit and against one
:class:`BacklogBudget` shared by every connection of the server. When either is full the
reader stops reading the socket (TCP backpressure: the client's sends slow down, nothing
is lost) until the worker has drained it to half (hysteresis, so the reader does not
toggle on every frame).

Recognition jobs of all connections share a few engine threads through
:class:`FairScheduler`: a free thread goes first to a connection with little audio queued
(a real-time session never has more than a frame or two), then round-robin to the others,
so clients that stream as fast as they can share what real-time sessions leave.

Everything here runs on the server's event loop; nothing is thread-safe.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

__all__ = ["BacklogBudget", "FairScheduler", "Inbox", "Tenant"]

T = TypeVar("T")
Frame = str | bytes


class BacklogBudget:
    """Bytes queued in all inboxes of one server, bounded by ``limit`` with hysteresis.

    ``full`` turns true when ``used`` reaches ``limit`` and false again once it is back at
    or below half; every inbox is then re-evaluated so blocked readers resume.
    """

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError("limit must be positive")
        self.limit = limit
        self.used = 0
        self.full = False
        self._inboxes: set[Inbox] = set()

    def _add(self, size: int) -> None:
        self.used += size
        if not self.full and self.used >= self.limit:
            self.full = True
            self._update_all()

    def _remove(self, size: int) -> None:
        self.used -= size
        if self.full and self.used <= self.limit // 2:
            self.full = False
            self._update_all()

    def _update_all(self) -> None:
        for inbox in list(self._inboxes):
            inbox._update()


class Inbox:
    """Frames received and not yet processed, in order, bounded in bytes.

    The reader calls :meth:`wait_room` before each ``recv`` and :meth:`put` after it; the
    worker takes frames with :meth:`pop` and calls :meth:`done` once a frame is processed
    (a frame counts until then, so the bound also covers the one being decoded).
    """

    def __init__(self, budget: BacklogBudget, limit: int) -> None:
        self._budget = budget
        self._frames: deque[Frame] = deque()
        self.queued_bytes = 0
        self._limit = limit
        self._full = False
        self._room = asyncio.Event()
        self._room.set()
        self._changed = asyncio.Event()
        self._closed = False
        #: ``time.monotonic()`` when the reader was last allowed to read again after being blocked.
        self.unblocked_at = 0.0
        budget._inboxes.add(self)

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        """A task declares its format: the bound becomes that format's byte budget."""
        self._limit = max(1, value)
        if self.queued_bytes >= self._limit:
            self._full = True
        self._update()

    @property
    def blocked(self) -> bool:
        """True while the reader must not read: this inbox or the whole server is full."""
        return self._full or self._budget.full

    def __len__(self) -> int:
        return len(self._frames)

    async def wait_room(self) -> bool:
        """Wait until the reader may read; returns True if it had to wait (it was blocked)."""
        waited = False
        while self.blocked:
            waited = True
            self._room.clear()
            await self._room.wait()
        return waited

    def put(self, frame: Frame) -> None:
        size = len(frame)
        self._frames.append(frame)
        self.queued_bytes += size
        self._budget._add(size)
        if self.queued_bytes >= self._limit:
            self._full = True
        self._update()
        self._changed.set()

    def pop(self) -> Frame | None:
        """The oldest frame, or None when the inbox is empty."""
        return self._frames.popleft() if self._frames else None

    def done(self, frame: Frame) -> None:
        """``frame`` (taken with :meth:`pop`) is processed: its bytes leave the backlog."""
        if self._closed:
            return
        size = len(frame)
        self.queued_bytes -= size
        if self._full and self.queued_bytes <= self._limit // 2:
            self._full = False
        self._budget._remove(size)
        self._update()

    def wake(self) -> None:
        """Wake :meth:`wait_changed` (the connection closed, or a timer must be re-read)."""
        self._changed.set()

    async def wait_changed(self) -> None:
        """Wait for a new frame, a change of ``blocked`` or :meth:`wake`."""
        self._changed.clear()
        await self._changed.wait()

    def close(self) -> None:
        """Drop every queued frame and leave the server's budget (idempotent)."""
        while self._frames:
            self.done(self._frames.popleft())
        self._budget._remove(self.queued_bytes)  # frames popped but never marked done
        self.queued_bytes = 0
        self._closed = True
        self._budget._inboxes.discard(self)
        self._full = False
        self._update()

    def _update(self) -> None:
        was_blocked = not self._room.is_set()
        if self.blocked:
            self._room.clear()
        else:
            self._room.set()
        if was_blocked != self.blocked:
            if was_blocked:
                self.unblocked_at = time.monotonic()
            self._changed.set()


class Tenant:
    """One connection's place in the :class:`FairScheduler` (the turn it was last served)."""

    __slots__ = ("last_turn",)

    def __init__(self) -> None:
        self.last_turn = 0


class FairScheduler:
    """Runs blocking jobs on ``slots`` threads of ``executor``, fairly between connections.

    :meth:`run` waits for a free slot. When several jobs wait, *interactive* ones go first,
    in order of arrival: a connection with little audio queued (a real-time session) never
    waits behind a backlog. The others are served round-robin, the tenant served longest
    ago first, so every busy connection is fed once per round (the engine's decoder pool
    relies on that). Each connection submits one job at a time, so none can queue work
    ahead of the others.
    """

    def __init__(self, executor: Executor, slots: int) -> None:
        if slots <= 0:
            raise ValueError("slots must be positive")
        self._executor = executor
        self._free = slots
        self._waiting: list[tuple[int, int, int, Tenant, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._turns = itertools.count(1)

    async def run(self, tenant: Tenant, interactive: bool, func: Callable[..., T], *args: object) -> T:
        """``func(*args)`` on an engine thread, once a slot is granted to ``tenant``.

        If the caller is cancelled while the job runs, the job still runs to its end (a
        thread cannot be interrupted) and this waits for it before re-raising, so whoever
        releases the job's resources afterwards never races the thread.
        """
        await self._acquire(tenant, interactive)
        try:
            job = asyncio.get_running_loop().run_in_executor(self._executor, func, *args)
            try:
                return await asyncio.shield(job)
            except asyncio.CancelledError:
                await asyncio.wait({job})
                raise
        finally:
            self._release()

    async def _acquire(self, tenant: Tenant, interactive: bool) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            tenant.last_turn = next(self._turns)
            return
        grant: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        tier = 0 if interactive else 1
        heapq.heappush(self._waiting, (tier, tenant.last_turn, next(self._order), tenant, grant))
        try:
            await grant
        except asyncio.CancelledError:
            if grant.done() and not grant.cancelled():
                self._release()  # granted and cancelled at once: pass the slot on
            raise

    def _release(self) -> None:
        while self._waiting:
            *_, tenant, grant = heapq.heappop(self._waiting)
            if not grant.done():
                tenant.last_turn = next(self._turns)
                grant.set_result(None)
                return
        self._free += 1
