"""A recognition stream: the asyncio driver of the sans-I/O :class:`~funasr_realtime.protocol.StreamCore`.

Every decision a stream makes (which audio goes to which task, what to replay, when to
retry, pacing, idle finish, the wait after finish-task) is the core's, in ``protocol/``;
this module runs it, with one :class:`~._segment.SegmentRunner` per segment (the audio of
one task; see :mod:`._runners`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

from ..audio import wire_converter
from ..protocol import (
    CloseReason,
    ContextMessage,
    FinalizeRequest,
    FunAsrError,
    LocalProtocolError,
    RecognitionParams,
    ResumePoint,
    TransportTimeout,
    check_compatibility,
)
from ._runners import Runners
from ._timing import IdleTimer, pace
from .config import ClientConfig, Resilience
from .connection import Clock, Connection, TaskMetrics
from .events import Reconnected, SentenceEvent, StreamEvent, TaskCompleted
from .pool import ConnectionPool

__all__ = ["Reconnected", "RecognitionStream", "SentenceEvent", "StreamEvent", "TaskCompleted"]


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
        stop = config.timeouts.stop
        self._core = r.stream_core(params.sample_rate, stop=stop, now=clock(), resume_from=resume_from)
        # Everything on the wire is PCM: a container's header and codec stop at this converter.
        self._converter = wire_converter(params.format, params.sample_rate)
        self._pool = ConnectionPool(config, clock, standby=r.standby, resilience=r)
        self._error: FunAsrError | None = None
        self._closed = False
        self._idle = idle = IdleTimer(self._core, clock, r.idle_finish, lambda: self._runs.close(CloseReason.IDLE))
        self._runs = Runners(
            self._core, self._pool, idle, clock=clock, stop=stop, params=lambda: self._params, failed=self._record_error
        )

    # ------------------------------------------------------------------ public API

    @property
    def params(self) -> RecognitionParams:
        """Parameters of the next task (see :meth:`update_params`)."""
        return self._params

    @property
    def billed_seconds(self) -> int:
        """Billed seconds the service reported: completed tasks plus attempts that failed."""
        return self._runs.billed_seconds

    @property
    def completed(self) -> list[TaskMetrics]:
        """Metrics of the tasks completed so far, in order."""
        return self._runs.completed

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
        self._runs.adopt()

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
        audio = self._converter.feed(audio)
        if not audio:
            return
        if not self._core.admit(len(audio)):
            await pace(self._core, len(audio), self._runs.progress, self._clock, self._running)
            self._check_open("send audio")
        self._runs.append(audio)

    async def finalize(self) -> FinalizeRequest | None:
        """End the current task so its final sentence comes now; later audio starts a new task.

        Returns at once, with the request the :class:`TaskCompleted` that follows the final
        answers (same ``request_id``); None, a no-op, when no audio came since the last one,
        or when the account's task quota is under pressure (``Resilience.task_rate``): then
        the task stays open, the service's endpointing ends the sentence and no audio is lost.
        """
        self._check_open("finalize")
        self._runs.adopt()
        if self._core.current is not None and not self._pool.allows_rotation(self._params.model):
            return None
        segment = self._runs.close(CloseReason.FINALIZE)
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
            tail = self._converter.flush() if self._error is None else b""
            if tail:
                self._runs.append(tail)
            self._runs.adopt()
            self._runs.close(CloseReason.FINISH)
            self._runs.end()
        if not await self._runs.settle(timeout):
            self._record_error(TransportTimeout("the last results", timeout or 0.0))
            await self.aclose()
        self._idle.cancel()
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
            self._idle.cancel()
            self._runs.abort()
        await self._runs.settle()
        await self._pool.aclose()

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

    async def update_context(self, context: Iterable[ContextMessage | Mapping[str, Any]]) -> RecognitionParams:
        """Replace the stream's context (``RecognitionParams.context``; an empty one clears it).

        Every later task starts with it (rotations and replays included) and the open task
        gets it now by continue-task. Bounded as the service does (5 messages per role, 400
        characters each); :class:`ConfigurationError` on a model without context.
        """
        params = self.update_params(context=tuple(context))
        await self._runs.update_context(params)
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

    def events(self) -> AsyncIterator[StreamEvent]:
        """Events of every task in order; each task ends with :class:`TaskCompleted`.

        Ends after :meth:`finish` once the last task is over, or at :meth:`aclose`.
        Raises the stream's error (typed, never swallowed) where it happened.
        """
        return self._runs.events()

    # ------------------------------------------------------------------ state

    def _record_error(self, error: FunAsrError) -> None:
        if self._error is None:
            self._error = error

    def _running(self) -> bool:
        return not self._core.input_closed and self._error is None

    def _check_open(self, action: str) -> None:
        if self._error is not None:
            raise self._error
        if self._core.input_closed:
            raise LocalProtocolError(f"cannot {action}: stream is {'closed' if self._closed else 'finished'}")
