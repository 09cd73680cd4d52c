"""One recognition task on its own connection, driven on the compat event loop.

:meth:`StreamingSession.run` opens the connection, starts the task, reads every result until
the task ends and reports to a :class:`TaskSink`: ``opened``, ``sentence`` for each result,
then exactly one of ``completed`` or ``failed``, then ``closed``, always. Application threads
hand audio in with ``put`` (queued, sent in order by the loop: :mod:`._feed`), and the
application side calls ``finish`` concurrently; when a send or the finish hits an error it
is recorded and the connection closed, so the reader reports that first error, once.

:class:`FileSession` is the same for ``call(file)``, over a
:class:`~funasr_realtime.client.RecognitionStream`: the file's PCM is paced by the stream's
flow control, a dropped connection is retried with replay, and the wait at the end follows
progress. Audio lost in a reconnect is logged as a warning (never silent).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from ..client import (
    ClientConfig,
    Connection,
    RecognitionStream,
    Reconnected,
    Resilience,
    SentenceEvent,
    Task,
    TaskCompleted,
    TaskMetrics,
)
from ..client.pool import ConnectionPool
from ..protocol import FunAsrError, LocalProtocolError, RecognitionParams, ResultGenerated, Sentence
from . import _loop
from ._feed import AudioFeed

__all__ = ["FileSession", "StreamingSession", "TaskSink"]

logger = logging.getLogger(__name__)

# Audio queued for a task beyond which put() waits for the socket: 2 s of 16 kHz PCM, far more
# than a healthy socket ever leaves queued (it takes each frame at once), little memory per task.
FEED_LIMIT = 64 * 1024


class TaskSink(Protocol):
    """Receives a task's events on the loop thread; must not block."""

    def opened(self, task_id: str) -> None: ...

    def sentence(self, sentence: Sentence, usage: dict[str, Any] | None) -> None: ...

    def completed(self) -> None: ...

    def failed(self, error: FunAsrError, task_id: str) -> None: ...

    def closed(self) -> None: ...


class StreamingSession:
    """A single task: create, then ``await run()`` (on the loop) while others put audio and finish."""

    def __init__(self, config: ClientConfig, params: RecognitionParams, sink: TaskSink) -> None:
        self._config = config
        self._params = params
        self._sink = sink
        self._connection: Connection | None = None
        self._task: Task | None = None
        self._error: FunAsrError | None = None
        self._finishing = False
        self._opened = False
        self._feed = AudioFeed(_loop.poster(), FEED_LIMIT, self._abort)

    @property
    def metrics(self) -> TaskMetrics | None:
        """Timings and usage of the task, once it started."""
        return None if self._task is None else self._task.metrics

    @property
    def task_id(self) -> str:
        """The id sent in run-task ("" before that)."""
        if self._task is not None:
            return self._task.task_id
        if self._connection is not None and self._connection.protocol.task_id is not None:
            return self._connection.protocol.task_id
        return ""

    async def run(self) -> None:
        """Open, start, read results until the task ends; report everything to the sink."""
        try:
            await self._start()
            self._open_sink()
            await self._read()
        except FunAsrError as exc:
            self._sink.failed(self._error or exc, getattr(exc, "task_id", "") or self.task_id)
        else:
            self._sink.completed()
        finally:
            if self._connection is not None:
                await self._connection.aclose()
            self._sink.closed()

    def put(self, audio: bytes) -> bool:
        """From an application thread: queue audio to be sent in order, at once; True when more
        than :data:`FEED_LIMIT` bytes are queued (then call :meth:`wait_for_room`).

        Raises the task's error (also one a send of earlier audio met). Calls must not overlap
        (the caller serializes them) and must not follow :meth:`finish`.
        """
        if self._error is not None:
            raise self._error
        task = self._task
        if task is not None:  # before start_task returned, the audio waits in the feed
            if task.error is not None:
                raise task.error
            task.connection.raise_if_closed()
        return self._feed.put(audio)

    def wait_for_room(self, timeout: float) -> None:
        """From an application thread: wait while the socket is backed up (at most ``timeout`` s).

        Raises the error a send met, or :class:`~funasr_realtime.TransportTimeout`.
        """
        self._feed.wait_for_room(timeout)

    async def send(self, audio: bytes) -> None:
        """Send audio after what was put, and wait for the socket to take it. Raises the task's
        error, or :class:`LocalProtocolError` once :meth:`finish` was called (the task is unaffected)."""
        task = self._started_task()
        await self._feed.flush()
        try:
            await task.send_audio(audio)
        except FunAsrError as exc:
            await self._abort(exc)
            raise

    async def update_context(self, input: dict[str, Any]) -> None:
        """Send continue-task with new context (Fun-ASR), after the audio put before. Raises the task's error."""
        task = self._started_task()
        await self._feed.flush()
        try:
            await task.continue_task(input)
        except FunAsrError as exc:
            await self._abort(exc)
            raise

    async def finish(self, timeout: float) -> None:
        """Send the audio still queued, then finish-task, and wait (bounded) for the task to end.

        Does not raise: how the task ended reaches the sink (``completed`` or ``failed``),
        including a timeout, which aborts the connection.
        """
        task = self._task
        self._finishing = True
        if task is None or task.done:
            return
        try:
            await self._feed.flush()
            await task.finish(timeout)
        except FunAsrError as exc:
            await self._abort(exc)

    async def _start(self) -> None:
        # Through a one-connection pool: the core's one rule for a rejected provider key applies.
        pool = ConnectionPool(self._config, time.monotonic, standby=False, max_size=1)
        try:
            self._task, _ = await pool.start_task(self._params, listener=self._on_result)
        except BaseException:
            await pool.aclose()
            raise
        self._connection = self._task.connection
        self._feed.attach(self._task)

    def _open_sink(self) -> None:
        if not self._opened:
            self._opened = True
            self._sink.opened(self.task_id)

    def _on_result(self, _task: Task, result: ResultGenerated) -> None:
        """The task's listener (on the reader): each result goes to the sink as it comes."""
        self._open_sink()  # a result may beat start_task's return: the sink hears opened first
        usage = result.usage.model_dump() if result.usage is not None else None
        self._sink.sentence(result.sentence, usage)  # the usage the service sent with it

    async def _read(self) -> None:
        """Until the task ends: raises its error (the results went to the sink on the way)."""
        assert self._task is not None
        await self._task.wait_done()
        if self._task.error is not None:
            raise self._task.error

    def _started_task(self) -> Task:
        if self._error is not None:
            raise self._error
        if self._task is None:
            raise LocalProtocolError("cannot send: the task has not started")
        if self._finishing:
            # A send that lost the race with stop(): refuse it without disturbing the task.
            raise LocalProtocolError("cannot send: the task is finishing")
        return self._task

    async def _abort(self, error: FunAsrError) -> None:
        """Record the first error, then close: the reader ends and reports it."""
        if self._error is None:
            self._error = error
            logger.debug("task %s aborted: %s", self.task_id or "-", error)
        if self._connection is not None:
            await self._connection.aclose()


class FileSession:
    """A ``call(file)``: ``await run()`` on the loop while the caller sends PCM and finishes.

    The sink hears ``opened`` once connected and again with each new task id (a retry or a
    rotation starts a new task), ``sentence`` for each result, then ``completed`` or
    ``failed``, then ``closed``, always.
    """

    def __init__(
        self,
        config: ClientConfig,
        params: RecognitionParams,
        sink: TaskSink,
        *,
        name: str = "",
        resilience: Resilience | None = None,
    ) -> None:
        self._stream = RecognitionStream(config, params, resilience=resilience)
        self._sink = sink
        self._name = name  # the file, for the loss warning
        self._task_id = ""
        self._error: FunAsrError | None = None
        self.dropped_ms = 0

    @property
    def resilience(self) -> Resilience:
        return self._stream.resilience

    @property
    def metrics(self) -> TaskMetrics | None:
        """The latest completed task's timings and usage."""
        return self._stream.completed[-1] if self._stream.completed else None

    @property
    def task_id(self) -> str:
        """The latest task id seen ("" before the first result)."""
        return self._task_id

    async def run(self) -> None:
        """Connect, read every event until the stream ends; report everything to the sink."""
        try:
            await self._stream.connect()
            self._sink.opened(self._task_id)
            async for event in self._stream:
                self._on_event(event)
        except FunAsrError as exc:
            self._sink.failed(self._error or exc, getattr(exc, "task_id", "") or self._task_id)
        else:
            if self._error is not None:  # finish() gave up or the caller aborted: the stream was closed
                self._sink.failed(self._error, self._task_id)
            else:
                self._sink.completed()
        finally:
            await self._stream.aclose()
            self._sink.closed()

    async def send(self, pcm: bytes) -> None:
        """Hand in PCM; waits while the stream paces a faster-than-real-time sender. Raises the stream's error."""
        if self._error is not None:
            raise self._error
        await self._stream.send_audio(pcm)

    async def finish(self) -> None:
        """End of the file: wait for the trailing results as long as they keep coming. Does not
        raise: the outcome reaches the sink."""
        try:
            await self._stream.finish()
        except FunAsrError as exc:
            self._error = self._error or exc

    async def abort(self, error: FunAsrError) -> None:
        """Give up with ``error`` (a backstop ran out): the reader ends and reports it."""
        self._error = self._error or error
        await self._stream.aclose()

    def _on_event(self, event: SentenceEvent | TaskCompleted | Reconnected) -> None:
        if isinstance(event, SentenceEvent):
            self._identify(event.task_id)
            usage = event.usage.model_dump() if event.usage is not None else None
            self._sink.sentence(event.sentence, usage)
        elif isinstance(event, TaskCompleted):
            self._identify(event.metrics.task_id)
        elif event.dropped_ms > 0:
            self.dropped_ms += event.dropped_ms
            logger.warning(
                "%s: %d ms of audio were lost reconnecting after: %s",
                self._name or "call",
                event.dropped_ms,
                event.error,
            )
        else:
            logger.info("reconnected after %s; %d ms replayed, nothing lost", event.error, event.replayed_ms)

    def _identify(self, task_id: str) -> None:
        if task_id and task_id != self._task_id:
            self._task_id = task_id
            self._sink.opened(task_id)  # the Collector records each new task id (retries, rotation)
