"""The asyncio side of one segment of a stream: its tasks, its feeder and its events.

A :class:`SegmentRunner` runs the tasks of one :class:`~funasr_realtime.protocol.Segment`
until one completes or the segment gives up. It decides nothing: the stream core says where
each attempt starts, what to replay, whether and when to retry, how long to wait after
finish-task. It starts each task on a pooled connection, feeds it what the core hands over,
and delivers the task's sentences (shifted to stream time) into :attr:`SegmentRunner.events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ..protocol import (
    ClientState,
    FunAsrError,
    LocalProtocolError,
    RecognitionParams,
    ResultGenerated,
    Segment,
    SegmentState,
    StreamCore,
    TransportTimeout,
    context_input,
)
from ._sync import Flag, Mailbox
from .connection import Clock, Task, TaskMetrics
from .events import Reconnected, SentenceEvent, StreamEvent
from .pool import ConnectionPool

__all__ = ["SegmentRunner"]

logger = logging.getLogger("funasr_realtime.client.stream")

Item = StreamEvent | FunAsrError | None  # None: the stream was aborted
_DIRECT = SegmentState.DIRECT


class SegmentRunner:
    """Runs one segment's tasks; ``ended(runner, metrics or error)`` is called once at the end."""

    def __init__(
        self,
        segment: Segment,
        params: RecognitionParams,
        core: StreamCore,
        pool: ConnectionPool,
        *,
        clock: Clock,
        stop: float,
        progress: Flag,
        ended: Callable[[SegmentRunner, TaskMetrics | FunAsrError], None],
    ) -> None:
        self.segment = segment
        # Fixed for the segment, retries included (update_params is for later ones), except
        # the context: update_context changes it here too, so a replay carries the latest.
        self.params = params
        self.events: Mailbox[Item] = Mailbox()
        self.failed_billed = 0  # billed seconds of this segment's failed attempts (their audio was replayed)
        self._core, self._pool, self._clock, self._stop = core, pool, clock, stop
        self._progress = progress  # set whenever audio was sent, results arrived or the segment changed
        self._ended = ended
        self._task: Task | None = None
        self._deadline: asyncio.Timeout | None = None
        self._wakeup = Flag()
        self._attempt_billed = 0  # billed seconds of the attempt that just failed

    def write(self, audio: bytes) -> None:
        """Audio the core just appended: straight to the task while ``DIRECT``, else to the feeder."""
        task, segment = self._task, self.segment
        if segment.state is _DIRECT and task is not None and task.try_send_audio(audio):
            segment.sent += len(audio)  # the hot path: written with no await at all (Segment.wrote, inlined)
        else:
            # The feeder sends it: the task is starting, recovering, backed up or failed
            # (a failed send there fails the task, and the runner reconnects and replays).
            self._core.backed_up(self.segment)
            self._wakeup.set()

    def wake(self) -> None:
        """The segment changed (it was closed): the feeder looks again."""
        self._wakeup.set()

    async def update_context(self, params: RecognitionParams) -> None:
        """Take ``params``' context: later attempts start with it, the open task gets continue-task."""
        self.params = self.params.replace(context=params.context)
        if self._task is not None:
            await self._continue(self._task)

    async def _continue(self, task: Task) -> None:
        if task.done or task.connection.protocol.state is not ClientState.STREAMING:
            return  # finish-task is out (or the task is over): the context is for later tasks
        try:
            await task.continue_task(context_input(self.params.context or ()))
        except FunAsrError as exc:
            task._fail(exc)  # the runner replays, and its run-task carries the new context

    async def run(self) -> None:
        """Attempt after attempt until a task completes or the core's retry budget gives up."""
        core, segment = self._core, self.segment
        while True:
            core.begin_attempt(segment, self._clock())
            try:
                metrics = await self._attempt()
            except FunAsrError as exc:
                self._progress.set()
                delay = core.attempt_failed(segment, exc, self._clock())
                if delay is None:
                    self._ended(self, exc)
                    return
                logger.warning("stream interrupted (%s); retry %d in a moment", exc, segment.retry.failures)
                # A standby opened before the failure likely shares the broken path (a black
                # hole swallows it too): reconnect on a fresh connection instead.
                await self._pool.discard_idle()
                await asyncio.sleep(delay)
            except Exception as exc:
                # A bug must end the stream with one typed error, not kill this task silently.
                logger.exception("internal error in a recognition stream")
                core.give_up(segment)
                self._ended(self, LocalProtocolError(f"internal error in the stream: {exc!r}"))
                return
            else:
                self._ended(self, metrics)
                return

    async def _attempt(self) -> TaskMetrics:
        """One task: start it where the core says, report a replay, stream, wait until it ends."""
        core, segment = self._core, self.segment
        sent = self.params
        # The pool starts the task (and gives a rejected provider key its one second chance).
        task, _ = await self._pool.start_task(sent, offset_ms=core.attempt_offset(segment), listener=self._deliver)
        connection = task.connection
        try:
            task.on_activity = lambda: self._on_activity(task)
            self._task = task
            if self.params.context != sent.context:
                await self._continue(task)  # update_context came while the task was starting
            restart = core.task_started(segment, self._clock())
            if restart is not None:
                error, dropped = restart.error, restart.dropped_ms
                replayed, downtime = restart.replayed_ms, restart.downtime_ms
                self.events.put_nowait(
                    Reconnected(error, restart.attempt, replayed, dropped, downtime, self._attempt_billed)
                )
                if dropped:
                    logger.warning("%d ms of audio could not be replayed after %s", dropped, error)
                self._attempt_billed = 0
            try:
                await self._await_task_end(task)
            except FunAsrError as exc:
                if core.heard_nothing(segment, exc):
                    return task.metrics  # a finished task with no speech in it: complete, no final
                # What the service billed for the failed attempt is reported, never lost.
                self._attempt_billed = task.metrics.billed_seconds or 0
                self.failed_billed += self._attempt_billed
                raise
            return task.metrics
        finally:
            self._task, self._deadline = None, None
            await self._pool.release(connection)

    async def _await_task_end(self, task: Task) -> None:
        """Wait for task-finished while the feeder sends audio; bounded once finish-task is out.

        Sentences reach :meth:`_deliver` from the connection's reader as they are decoded.
        """
        feeder = asyncio.create_task(self._feed(task), name="funasr-realtime-feeder")
        feeder.add_done_callback(lambda job: _fail_task_with(task, job))
        try:
            async with asyncio.timeout(None) as deadline:
                self._deadline = deadline  # rescheduled by _extend once finish-task is out
                await task.wait_done()
            if task.error is not None:
                raise task.error
        except TransportTimeout:
            raise
        except TimeoutError:
            raise TransportTimeout("task-finished", self._stop) from None
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder

    async def _feed(self, task: Task) -> None:
        """Send what the core hands over, then finish-task once the segment is closed.

        Between wake-ups the stream writes straight to the socket (the segment is ``DIRECT``).
        """
        core, segment = self._core, self.segment
        while True:
            data, lost = core.take(segment)
            while data:
                if lost:
                    logger.warning("%d ms of audio lost under a running task: sent as silence", core.timeline.ms(lost))
                await task.send_audio(data)
                self._progress.set()
                data, lost = core.take(segment)
            if core.caught_up(segment):
                await task.send_finish()
                core.arm_finish(segment, asyncio.get_running_loop().time())
                self._extend()
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    def _extend(self) -> None:
        """Move the wait for task-finished to the core's deadline (each message extends it)."""
        if self._deadline is not None:
            at = self._core.finish_deadline(self.segment, asyncio.get_running_loop().time())
            if at is not None:
                self._deadline.reschedule(at)

    def _on_activity(self, task: Task) -> None:
        """A message of the task arrived: move the recognized position, extend the wait."""
        if self._core.reported(self.segment, task.offset_ms + task.connection.protocol.reported_ms):
            self._progress.set()
        self._extend()

    def _deliver(self, task: Task, result: ResultGenerated) -> None:
        shifted = result.sentence.shifted(task.offset_ms)
        if shifted.is_final and shifted.end_time is not None:
            # No final is delivered twice, so none is suppressed: a retry replays from after it.
            self._core.final(self.segment, shifted.end_time)
        self.events.put_nowait(SentenceEvent(shifted, task.task_id, result.usage))


def _fail_task_with(task: Task, feeder: asyncio.Task[None]) -> None:
    """A feeder that failed takes its task down with it, so the runner recovers."""
    if feeder.cancelled():
        return
    error = feeder.exception()
    if isinstance(error, FunAsrError):
        task._fail(error)
    elif error is not None:
        logger.error("audio feeder crashed", exc_info=error)
        task._fail(LocalProtocolError(f"internal error in the audio feeder: {error!r}"))
