"""asyncio driver of one connection and its tasks.

A :class:`Connection` owns one :class:`~.transport.Transport` (a WebSocket by default) and
one reader task that feeds every frame to the sans-I/O
:class:`~funasr_realtime.protocol.ClientProtocol` and hands the resulting events to the
current :class:`Task`, whose listener gets each result as it arrives, whatever the
application is doing with its audio (the official SDK only reads while audio is fed).
The connection never touches a socket: it only calls its transport.

One connection carries one task at a time and can be reused for the next task after
``task-finished``; after ``task-failed``, a protocol violation or a close it is dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._redact import redact_error
from ..protocol import (
    ClientProtocol,
    ClientState,
    ConnectionClosed,
    FunAsrError,
    LocalProtocolError,
    RecognitionParams,
    RemoteProtocolError,
    ResultGenerated,
    ServerEvent,
    TaskFailed,
    TaskFailedError,
    TaskFinished,
    TaskStarted,
    TransportError,
    TransportTimeout,
)
from ._liveness import Liveness
from ._sync import Flag
from ._transport import WebSocketTransport
from .config import ClientConfig
from .transport import Transport, TransportFactory

__all__ = ["Connection", "Task", "TaskMetrics"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
#: Receives each result of a task, from the connection's reader, as soon as it is decoded.
Listener = Callable[["Task", ResultGenerated], None]


@dataclass(slots=True)
class TaskMetrics:
    """Timings and usage of one task. Milliseconds; None when not measured.

    * ``first_package_delay_ms``: first audio sent → first result with text;
    * ``last_package_delay_ms``: finish-task sent → task-finished received;
    * ``billed_seconds``: the service's ``usage.duration`` (what the task is billed);
    * ``acquire_ms``: getting a connection for the task (≈0 when reused or pre-warmed);
    * ``start_delay_ms``: run-task sent → task-started received.
    """

    task_id: str
    offset_ms: int = 0
    audio_bytes: int = 0
    acquire_ms: float | None = None
    start_delay_ms: float | None = None
    first_package_delay_ms: float | None = None
    last_package_delay_ms: float | None = None
    billed_seconds: int | None = None


class Task:
    """One recognition task: audio in, sentences out (times relative to the task's audio).

    Created by :meth:`Connection.start_task`. Its results (partial and final sentences with
    their usage, heartbeats dropped) go to the task's listener, in arrival order, as the
    reader decodes them; :meth:`wait` and :meth:`wait_done` tell when the task is over and
    :attr:`error` how it failed.
    """

    def __init__(
        self, connection: Connection, task_id: str, offset_ms: int, clock: Clock, listener: Listener | None = None
    ) -> None:
        self.connection = connection
        self.task_id = task_id
        self.metrics = TaskMetrics(task_id=task_id, offset_ms=offset_ms)
        self._clock = clock
        # Called on the reader with no queue in between: a result reaches the listener the
        # moment it is decoded, and a stream (a task per utterance) allocates nothing more.
        self._listener = listener
        #: Called by the reader after every message of this task, heartbeats included
        #: (progress for pacing and for the wait after finish-task).
        self.on_activity: Callable[[], None] | None = None
        self._started = Flag()
        self._done = Flag()
        self._error: FunAsrError | None = None
        self._t_run = clock()
        self._t_first_audio: float | None = None
        self._t_finish: float | None = None

    @property
    def offset_ms(self) -> int:
        """Stream time (ms) of the task's first byte of audio."""
        return self.metrics.offset_ms

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def error(self) -> FunAsrError | None:
        return self._error

    async def send_audio(self, data: bytes) -> None:
        """Send audio (split into frames of at most 16 kB). Bounded by ``timeouts.send``."""
        if self._error is not None:
            raise self._error
        self.connection.raise_if_closed()
        frames = self.connection.protocol.send_audio(data)
        self._count_sent(data)
        await self.connection.send_frames(frames)

    def try_send_audio(self, data: bytes) -> bool:
        """Send one frame of audio now, without awaiting, when that cannot block or reorder.

        Returns False, having sent nothing, when the caller must await :meth:`send_audio`
        instead: the task is not streaming, the connection is closed or backed up, another
        send is in progress, or ``data`` is empty or larger than one frame.
        """
        connection = self.connection
        if self._error is not None or connection.protocol.state is not ClientState.STREAMING:
            return False
        if not 0 < len(data) <= connection.protocol.max_frame_bytes or not connection.write_nowait(data):
            return False
        connection.protocol.send_audio(data)  # the state machine's bookkeeping: cannot fail here
        self._count_sent(data)
        return True

    def _count_sent(self, data: bytes) -> None:
        if self._t_first_audio is None:
            self._t_first_audio = self._clock()
        self.metrics.audio_bytes += len(data)
        self.connection.liveness.sent_audio(len(data))

    async def continue_task(self, input: dict[str, Any]) -> None:
        """Update the running task's input (Fun-ASR context biasing)."""
        await self.connection.send_frames([self.connection.protocol.continue_task(input)])

    async def send_finish(self) -> None:
        """Send finish-task (once); the trailing results and task-finished follow."""
        if self._t_finish is None and not self.done and self.connection.protocol.state is ClientState.STREAMING:
            self._t_finish = self._clock()
            await self.connection.send_frames([self.connection.protocol.finish_task()])

    async def finish(self, timeout: float | None = None) -> TaskMetrics:
        """Send finish-task and wait (bounded) for task-finished; trailing results still arrive.

        Raises the task's error, or :class:`TransportTimeout` (and drops the connection)
        if task-finished does not come within ``timeout`` (default ``timeouts.stop``).
        """
        await self.send_finish()
        await self.wait(timeout if timeout is not None else self.connection.config.timeouts.stop, "task-finished")
        return self.metrics

    async def wait(self, timeout: float, operation: str = "task-finished") -> None:
        """Wait until the task is over; raise its error, or time out and drop the connection."""
        try:
            async with asyncio.timeout(timeout):
                await self._done.wait()
        except TimeoutError:
            error = TransportTimeout(operation, timeout)
            self._fail(error)
            await self.connection.aclose()
            raise error from None
        if self._error is not None:
            raise self._error

    async def wait_done(self) -> None:
        """Until the task is over in any way (unbounded: pair it with a bounded trigger)."""
        await self._done.wait()

    # -------------------------------------------------------------- called by the Connection

    async def _wait_started(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._started.wait()
        except TimeoutError:
            error = TransportTimeout("task-started", timeout)
            self._fail(error)
            raise error from None
        if self._error is not None:
            raise self._error

    def _deliver(self, event: ServerEvent) -> None:
        if isinstance(event, TaskStarted):
            self.metrics.start_delay_ms = (self._clock() - self._t_run) * 1000
            self._started.set()
        elif isinstance(event, ResultGenerated):
            self._on_result(event)
        elif isinstance(event, TaskFinished):
            if event.usage is not None:
                self.metrics.billed_seconds = max(self.metrics.billed_seconds or 0, event.usage.duration)
            if self._t_finish is not None:
                self.metrics.last_package_delay_ms = (self._clock() - self._t_finish) * 1000
            self._done.set()
        elif isinstance(event, TaskFailed):
            self._fail(TaskFailedError(event.error_code, event.error_message, event.task_id or self.task_id))

    def _on_result(self, event: ResultGenerated) -> None:
        sentence = event.sentence
        if event.usage is not None:
            self.metrics.billed_seconds = max(self.metrics.billed_seconds or 0, event.usage.duration)
        if sentence.text and self.metrics.first_package_delay_ms is None and self._t_first_audio is not None:
            self.metrics.first_package_delay_ms = (self._clock() - self._t_first_audio) * 1000
        if self._listener is not None:
            self._listener(self, event)

    def _fail(self, error: FunAsrError) -> None:
        if self._done.is_set():
            return
        error = redact_error(error)  # a server may echo the key in what it sends
        self._error = error
        self._started.set()
        self._done.set()


class Connection:
    """One connection to the service, carrying one task at a time. Open with :meth:`open`."""

    def __init__(self, transport: Transport, config: ClientConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.protocol = ClientProtocol()
        self._transport = transport
        self._clock = clock
        self._task: Task | None = None
        self._send_lock = asyncio.Lock()
        self._closed_error: FunAsrError | None = None
        self.liveness = Liveness(transport, config.timeouts, clock, self._declare_dead)
        self._reader = asyncio.create_task(self._read_loop(), name="funasr-realtime-reader")
        self.liveness.start()

    @classmethod
    async def open(cls, config: ClientConfig, *, clock: Clock = time.monotonic) -> Connection:
        """Connect with ``config.transport`` (default: a WebSocket to ``config.url``), bounded
        by ``timeouts.connect``. Raises :class:`ConnectError` & co.

        A key provider is asked here, once per connection: this is the one place a key
        reaches a handshake (:meth:`ClientConfig.with_current_key`).
        """
        config = await config.with_current_key()
        factory: TransportFactory = config.transport or WebSocketTransport
        return cls(await factory.open(config), config, clock)

    @property
    def reusable(self) -> bool:
        """Whether a new task may start on this connection now."""
        return self._closed_error is None and self.protocol.state is ClientState.IDLE

    @property
    def alive(self) -> bool:
        return self._closed_error is None

    @property
    def congested(self) -> bool:
        """Whether the transport's write buffer is backing up (slow or dead peer)."""
        return self._transport.congested

    async def start_task(
        self, params: RecognitionParams, *, offset_ms: int = 0, listener: Listener | None = None
    ) -> Task:
        """Send run-task and wait (bounded by ``timeouts.task_started``) for task-started.

        Each result is handed to ``listener`` by the reader as soon as it is decoded (from
        the first one on, which may come before this returns); without a listener the
        results are dropped and only the task's metrics count them.
        """
        if self._closed_error is not None:
            raise self._closed_error
        if self.protocol.state is not ClientState.IDLE:
            raise LocalProtocolError(f"cannot send run-task: task is {self.protocol.state.value}")
        text = self.protocol.run_task(params)
        assert self.protocol.task_id is not None
        task = Task(self, self.protocol.task_id, offset_ms, self._clock, listener)
        self._task = task
        self.liveness.watch_results = params.heartbeat is True
        await self.send_frames([text])
        try:
            await task._wait_started(self.config.timeouts.task_started)
        except TransportTimeout:
            await self.aclose()
            raise
        return task

    def raise_if_closed(self) -> None:
        """Raise the reason the connection died, if it did."""
        if self._closed_error is not None:
            raise self._closed_error

    def write_nowait(self, frame: bytes) -> bool:
        """Write one binary frame synchronously if that can neither block nor reorder frames.

        Returns False, having written nothing, when the connection is closed or backed up or
        another send is in progress: the caller then awaits :meth:`send_frames`.
        """
        if self._closed_error is not None or self._send_lock.locked():
            return False
        return self._transport.try_send(frame)

    async def send_frames(self, frames: list[str] | list[bytes]) -> None:
        """Write frames in order, bounded by ``timeouts.send`` per call."""
        self.raise_if_closed()
        transport = self._transport
        if len(frames) == 1 and not transport.congested and not self._send_lock.locked():
            # The hot path (one 100 ms frame): a transport that is not congested takes one
            # frame without waiting (its contract), so it needs no timeout or lock.
            await transport.send(frames[0])
            return
        timeout = self.config.timeouts.send
        async with self._send_lock:
            try:
                async with asyncio.timeout(timeout):
                    for frame in frames:
                        await transport.send(frame)
            except TransportError:
                raise
            except TimeoutError as exc:
                raise TransportTimeout("send", timeout) from exc

    async def aclose(self) -> None:
        """Close the connection and return once the reader has ended (the watchdog stops first).

        A task still running fails with ConnectionClosed.
        """
        self.liveness.stop()
        with contextlib.suppress(Exception):  # a transport's close never raises; a custom one might
            await self._transport.close()
        self._transport.abort()  # the closing handshake is over or timed out: no lingering socket
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def _read_loop(self) -> None:
        try:
            while True:
                frame = await self._transport.recv()
                self.liveness.received()
                if not isinstance(frame, str):
                    self.protocol.receive_bytes(frame)  # always raises: the service sends no binary
                event = self.protocol.receive_text(frame)
                self._dispatch(event)
        except ConnectionClosed as exc:
            self._mark_closed(exc)
        except RemoteProtocolError as exc:
            logger.warning("closing connection after a protocol violation by the server: %s", exc)
            self._mark_closed(exc)  # before awaiting: senders must see this error, not a state error
            await self._transport.close(1002, "protocol error")
        except Exception as exc:
            # A bug on the result path (ours or a listener's) must end the task with a typed
            # error, never kill the reader silently and leave the stream waiting forever.
            logger.exception("internal error while handling a message from the server")
            self._mark_closed(LocalProtocolError(f"internal error while handling a server message: {exc!r}"))
            self._transport.abort()
        finally:
            self._mark_closed(ConnectionClosed(None, "connection closed"))

    def _declare_dead(self, error: FunAsrError) -> None:
        """The watchdog found the peer dead or stalled: fail the task and drop the connection."""
        logger.warning("dropping the connection: %s", error)
        self._mark_closed(error)
        self._transport.abort()

    def _mark_closed(self, error: FunAsrError) -> None:
        """Record why the connection died (first reason wins) and fail the running task."""
        if self._closed_error is not None:
            return
        error = redact_error(error)
        self._closed_error = error
        self.protocol.connection_lost()
        if self._task is not None:
            self._task._fail(error)

    def _dispatch(self, event: ServerEvent | None) -> None:
        """Hand an event to the running task; ``None`` is a heartbeat (activity only)."""
        task = self._task
        if task is None:
            return
        if event is not None:
            task._deliver(event)
            if isinstance(event, (TaskFinished, TaskFailed)):
                self._task = None
                self.liveness.task_ended()
        if task.on_activity is not None:
            task.on_activity()
