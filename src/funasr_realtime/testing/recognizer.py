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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..protocol import ContinueTask, FinishTask, RemoteProtocolError, RunTask
from .mock import Handler, MockConnection

if TYPE_CHECKING:
    from ..server.engines import Engine
    from ..server.task import TaskRecognizer, TaskResult

__all__ = ["recognizer"]

SERVER_EXTRA_HINT = 'pip install "funasr-realtime[server]"'


@contextmanager
def needs_server_extra(what: str) -> Iterator[None]:
    """Imports of the local server's modules: a missing dependency names ``what`` and the install line.

    The :class:`ModuleNotFoundError` raised keeps the missing module's ``name``.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"{what} needs the local server's dependencies ({exc.name} is missing): {SERVER_EXTRA_HINT}",
            name=exc.name,
        ) from exc


def recognizer(
    engine: Engine | None = None, *, heartbeat_interval_ms: int = 2000, max_task_audio_s: float = 3600.0
) -> Handler:
    """A :class:`~.mock.MockTransport` handler recognizing with ``engine`` (default: synthetic).

    ``heartbeat_interval_ms`` and ``max_task_audio_s`` are the server's settings of the same
    names (:class:`~funasr_realtime.server.ServerConfig`).
    """
    with needs_server_extra("in-memory recognition"):
        from ..server.engines import create_engine
        from ..server.task import TaskRejected
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
        self._job_bytes = 0  # set by run-task, as the server's connection handler does

    async def handle(self, message: object) -> None:
        if isinstance(message, RunTask):
            from ..server.connection import job_bytes
            from ..server.task import TaskRecognizer

            self._session = TaskRecognizer.create(
                message.model,
                message.parameters,
                self._engine,
                heartbeat_interval_ms=self._heartbeat_interval_ms,
                max_audio_s=self._max_audio_s,
                input=message.input,
            )
            params = self._session.params
            self._job_bytes = job_bytes(params.format, params.sample_rate)
            await self._server.start_task()
        elif isinstance(message, bytes):
            await self._feed(message)
        elif isinstance(message, FinishTask):
            session = self._session
            assert session is not None  # the server protocol admits finish-task only in a task
            await self._send(await self._run(session.finish))
            await self._server.finish_task()
            self.close()
        elif isinstance(message, ContinueTask) and self._session is not None:
            self._session.continue_task(message.input)  # validated and reported, as on the server

    async def _feed(self, data: bytes) -> None:
        from ..server.connection import slices

        session = self._session
        assert session is not None  # the server protocol admits audio only in a task
        for piece in slices(data, self._job_bytes):  # the server's jobs: results come at its pace
            await self._send(await self._run(session.feed, piece))

    async def _run(self, method: Callable[..., list[TaskResult]], *args: bytes) -> list[TaskResult]:
        """Inline for the synthetic engine; any other on a worker thread, as in the server.

        If the handler is cancelled while the thread runs, this waits for the thread before
        re-raising (as the server's scheduler does), so closing the task afterwards never
        races a call still inside the engine.
        """
        if self._engine.synthetic:
            return method(*args)
        job = asyncio.ensure_future(asyncio.to_thread(method, *args))
        try:
            return await asyncio.shield(job)
        except asyncio.CancelledError:
            await asyncio.wait({job})
            raise

    async def _send(self, results: list[TaskResult]) -> None:
        for result in results:
            await self._server.send_result(result.sentence, result.usage, debug=result.debug)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
