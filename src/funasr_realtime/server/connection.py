"""One WebSocket connection of the local server: an eager reader, an ordered worker, bounded timers.

:class:`ConnectionHandler` runs two coroutines per connection:

* the **reader** always calls ``recv()`` and appends frames to the connection's
  :class:`~.flow.Inbox`, so websockets keeps reading the socket and answering the client's
  pings while recognition runs behind. When the inbox (or the server's aggregate budget)
  is full, it stops reading until the backlog is down to half: TCP backpressure, nothing
  is lost, and the client's unanswered pings are the server's doing, so the server's own
  timers are suspended meanwhile;
* the **worker** processes frames strictly in order (run-task, audio, finish-task), runs
  recognition on the engine threads through the :class:`~.flow.FairScheduler` in jobs of
  at most ``JOB_MS`` of audio (interactive while at most ``INTERACTIVE_MS`` is queued), and
  sends results as they come.

Timers (the server does not use websockets' keepalive, whose pongs can sit behind input
the server has not read yet):

* a running task whose client sent nothing for ``client_timeout`` fails with
  ``CLIENT_ERROR``. The clock runs from the last frame the *reader received* (or from the
  moment reading resumed after backpressure), not from the last frame processed, and it
  only fires once every received frame is processed (one of them may be finish-task);
* a connection without a task for ``idle_timeout`` is closed with 1000;
* a send the client's socket does not accept within ``client_timeout`` (the client does
  not read) aborts the connection; so does a close whose handshake cannot be sent within
  ``CLOSE_TIMEOUT``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .._redact import redacted_logger
from ..protocol import ContinueTask, FinishTask, RemoteProtocolError, RunTask, ServerProtocol, ServerState
from ..protocol.quota import TokenBucket
from ..protocol.vocabulary import HotWord
from .config import ServerConfig
from .decoders import COMPRESSED_FORMATS
from .engines import Engine
from .flow import BacklogBudget, FairScheduler, Frame, Inbox, Tenant
from .metrics import ConnectionMeter, ServerMetrics
from .task import TaskRecognizer, TaskRejected, TaskResult
from .vocabularies import VocabularyStore

__all__ = ["CLOSE_TIMEOUT", "JOB_MS", "ConnectionHandler", "TaskQuota"]

logger = redacted_logger(__name__)

#: Longest piece of PCM audio one recognition job decodes: bounds how long a job of a
#: full-speed client can keep an engine thread from a real-time session.
JOB_MS = 200
#: The same bound for compressed audio, in bytes (about 1 s of 32 kbit/s opus).
JOB_COMPRESSED_BYTES = 4096
#: A connection with at most this much audio queued is served before the backlogged ones:
#: a real-time session has a frame or two; the funasr-realtime client, when sending a file
#: as fast as it can, stays up to 10 s ahead and is served round-robin with the others.
INTERACTIVE_MS = 2000
#: Bound on sending a close frame and completing the closing handshake before aborting.
CLOSE_TIMEOUT = 3.0


#: What the service says when an account starts tasks faster than its quota.
THROTTLED_MESSAGE = "Requests rate limit exceeded, please try again later."


class TaskQuota:
    """The account's task quota (``ServerConfig.task_rate``): task starts per second per model.

    Shared by every connection of a server (one event loop: no lock). A run-task that finds
    no token fails with ``Throttling.RateQuota``, as the service's does.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, burst
        self._buckets: dict[str, TokenBucket] = {}

    @classmethod
    def of(cls, config: ServerConfig) -> TaskQuota | None:
        """The quota ``config`` asks for; None when it sets none."""
        if config.task_rate is None:
            return None
        return cls(config.task_rate, config.task_burst or max(1, round(config.task_rate)))

    def take(self, model: str) -> bool:
        """A start of ``model`` now: True if the quota allows it (a token is taken)."""
        now = time.monotonic()
        bucket = self._buckets.get(model)
        if bucket is None:
            bucket = self._buckets[model] = TokenBucket(self._rate, self._burst, now)
        return bucket.try_take(now)


class _ClientStalled(Exception):
    """The client's socket did not accept our data in time; the transport is aborted."""


def backlog_limit(config: ServerConfig, audio_format: str, sample_rate: int) -> int:
    """The inbox bound of a task, in bytes: seconds of PCM at its rate, or the compressed budget."""
    if audio_format in COMPRESSED_FORMATS:
        return config.max_backlog_compressed_bytes
    return int(config.max_backlog_seconds * sample_rate * 2)


class ConnectionHandler:
    """Serves the tasks of one connection, one after another (see the module docstring)."""

    def __init__(
        self,
        ws: ServerConnection,
        engine: Engine,
        config: ServerConfig,
        scheduler: FairScheduler,
        budget: BacklogBudget,
        *,
        quota: TaskQuota | None = None,
        vocabularies: VocabularyStore | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._ws = ws
        self._meter = ConnectionMeter(metrics)
        self._quota = quota
        self._vocabularies = vocabularies
        self._engine = engine
        self._config = config
        self._scheduler = scheduler
        self._protocol = ServerProtocol()
        self._session: TaskRecognizer | None = None
        # Before run-task names a format, frames count as 16 kHz PCM.
        self._inbox = Inbox(budget, backlog_limit(config, "pcm", 16000))
        self._job_bytes = job_bytes("pcm", 16000)
        self._interactive_bytes = _interactive_bytes("pcm", 16000)
        self._tenant = Tenant()
        self._closed = False  # the reader saw the connection end
        now = time.monotonic()
        self._last_frame_at = now  # last frame the reader received
        self._task_ended_at = now

    async def run(self) -> None:
        reader = asyncio.create_task(self._read_loop(), name="funasr-server-reader")
        try:
            await self._work_loop()
        except ConnectionClosed:
            logger.debug("client closed the connection in state %s", self._protocol.state.value)
        except _ClientStalled:
            logger.info("client did not read for %g s; connection aborted", self._config.client_timeout)
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self._inbox.close()
            self._end_session()
            # websockets closes the connection after the handler returns, without a bound
            # on a client that does not read: close (or abort) here, bounded.
            await self._close(1000, "")

    # ------------------------------------------------------------------ reader

    async def _read_loop(self) -> None:
        try:
            while True:
                await self._inbox.wait_room()
                frame = await self._ws.recv()
                self._last_frame_at = time.monotonic()
                if isinstance(frame, bytes):
                    self._meter.received(len(frame))
                self._inbox.put(frame)
        except ConnectionClosed:
            pass
        except Exception:
            # A bug here must not look like a client that went away: log it, then end the
            # connection like one (the worker stops at its next frame).
            logger.exception("the connection's reader failed")
        finally:
            self._closed = True
            self._inbox.wake()

    # ------------------------------------------------------------------ worker

    async def _work_loop(self) -> None:
        while self._protocol.state is not ServerState.FAILED:
            frame = await self._next_frame()
            if frame is None:
                return
            try:
                await self._handle(frame)
            finally:
                self._inbox.done(frame)

    async def _next_frame(self) -> Frame | None:
        """The next received frame, or None when the connection ended or a timer fired."""
        while True:
            if self._closed:
                return None  # nothing can be delivered any more: drop the backlog
            frame = self._inbox.pop()
            if frame is not None:
                return frame
            left = self._time_left()
            if left is not None and left <= 0:
                await self._on_silence()
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._inbox.wait_changed()

    def _time_left(self) -> float | None:
        """Seconds until the running timer fires; None while the server itself blocks reading."""
        if self._inbox.blocked:
            return None
        heard = max(self._last_frame_at, self._inbox.unblocked_at)
        if self._running:
            return heard + self._config.client_timeout - time.monotonic()
        return max(heard, self._task_ended_at) + self._config.idle_timeout - time.monotonic()

    @property
    def _interactive(self) -> bool:
        return self._inbox.queued_bytes <= self._interactive_bytes

    @property
    def _running(self) -> bool:
        return self._protocol.state is ServerState.RUNNING

    @property
    def running(self) -> bool:
        """Whether a task is running on this connection (for the server's gauges)."""
        return self._running

    @property
    def backlog_seconds(self) -> float:
        """PCM or WAV audio received and not recognized yet, in seconds (0 for compressed audio)."""
        return self._meter.backlog_seconds(self._inbox.queued_bytes)

    async def _on_silence(self) -> None:
        if self._running:
            timeout = self._config.client_timeout
            await self._fail("CLIENT_ERROR", f"request timeout after {timeout:g} seconds.")
        else:
            await self._close(1000, "idle timeout")

    async def _handle(self, frame: Frame) -> None:
        try:
            if isinstance(frame, bytes):
                self._protocol.receive_bytes(frame)
                await self._on_audio(frame)
                return
            message = self._protocol.receive_text(frame)
            if isinstance(message, RunTask):
                await self._on_run_task(message)
            elif isinstance(message, FinishTask):
                await self._on_finish_task()
            elif isinstance(message, ContinueTask):
                assert self._session is not None  # the server protocol admits it only in a task
                self._session.continue_task(message.input)  # validated; reported in later finals
        except RemoteProtocolError as exc:
            await self._fail("InvalidParameter", str(exc))
        except TaskRejected as exc:
            await self._fail(exc.code, exc.message)
        except (ConnectionClosed, _ClientStalled):
            raise  # the client is gone: nothing to answer
        except Exception:
            # The service answers its own faults with task-failed InternalError; the client
            # gets no internal details, the log gets the traceback.
            logger.exception("internal error in task %s", self._protocol.task_id or "-")
            await self._fail("InternalError", "Internal server error.")

    async def _on_run_task(self, message: RunTask) -> None:
        if self._quota is not None and not self._quota.take(message.model):
            raise TaskRejected("Throttling.RateQuota", THROTTLED_MESSAGE)
        hot_words = self._check_vocabulary(message.parameters.get("vocabulary_id"))
        self._session = TaskRecognizer.create(
            message.model,
            message.parameters,
            self._engine,
            heartbeat_interval_ms=self._config.heartbeat_interval_ms,
            max_audio_s=self._config.max_task_audio_s,
            input=message.input,
            hot_words=hot_words,
        )
        params = self._session.params
        self._inbox.limit = backlog_limit(self._config, params.format, params.sample_rate)
        self._job_bytes = job_bytes(params.format, params.sample_rate)
        self._interactive_bytes = _interactive_bytes(params.format, params.sample_rate)
        self._meter.started(compressed=params.format in COMPRESSED_FORMATS, sample_rate=params.sample_rate)
        await self._send(self._protocol.start_task())

    def _check_vocabulary(self, vocabulary_id: object) -> tuple[HotWord, ...]:
        """The hot words of the run-task's vocabulary (none without one); a run-task may only
        name a vocabulary this server holds (the service's NotFound, §7)."""
        if self._vocabularies is None or vocabulary_id is None:
            return ()
        vocabulary = self._vocabularies.get(vocabulary_id) if isinstance(vocabulary_id, str) else None
        if vocabulary is None:
            raise TaskRejected("NotFound", f"Not found! No vocabulary {vocabulary_id!r}.")
        return vocabulary.words

    async def _on_audio(self, data: bytes) -> None:
        session = self._session
        assert session is not None
        # One job per slice: the scheduler re-evaluates who goes next between slices.
        for piece in slices(data, self._job_bytes):
            if self._closed:
                return  # the client is gone: spend the engine on the others
            results = await self._scheduler.run(self._tenant, self._interactive, session.feed, piece)
            self._meter.progressed(session.audio_ms)
            await self._send_results(results)

    async def _on_finish_task(self) -> None:
        session = self._session
        assert session is not None
        results = await self._scheduler.run(self._tenant, self._interactive, session.finish)
        self._meter.progressed(session.audio_ms)
        await self._send_results(results)
        await self._send(self._protocol.finish_task())
        self._meter.finished()
        self._end_session()
        self._task_ended_at = time.monotonic()

    async def _send_results(self, results: list[TaskResult]) -> None:
        for result in results:
            await self._send(self._protocol.send_result(result.sentence, result.usage, debug=result.debug))

    async def _send(self, text: str) -> None:
        """Send one frame; a client whose socket takes nothing for ``client_timeout`` is aborted."""
        try:
            async with asyncio.timeout(self._config.client_timeout):
                await self._ws.send(text)
        except TimeoutError:
            self._ws.transport.abort()
            raise _ClientStalled from None

    async def _fail(self, code: str, message: str) -> None:
        """Send task-failed and close, as the service does."""
        logger.info("task %s failed: %s: %s", self._protocol.task_id or "-", code, message)
        self._meter.failed(code, started=self._running)
        with contextlib.suppress(ConnectionClosed, _ClientStalled):
            await self._send(self._protocol.fail_task(code, message))
            await self._close(1000, "task failed")
        self._end_session()

    async def _close(self, code: int, reason: str) -> None:
        """Close with ``code``; abort the transport if the handshake cannot complete in time."""
        if self._ws.transport.is_closing():
            return  # aborted or already closing: websockets finishes on its own
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self._ws.close(code, reason)
        except TimeoutError:
            self._ws.transport.abort()

    def _end_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def job_bytes(audio_format: str, sample_rate: int) -> int:
    """The most audio one recognition job takes, in bytes: ``JOB_MS`` of PCM, or the compressed bound."""
    if audio_format in COMPRESSED_FORMATS:
        return JOB_COMPRESSED_BYTES
    return sample_rate * 2 * JOB_MS // 1000


def _interactive_bytes(audio_format: str, sample_rate: int) -> int:
    if audio_format in COMPRESSED_FORMATS:
        return 2 * JOB_COMPRESSED_BYTES
    return sample_rate * 2 * INTERACTIVE_MS // 1000


def slices(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of at most ``size`` bytes, one per job (``data`` itself when it fits)."""
    if len(data) <= size:
        yield data
        return
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield bytes(view[start : start + size])
