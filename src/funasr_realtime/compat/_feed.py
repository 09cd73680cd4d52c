"""The audio path of ``send_audio_frame``: frames handed in by application threads, sent in order by the loop.

A round trip to the loop thread per frame (a future, a task, a wake-up there and one back)
cost more CPU than the send itself. Here :meth:`AudioFeed.put` appends the frame to a deque
and posts the feed's pump to the loop (:class:`~._loop.Poster`: one wake-up carries every
frame handed in meanwhile); the caller goes on at once. It waits (:meth:`AudioFeed.wait_for_room`)
only when more than ``limit`` bytes are still queued, i.e. while the socket is backed up:
backpressure, and memory bounded per task.

The pump writes what the connection takes synchronously (:meth:`FeedTarget.try_send_audio`)
and otherwise drains the rest in one task that awaits each send, so frames stay in order.
A send that fails is the task's error: the queued frames are dropped, the error is kept
(the next :meth:`put` raises it) and ``abort`` closes the connection, so the reader reports
it once, as any other failure. The loop side takes no lock: an application thread stopped
by a signal handler that waits for the loop (the SDK samples stop from Ctrl+C) cannot
block it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..protocol import FunAsrError, TransportTimeout
from ._loop import Poster

__all__ = ["AudioFeed", "FeedTarget"]


class FeedTarget(Protocol):
    """Where the feed sends: a task (:class:`~funasr_realtime.client.Task`), on the loop."""

    def try_send_audio(self, data: bytes) -> bool: ...

    async def send_audio(self, data: bytes) -> None: ...


class AudioFeed:
    """One task's queue of audio, filled from application threads and sent on the loop.

    :meth:`put` is called by one application thread at a time (the caller serializes), and
    :meth:`wait_for_room` by application threads; the rest runs on the loop. Nothing is sent
    before :meth:`attach`.
    """

    def __init__(self, poster: Poster, limit: int, abort: Callable[[FunAsrError], Awaitable[None]]) -> None:
        self._poster = poster
        self._limit = limit
        self._abort = abort
        self._frames: deque[bytes] = deque()
        # Two counters, each written by one side only (GIL-atomic): queued = put - sent.
        self._put_bytes = 0
        self._sent_bytes = 0
        self._posted = False
        self._rooms: deque[threading.Event] = deque()  # one per wait_for_room(), set by the loop
        self._target: FeedTarget | None = None
        self._draining: asyncio.Task[None] | None = None
        self.error: FunAsrError | None = None

    # ------------------------------------------------------------------ application threads

    def put(self, frame: bytes) -> bool:
        """Queue ``frame`` and return at once: True when more than ``limit`` bytes are queued
        (the caller should then :meth:`wait_for_room`). Raises the error a send met."""
        if self.error is not None:
            raise self.error
        if frame:
            self._frames.append(frame)
            self._put_bytes += len(frame)
            if not self._posted:
                self._posted = True
                self._poster.post(self._pump)
        return not self._has_room()

    def _has_room(self) -> bool:
        return self.error is not None or self._put_bytes - self._sent_bytes <= self._limit

    def wait_for_room(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until at most ``limit`` bytes are queued.

        Raises the error a send met, or :class:`TransportTimeout` when the wait runs out.
        """
        deadline = time.monotonic() + timeout
        while not self._has_room():
            room = threading.Event()
            self._rooms.append(room)
            if self._has_room():  # re-checked once published: the loop may have sent meanwhile
                break
            if not room.wait(max(0.0, deadline - time.monotonic())):
                raise TransportTimeout("send", timeout)
        if self.error is not None:
            raise self.error

    # ------------------------------------------------------------------ the loop

    def attach(self, target: FeedTarget) -> None:
        """Start sending to ``target`` (the task, once started), beginning with what is queued."""
        self._target = target
        self._pump()

    async def flush(self) -> None:
        """Until every frame queued so far was sent (or dropped by an error)."""
        self._pump()
        while self._draining is not None:
            await asyncio.shield(self._draining)

    def _pump(self) -> None:
        self._posted = False
        target = self._target
        if target is None or self._draining is not None:
            return  # not started yet (attach pumps), or the drain task takes the new frames too
        frames = self._frames
        sent = 0
        while frames:
            if not target.try_send_audio(frames[0]):
                self._draining = asyncio.get_running_loop().create_task(self._drain(target))
                break
            sent += len(frames.popleft())
        self._sent(sent)

    async def _drain(self, target: FeedTarget) -> None:
        frames = self._frames
        try:
            while frames:
                frame = frames[0]
                await target.send_audio(frame)
                frames.popleft()
                self._sent(len(frame))
        except FunAsrError as exc:
            self._fail(exc)
            await self._abort(exc)
        finally:
            self._draining = None

    def _sent(self, count: int) -> None:
        self._sent_bytes += count
        rooms = self._rooms
        if rooms and self._has_room():
            while rooms:  # only the loop takes from it
                rooms.popleft().set()

    def _fail(self, error: FunAsrError) -> None:
        self.error = error
        dropped = sum(len(frame) for frame in self._frames)
        self._frames.clear()
        self._sent(dropped)  # sets the room event too: a waiting put() raises the error
