"""A recognition stream: the asyncio driver of the sans-I/O :class:`~funasr_realtime.protocol.StreamCore`.

Every decision a stream makes (which audio goes to which task, what to replay after a
failure, when to retry, pacing, idle finish, the wait after finish-task) is the core's, in
``protocol/``; this module runs it. Each segment (the audio of one task) has a
:class:`~funasr_realtime.client._segment.SegmentRunner`; ``send_audio`` writes straight to
the socket, with no await, while the segment is ``DIRECT``. Events come in segment order,
with stream times. Containers (wav, mp3...) are converted to PCM here, so every format
rotates and replays like PCM.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from ..audio import pcm_converter
from ..protocol import (
    AudioError,
    CloseReason,
    FinalizeRequest,
    FunAsrError,
    LocalProtocolError,
    RecognitionParams,
    ResumePoint,
    RetryPolicy,
    Segment,
    StreamCore,
    TransportTimeout,
    check_compatibility,
    wire_params,
)
from ._segment import SegmentRunner
from .config import ClientConfig, Resilience
from .connection import Clock, Connection, TaskMetrics
from .events import Reconnected, SentenceEvent, StreamEvent, TaskCompleted
from .pool import ConnectionPool

__all__ = ["Reconnected", "RecognitionStream", "SentenceEvent", "StreamEvent", "TaskCompleted"]

logger = logging.getLogger(__name__)


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
    ``resume_from`` (a :class:`ResumePoint` of an earlier stream) starts this stream's
    timeline where that audio sits and sends it first.
    """

    def __init__(
        self,
        config: ClientConfig,
        params: RecognitionParams,
        *,
        resilience: Resilience | None = None,
        clock: Clock = time.monotonic,
        resume_from: ResumePoint | None = None,
    ) -> None:
        check_compatibility(params, config.region)
        self.config = config
        self.resilience = r = resilience or Resilience()
        self._params = params
        self._clock = clock
        retry = RetryPolicy(r.max_retries, r.max_outage, r.backoff_initial, r.backoff_max)
        self._core = StreamCore(
            params.sample_rate,
            replay_seconds=r.replay_seconds,
            max_lead=r.max_lead,
            idle_finish=r.idle_finish,
            stop=config.timeouts.stop,
            retry=retry,
            now=clock(),
            resume_from=resume_from,
        )
        # Everything on the wire is PCM: a container's header and codec stop at this converter.
        self._converter = pcm_converter(params.format, params.sample_rate)
        self._pool = ConnectionPool(config, clock, standby=r.standby)
        self._runs: dict[int, SegmentRunner] = {}  # live segments, by index
        self._order: asyncio.Queue[SegmentRunner | None] = asyncio.Queue()
        self._error: FunAsrError | None = None
        self._closed = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._progress = asyncio.Event()  # results arrived, audio was sent, or a segment changed
        self._tasks: set[asyncio.Task[None]] = set()  # every segment runner still running
        self.completed: list[TaskMetrics] = []
        self._billed_failed = 0  # billed seconds of failed attempts of ended segments

    # ------------------------------------------------------------------ public API

    @property
    def params(self) -> RecognitionParams:
        """Parameters of the next task (see :meth:`update_params`)."""
        return self._params

    @property
    def billed_seconds(self) -> int:
        """Billed seconds the service reported: completed tasks plus attempts that failed."""
        failed = self._billed_failed + sum(run.failed_billed for run in self._runs.values())
        return sum(m.billed_seconds or 0 for m in self.completed) + failed

    @property
    def audio_ms(self) -> int:
        """Stream time at the end of all audio handed in so far (a resumed stream starts at its offset)."""
        return self._core.audio_ms

    @property
    def task_open(self) -> bool:
        """Whether a task is open: audio sent now joins it (False after finalize until more audio)."""
        return self._core.current is not None

    @property
    def connections(self) -> list[Connection]:
        """The stream's open connections (busy and standby), for diagnostics."""
        return self._pool.connections

    def resume_point(self) -> ResumePoint:
        """The audio no delivered final covers, with its stream offset, for ``Client.stream(resume_from=...)``.

        Meant for a stream that failed or was closed (on a running one it is a snapshot).
        """
        return self._core.resume_point()

    async def connect(self) -> None:
        """Open a connection now (pre-warm), so the first audio pays no handshake.

        Raises the connect error (e.g. :class:`HandshakeRejected` for a bad key).
        """
        await self._pool.prewarm()
        self._adopt()

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
        if not self._core.admit(len(audio)):
            await self._pace(len(audio))
            self._check_open("send audio")
        self._append(audio)

    def _append(self, audio: bytes) -> None:
        core = self._core
        if core.current is None:
            self._start()
        segment = core.append(audio, self._clock())
        self._runs[segment.index].write(audio)  # straight to the socket when it can, with no await at all

    async def finalize(self) -> FinalizeRequest | None:
        """End the current task so its final sentence comes now; later audio starts a new task.

        Returns at once, with the request the :class:`TaskCompleted` that follows the final
        answers (same ``request_id``); None, a no-op, when no audio came since the last one.
        """
        self._check_open("finalize")
        self._adopt()
        segment = self._close(CloseReason.FINALIZE)
        return None if segment is None or segment.request_id is None else FinalizeRequest(segment.request_id)

    async def finish(self, timeout: float | None = None) -> None:
        """End of input: finish the current task and wait for the trailing results.

        Every wait inside is bounded and follows progress: the wait for the last results
        is extended while results arrive, up to ``Timeouts.stop`` plus the duration of the
        audio still uncovered (connect, task-started and retries have their own bounds).
        ``timeout`` adds an overall bound. Events stay readable by iteration, which ends
        after the last task. Idempotent. Raises the stream's error, if any.
        """
        if not self._core.input_closed:
            tail = self._converter.flush() if self._converter is not None and self._error is None else b""
            if tail:
                self._append(tail)
            self._adopt()
            self._close(CloseReason.FINISH)
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
            self._closed = True
            self._core.abort()
            self._cancel_idle_timer()
            for runner in self._tasks:
                runner.cancel()
            for run in self._runs.values():
                run.events.put_nowait(None)
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
        while (run := await self._order.get()) is not None:
            while True:
                item = await run.events.get()
                if item is None:
                    return
                if isinstance(item, FunAsrError):
                    raise item
                yield item
                if isinstance(item, TaskCompleted):
                    break

    # ------------------------------------------------------------------ segments

    def _adopt(self) -> None:
        """A resumed stream's audio gets its segment (and so its task) now."""
        if self._core.needs_segment:
            self._start()

    def _start(self, segment: Segment | None = None) -> None:
        """Run a segment: the one given, or a new one opened for the next audio."""
        segment = segment or self._core.open()
        run = self._runs[segment.index] = SegmentRunner(
            segment,
            wire_params(self._params),
            self._core,
            self._pool,
            clock=self._clock,
            stop=self.config.timeouts.stop,
            progress=self._progress,
            ended=self._ended,
        )
        self._order.put_nowait(run)
        runner = asyncio.create_task(run.run(), name="funasr-realtime-segment")
        self._tasks.add(runner)
        runner.add_done_callback(self._tasks.discard)
        if self._idle_timer is None and self.resilience.idle_finish > 0:
            self._idle_timer = asyncio.get_running_loop().call_later(self.resilience.idle_finish, self._on_idle)

    def _close(self, reason: CloseReason) -> Segment | None:
        segment = self._core.close(reason)
        if segment is not None:
            self._runs[segment.index].wake()
            self._progress.set()
        return segment

    def _ended(self, run: SegmentRunner, outcome: TaskMetrics | FunAsrError) -> None:
        """A segment's runner is done: its task completed (``outcome`` is its metrics) or it gave up."""
        del self._runs[run.segment.index]
        self._billed_failed += run.failed_billed
        self._progress.set()
        if isinstance(outcome, FunAsrError):
            logger.warning("stream failed: %s", outcome)  # the core has given the segment up
            self._record_error(outcome)
            run.events.put_nowait(outcome)
            return
        end = self._core.complete(run.segment)
        self.completed.append(outcome)
        run.events.put_nowait(TaskCompleted(outcome, end.finalized, end.request_id, end.end_ms))
        if end.reopened is not None:
            self._start(end.reopened)

    def _record_error(self, error: FunAsrError) -> None:
        if self._error is None:
            self._error = error

    def _check_open(self, action: str) -> None:
        if self._error is not None:
            raise self._error
        if self._core.input_closed:
            raise LocalProtocolError(f"cannot {action}: stream is {'closed' if self._closed else 'finished'}")

    # ------------------------------------------------------------------ pacing and idle tasks

    async def _pace(self, size: int) -> None:
        """Wait until ``size`` bytes fit the core's budget, but never longer than real-time pace."""
        loop, core = asyncio.get_running_loop(), self._core
        ready_at = core.hold(size, loop.time())
        at_floor = False
        try:
            while core.over_budget(size) and not core.input_closed and self._error is None:
                remaining = ready_at - loop.time()
                if remaining <= 0:
                    at_floor = True
                    break
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._progress.wait()
        finally:
            core.unhold(self._clock(), at_floor=at_floor)

    def _on_idle(self) -> None:
        self._idle_timer = None
        wait = self._core.idle_wait(self._clock())
        if wait is not None and wait > 0:
            self._idle_timer = asyncio.get_running_loop().call_later(wait, self._on_idle)
        elif wait is not None:
            quiet = self.resilience.idle_finish - wait
            logger.info("no audio for %.1f s: finishing the task (the next audio starts a new one)", quiet)
            self._close(CloseReason.IDLE)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
