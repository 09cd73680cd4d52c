"""asyncio driver of one connection and its tasks.

A :class:`Connection` owns one WebSocket and one reader task that feeds every frame to the
sans-I/O :class:`~funasr_realtime.protocol.ClientProtocol` and hands the resulting events
to the current :class:`Task`. Results are therefore delivered as they arrive, whatever the
application is doing with its audio (the official SDK only reads while audio is fed).

One connection carries one task at a time and can be reused for the next task after
``task-finished``; after ``task-failed``, a protocol violation or a close it is dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed as WsConnectionClosed
from websockets.protocol import State as WsState

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
    TransportTimeout,
)
from ._liveness import Liveness
from ._transport import carries_secret, closed_error, open_websocket, translated
from .config import ClientConfig

__all__ = ["Connection", "Task", "TaskMetrics"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Listener = Callable[["Task", ResultGenerated], None]

# Half a second of 16 kHz audio waiting in the socket buffer: stop sending inline and let
# the stream's feeder absorb the backlog, so the caller is never blocked by a stalled peer.
# It is below websockets' write limit (32 KiB), so an inline send that starts below it can
# never wait for a drain: that is what lets the fast path in send_frames skip the timeout.
_CONGESTED_BYTES = 16 * 1024


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


class _End:
    """Marks the end of a task's events."""


_END = _End()


class Task:
    """One recognition task: audio in, sentences out (times relative to the task's audio).

    Created by :meth:`Connection.start_task`. Iterate :meth:`results` to receive partial
    and final sentences with their usage; it ends after ``task-finished`` or raises the
    task's error.
    """

    def __init__(
        self, connection: Connection, task_id: str, offset_ms: int, clock: Clock, listener: Listener | None = None
    ) -> None:
        self.connection = connection
        self.task_id = task_id
        self.metrics = TaskMetrics(task_id=task_id, offset_ms=offset_ms)
        self._clock = clock
        # When set, results go to this callback (from the reader) instead of results(), and
        # there is no queue at all (a stream starts a task per utterance: fewer objects).
        self._listener = listener
        #: Called by the reader after every message of this task, heartbeats included
        #: (progress for pacing and for the wait after finish-task).
        self.on_activity: Callable[[], None] | None = None
        self._queue: asyncio.Queue[ResultGenerated | _End | FunAsrError] | None = (
            asyncio.Queue() if listener is None else None
        )
        self._started = asyncio.Event()
        self._done = asyncio.Event()
        self._error: FunAsrError | None = None
        self.aborted = False
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

    async def results(self) -> AsyncIterator[ResultGenerated]:
        """Partial and final results (sentence + usage) in arrival order, heartbeats dropped.

        Ends at task-finished; raises the task's error on failure. Yields nothing for a task
        started with a listener (the listener has the results).
        """
        if self._queue is None:
            await self.wait_done()
            if self._error is not None:
                raise self._error
            return
        while True:
            item = await self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, FunAsrError):
                raise item
            yield item

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
            self._push(_END)
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
        else:
            self._push(event)

    def _push(self, item: ResultGenerated | _End | FunAsrError) -> None:
        if self._queue is not None:
            self._queue.put_nowait(item)

    def _abort(self) -> None:
        """End the task's events quietly (the application aborted the stream)."""
        if self._done.is_set():
            return
        self.aborted = True
        self._push(_END)
        self._started.set()
        self._done.set()

    def _fail(self, error: FunAsrError) -> None:
        if self._done.is_set():
            return
        error = redact_error(error)  # a server may echo the key in what it sends
        self._error = error
        self._push(error)
        self._started.set()
        self._done.set()


class Connection:
    """One WebSocket to the service, carrying one task at a time. Open with :meth:`open`."""

    def __init__(self, ws: ClientConnection, config: ClientConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.protocol = ClientProtocol()
        self._ws = ws
        self._clock = clock
        self._task: Task | None = None
        self._send_lock = asyncio.Lock()
        self._closed_error: FunAsrError | None = None
        self.liveness = Liveness(ws, config.timeouts, clock, self._declare_dead)
        self._reader = asyncio.create_task(self._read_loop(), name="funasr-realtime-reader")
        self._watchdog = asyncio.create_task(self.liveness.run(), name="funasr-realtime-liveness")

    @classmethod
    async def open(cls, config: ClientConfig, *, clock: Clock = time.monotonic) -> Connection:
        """Connect (bounded by ``timeouts.connect``). Raises :class:`ConnectError` & co."""
        ws = await open_websocket(config)
        return cls(ws, config, clock)

    @property
    def reusable(self) -> bool:
        """Whether a new task may start on this connection now."""
        return self._closed_error is None and self.protocol.state is ClientState.IDLE

    @property
    def alive(self) -> bool:
        return self._closed_error is None

    @property
    def congested(self) -> bool:
        """Whether the socket's write buffer is backing up (slow or dead peer)."""
        transport = self._ws.transport
        return transport is None or transport.get_write_buffer_size() > _CONGESTED_BYTES

    async def start_task(
        self, params: RecognitionParams, *, offset_ms: int = 0, listener: Listener | None = None
    ) -> Task:
        """Send run-task and wait (bounded by ``timeouts.task_started``) for task-started.

        With ``listener``, each result is handed to it by the reader as soon as it is
        decoded (from the first one on), and :meth:`Task.results` yields nothing.
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

        Returns False, having written nothing, when the socket is closed or backed up or
        another send is in progress: the caller then awaits :meth:`send_frames`.
        """
        ws = self._ws
        if (
            self._closed_error is not None
            or self._send_lock.locked()
            or ws.protocol.state is not WsState.OPEN
            or self.congested
        ):
            return False
        # This is websockets' own send() for bytes minus its coroutine and context manager
        # (about half of a frame's CPU): frame it in the sans-I/O protocol, write it out.
        # send() would then await a drain, which cannot wait below the write limit.
        # send_data() is public but undocumented: the websockets range is pinned and
        # tests/client/test_connection_write.py checks this path on every upgrade.
        try:
            ws.protocol.send_binary(frame)
            ws.send_data()
        except Exception as exc:
            # What websockets' send() would do: terminate the connection. The reader then
            # reports the close, the task fails, and the stream replays this audio.
            logger.warning("closing the connection after a failed write: %r", exc)
            ws.transport.abort()
        return True

    async def send_frames(self, frames: list[str] | list[bytes]) -> None:
        """Write frames in order, bounded by ``timeouts.send`` per call."""
        self.raise_if_closed()
        if len(frames) == 1 and not self.congested and not self._send_lock.locked():
            # The hot path (one 100 ms frame): it goes straight into a socket buffer that is
            # below websockets' write limit, so it cannot block and needs no timeout or lock.
            try:
                await self._ws.send(frames[0])
            except WsConnectionClosed as exc:
                raise closed_error(exc) from (None if carries_secret(exc) else exc)
            return
        timeout = self.config.timeouts.send
        async with self._send_lock:
            with translated("send", timeout):
                async with asyncio.timeout(timeout):
                    for frame in frames:
                        await self._ws.send(frame)

    async def aclose(self) -> None:
        """Close the socket and return once the reader and the watchdog have ended.

        A task still running fails with ConnectionClosed.
        """
        self._watchdog.cancel()
        with contextlib.suppress(Exception):
            await self._ws.close()
        self._ws.transport.abort()  # the closing handshake is over or timed out: no lingering socket
        for job in (self._reader, self._watchdog):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await job

    async def _read_loop(self) -> None:
        try:
            while True:
                frame = await self._ws.recv()
                self.liveness.received()
                if not isinstance(frame, str):
                    self.protocol.receive_bytes(frame)  # always raises: the service sends no binary
                event = self.protocol.receive_text(frame)
                self._dispatch(event)
        except WsConnectionClosed as exc:
            error = closed_error(exc)
            if carries_secret(exc):
                error.__cause__, error.__suppress_context__ = None, True  # websockets repeats the raw reason
            self._mark_closed(error)
        except RemoteProtocolError as exc:
            logger.warning("closing connection after a protocol violation by the server: %s", exc)
            self._mark_closed(exc)  # before awaiting: senders must see this error, not a state error
            await self._ws.close(1002, "protocol error")
        except Exception as exc:
            # A bug on the result path (ours or a listener's) must end the task with a typed
            # error, never kill the reader silently and leave the stream waiting forever.
            logger.exception("internal error while handling a message from the server")
            self._mark_closed(LocalProtocolError(f"internal error while handling a server message: {exc!r}"))
            self._ws.transport.abort()
        finally:
            self._mark_closed(ConnectionClosed(None, "connection closed"))

    def _declare_dead(self, error: FunAsrError) -> None:
        """The watchdog found the peer dead or stalled: fail the task and drop the socket."""
        logger.warning("dropping the connection: %s", error)
        self._mark_closed(error)
        self._ws.transport.abort()

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
