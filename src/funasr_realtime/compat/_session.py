"""One recognition task on its own connection, driven on the compat event loop.

:meth:`TaskSession.run` opens the connection, starts the task, reads every result until
the task ends and reports to a :class:`TaskSink`: ``opened``, ``sentence`` for each result,
then exactly one of ``completed`` or ``failed``, then ``closed``, always. ``send`` and
``finish`` are called concurrently by the application side; when they hit an error they
record it and close the connection, so the reader reports that first error, once.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from ..client import ClientConfig, Connection, Task, TaskMetrics
from ..protocol import FunAsrError, LocalProtocolError, RecognitionParams, Sentence

__all__ = ["TaskSession", "TaskSink"]

logger = logging.getLogger(__name__)


class TaskSink(Protocol):
    """Receives a task's events on the loop thread; must not block."""

    def opened(self, task_id: str) -> None: ...

    def sentence(self, sentence: Sentence, usage: dict[str, Any] | None) -> None: ...

    def completed(self) -> None: ...

    def failed(self, error: FunAsrError, task_id: str) -> None: ...

    def closed(self) -> None: ...


class TaskSession:
    """A single task: create, then ``await run()`` (on the loop) while others send and finish."""

    def __init__(self, config: ClientConfig, params: RecognitionParams, sink: TaskSink) -> None:
        self._config = config
        self._params = params
        self._sink = sink
        self._connection: Connection | None = None
        self._task: Task | None = None
        self._error: FunAsrError | None = None
        self._finishing = False

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
            self._sink.opened(self.task_id)
            await self._read()
        except FunAsrError as exc:
            self._sink.failed(self._error or exc, getattr(exc, "task_id", "") or self.task_id)
        else:
            self._sink.completed()
        finally:
            if self._connection is not None:
                await self._connection.aclose()
            self._sink.closed()

    async def send(self, audio: bytes) -> None:
        """Send audio (waits for the socket to take it: backpressure). Raises the task's error,
        or :class:`LocalProtocolError` once :meth:`finish` was called (the task is unaffected)."""
        task = self._started_task()
        try:
            await task.send_audio(audio)
        except FunAsrError as exc:
            await self._abort(exc)
            raise

    async def update_context(self, input: dict[str, Any]) -> None:
        """Send continue-task with new context (Fun-ASR). Raises the task's error."""
        task = self._started_task()
        try:
            await task.continue_task(input)
        except FunAsrError as exc:
            await self._abort(exc)
            raise

    async def finish(self, timeout: float) -> None:
        """Send finish-task and wait (bounded) for the task to end.

        Does not raise: how the task ended reaches the sink (``completed`` or ``failed``),
        including a timeout, which aborts the connection.
        """
        task = self._task
        self._finishing = True
        if task is None or task.done:
            return
        try:
            await task.finish(timeout)
        except FunAsrError as exc:
            await self._abort(exc)

    async def _start(self) -> None:
        self._connection = await Connection.open(self._config)
        self._task = await self._connection.start_task(self._params)

    async def _read(self) -> None:
        assert self._task is not None
        async for result in self._task.results():
            usage = result.usage.model_dump() if result.usage is not None else None
            self._sink.sentence(result.sentence, usage)  # the usage the service sent with it

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
