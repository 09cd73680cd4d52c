"""An in-memory transport: test client and adapter logic without a socket or a server.

:class:`MockTransport` plugs into the client where the WebSocket would be (like httpx's
``MockTransport``). Each connection the client opens is handed, as a
:class:`MockConnection`, to a *handler*: a coroutine that plays the server, through the
sans-I/O :class:`~funasr_realtime.protocol.ServerProtocol`, so what it sends is well-formed
unless it deliberately sends raw frames::

    async def handler(server: MockConnection) -> None:
        await server.run_task()                      # the client's run-task
        await server.start_task()
        await server.audio_until_finish()            # audio until finish-task
        await server.result("hello world", final=True)
        await server.finish_task()

    client = Client(transport=MockTransport(handler))

Without a handler the connections run the local server's recognition in memory (the
``synthetic`` engine: placeholder words, real timing and usage; it needs the ``server``
extra). :func:`~.recognizer.recognizer` builds that handler with another engine.

A handler can also fail the task with a code (:meth:`~MockConnection.fail_task`), stay
silent (:meth:`~MockConnection.wait_closed`), stop reading so the client's sends back up
and its pings go unanswered (:meth:`~MockConnection.stop_reading`), close with a code
(:meth:`~MockConnection.close`), drop the connection (:meth:`~MockConnection.drop`) or send
garbage (:meth:`~MockConnection.send_text`). When it returns, the connection is closed
(1000), as websockets does. An exception it raises closes the connection with 1011 and is
kept in :attr:`MockTransport.errors` (and logged): check it is empty at the end of a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..protocol import (
    ConnectError,
    ConnectionClosed,
    FinishTask,
    FunAsrError,
    RunTask,
    Sentence,
    ServerProtocol,
    Usage,
)
from ..protocol.messages import ClientMessage
from ._link import ClientEnd, Link

if TYPE_CHECKING:
    from ..client import ClientConfig, Transport

__all__ = ["Handler", "MockConnection", "MockTransport"]

logger = logging.getLogger(__name__)

#: Plays the server on one connection.
Handler = Callable[["MockConnection"], Awaitable[None]]


class MockConnection:
    """The server's end of one in-memory connection, handed to the handler.

    ``config`` is what the client opened it with (URL, headers); ``run_tasks`` the run-task
    messages received on it; ``audio_bytes`` the audio received.
    """

    def __init__(self, link: Link, config: ClientConfig) -> None:
        self._link = link
        self.config = config
        self.protocol = ServerProtocol()
        self.run_tasks: list[RunTask] = []
        self.audio_bytes = 0

    @property
    def task_id(self) -> str:
        """The current (or last) task's id."""
        return self.protocol.task_id

    @property
    def closed(self) -> bool:
        return self._link.closed is not None

    @property
    def close_code(self) -> int | None:
        """The close code, once closed by either side (None: dropped, or still open)."""
        return None if self._link.closed is None else self._link.closed[0]

    # ------------------------------------------------------------------ reading

    async def receive(self) -> ClientMessage | bytes:
        """The client's next frame, through the server protocol: an instruction or audio.

        Raises :class:`~funasr_realtime.protocol.ConnectionClosed` once the client is gone,
        and :class:`~funasr_realtime.protocol.RemoteProtocolError` for a frame the protocol
        forbids (a client bug: let it fail the test).
        """
        frame = await self._link.to_server.get()
        if isinstance(frame, bytes):
            self.audio_bytes += len(frame)
            return self.protocol.receive_bytes(frame)
        message = self.protocol.receive_text(frame)
        if isinstance(message, RunTask):
            self.run_tasks.append(message)
        return message

    async def run_task(self) -> RunTask:
        """Wait for the client's run-task (other frames before it are a test failure)."""
        message = await self.receive()
        if not isinstance(message, RunTask):
            raise AssertionError(f"expected run-task, received {_describe(message)}")
        return message

    async def audio_until_finish(self) -> bytes:
        """Read audio (and continue-task) until finish-task; returns the audio."""
        audio = bytearray()
        while not isinstance(message := await self.receive(), FinishTask):
            if isinstance(message, bytes):
                audio += message
        return bytes(audio)

    async def wait_closed(self) -> None:
        """Stay silent until the client closes or drops the connection.

        Frames keep being read meanwhile (and pings answered) unless :meth:`stop_reading`
        was called: a server that accepts everything and answers nothing.
        """
        await self._link.closed_event.wait()

    def stop_reading(self) -> None:
        """Read nothing more: the client's frames and pings wait on the wire, unanswered."""
        self._link.reading = False

    def resume_reading(self) -> None:
        """Read what waited on the wire (pings included), then keep reading."""
        self._link.resume_reading()

    # ------------------------------------------------------------------ writing

    async def start_task(self) -> None:
        """Accept the pending run-task: task-started."""
        await self.send_text(self.protocol.start_task())

    async def send_result(
        self, sentence: Sentence, usage: Usage | None = None, *, debug: dict[str, Any] | None = None
    ) -> None:
        """A result-generated for the running task (``debug``: the local server's ``local_debug``)."""
        await self.send_text(self.protocol.send_result(sentence, usage, debug=debug))

    async def result(self, text: str, *, final: bool, begin_time: int = 0, end_time: int = 500, usage: int = 1) -> None:
        """A sentence without words; a final ends at ``end_time`` and carries ``usage``
        (billed seconds), a partial has neither."""
        sentence = Sentence(
            begin_time=begin_time,
            end_time=end_time if final else None,
            text=text,
            sentence_end=final,
            heartbeat=False,
            sentence_id=1,
        )
        await self.send_result(sentence, Usage(duration=usage) if final else None)

    async def finish_task(self, usage: Usage | None = None) -> None:
        """task-finished: the connection may then carry the client's next task."""
        await self.send_text(self.protocol.finish_task(usage))

    async def fail_task(self, error_code: str, error_message: str) -> None:
        """task-failed, then close (1000), as the service does."""
        await self.send_text(self.protocol.fail_task(error_code, error_message))
        await self.close(1000, "task failed")

    async def send_text(self, text: str) -> None:
        """A raw text frame, not checked by the protocol (for garbage and foreign events)."""
        self._link.raise_if_closed()
        self._link.to_client.put(text)

    async def send_bytes(self, data: bytes) -> None:
        """A raw binary frame (the service never sends one)."""
        self._link.raise_if_closed()
        self._link.to_client.put(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with ``code``: the client reads what was sent, then the close."""
        self._link.close(code, reason)

    def drop(self) -> None:
        """Drop the connection without a close frame (a reset: the client sees no code)."""
        self._link.close(None, "")


class MockTransport:
    """Opens in-memory connections, each served by ``handler`` (see the module docstring).

    Pass it as ``Client(transport=...)`` or ``ClientConfig(transport=...)``. ``connections``
    lists the server ends opened so far; ``errors`` the exceptions handlers raised.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        if handler is None:
            from .recognizer import recognizer

            handler = recognizer()
        self._handler = handler
        self.connections: list[MockConnection] = []
        self.errors: list[BaseException] = []
        self._refusals: list[FunAsrError] = []
        self._serving: set[asyncio.Task[None]] = set()

    @property
    def run_tasks(self) -> list[RunTask]:
        """Every run-task received, over all connections, in order of the connections."""
        return [message for connection in self.connections for message in connection.run_tasks]

    def refuse(self, error: FunAsrError | None = None, *, count: int = 1) -> None:
        """Make the next ``count`` opens fail with ``error`` (default: a refused connection)."""
        self._refusals += [error or ConnectError("cannot connect: connection refused (mock)")] * count

    async def open(self, config: ClientConfig) -> Transport:
        """Open a connection (the :class:`~funasr_realtime.client.TransportFactory` method)."""
        if self._refusals:
            raise self._refusals.pop(0)
        link = Link()
        connection = MockConnection(link, config)
        self.connections.append(connection)
        task = asyncio.create_task(self._serve(connection), name="funasr-realtime-mock-server")
        self._serving.add(task)
        task.add_done_callback(self._serving.discard)
        return ClientEnd(link)

    async def aclose(self) -> None:
        """Drop every connection and stop the handlers still running."""
        for connection in self.connections:
            connection.drop()
        for task in list(self._serving):
            task.cancel()
        for task in list(self._serving):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def __aenter__(self) -> MockTransport:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _serve(self, connection: MockConnection) -> None:
        try:
            await self._handler(connection)
        except ConnectionClosed:
            pass  # the client went away: nothing left to serve
        except Exception as exc:
            logger.exception("the mock server's handler failed")
            self.errors.append(exc)
            await connection.close(1011, "mock handler failed")
        await connection.close(1000, "")


def _describe(message: ClientMessage | bytes) -> str:
    return f"{len(message)} bytes of audio" if isinstance(message, bytes) else message.action
