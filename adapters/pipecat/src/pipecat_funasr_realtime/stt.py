"""Alibaba Cloud Fun-ASR real-time speech recognition as a Pipecat STT service.

The service is a thin mapping between Pipecat frames and one long-lived
:class:`funasr_realtime.RecognitionStream`; the core owns the connection, task rotation,
reconnects and replay. Audio (resampled to the model's rate) goes in from ``run_stt``;
a pump task reads the stream's events into a queue and a consumer task turns them into
frames, in order:

* partial sentence → ``InterimTranscriptionFrame``;
* final sentence → ``TranscriptionFrame`` with the :class:`funasr_realtime.Sentence`
  (stream-timeline times, word timestamps) as ``result``;
* ``TaskCompleted`` → usage with the billed seconds, and in ``"vad"`` endpointing the
  confirmation that marks the closing transcript ``finalized``;
* ``Reconnected`` → a log line and the ``on_reconnected`` event; if audio outlasted the
  replay buffer (``dropped_ms > 0``) also a non-fatal ``ErrorFrame`` (CONNECTIVITY): the
  service stays usable, but the loss is never silent;
* a stream error → one ``ErrorFrame`` that leaves the service unusable, so a
  ``ServiceSwitcher`` can fail over.

Every exit (``EndFrame``, ``CancelFrame``, cleanup, a failure) awaits the core stream's
``aclose()``, so no task of the service outlives the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any, Literal

from pipecat.audio.resamplers.base_audio_resampler import BaseAudioResampler
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterimTranscriptionFrame,
    ProposedUserStartedSpeakingFrame,
    ProposedUserStoppedSpeakingFrame,
    StartFrame,
    STTMetadataFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import STTUsage
from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
from pipecat.services.settings import STTSettings
from pipecat.services.stt_latency import DEFAULT_TTFS_P99
from pipecat.services.stt_service import STTService
from pipecat.transcriptions.language import Language, resolve_language
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies
from pipecat.utils.errors import ErrorCategory, classify_http_status_code
from pipecat.utils.time import time_now_iso8601
from pipecat.utils.tracing.service_decorators import traced_stt
from pipecat.utils.types import NOT_GIVEN, NotGiven, is_given

from funasr_realtime import (
    AudioError,
    Client,
    ConfigurationError,
    FunAsrError,
    HandshakeRejected,
    LocalProtocolError,
    RecognitionParams,
    RecognitionStream,
    Reconnected,
    Region,
    RemoteProtocolError,
    Resilience,
    Sentence,
    SentenceEvent,
    StreamEvent,
    TaskCompleted,
    TaskFailedError,
    Timeouts,
    TransportError,
    is_retryable,
)
from funasr_realtime.protocol import check_compatibility, find_model

from .settings import LANGUAGE_MAP, FunAsrRealtimeSTTSettings, is_spaceless, to_language

__all__ = ["FUNASR_REALTIME_TTFS_P99", "Endpointing", "FunAsrRealtimeSTTService", "FunAsrSTTUsage"]

logger = logging.getLogger(__name__)

Endpointing = Literal["vad", "server"]

#: Speech end → final transcript, P99, published to Pipecat's turn strategies. Not yet
#: measured against Alibaba Cloud (the local server finalizes in tens of milliseconds,
#: see the README); Pipecat's conservative default until it is. Pass your measured value.
FUNASR_REALTIME_TTFS_P99: float = DEFAULT_TTFS_P99

# A final that may be the last of a finalized task is held until its task's next event;
# task-finished follows the last final at once, so this only bounds odd cases (a task
# that dies right after its final and is replayed).
_HOLD_SECONDS = 1.0
# Stream ms: a finalized task's end (offset + audio) against the position of the request.
_MARK_TOLERANCE_MS = 2

_QUOTA_CODES = frozenset({"Arrearage", "AllocationQuota.FreeTierOnly"})

# Pipecat categories of the core's other errors, most specific first.
_CATEGORIES: tuple[tuple[type[FunAsrError], ErrorCategory], ...] = (
    (AudioError, ErrorCategory.APPLICATION),
    (ConfigurationError, ErrorCategory.INVALID_REQUEST),
    (LocalProtocolError, ErrorCategory.INVALID_REQUEST),
    (TransportError, ErrorCategory.CONNECTIVITY),
    (RemoteProtocolError, ErrorCategory.SERVER),
)


def _task_failure_category(error: TaskFailedError) -> ErrorCategory:
    code = error.error_code
    if code == "InvalidApiKey":
        return ErrorCategory.AUTHENTICATION
    if code.endswith("AccessDenied"):
        return ErrorCategory.AUTHORIZATION
    if code in _QUOTA_CODES:
        return ErrorCategory.QUOTA
    if code.startswith("Throttling"):
        return ErrorCategory.RATE_LIMIT
    return ErrorCategory.SERVER if is_retryable(error) else ErrorCategory.INVALID_REQUEST


class FunAsrSTTUsage(STTUsage):
    """STT usage with what Fun-ASR bills.

    ``audio_seconds`` is Pipecat's client-measured audio sent since the last report;
    ``billed_seconds`` is the service's own ``usage.duration`` of the tasks completed since
    the last report (whole seconds per task). Sum either over a session.
    """

    billed_seconds: float = 0.0


class _Session:
    """One core stream and the two tasks that carry its events to the pipeline."""

    def __init__(self, stream: RecognitionStream) -> None:
        self.stream = stream
        self.queue: asyncio.Queue[StreamEvent | FunAsrError | None] = asyncio.Queue()
        self.pump: asyncio.Task[None] | None = None
        self.consumer: asyncio.Task[None] | None = None
        self.failed = False
        self.reported = False  # the failure's ErrorFrame went out
        self.finishing = False
        self.audio_pending = False  # audio sent since the last rotation
        self.last_audio = 0.0  # time.monotonic() of the last audio sent


class FunAsrRealtimeSTTService(STTService):
    """Fun-ASR real-time recognition (Alibaba Cloud Model Studio / DashScope) for Pipecat.

    Add it where any Pipecat STT goes::

        stt = FunAsrRealtimeSTTService(language=Language.ZH)   # $DASHSCOPE_API_KEY

    Endpointing:

    * ``"vad"`` (default): Pipecat's VAD owns turns. A ``VADUserStoppedSpeakingFrame``
      (from either direction) finalizes the Fun-ASR task at once by task rotation; the
      closing transcript carries ``finalized=True`` and TTFB is measured from the VAD stop.
    * ``"server"``: Fun-ASR's sentence end (``max_sentence_silence`` or semantic
      punctuation) ends turns. Each final is a finalized ``TranscriptionFrame`` followed by
      a ``ProposedUserStoppedSpeakingFrame``; the service recommends
      ``ExternalUserTurnStrategies`` (unless the application passes its own).

    Event handlers (besides ``on_connected``, ``on_disconnected``, ``on_connection_error``):
    ``on_reconnected(service, event: funasr_realtime.Reconnected)`` after the core recovered
    from a transient failure by replaying the unconfirmed audio into a new task.
    """

    Settings = FunAsrRealtimeSTTSettings
    _settings: FunAsrRealtimeSTTSettings

    def __init__(
        self,
        *,
        api_key: str | None = None,
        url: str | None = None,
        region: Region | str | None = None,
        workspace: str | None = None,
        model: str | NotGiven = NOT_GIVEN,
        language: Language | str | NotGiven | None = NOT_GIVEN,
        settings: FunAsrRealtimeSTTSettings | None = None,
        endpointing: Endpointing = "vad",
        should_interrupt: bool = True,
        sample_rate: int | None = None,
        audio_sample_rate: int | None = None,
        timeouts: Timeouts | None = None,
        resilience: Resilience | None = None,
        finish_timeout: float | None = None,
        ttfs_p99_latency: float | None = FUNASR_REALTIME_TTFS_P99,
        **kwargs: Any,
    ) -> None:
        """Create the service; nothing connects until the pipeline is set up.

        Args:
            api_key: DashScope API key; default ``$DASHSCOPE_API_KEY``. Keys are bound to a
                region. A local server may need none.
            url: WebSocket endpoint; default ``$DASHSCOPE_WEBSOCKET_BASE_URL``, else the
                public endpoint of ``region``.
            region: ``"intl"`` (Singapore, default) or ``"cn"`` (Beijing).
            workspace: Model Studio workspace id (workspace-scoped endpoint and header).
            model: Fun-ASR model; default ``fun-asr-realtime``. ``settings.model`` wins.
            language: ``Language`` hint; ``None`` (default) auto-detects. ``settings.language``
                wins.
            settings: Runtime-updatable settings (``FunAsrRealtimeSTTService.Settings``):
                vocabulary, segmentation, punctuation...; given fields override defaults.
            endpointing: ``"vad"`` (Pipecat's VAD finalizes) or ``"server"`` (Fun-ASR's
                sentence end does).
            should_interrupt: In ``"server"`` endpointing, whether a proposed turn start
                interrupts the bot.
            sample_rate: Rate of the pipeline audio reaching the service; default the
                pipeline's input rate.
            audio_sample_rate: Rate sent to Fun-ASR; default the model's own rate (16 kHz
                for ``fun-asr-realtime``, 8 kHz for the 8k models). Pipeline audio is
                resampled to it with Pipecat's stream resampler.
            timeouts: Bounds of every wait of the core client.
            resilience: Retries, backoff, replay buffer, idle-task finishing and standby
                connection of the core client.
            finish_timeout: An overall bound (seconds) on the wait at ``EndFrame`` for the
                trailing transcripts. ``None`` (default): the core's own wait, which lasts
                while results keep arriving (``timeouts.stop`` after the last one, at most
                ``timeouts.stop`` plus the duration of the audio still uncovered).
            ttfs_p99_latency: Speech end → final transcript P99 (seconds) published to turn
                strategies.
            **kwargs: Passed to :class:`~pipecat.services.stt_service.STTService`.

        Raises:
            funasr_realtime.ConfigurationError: No key for a cloud endpoint, a bad URL, or
                a model that cannot serve this language, rate or region.
            ValueError: An unknown ``endpointing``.
        """
        if endpointing not in ("vad", "server"):
            raise ValueError(f"endpointing must be 'vad' or 'server', not {endpointing!r}")
        store = FunAsrRealtimeSTTSettings.defaults()
        if is_given(model):
            store.model = model
        if is_given(language):
            store.language = language
        if settings is not None:
            store.apply_update(settings)
        if not isinstance(store.model, str) or not store.model:
            raise ConfigurationError("a Fun-ASR model name is required")
        client = Client(
            api_key=api_key,
            url=url,
            region=region,
            workspace=workspace,
            timeouts=timeouts,
            resilience=resilience,
        )
        super().__init__(sample_rate=sample_rate, ttfs_p99_latency=ttfs_p99_latency, settings=store, **kwargs)
        self._client = client
        self._endpointing: Endpointing = endpointing
        self._should_interrupt = should_interrupt
        self._audio_sample_rate = audio_sample_rate
        self._finish_timeout = finish_timeout
        # Fail at construction for what is already known (model, language, region).
        self._check(self._target_rate(None))

        self._rate = 0  # rate sent to Fun-ASR, fixed in setup()
        self._resampler: BaseAudioResampler | None = None
        self._session: _Session | None = None
        self._startup_error: FunAsrError | None = None
        # Transcript state, shared by the input, process and consumer tasks of one event
        # loop (no await between a check and its update).
        # Finalize requests not answered yet: (stream ms where the finalized task ends, the
        # utterance it closed). A TaskCompleted ending there is the answer; the utterance
        # count (VAD starts) tells whether the request still stands, as in the base class.
        self._marks: list[tuple[int, int]] = []
        self._utterance = 0
        self._held: Sentence | None = None  # a final that may be the last of a finalized task
        self._last_interim: tuple[int | None, str] | None = None
        self._turn_open = False  # "server" endpointing: a proposed turn is open
        self._rotate_pending = False  # settings changed: rotate the task at the next boundary
        # Language of each task, by the stream time its task starts at (ms, Language), so a
        # transcript is labelled with the language its task ran with, even after a change.
        self._languages: list[tuple[int, Language | None]] = [(0, self._language())]
        self._billed_pending = 0  # billed seconds not yet reported as usage
        self._register_event_handler("on_reconnected")

    # ------------------------------------------------------------------ Pipecat hooks

    def can_generate_metrics(self) -> bool:
        return True

    def language_to_service_language(self, language: Language) -> str | None:
        """Fun-ASR's language hint for a Pipecat ``Language`` (``ZH_CN`` → ``"zh"``)."""
        return resolve_language(language, LANGUAGE_MAP, use_base_code=True)

    def service_metadata_frame(self) -> STTMetadataFrame:
        """In ``"server"`` endpointing, recommend turn strategies driven by this service."""
        frame = super().service_metadata_frame()
        if self._endpointing == "server":
            frame.user_turn_strategies = ExternalUserTurnStrategies(enable_interruptions=self._should_interrupt)
        return frame

    @property
    def endpointing(self) -> Endpointing:
        return self._endpointing

    @property
    def stream(self) -> RecognitionStream | None:
        """The current core stream (for diagnostics), None before setup or after the end."""
        return self._session.stream if self._session is not None else None

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as in Pipecat
        """Open the stream and pre-warm its connection, so the first utterance pays no handshake."""
        await super().setup(setup)
        self._rate = self._target_rate(self.sample_rate)
        if self._rate != self.sample_rate:
            self._resampler = create_stream_resampler()
        try:
            session = self._open_session()
            await session.stream.connect()
        except FunAsrError as exc:
            if is_retryable(exc):
                # The first audio connects again, with the core's retries and backoff.
                logger.warning("Fun-ASR pre-warm failed (%s); connecting on the first audio", exc)
                await self._call_event_handler("on_connection_error", str(exc))
            else:
                self._startup_error = exc  # reported once the pipeline has started
            return
        await self._call_event_handler("on_connected")

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        error, self._startup_error = self._startup_error, None
        if error is not None:
            await self._fail(self._session, error)

    async def stop(self, frame: EndFrame) -> None:
        """Finish gracefully: the trailing transcripts are pushed before the ``EndFrame``."""
        await self._finish_session()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await super().cancel(frame)
        await self._abort_session()

    async def cleanup(self) -> None:
        await super().cleanup()
        await self._abort_session()

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        """Send the audio (resampled to the model's rate) to the stream; never raises."""
        session = self._session
        if session is None or session.reported:
            # Usable again after a failure (new settings, or the application said so).
            session = await self._restart_session()
        if session is not None and not session.failed and not session.finishing:
            pcm = await self._resample(audio)
            if pcm:
                await self._send(session, pcm)
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            # A new utterance: like the base class, earlier finalize requests no longer mark
            # transcripts finalized (their transcripts still come, unmarked).
            self._utterance += 1
            await self._propose_turn_start()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            if self._endpointing == "vad":
                await self._finalize(request=True)
            elif self._rotate_pending:
                await self._finalize(request=False)

    async def _update_settings(self, delta: STTSettings) -> dict[str, Any]:  # type: ignore[override]  # as in Pipecat
        """Apply a settings delta from the next task on: no reconnect, no audio lost.

        Between utterances the current task (which has only heard silence) is rotated at
        once, so the next words get the new settings; during an utterance the task is
        rotated at its end (the VAD stop, or in ``"server"`` endpointing the next final
        sentence). A change the model cannot serve (a model with another sample rate, an
        unsupported language) is reverted and reported as an ``APPLICATION`` error.
        """
        was_usable = self.is_usable
        changed = await super()._update_settings(delta)
        if not changed:
            return changed
        try:
            parameters = self._settings.recognition_parameters()
            session = self._session
            if session is not None and not session.failed:
                session.stream.update_params(**parameters)
            else:
                self._check(self._rate or self._target_rate(None))
        except (ConfigurationError, LocalProtocolError) as exc:
            self._revert(changed)
            await self.set_usable(was_usable)
            await self.push_error(
                f"Fun-ASR settings not applied: {exc}", exception=exc, category=ErrorCategory.APPLICATION
            )
            return {}
        self._rotate_pending = True  # at the end of the current utterance...
        if not (self._user_speaking or self._turn_open):
            # ...or now: audio keeps flowing between turns, so a task is open on silence;
            # a fresh one lets the user's next words already get the new settings.
            await self._finalize(request=False)
        return changed

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        """Pipecat's category of a core error. Whether it is permanent is ``is_retryable``'s call."""
        if isinstance(exception, HandshakeRejected):
            return classify_http_status_code(exception.status_code)
        if isinstance(exception, TaskFailedError):
            return _task_failure_category(exception)
        for kind, category in _CATEGORIES:
            if isinstance(exception, kind):
                return category
        return None

    async def emit_stt_usage_metrics(self) -> None:
        """Report client-measured audio seconds and the server's billed seconds since the last report."""
        audio_seconds, self._stt_usage_pending_seconds = self._stt_usage_pending_seconds, 0.0
        billed, self._billed_pending = self._billed_pending, 0
        if audio_seconds or billed:
            await self.start_stt_usage_metrics(FunAsrSTTUsage(audio_seconds=audio_seconds, billed_seconds=billed))

    @traced_stt
    async def _handle_transcription(self, transcript: str, is_final: bool, language: Language | None = None) -> None:
        """Tracing hook: the decorator records the transcript on the STT span."""

    # ------------------------------------------------------------------ sessions

    def _target_rate(self, pipeline_rate: int | None) -> int:
        """The rate sent to Fun-ASR: explicit, else the model's, else the pipeline's (any-rate models)."""
        if self._audio_sample_rate:
            return self._audio_sample_rate
        spec = find_model(str(self._settings.model))
        if spec is not None and spec.sample_rates:
            return pipeline_rate if pipeline_rate in spec.sample_rates else max(spec.sample_rates)
        if spec is not None and pipeline_rate:
            return pipeline_rate
        return 16000

    def _params(self, rate: int) -> RecognitionParams:
        return RecognitionParams(**self._settings.recognition_parameters(), sample_rate=rate)

    def _check(self, rate: int) -> None:
        check_compatibility(self._params(rate), self._client.config.region)

    def _open_session(self) -> _Session:
        """A new stream with its pump and consumer. Raises ConfigurationError on a mismatch."""
        session = _Session(self._client.stream(self._params(self._rate)))
        self._session = session
        self._marks, self._held, self._last_interim = [], None, None
        self._languages = [(0, self._language())]
        session.pump = self.create_task(self._pump(session), name="funasr-realtime-pump")
        session.consumer = self.create_task(self._consume(session), name="funasr-realtime-consumer")
        return session

    async def _restart_session(self) -> _Session | None:
        old = self._session
        if old is not None:
            await old.stream.aclose()
            await self._close_tasks(old)
        try:
            return self._open_session()
        except FunAsrError as exc:
            self._session = None
            await self._fail(None, exc)
            return None

    async def _resample(self, audio: bytes) -> bytes:
        if self._resampler is None:
            return audio
        return await self._resampler.resample(audio, self.sample_rate, self._rate)

    async def _send(self, session: _Session, pcm: bytes) -> None:
        try:
            await session.stream.send_audio(pcm)
        except AudioError as exc:  # this frame is malformed; the stream is fine
            await self.push_error(f"Fun-ASR dropped malformed audio: {exc}", exception=exc)
            return
        except FunAsrError as exc:
            await self._fail(session, exc)
            return
        session.audio_pending = True
        session.last_audio = time.monotonic()

    async def _flush_resampler(self, session: _Session) -> None:
        """Send what the resampler still holds, so the end of speech reaches the task."""
        if self._resampler is not None:
            tail = await self._resampler.flush()
            if tail:
                await self._send(session, tail)

    async def _finalize(self, *, request: bool) -> None:
        """End the current task now (task rotation); later audio goes to a new task."""
        session = self._session
        if session is None or session.failed or session.finishing:
            return
        idle_finish = self._client.resilience.idle_finish
        idle = idle_finish > 0 and time.monotonic() - session.last_audio >= idle_finish
        rotate = session.audio_pending and not idle  # else no task is open (or the core closed it)
        if rotate:
            await self._flush_resampler(session)
        session.audio_pending = False
        # The next task starts where the audio ends now, with the current parameters.
        self._rotate_pending = False
        self._mark_language(session.stream.audio_ms)
        if not rotate:
            return
        logger.debug(
            "finalizing the task at %d ms (%s)", session.stream.audio_ms, "VAD stop" if request else "rotation"
        )
        if request:
            self._request_finalize(session)
            await self.start_processing_metrics()
        try:
            await session.stream.finalize()
        except FunAsrError as exc:
            await self._fail(session, exc)

    async def _finish_session(self) -> None:
        """End of input: finalize, wait (bounded) for the trailing results, close.

        ``finish()`` returns once the last task is over (or fails); the consumer then only
        has queued events left, so its wait is bounded by ``timeouts.stop`` at most.
        """
        session = self._session
        if session is None:
            return
        if not session.failed and not session.finishing:
            await self._flush_resampler(session)
            if self._endpointing == "vad" and session.audio_pending:
                self._request_finalize(session)
                await self.start_processing_metrics()
            session.finishing = True
            try:
                await session.stream.finish(timeout=self._finish_timeout)
            except FunAsrError as exc:
                await self._fail(session, exc)
        if session.consumer is not None:
            drain = self._client.config.timeouts.stop
            await asyncio.wait({session.consumer}, timeout=min(drain, self._finish_timeout or drain))
        await session.stream.aclose()
        await self._close_tasks(session)
        self._session = None
        await self._call_event_handler("on_disconnected")

    async def _abort_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.stream.aclose()
            await self._close_tasks(session)
            await self._call_event_handler("on_disconnected")
        if self._resampler is not None:
            await self._resampler.reset()

    async def _close_tasks(self, session: _Session) -> None:
        for task in (session.pump, session.consumer):
            if task is not None and not task.done():
                await self.cancel_task(task)
        session.pump = session.consumer = None

    async def _fail(self, session: _Session | None, error: FunAsrError) -> None:
        """Report a stream failure once, with one ErrorFrame that leaves the service unusable.

        Permanent errors (``not is_retryable``) are never retried; transient ones reach
        here only after the core's retries ran out. Either way retrying from here would
        only repeat the failure, so the service steps aside for a ``ServiceSwitcher``.
        """
        if session is not None:
            if session.failed:
                return
            session.failed = True
            await session.stream.aclose()
        self._marks = []
        if isinstance(error, TransportError):
            await self._call_event_handler("on_connection_error", str(error))
        what = "rejected the request" if not is_retryable(error) else "failed after the client's retries"
        await self.push_error(
            f"Fun-ASR {what}: {error}",
            exception=error,
            category=self._classify_error(error),
            force_treat_as_permanent=True,
        )
        if session is not None:
            session.reported = True

    def _revert(self, changed: dict[str, Any]) -> None:
        for name, old in changed.items():
            if hasattr(self._settings, name):
                setattr(self._settings, name, old)
            elif is_given(old):
                self._settings.extra[name] = old
            else:
                self._settings.extra.pop(name, None)
        self._sync_model_name_to_metrics()

    # ------------------------------------------------------------------ events → frames

    async def _pump(self, session: _Session) -> None:
        """Copy the stream's events into the session queue (the consumer may time out waiting)."""
        try:
            async for event in session.stream.events():
                session.queue.put_nowait(event)
        except FunAsrError as exc:
            session.queue.put_nowait(exc)
        finally:
            session.queue.put_nowait(None)

    async def _consume(self, session: _Session) -> None:
        while True:
            try:
                timeout = _HOLD_SECONDS if self._held is not None else None
                item = await asyncio.wait_for(session.queue.get(), timeout)
            except TimeoutError:
                await self._release_held()
                continue
            if item is None:
                await self._release_held()
                return
            if isinstance(item, FunAsrError):
                await self._release_held()
                await self._fail(session, item)
            elif isinstance(item, SentenceEvent):
                await self._on_sentence(session, item.sentence)
            elif isinstance(item, TaskCompleted):
                await self._on_task_completed(item)
            elif isinstance(item, Reconnected):
                await self._on_reconnected(item)

    async def _on_sentence(self, session: _Session, sentence: Sentence) -> None:
        if not sentence.text.strip():
            return
        await self._release_held()  # a later sentence: the held one was not the task's last
        if not sentence.is_final:
            key = (sentence.sentence_id, sentence.text)
            if key != self._last_interim:
                self._last_interim = key
                await self._propose_turn_start()
                frame = InterimTranscriptionFrame(
                    sentence.text, self._user_id, time_now_iso8601(), self._language_at(sentence), result=sentence
                )
                frame.includes_inter_frame_spaces = is_spaceless(sentence.text)
                await self.push_frame(frame)
            return
        self._last_interim = None
        if self._marks and sentence.begin_time < self._marks[-1][0]:
            # Maybe the last final of a finalized task: its TaskCompleted says (next event).
            self._held = sentence
            return
        await self._push_transcript(sentence, finalized=self._endpointing == "server")
        if self._rotate_pending and not session.failed:
            await self._finalize(request=False)  # new settings from the next sentence on

    async def _on_task_completed(self, event: TaskCompleted) -> None:
        metrics = event.metrics
        self._billed_pending += metrics.billed_seconds or 0
        end_ms = metrics.offset_ms + metrics.audio_bytes * 1000 // (2 * self._rate)
        answered = [m for m in self._marks if event.finalized and abs(m[0] - end_ms) <= _MARK_TOLERANCE_MS]
        self._marks = [m for m in self._marks if m[0] > end_ms + _MARK_TOLERANCE_MS]
        logger.debug("task %s completed at %d ms (finalize request: %s)", metrics.task_id, end_ms, bool(answered))
        if not answered or answered[0][1] != self._utterance:
            await self._release_held()  # not a requested finalize, or the user spoke again since
            await self.emit_stt_usage_metrics()
            return
        held, self._held = self._held, None
        if held is not None:
            self.confirm_finalize()  # the base marks the next TranscriptionFrame finalized
            await self._push_transcript(held, finalized=False)
        else:
            # The task's transcript (if any) went out before the finalize: close TTFB now.
            await self.emit_stt_usage_metrics()
            await self.stop_ttfb_metrics()
            await self._cancel_ttfb_timeout()
        await self.stop_processing_metrics()

    def _request_finalize(self, session: _Session) -> None:
        self.request_finalize()
        self._marks.append((session.stream.audio_ms, self._utterance))

    async def _on_reconnected(self, event: Reconnected) -> None:
        logger.warning(
            "Fun-ASR recovered from %s (attempt %d, %.0f ms down, %d ms of audio replayed, %d ms lost)",
            event.error,
            event.attempt,
            event.downtime_ms,
            event.replayed_ms,
            event.dropped_ms,
        )
        await self._call_event_handler("on_reconnected", event)
        if event.dropped_ms:
            await self.push_error(
                f"Fun-ASR reconnected but {event.dropped_ms} ms of audio outlasted the replay buffer and were lost",
                exception=event.error,
                category=ErrorCategory.CONNECTIVITY,
            )

    async def _release_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            await self._push_transcript(held, finalized=False)

    async def _push_transcript(self, sentence: Sentence, *, finalized: bool) -> None:
        language = self._language_at(sentence)
        await self.emit_stt_usage_metrics()  # before the transcript, so tracing attaches it
        await self._propose_turn_start()
        frame = TranscriptionFrame(
            sentence.text, self._user_id, time_now_iso8601(), language, result=sentence, finalized=finalized
        )
        frame.includes_inter_frame_spaces = is_spaceless(sentence.text)
        await self.push_frame(frame)
        await self._handle_transcription(sentence.text, True, language)
        if self._endpointing == "server" and self._turn_open:
            self._turn_open = False
            await self.broadcast_frame(ProposedUserStoppedSpeakingFrame)

    async def _propose_turn_start(self) -> None:
        if self._endpointing == "server" and not self._turn_open:
            self._turn_open = True
            await self.broadcast_frame(ProposedUserStartedSpeakingFrame)

    def _language(self) -> Language | None:
        """The configured language (of the next task)."""
        language = self._settings.language
        return to_language(language) if isinstance(language, str) else None

    def _mark_language(self, at_ms: int) -> None:
        """Tasks starting from ``at_ms`` on run with the configured language."""
        language = self._language()
        if language != self._languages[-1][1]:
            self._languages.append((at_ms, language))

    def _language_at(self, sentence: Sentence) -> Language | None:
        """The language of the task that produced ``sentence`` (it began after its task did)."""
        index = 0
        for i, (start, _) in enumerate(self._languages):
            if start > sentence.begin_time:
                break
            index = i
        del self._languages[:index]  # tasks come in order: earlier ones are over
        return self._languages[0][1]
