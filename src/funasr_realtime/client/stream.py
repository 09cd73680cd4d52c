"""A recognition stream: one audio timeline carried by a sequence of tasks.

The protocol has no "flush but keep going" command, so :meth:`RecognitionStream.finalize`
finishes the current task (the service then emits its final sentence at once instead of
after its silence timeout) and the next audio goes to a new task. Audio that arrives while
a task is starting or the previous one drains is buffered and sent in order: none is lost.

Each stretch of audio that goes to one task is a *segment*. Segments are delivered in order:
the events of a task are yielded only after every event of the task before it, so a final
sentence never arrives after a later partial. Sentence and word times are reported on the
stream timeline (task milliseconds + the task's offset in the stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ..protocol import (
    AudioError,
    FunAsrError,
    LocalProtocolError,
    RecognitionParams,
    Sentence,
    Timeline,
    TransportTimeout,
    check_compatibility,
)
from .config import ClientConfig
from .connection import Clock, Connection, Task, TaskMetrics

__all__ = ["RecognitionStream", "SentenceEvent", "StreamEvent", "TaskCompleted"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SentenceEvent:
    """A partial or final sentence; its times are stream milliseconds."""

    sentence: Sentence
    task_id: str

    @property
    def is_final(self) -> bool:
        return self.sentence.is_final


@dataclass(frozen=True, slots=True)
class TaskCompleted:
    """A task is over and all its sentences were delivered.

    ``finalized`` is True when the task was ended by :meth:`RecognitionStream.finalize` or
    :meth:`RecognitionStream.finish` (its last final is the answer to that request).
    """

    metrics: TaskMetrics
    finalized: bool


StreamEvent = SentenceEvent | TaskCompleted


class _Segment:
    """The audio of one task: buffered until the task has started, then sent directly."""

    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms
        self.pending = bytearray()
        self.task: Task | None = None
        self.error: FunAsrError | None = None
        self.ready = False  # the task started and the buffer is flushed: send directly
        self.closing = False  # finalize() or finish() was requested
        self.started = asyncio.Event()  # the task exists, or starting it failed
        self.runner: asyncio.Task[None] | None = None
        self.finisher: asyncio.Task[None] | None = None

    @property
    def over(self) -> bool:
        return self.started.is_set() and (self.task is None or self.task.done)

    async def wait_over(self) -> None:
        """Until the task has ended (finished, failed or aborted)."""
        await self.started.wait()
        if self.task is not None:
            await self.task.wait_done()


class RecognitionStream:
    """Stream PCM audio and iterate partial and final sentences.

    Typical use::

        async with client.stream(language_hints=["en"]) as stream:
            ...  # elsewhere: await stream.send_audio(chunk); await stream.finalize()
            async for event in stream:
                if isinstance(event, SentenceEvent) and event.is_final:
                    print(event.sentence.text)

    ``send_audio`` never waits for the network beyond the socket's buffer; ``finalize`` and
    ``finish`` return once the request is made, and their results arrive through iteration.
    Finalizing by task rotation requires ``format="pcm"`` (other formats carry headers).
    """

    def __init__(self, config: ClientConfig, params: RecognitionParams, *, clock: Clock = time.monotonic) -> None:
        check_compatibility(params, config.region)
        self.config = config
        self._params = params
        self._clock = clock
        self._timeline = Timeline(params.sample_rate)
        self._connection: Connection | None = None
        self._connect_lock = asyncio.Lock()
        self._current: _Segment | None = None
        self._last: _Segment | None = None
        self._segments: list[_Segment] = []
        self._order: asyncio.Queue[_Segment | None] = asyncio.Queue()
        self._error: FunAsrError | None = None
        self._input_closed = False
        self._closed = False
        self.completed: list[TaskMetrics] = []

    # ------------------------------------------------------------------ public API

    @property
    def params(self) -> RecognitionParams:
        """Parameters of the next task (see :meth:`update_params`)."""
        return self._params

    @property
    def billed_seconds(self) -> int:
        """Sum of the billed seconds the service reported for the completed tasks."""
        return sum(m.billed_seconds or 0 for m in self.completed)

    @property
    def audio_ms(self) -> int:
        """Stream time of all audio handed in so far."""
        return self._timeline.now_ms

    async def connect(self) -> None:
        """Open the connection now (pre-warm), so the first audio pays no handshake."""
        await self._acquire_connection()

    async def send_audio(self, audio: bytes) -> None:
        """Hand in audio (s16le mono PCM at ``params.sample_rate`` for ``format="pcm"``).

        Raises the stream's error if it failed, :class:`LocalProtocolError` after
        :meth:`finish` or :meth:`aclose`, :class:`AudioError` for odd-length PCM.
        """
        self._check_open("send audio")
        if not audio:
            return
        if self._params.format == "pcm" and len(audio) % 2:
            raise AudioError(f"PCM audio must be whole 16-bit samples; got {len(audio)} bytes")
        segment = self._current or self._open_segment()
        self._timeline.advance(len(audio))
        if segment.ready and segment.task is not None:
            await segment.task.send_audio(audio)
        else:
            segment.pending += audio

    async def finalize(self) -> None:
        """End the current task so its final sentence comes now; later audio starts a new task.

        Returns at once; the final arrives through iteration, followed by a
        :class:`TaskCompleted` with ``finalized=True``. A no-op when no audio was sent since
        the last finalize.
        """
        self._check_open("finalize")
        if self._params.format != "pcm":
            raise LocalProtocolError(f"finalize needs format='pcm', not {self._params.format!r}; use finish()")
        self._close_current()

    async def finish(self, timeout: float | None = None) -> None:
        """End of input: finish the current task and wait (bounded) for its trailing results.

        Events stay readable by iteration, which ends after the last task. Idempotent.
        Raises the stream's error, if any. ``timeout`` defaults to ``timeouts.stop``.
        """
        if not self._input_closed:
            self._input_closed = True
            self._close_current()
            self._order.put_nowait(None)
        last = self._last
        if last is not None:
            bound = timeout if timeout is not None else self.config.timeouts.stop
            try:
                async with asyncio.timeout(bound + self.config.timeouts.task_started):
                    await last.wait_over()
            except TimeoutError:
                self._fail(last, TransportTimeout("task-finished", bound))
        await self._release_connection()
        if self._error is not None:
            raise self._error

    async def aclose(self) -> None:
        """Abort: stop every task without waiting for results and close the connection."""
        if self._closed:
            return
        self._closed = self._input_closed = True
        for segment in self._segments_in_flight():
            for job in (segment.runner, segment.finisher):
                if job is not None:
                    job.cancel()
            if segment.task is not None:
                segment.task._abort()
            segment.started.set()
        self._order.put_nowait(None)
        await self._release_connection()

    def update_params(self, **changes: Any) -> RecognitionParams:
        """Change parameters (language, vocabulary, segmentation...) from the next task on.

        Validated at once; the running task keeps its parameters, so no audio is lost.
        The sample rate and format cannot change within a stream.
        """
        if {"sample_rate", "format"} & changes.keys():
            raise LocalProtocolError("sample_rate and format cannot change within a stream")
        params = self._params.replace(**changes)
        check_compatibility(params, self.config.region)
        self._params = params
        return params

    async def __aenter__(self) -> RecognitionStream:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            await self.finish()
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self.events()

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Sentences of every task in order, each task followed by :class:`TaskCompleted`.

        Ends after :meth:`finish` once the last task is over, or at :meth:`aclose`.
        Raises the stream's error (typed, never swallowed).
        """
        while True:
            segment = await self._order.get()
            if segment is None:
                return
            await segment.started.wait()
            if segment.error is not None:
                raise segment.error
            task = segment.task
            if task is None:  # aborted before it started
                continue
            async for sentence in task.sentences():
                yield SentenceEvent(sentence.shifted(segment.offset_ms), task.task_id)
            if not task.aborted:
                yield TaskCompleted(task.metrics, finalized=segment.closing)

    # ------------------------------------------------------------------ segments

    def _open_segment(self) -> _Segment:
        segment = _Segment(self._timeline.now_ms)
        previous, self._last, self._current = self._last, segment, segment
        self._segments = [s for s in self._segments if not s.over] + [segment]
        self._order.put_nowait(segment)
        segment.runner = asyncio.create_task(self._run_segment(segment, previous), name="funasr-realtime-segment")
        return segment

    async def _run_segment(self, segment: _Segment, previous: _Segment | None) -> None:
        """Start the segment's task once the connection is free, then flush its buffer."""
        try:
            if previous is not None:
                await previous.wait_over()  # one task at a time per connection
            if self._error is not None:
                raise self._error
            connection = await self._acquire_connection()
            segment.task = await connection.start_task(self._params, offset_ms=segment.offset_ms)
            segment.started.set()
            while segment.pending:
                data = bytes(segment.pending)
                segment.pending.clear()
                await segment.task.send_audio(data)
            segment.ready = True
            if segment.closing:
                await self._finish_segment(segment)
        except FunAsrError as exc:
            self._fail(segment, exc)

    def _close_current(self) -> None:
        segment, self._current = self._current, None
        if segment is None:
            return
        segment.closing = True
        if segment.ready:
            segment.finisher = asyncio.create_task(self._finish_segment(segment), name="funasr-realtime-finish")

    async def _finish_segment(self, segment: _Segment) -> None:
        assert segment.task is not None
        try:
            metrics = await segment.task.finish()
        except FunAsrError as exc:
            self._fail(segment, exc)
        else:
            self.completed.append(metrics)

    def _fail(self, segment: _Segment, error: FunAsrError) -> None:
        logger.debug("stream failed: %s", error)
        if self._error is None:
            self._error = error
        if segment.task is None:
            segment.error = error
        else:
            segment.task._fail(error)
        segment.started.set()

    def _segments_in_flight(self) -> list[_Segment]:
        return [s for s in self._segments if not s.over]

    def _check_open(self, action: str) -> None:
        if self._error is not None:
            raise self._error
        if self._input_closed:
            raise LocalProtocolError(f"cannot {action}: stream is {'closed' if self._closed else 'finished'}")

    # ------------------------------------------------------------------ connection

    async def _acquire_connection(self) -> Connection:
        async with self._connect_lock:
            if self._connection is None or not self._connection.alive:
                self._connection = await Connection.open(self.config, clock=self._clock)
            return self._connection

    async def _release_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(FunAsrError):
                await connection.aclose()
