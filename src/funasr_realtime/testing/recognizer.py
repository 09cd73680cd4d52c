"""Real recognition behind a :class:`~.mock.MockTransport`: the local server's tasks, in memory.

:func:`recognizer` returns a handler that serves every task of a connection the way the
local server does: run-task validated (with the server's task-failed codes), audio decoded
and recognized in slices of :data:`~funasr_realtime.server.connection.JOB_MS`, partials and
finals with usage, heartbeats when the task asks for them, task-finished; a client that
breaks the protocol gets task-failed ``InvalidParameter``. The default engine is the
``synthetic`` one (placeholder words, near-zero cost, real timing and usage); any other
engine runs on a worker thread, as in the server.

Not modelled: the server's timers (client and idle timeouts) and its backpressure. It needs
the ``server`` extra (numpy, soxr), imported when :func:`recognizer` is called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..protocol import FinishTask, RemoteProtocolError, RunTask
from .mock import Handler, MockConnection

if TYPE_CHECKING:
    from ..server.engines import Engine
    from ..server.task import TaskRecognizer, TaskResult

__all__ = ["recognizer"]

SERVER_EXTRA_HINT = 'pip install "funasr-realtime[server]"'


def recognizer(
    engine: Engine | None = None, *, heartbeat_interval_ms: int = 2000, max_task_audio_s: float = 3600.0
) -> Handler:
    """A :class:`~.mock.MockTransport` handler recognizing with ``engine`` (default: synthetic).

    ``heartbeat_interval_ms`` and ``max_task_audio_s`` are the server's settings of the same
    names (:class:`~funasr_realtime.server.ServerConfig`).
    """
    try:
        from ..server.engines import create_engine
        from ..server.task import TaskRejected
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"in-memory recognition needs the local server's dependencies ({exc.name} is missing): {SERVER_EXTRA_HINT}",
            name=exc.name,
        ) from exc
    chosen = engine or create_engine("synthetic")

    async def handler(server: MockConnection) -> None:
        tasks = _Tasks(server, chosen, heartbeat_interval_ms, max_task_audio_s)
        try:
            while True:
                await tasks.handle(await server.receive())
        except RemoteProtocolError as exc:
            await server.fail_task("InvalidParameter", str(exc))
        except TaskRejected as exc:
            await server.fail_task(exc.code, exc.message)
        finally:
            tasks.close()

    return handler


class _Tasks:
    """The tasks of one connection, one after another, as the server's connection handler runs them."""

    def __init__(self, server: MockConnection, engine: Engine, heartbeat_interval_ms: int, max_audio_s: float) -> None:
        self._server = server
        self._engine = engine
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self._max_audio_s = max_audio_s
        self._session: TaskRecognizer | None = None

    async def handle(self, message: object) -> None:
        if isinstance(message, RunTask):
            from ..server.task import TaskRecognizer

            self._session = TaskRecognizer.create(
                message.model,
                message.parameters,
                self._engine,
                heartbeat_interval_ms=self._heartbeat_interval_ms,
                max_audio_s=self._max_audio_s,
            )
            await self._server.start_task()
        elif isinstance(message, bytes):
            await self._feed(message)
        elif isinstance(message, FinishTask):
            session = self._session
            assert session is not None  # the server protocol admits finish-task only in a task
            await self._send(await self._run(session.finish))
            await self._server.finish_task()
            self.close()
        # continue-task: its context is not used by the local engines

    async def _feed(self, data: bytes) -> None:
        from ..server.connection import JOB_COMPRESSED_BYTES, JOB_MS
        from ..server.decoders import COMPRESSED_FORMATS

        session = self._session
        assert session is not None  # the server protocol admits audio only in a task
        params = session.params
        compressed = params.format in COMPRESSED_FORMATS
        step = JOB_COMPRESSED_BYTES if compressed else params.sample_rate * 2 * JOB_MS // 1000
        for start in range(0, len(data), step):  # the server's job size: results come at its pace
            await self._send(await self._run(session.feed, data[start : start + step]))

    async def _run(self, method: Callable[..., list[TaskResult]], *args: bytes) -> list[TaskResult]:
        """Inline for the synthetic engine; any other on a worker thread, as in the server."""
        if self._engine.synthetic:
            return method(*args)
        return await asyncio.to_thread(method, *args)

    async def _send(self, results: list[TaskResult]) -> None:
        for result in results:
            await self._server.send_result(result.sentence, result.usage)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
