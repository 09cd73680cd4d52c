"""The LiveKit recognition stream: one LiveKit stream over one core stream per attempt.

How LiveKit's calls map onto the core's :class:`funasr_realtime.RecognitionStream`:

* audio frames (resampled to the model's rate by LiveKit's base class) → ``send_audio``;
* ``flush()`` (LiveKit sends it at the end of speech because ``manual_flush=True``) →
  ``finalize()``: the Fun-ASR task is finished so its final comes now, and the next audio
  starts a new task on a standby connection: no audio waits and none is lost;
* ``end_input()`` → ``finish()``: the wait for the trailing finals follows the results (it
  lasts while they keep arriving, bounded by the audio still uncovered);
* ``aclose()`` → ``aclose()``: abort; it returns once the core stream's tasks are done;
* with ``hotwords``: before the first audio of each Fun-ASR task, the vocabulary of the
  current hot words is ensured (cached after the first time, so this is a lookup) and named
  in that task's parameters; so a change applies from the next task.

The core reconnects and replays audio by itself after transient failures, so LiveKit's own
retry only runs when the core's budget is spent; its new core stream resumes from the
failed one (``resume_point()``): the audio no final covered is sent first, and times
continue the failed stream's timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Unpack

from livekit import rtc
from livekit.agents import APIConnectOptions, stt

import funasr_realtime as fr

from ._audio import frame_pcm, mono_frame
from ._errors import report_reconnect, to_api_error
from ._events import speech_data
from ._options import RecognitionOptions, Settings, config_for, param_changes
from .log import logger

if TYPE_CHECKING:
    from .stt import STT

__all__ = ["SpeechStream", "Warm"]


@dataclass(slots=True)
class Warm:
    """A core stream whose connection :meth:`STT.prewarm` is opening for the next stream."""

    core: fr.RecognitionStream
    connecting: asyncio.Task[None]

    async def discard(self) -> None:
        """Cancel the connect and close the stream; returns once neither has a task left."""
        self.connecting.cancel()
        await asyncio.gather(self.connecting, return_exceptions=True)
        await self.core.aclose()


class SpeechStream(stt.RecognizeStream):
    """One LiveKit recognition stream over one core stream (a new one per LiveKit retry).

    Events: START_OF_SPEECH before the first text of an utterance; INTERIM_TRANSCRIPT for
    partials; FINAL_TRANSCRIPT per final sentence (seconds on the stream timeline plus
    ``start_time_offset``, word timings, language); END_OF_SPEECH when the turn ends (after
    the task a flush ended, or after each final with ``endpointing="server"``);
    RECOGNITION_USAGE once per Fun-ASR task with its billed seconds.
    """

    def __init__(
        self,
        *,
        stt: STT,
        client: fr.Client,
        settings: Settings,
        conn_options: APIConnectOptions,
        warm: Warm | None,
        finish_timeout: float | None,
    ) -> None:
        super().__init__(stt=stt, conn_options=conn_options, sample_rate=settings.params.sample_rate)
        self._plugin = stt
        self._client = client
        self._settings = settings
        self._warm = warm
        self._finish_timeout = finish_timeout
        self._core: fr.RecognitionStream | None = None
        self._resume: fr.ResumePoint | None = None  # where a LiveKit retry picks up
        self._unsent = b""  # a frame the failed core stream did not take
        self._speaking = False
        self._request_id = ""
        self._offset_after_attempt: float | None = None
        self._aborting = False  # aclose() ran: the input channel closed for an abort, not an end
        self._context_jobs: set[asyncio.Task[fr.RecognitionParams]] = set()

    def update_options(self, **changes: Unpack[RecognitionOptions]) -> None:
        """Apply options from the next Fun-ASR task on (the next flush); no audio is lost.

        Raises ``ValueError`` if they cannot work (e.g. a model with another sample rate:
        open a new stream for that).
        """
        settings = self._settings.updated(changes, region=self._client.config.region, derive_rate=False)
        if self._core is not None:
            self._core.update_params(**param_changes(self._core.params, settings.params))
        self._settings = settings

    def update_context(self, context: tuple[fr.ContextMessage, ...]) -> None:
        """Bias recognition with ``context`` from now on: the open Fun-ASR task gets it by
        continue-task, every later task (and a LiveKit retry's stream) in its run-task."""
        self._settings = self._settings.with_context(context)
        if self._core is not None:
            job = asyncio.ensure_future(self._core.update_context(context))
            self._context_jobs.add(job)
            job.add_done_callback(self._context_sent)

    def _context_sent(self, job: asyncio.Task[fr.RecognitionParams]) -> None:
        self._context_jobs.discard(job)
        if not job.cancelled() and (error := job.exception()) is not None:
            logger.warning("context update not applied to the open task: %s", error)

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue a frame of any rate and channel count: downmixed to mono, then resampled.

        The base class resamples to the model's rate with a one-channel resampler, so a
        stereo frame must be mono before it gets there.
        """
        super().push_frame(mono_frame(frame))

    async def aclose(self) -> None:
        """Abort; returns once the core stream (and a pre-warmed one) has no task left.

        The base class cancels ``_run`` and waits for it; ``_run``'s ``finally`` awaits the
        core stream's ``aclose()``.
        """
        # The base class closes the input channel, then cancels _run: without this flag the
        # sender would take the closed channel for end_input() and start a graceful finish()
        # that the cancellation then cuts in the middle of closing the connections.
        self._aborting = True
        await super().aclose()
        warm, self._warm = self._warm, None
        if warm is not None:  # closed before it ever ran
            await warm.discard()

    # ------------------------------------------------------------------ one attempt

    async def _run(self) -> None:
        if self._offset_after_attempt is not None:
            # A LiveKit retry: the base class moved start_time_offset by the failed attempt's
            # wall time, as if its audio were lost and times restarted at zero. The resumed
            # core stream replays that audio and keeps one timeline, so the offset must not move.
            self.start_time_offset = self._offset_after_attempt
        core, warming = await self._take_core()
        try:
            if self._resume is not None and self._resume.audio:
                logger.info("replaying %d ms of unfinalized audio into a new stream", self._resume.duration_ms)
            await self._connect(core, warming)  # a resumed stream sends that audio from here
            await self._send_and_receive(core)
        except fr.FunAsrError as exc:
            raise to_api_error(exc, request_id=self._request_id) from exc
        finally:
            self._core = None
            self._offset_after_attempt = self.start_time_offset
            await core.aclose()
            self._resume = self._resume_point(core)

    async def _take_core(self) -> tuple[fr.RecognitionStream, asyncio.Task[None] | None]:
        """The pre-warmed core stream (and its connect task) if it fits, else a new one.

        A retry's stream is new and resumes from the failed one. The stream becomes
        ``self._core``, which :meth:`update_options` updates.
        """
        params = self._settings.params
        warm, self._warm = self._warm, None  # only a first attempt finds one
        if (
            warm is not None
            and self._resume is None
            and warm.core.params.sample_rate == params.sample_rate
            and warm.core.params.format == params.format
        ):
            warm.core.update_params(**param_changes(warm.core.params, params))
            self._core = warm.core
            return warm.core, warm.connecting
        if warm is not None:  # options changed the sample rate since prewarm()
            await warm.discard()
        self._core = fr.RecognitionStream(
            config_for(self._client, self._conn_options),
            params,
            resilience=self._client.resilience,
            resume_from=self._resume,
        )
        return self._core, None

    def _resume_point(self, core: fr.RecognitionStream) -> fr.ResumePoint:
        """Where a retry resumes: the audio no final of ``core`` covers, then any frame it refused."""
        point = core.resume_point()
        unsent, self._unsent = self._unsent, b""
        return dataclasses.replace(point, audio=point.audio + unsent) if unsent else point

    async def _connect(self, core: fr.RecognitionStream, warming: asyncio.Task[None] | None) -> None:
        started = time.perf_counter()
        reused = False
        if warming is not None:
            with contextlib.suppress(fr.FunAsrError):  # connect() below retries and reports it
                await warming
                reused = True
        await core.connect()  # returns at once while the pre-warmed connection is open
        self._report_connection_acquired(time.perf_counter() - started, reused)

    async def _send_and_receive(self, core: fr.RecognitionStream) -> None:
        """Send audio and read events concurrently until the core stream ends or fails."""
        sender = asyncio.create_task(self._send(core), name="funasr-realtime-send")
        receiver = asyncio.create_task(self._receive(core), name="funasr-realtime-receive")
        try:
            await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_EXCEPTION)
            if receiver.done():
                receiver.result()  # its error comes in order, after every event before it
            if sender.done() and sender.exception() is not None:
                # The same failure reaches the receiver after the events that preceded it:
                # let those out first (bounded), then raise.
                await asyncio.wait((receiver,), timeout=self._finish_timeout)
                if receiver.done():
                    receiver.result()
                sender.result()
            await receiver
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)

    async def _send(self, core: fr.RecognitionStream) -> None:
        async for item in self._input_ch:
            if isinstance(item, rtc.AudioFrame):
                if self._settings.hotwords is not None and not core.task_open:
                    await self._use_hotwords(core)  # this frame starts a task
                pcm = frame_pcm(item)
                try:
                    await core.send_audio(pcm)
                except (fr.FunAsrError, asyncio.CancelledError):
                    self._unsent = pcm  # it raised before the core took the frame: the retry sends it
                    raise
            else:  # the flush marker: LiveKit's end of speech
                await core.finalize()
        if not self._aborting:  # end_input(): wait for the trailing finals
            await core.finish(timeout=self._finish_timeout)

    async def _use_hotwords(self, core: fr.RecognitionStream) -> None:
        """Name the vocabulary of the current hot words in the next task's parameters.

        Audio waits in the input channel meanwhile (nothing is lost); the wait is bounded,
        and without a vocabulary the task runs without hot words (the STT reported why).
        """
        while True:
            settings = self._settings
            if settings.hotwords is None:
                return
            vocabulary_id = await self._plugin._hotwords.vocabulary_for(settings.params.model, settings.hotwords)
            if settings is self._settings:
                break  # else options changed during the wait: ensure the new ones
        if vocabulary_id != settings.params.vocabulary_id:
            self._settings = settings.with_vocabulary(vocabulary_id)
            core.update_params(vocabulary_id=vocabulary_id)

    async def _receive(self, core: fr.RecognitionStream) -> None:
        async for event in core.events():
            if isinstance(event, fr.SentenceEvent):
                self._on_sentence(event)
            elif isinstance(event, fr.TaskCompleted):
                self._on_task_completed(event)
            elif (lost := report_reconnect(event)) is not None:
                self._emit_error(lost, recoverable=True)

    # ------------------------------------------------------------------ events

    def _on_sentence(self, event: fr.SentenceEvent) -> None:
        sentence = event.sentence
        self._request_id = event.task_id
        if sentence.text:
            if not self._speaking:
                self._speaking = True
                self._emit(stt.SpeechEventType.START_OF_SPEECH)
            data = speech_data(sentence, offset=self.start_time_offset, language=self._settings.language)
            kind = stt.SpeechEventType.FINAL_TRANSCRIPT if sentence.is_final else stt.SpeechEventType.INTERIM_TRANSCRIPT
            self._emit(kind, alternatives=[data])
        if sentence.is_final and self._settings.endpointing == "server":
            self._end_of_speech()

    def _on_task_completed(self, event: fr.TaskCompleted) -> None:
        metrics = event.metrics
        self._request_id = metrics.task_id
        # The task is over: whatever ended it (a flush, the end of input, an idle mute),
        # the utterance it carried has ended too.
        self._end_of_speech()
        seconds: float = metrics.audio_bytes / (2 * self._rate)  # if the service reports no usage
        if metrics.billed_seconds is not None:
            seconds = metrics.billed_seconds
        if seconds > 0:
            self._emit(
                stt.SpeechEventType.RECOGNITION_USAGE,
                usage=stt.RecognitionUsage(audio_duration=float(seconds)),
            )

    def _end_of_speech(self) -> None:
        if self._speaking:
            self._speaking = False
            self._emit(stt.SpeechEventType.END_OF_SPEECH)

    def _emit(
        self,
        kind: stt.SpeechEventType,
        *,
        alternatives: list[stt.SpeechData] | None = None,
        usage: stt.RecognitionUsage | None = None,
    ) -> None:
        self._event_ch.send_nowait(
            stt.SpeechEvent(
                type=kind, request_id=self._request_id, alternatives=alternatives or [], recognition_usage=usage
            )
        )

    @property
    def _rate(self) -> int:
        return self._settings.params.sample_rate
