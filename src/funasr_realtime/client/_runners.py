"""The live segments of one stream: their runners started, read in order, awaited, aborted."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from ..protocol import CloseReason, FunAsrError, RecognitionParams, Segment, StreamCore, wire_params
from ._segment import SegmentRunner
from ._sync import Flag, Mailbox
from ._timing import IdleTimer
from .connection import Clock, TaskMetrics
from .events import StreamEvent, TaskCompleted
from .pool import ConnectionPool

__all__ = ["Runners"]

logger = logging.getLogger("funasr_realtime.client.stream")


class Runners:
    """One :class:`SegmentRunner` per live segment, as an asyncio task each.

    ``params()`` gives the parameters a segment starts with (the stream's, at that moment);
    ``failed(error)`` is called when a segment gives up. Events are read in segment order:
    a later segment's wait until the earlier one's :class:`TaskCompleted`, so they come in
    stream order even while two tasks overlap (one finishing, the next starting).
    """

    def __init__(
        self,
        core: StreamCore,
        pool: ConnectionPool,
        idle: IdleTimer,
        *,
        clock: Clock,
        stop: float,
        params: Callable[[], RecognitionParams],
        failed: Callable[[FunAsrError], None],
    ) -> None:
        self._core, self._pool, self._idle, self._clock, self._stop = core, pool, idle, clock, stop
        self._params, self._failed = params, failed
        self.progress = Flag()  # results arrived, audio was sent, or a segment changed
        self.completed: list[TaskMetrics] = []
        self._live: dict[int, SegmentRunner] = {}  # by segment index
        self._tasks: set[asyncio.Task[None]] = set()  # every runner still running
        self._order: Mailbox[SegmentRunner | None] = Mailbox()
        self._billed_failed = 0  # billed seconds of failed attempts of ended segments

    @property
    def billed_seconds(self) -> int:
        """Billed seconds: completed tasks plus failed attempts (their audio was replayed)."""
        failed = self._billed_failed + sum(run.failed_billed for run in self._live.values())
        return sum(m.billed_seconds or 0 for m in self.completed) + failed

    def append(self, audio: bytes) -> None:
        """``audio`` joins the open segment (a new one opens if none is); the runner writes it
        straight to the socket when it can, with no await at all."""
        if self._core.current is None:
            self._start(self._core.open())
        segment = self._core.append(audio, self._clock())
        self._live[segment.index].write(audio)

    def adopt(self) -> None:
        """A resumed stream's audio gets its segment (and so its task) now."""
        if self._core.needs_segment:
            self._start(self._core.open())

    def close(self, reason: CloseReason) -> Segment | None:
        """The core closes the open segment (None if there is none); its feeder sends finish-task."""
        segment = self._core.close(reason)
        if segment is not None:
            self._live[segment.index].wake()
            self.progress.set()
        return segment

    def _start(self, segment: Segment) -> None:
        run = self._live[segment.index] = SegmentRunner(
            segment,
            wire_params(self._params()),
            self._core,
            self._pool,
            clock=self._clock,
            stop=self._stop,
            progress=self.progress,
            ended=self._ended,
        )
        self._order.put_nowait(run)
        task = asyncio.create_task(run.run(), name="funasr-realtime-segment")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._idle.arm()

    async def update_context(self, params: RecognitionParams) -> None:
        """The open segment (if any) takes ``params``' context now (see SegmentRunner.update_context)."""
        current = self._core.current
        run = None if current is None else self._live.get(current.index)
        if run is not None:
            await run.update_context(params)

    def end(self) -> None:
        """No segment follows: iteration ends after the ones started so far."""
        self._order.put_nowait(None)

    def abort(self) -> None:
        """Cancel every runner; iteration ends at once."""
        for task in self._tasks:
            task.cancel()
        for run in self._live.values():
            run.events.put_nowait(None)
        self.progress.set()
        self.end()

    async def settle(self, timeout: float | None = None) -> bool:
        """Wait until every runner has ended, at most ``timeout`` seconds; False if some still run."""
        running = [task for task in self._tasks if not task.done()]
        if not running:
            return True
        _, pending = await asyncio.wait(running, timeout=timeout)
        return not pending

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Each segment's events up to its :class:`TaskCompleted`; raises a segment's error."""
        while (run := await self._order.get()) is not None:
            while True:
                item = await run.events.get()
                if item is None:  # aborted
                    return
                if isinstance(item, FunAsrError):
                    raise item
                yield item
                if isinstance(item, TaskCompleted):
                    break

    def _ended(self, run: SegmentRunner, outcome: TaskMetrics | FunAsrError) -> None:
        """A runner is done: its task completed (``outcome`` is its metrics) or it gave up."""
        del self._live[run.segment.index]
        self._billed_failed += run.failed_billed
        self.progress.set()
        if isinstance(outcome, FunAsrError):
            logger.warning("stream failed: %s", outcome)  # the core has given the segment up
            self._failed(outcome)
            run.events.put_nowait(outcome)
            return
        end = self._core.complete(run.segment)
        self.completed.append(outcome)
        run.events.put_nowait(TaskCompleted(outcome, end.finalized, end.request_id, end.end_ms))
        if end.reopened is not None:
            self._start(end.reopened)
