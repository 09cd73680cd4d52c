"""A recognition stream: one audio timeline carried by a sequence of tasks.

The protocol has no "flush but keep going" command, so :meth:`RecognitionStream.finalize`
finishes the current task (the service then emits its final sentence at once instead of
after its silence timeout) and the next audio goes to a new task. Each stretch of audio
that goes to one task is a *segment*; a segment is supervised until its task completes:

* its task starts on a pooled connection (a pre-warmed standby when available), and audio
  that arrived meanwhile is sent from the replay buffer, in order;
* on a transient failure (dropped or half-open connection, throttling, 5xx...) a new task
  starts after a backoff and the audio not yet covered by a final sentence is replayed
  into it, starting right after the last delivered final, so no final is delivered twice
  and none needs suppressing; the timeline stays continuous;
* permanent failures (bad key, arrears, invalid parameters...) end the stream at once.

Events are delivered in segment order: a final never arrives after a later partial.
Sentence and word times are stream milliseconds (task ms + the task's stream offset).

Pacing: a producer faster than real time is held at most ``Resilience.max_lead`` seconds
of audio ahead of what the server has reported recognizing, and the replay buffer never
evicts audio on a healthy connection; neither rule ever holds a producer below real time.
Containers (wav, mp3, opus...) are converted to PCM here, so every format rotates and
replays like PCM.
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

from ..audio import PcmConverter, pcm_converter
from ..protocol import (
    AudioError,
    FunAsrError,
    LocalProtocolError,
    RecognitionParams,
    ReplayBuffer,
    ResultGenerated,
    Sentence,
    Timeline,
    TransportTimeout,
    Usage,
    backoff,
    check_compatibility,
    is_retryable,
)
from .config import ClientConfig, Resilience
from .connection import Clock, Connection, Task, TaskMetrics
from .pool import ConnectionPool

__all__ = ["Reconnected", "RecognitionStream", "SentenceEvent", "StreamEvent", "TaskCompleted"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SentenceEvent:
    """A partial or final sentence; its times are stream milliseconds.

    ``usage`` is what the service sent with it: on finals, ``usage.duration`` is the task's
    billed seconds so far (None on partials).
    """

    sentence: Sentence
    task_id: str
    usage: Usage | None = None

    @property
    def is_final(self) -> bool:
        return self.sentence.is_final


@dataclass(frozen=True, slots=True)
class TaskCompleted:
    """A task is over and all its sentences were delivered.

    ``finalized`` is True when the task was ended by :meth:`RecognitionStream.finalize` or
    :meth:`RecognitionStream.finish` (its last final is the answer to that request), False
    when the stream ended it because no audio came for ``Resilience.idle_finish`` seconds.
    """

    metrics: TaskMetrics
    finalized: bool


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The stream recovered from a transient failure by replaying audio into a new task.

    ``dropped_ms`` is audio that could not be replayed because the outage outlasted the
    replay buffer: 0 means nothing was lost. ``billed_seconds`` is what the service reported
    for the failed attempt (it is included in :attr:`RecognitionStream.billed_seconds`).
    """

    error: FunAsrError
    attempt: int
    replayed_ms: int
    dropped_ms: int
    downtime_ms: float
    billed_seconds: int = 0


StreamEvent = SentenceEvent | TaskCompleted | Reconnected

_Item = StreamEvent | FunAsrError | None  # None: the stream was aborted


class _Segment:
    """The audio of one task, by stream byte position, and the supervision state."""

    def __init__(self, start: int, params: RecognitionParams) -> None:
        self.start = start
        self.params = params  # fixed for the segment, retries included (update_params is for later ones)
        self.end: int | None = None  # set when the segment is closed
        self.sent = start  # audio handed to the current task up to here
        self.acked = start  # audio covered by this segment's finals up to here
        self.progressed = False  # the current attempt delivered a final (resets the retry budget)
        self.finish_cap: float | None = None  # latest loop time the wait after finish-task may reach
        self.close_reason: str | None = None
        self.task: Task | None = None
        self.direct = False  # send_audio may write straight to the task
        self.recovering = False  # between a failure and the next task's start
        self.failed_billed = 0  # billed seconds of the attempt that just failed
        self.deadline: asyncio.Timeout | None = None
        self.wakeup = asyncio.Event()
        self.events: asyncio.Queue[_Item] = asyncio.Queue()
        self.runner: asyncio.Task[None] | None = None
        self.done = False

    @property
    def closing(self) -> bool:
        return self.close_reason is not None


class RecognitionStream:
    """Stream PCM audio and iterate partial and final sentences.

    Typical use::

        async with client.stream(language_hints=["en"]) as stream:
            ...  # elsewhere: await stream.send_audio(chunk); await stream.finalize()
            async for event in stream:
                if isinstance(event, SentenceEvent) and event.is_final:
                    print(event.sentence.text)

    ``send_audio`` never waits on a broken connection longer than real-time pace (audio
    goes to the replay buffer and a background feeder) and paces a faster producer to what
    the server can take; ``finalize`` returns at once. Results, reconnects and task
    completions arrive through iteration. Every format finalizes, rotates and replays:
    containers and compressed audio are converted to PCM before they are sent.
    """

    def __init__(
        self,
        config: ClientConfig,
        params: RecognitionParams,
        *,
        resilience: Resilience | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        check_compatibility(params, config.region)
        self.config = config
        self.resilience = resilience or Resilience()
        self._params = params
        self._clock = clock
        self._timeline = Timeline(params.sample_rate)
        # Everything on the wire is PCM: a container's header and codec stop at this converter.
        self._converter: PcmConverter | None = pcm_converter(params.format, params.sample_rate)
        self._bytes_per_s = params.sample_rate * 2
        self._replay_limit = max(int(self.resilience.replay_seconds * self._bytes_per_s) & ~1, 2)
        self._lead_bytes = max(int(self.resilience.max_lead * self._bytes_per_s), 2)
        self._replay = ReplayBuffer(self._replay_limit)
        self._recognized = 0  # stream position up to which the server has reported results
        self._pace_origin: tuple[float, int] | None = None  # (loop time, position) pacing started
        self._pacing = False  # send_audio is waiting in _pace
        self._pool = ConnectionPool(config, clock, standby=self.resilience.standby)
        self._current: _Segment | None = None
        self._segments: list[_Segment] = []
        self._order: asyncio.Queue[_Segment | None] = asyncio.Queue()
        self._error: FunAsrError | None = None
        self._input_closed = False
        self._closed = False
        self._last_audio = clock()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._progress = asyncio.Event()  # results arrived, audio was sent, or a segment changed
        self._tasks: set[asyncio.Task[None]] = set()  # every segment runner still running
        self.completed: list[TaskMetrics] = []
        self._failed_billed = 0  # billed seconds of failed attempts (their audio was replayed)

    # ------------------------------------------------------------------ public API

    @property
    def params(self) -> RecognitionParams:
        """Parameters of the next task (see :meth:`update_params`)."""
        return self._params

    @property
    def billed_seconds(self) -> int:
        """Billed seconds the service reported: completed tasks plus attempts that failed."""
        return sum(m.billed_seconds or 0 for m in self.completed) + self._failed_billed

    @property
    def audio_ms(self) -> int:
        """Stream time of all audio handed in so far."""
        return self._timeline.ms(self._replay.end)

    async def connect(self) -> None:
        """Open a connection now (pre-warm), so the first audio pays no handshake.

        Raises the connect error (e.g. :class:`HandshakeRejected` for a bad key).
        """
        await self._pool.prewarm()

    async def send_audio(self, audio: bytes) -> None:
        """Hand in audio in ``params.format`` (s16le mono PCM at ``params.sample_rate`` for pcm).

        Returns as soon as the audio is buffered or written. A producer faster than real time
        waits here while it is more than ``Resilience.max_lead`` seconds ahead of the results
        (or the replay buffer is full on a healthy connection), but never longer than
        real-time pace would take. Raises the stream's error if it failed,
        :class:`LocalProtocolError` after :meth:`finish` or :meth:`aclose`,
        :class:`AudioError` for odd-length PCM or audio the converter cannot decode.
        """
        self._check_open("send audio")
        if self._converter is not None:
            audio = self._converter.feed(audio)
        elif len(audio) % 2:
            raise AudioError(f"PCM audio must be whole 16-bit samples; got {len(audio)} bytes")
        if not audio:
            return
        if self._over_budget(len(audio)):
            await self._pace(len(audio))
            self._check_open("send audio")
        else:
            self._pace_origin = None
        self._append(audio)

    def _append(self, audio: bytes) -> None:
        segment = self._current or self._open_segment(self._replay.end)
        self._replay.append(audio)
        self._last_audio = self._clock()
        task = segment.task
        if segment.direct and task is not None and task.try_send_audio(audio):
            segment.sent += len(audio)  # the hot path: written with no await at all
        else:
            # The feeder sends it: the task is starting, recovering, backed up or failed
            # (a failed send there fails the task, and the supervisor reconnects and replays).
            segment.direct = False
            segment.wakeup.set()

    async def finalize(self) -> None:
        """End the current task so its final sentence comes now; later audio starts a new task.

        Returns at once; the final arrives through iteration, followed by a
        :class:`TaskCompleted` with ``finalized=True``. A no-op when no audio was sent since
        the last finalize.
        """
        self._check_open("finalize")
        self._close_current("finalize")

    async def finish(self, timeout: float | None = None) -> None:
        """End of input: finish the current task and wait for the trailing results.

        Every wait inside is bounded and follows progress: the wait for the last results
        is extended while results arrive, up to ``Timeouts.stop`` plus the duration of the
        audio still uncovered (connect, task-started and retries have their own bounds).
        ``timeout`` adds an overall bound. Events stay readable by iteration, which ends
        after the last task. Idempotent. Raises the stream's error, if any.
        """
        if not self._input_closed:
            tail = self._converter.flush() if self._converter is not None and self._error is None else b""
            if tail:
                self._append(tail)
            self._input_closed = True
            self._close_current("finish")
            self._order.put_nowait(None)
        runners = self._runners()
        if runners:
            _, pending = await asyncio.wait(runners, timeout=timeout)
            if pending:
                self._record_error(TransportTimeout("the last results", timeout or 0.0))
                await self.aclose()
        self._cancel_idle_timer()
        await self._pool.aclose()
        if self._error is not None:
            raise self._error

    async def aclose(self) -> None:
        """Abort: stop every task without waiting for results, close the connections.

        Returns once every background task of the stream has ended.
        """
        if not self._closed:
            self._closed = self._input_closed = True
            self._cancel_idle_timer()
            for runner in self._tasks:
                runner.cancel()
            for segment in self._segments:
                segment.events.put_nowait(None)
            self._progress.set()
            self._order.put_nowait(None)
        runners = self._runners()
        if runners:
            await asyncio.wait(runners)
        await self._pool.aclose()

    def _runners(self) -> list[asyncio.Task[None]]:
        return [runner for runner in self._tasks if not runner.done()]

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
        try:
            if exc is None:
                await self.finish()
        finally:
            await self.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self.events()

    async def events(self) -> AsyncIterator[StreamEvent]:
        """Events of every task in order; each task ends with :class:`TaskCompleted`.

        Ends after :meth:`finish` once the last task is over, or at :meth:`aclose`.
        Raises the stream's error (typed, never swallowed) where it happened.
        """
        while True:
            segment = await self._order.get()
            if segment is None:
                return
            while True:
                item = await segment.events.get()
                if item is None:
                    return
                if isinstance(item, FunAsrError):
                    raise item
                yield item
                if isinstance(item, TaskCompleted):
                    break

    # ------------------------------------------------------------------ segments

    def _open_segment(self, start: int) -> _Segment:
        segment = _Segment(start, self._wire_params(self._params))
        self._current = segment
        self._segments = [s for s in self._segments if not s.done] + [segment]
        self._order.put_nowait(segment)
        runner = asyncio.create_task(self._supervise(segment), name="funasr-realtime-segment")
        segment.runner = runner
        self._tasks.add(runner)
        runner.add_done_callback(self._tasks.discard)
        self._arm_idle_timer()
        return segment

    @staticmethod
    def _wire_params(params: RecognitionParams) -> RecognitionParams:
        """What a task asks for: PCM (converted here), and heartbeats unless refused.

        Heartbeats report the server's position through silence, which paces a fast
        producer and proves a silent task alive; they are never delivered.
        """
        heartbeat = True if params.heartbeat is None else params.heartbeat
        if params.format == "pcm" and params.heartbeat is heartbeat:
            return params
        return params.replace(format="pcm", heartbeat=heartbeat)

    def _close_current(self, reason: str) -> None:
        segment, self._current = self._current, None
        if segment is None:
            return
        segment.close_reason = reason
        segment.end = self._replay.end
        segment.direct = False
        segment.wakeup.set()
        self._progress.set()

    async def _supervise(self, segment: _Segment) -> None:
        """Run the segment's task to completion, retrying transient failures with replay.

        The retry budget (``max_retries`` failures in a row, ``max_outage`` seconds) is
        reset only by an attempt that made progress, so a server that accepts connections
        but never delivers cannot keep the stream alive forever.
        """
        delays = backoff(initial=self.resilience.backoff_initial, maximum=self.resilience.backoff_max)
        failures = 0
        outage_started: float | None = None
        retry: tuple[FunAsrError, float] | None = None
        while True:
            attempt_started = self._clock()
            try:
                metrics = await self._attempt(segment, retry, failures)
            except FunAsrError as exc:
                segment.direct = False
                segment.recovering = True
                self._progress.set()
                now = self._clock()
                if segment.progressed or outage_started is None:
                    segment.progressed = False
                    failures, outage_started = 0, attempt_started
                failures += 1
                too_long = now - outage_started > self.resilience.max_outage
                if not is_retryable(exc) or failures > self.resilience.max_retries or too_long:
                    self._end_segment(segment, exc)
                    return
                logger.warning("stream interrupted (%s); retry %d in a moment", exc, failures)
                retry = (exc, now)
                # A standby opened before the failure likely shares the broken path (a black
                # hole swallows it too): reconnect on a fresh connection instead.
                await self._pool.discard_idle()
                await asyncio.sleep(next(delays))
                continue
            except Exception as exc:
                # A bug must end the stream with one typed error, not kill this task silently.
                logger.exception("internal error in a recognition stream")
                self._end_segment(segment, LocalProtocolError(f"internal error in the stream: {exc!r}"))
                return
            self._complete_segment(segment, metrics)
            return

    async def _attempt(self, segment: _Segment, retry: tuple[FunAsrError, float] | None, attempt: int) -> TaskMetrics:
        """One task for the segment: start, replay, stream, and pump results until it ends."""
        connection, acquire_ms = await self._pool.acquire()
        try:
            replay_from = max(segment.acked, self._replay.start) if retry else segment.start
            task = await connection.start_task(
                segment.params,
                offset_ms=self._timeline.ms(replay_from),
                listener=lambda task, result: self._deliver(segment, task, result),
            )
            task.metrics.acquire_ms = acquire_ms
            task.on_activity = lambda: self._on_activity(segment, task)
            segment.task, segment.sent, segment.recovering = task, replay_from, False
            if retry is not None:
                error, failed_at = retry
                dropped = replay_from - segment.acked
                replayed = (segment.end if segment.end is not None else self._replay.end) - replay_from
                segment.events.put_nowait(
                    Reconnected(
                        error,
                        attempt,
                        self._timeline.ms(replayed),
                        self._timeline.ms(dropped),
                        (self._clock() - failed_at) * 1000,
                        segment.failed_billed,
                    )
                )
                if dropped:
                    logger.warning("%d ms of audio could not be replayed after %s", self._timeline.ms(dropped), error)
                segment.failed_billed = 0
            try:
                await self._pump(segment, task)
            except FunAsrError:
                # What the service billed for the failed attempt is reported, never lost.
                segment.failed_billed = task.metrics.billed_seconds or 0
                self._failed_billed += segment.failed_billed
                raise
            return task.metrics
        finally:
            segment.task, segment.deadline, segment.finish_cap = None, None, None
            await self._pool.release(connection)

    async def _pump(self, segment: _Segment, task: Task) -> None:
        """Deliver the task's sentences until task-finished, while the feeder sends audio.

        Sentences reach :meth:`_deliver` from the connection's reader as they are decoded
        (the task's listener: no extra hop through a queue); this coroutine only waits,
        bounded once finish-task is sent (see :meth:`_arm_finish_deadline`).
        """
        feeder = asyncio.create_task(self._feed(segment, task), name="funasr-realtime-feeder")
        feeder.add_done_callback(lambda job: _fail_task_with(task, job))
        try:
            async with asyncio.timeout(None) as deadline:
                segment.deadline = deadline
                if segment.finish_cap is not None:  # finish-task went out before the deadline existed
                    self._extend_finish_deadline(segment)
                await task.wait_done()
            if task.error is not None:
                raise task.error
        except TransportTimeout:
            raise
        except TimeoutError:
            raise TransportTimeout("task-finished", self.config.timeouts.stop) from None
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder

    async def _feed(self, segment: _Segment, task: Task) -> None:
        """Send the segment's audio that is not sent yet; then finish-task once it is closed.

        Between wake-ups the caller writes straight to the socket (``segment.direct``).
        """
        while True:
            target = segment.end if segment.end is not None else self._replay.end
            while segment.sent < target:
                data, _ = self._replay.read(segment.sent, target)
                segment.sent = target
                if data:
                    await task.send_audio(data)
                target = segment.end if segment.end is not None else self._replay.end
                self._progress.set()
            if segment.closing:
                await task.send_finish()
                self._arm_finish_deadline(segment)
                return
            segment.wakeup.clear()
            segment.direct = True
            await segment.wakeup.wait()

    def _arm_finish_deadline(self, segment: _Segment) -> None:
        """Bound the wait for task-finished by the audio still to recognize, not a constant."""
        end = segment.end if segment.end is not None else segment.sent
        uncovered = max(0, end - max(segment.acked, self._recognized))
        segment.finish_cap = (
            asyncio.get_running_loop().time() + self.config.timeouts.stop + uncovered / self._bytes_per_s
        )
        self._extend_finish_deadline(segment)

    def _extend_finish_deadline(self, segment: _Segment) -> None:
        """``Timeouts.stop`` from now, never past the cap: called again by every message."""
        if segment.deadline is None or segment.finish_cap is None:
            return
        now = asyncio.get_running_loop().time()
        segment.deadline.reschedule(min(now + self.config.timeouts.stop, segment.finish_cap))

    def _on_activity(self, segment: _Segment, task: Task) -> None:
        """A message of the task arrived: move the recognized position, extend the wait."""
        reported = self._timeline.bytes_at(task.offset_ms + task.connection.protocol.reported_ms)
        position = min(reported, segment.sent)  # a server cannot recognize what it was not sent
        if position > self._recognized:
            self._recognized = position
            self._progress.set()
        if segment.finish_cap is not None:
            self._extend_finish_deadline(segment)

    def _deliver(self, segment: _Segment, task: Task, result: ResultGenerated) -> None:
        shifted = result.sentence.shifted(task.offset_ms)
        if shifted.is_final and shifted.end_time is not None:
            # No final is ever delivered twice, so none is suppressed: a replay starts right
            # after the last delivered final, so a new task only hears audio no final covered.
            segment.acked = max(segment.acked, min(self._timeline.bytes_at(shifted.end_time), segment.sent))
            segment.progressed = True
            self._release_replay()
        segment.events.put_nowait(SentenceEvent(shifted, task.task_id, result.usage))

    def _complete_segment(self, segment: _Segment, metrics: TaskMetrics) -> None:
        ended_by_service = segment.end is None  # not closed by us: the service ended the task
        end = segment.sent if segment.end is None else segment.end
        segment.end = segment.acked = end
        segment.done = True
        self._recognized = max(self._recognized, end)
        self._progress.set()
        self.completed.append(metrics)
        segment.events.put_nowait(TaskCompleted(metrics, finalized=segment.close_reason in ("finalize", "finish")))
        self._release_replay()
        if ended_by_service and self._current is segment:
            # Audio that arrived after the service ended the task still needs a task; a
            # segment we closed ourselves never reopens (later segments own later audio).
            self._current = None
            if not self._input_closed and self._replay.end > end:
                self._open_segment(end)

    def _end_segment(self, segment: _Segment, error: FunAsrError) -> None:
        logger.warning("stream failed: %s", error)
        segment.done = True
        self._progress.set()
        self._record_error(error)
        segment.events.put_nowait(error)

    def _record_error(self, error: FunAsrError) -> None:
        if self._error is None:
            self._error = error

    # ------------------------------------------------------------------ pacing

    def _over_budget(self, size: int) -> bool:
        """Whether ``size`` more bytes would run too far ahead of the results or evict audio."""
        end = self._replay.end + size
        return end - self._recognized > self._lead_bytes or len(self._replay) + size > self._replay_limit

    async def _pace(self, size: int) -> None:
        """Wait until ``size`` bytes fit the budget, but never longer than real-time pace.

        From the moment a producer first runs over budget, it may still hand in audio as
        fast as real time: a live source is never slowed, and a server that reports
        nothing cannot stall a file forever (it then streams at real time).
        """
        loop = asyncio.get_running_loop()
        origin = self._pace_origin
        if origin is None:
            origin = self._pace_origin = (loop.time(), self._replay.end)
        ready_at = origin[0] + (self._replay.end + size - origin[1]) / self._bytes_per_s
        self._pacing = True  # a producer held here is not idle (see _on_idle)
        try:
            while self._over_budget(size) and not self._input_closed and self._error is None:
                remaining = ready_at - loop.time()
                if remaining <= 0:
                    return
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._progress.wait()
            self._pace_origin = None
        finally:
            self._pacing = False
            self._last_audio = self._clock()

    def _release_replay(self) -> None:
        live = [s.acked for s in self._segments if not s.done]
        self._replay.release(min(live) if live else self._replay.end)

    def _check_open(self, action: str) -> None:
        if self._error is not None:
            raise self._error
        if self._input_closed:
            raise LocalProtocolError(f"cannot {action}: stream is {'closed' if self._closed else 'finished'}")

    # ------------------------------------------------------------------ idle tasks

    def _arm_idle_timer(self) -> None:
        if self._idle_timer is None and self.resilience.idle_finish > 0:
            self._idle_timer = asyncio.get_running_loop().call_later(self.resilience.idle_finish, self._on_idle)

    def _on_idle(self) -> None:
        self._idle_timer = None
        if self._current is None or self._input_closed:
            return
        quiet = 0.0 if self._pacing else self._clock() - self._last_audio
        if quiet >= self.resilience.idle_finish:
            logger.info("no audio for %.1f s: finishing the task (the next audio starts a new one)", quiet)
            self._close_current("idle")
        else:
            self._idle_timer = asyncio.get_running_loop().call_later(self.resilience.idle_finish - quiet, self._on_idle)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    @property
    def connections(self) -> list[Connection]:
        """The stream's open connections (busy and standby), for diagnostics."""
        return self._pool.connections


def _fail_task_with(task: Task, feeder: asyncio.Task[None]) -> None:
    """A feeder that failed takes its task down with it, so the supervisor recovers."""
    if feeder.cancelled():
        return
    error = feeder.exception()
    if isinstance(error, FunAsrError):
        task._fail(error)
    elif error is not None:
        logger.error("audio feeder crashed", exc_info=error)
        task._fail(LocalProtocolError(f"internal error in the audio feeder: {error!r}"))
